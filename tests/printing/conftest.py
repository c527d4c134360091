"""Receipts with hand-computed figures for the printing tests."""

from __future__ import annotations

from datetime import datetime

import pytest

from register.domain import (
    Measure,
    Operation,
    Payment,
    PaymentKind,
    Quantity,
    Receipt,
    ReceiptLine,
    Seller,
    TaxSystem,
    VatRate,
)
from register.domain.fiscal_stamp import FiscalStamp

WHEN = datetime(2026, 1, 15, 14, 32)
# ffd-receipt.md §7: the emulator example (fn-protocol.md §15).
EMULATOR_QR = "t=20260115T1432&s=1234.56&fn=9999078900004312&i=42&fp=3098173039&n=1"
SELLER = Seller(
    name="ООО «Ромашка»",
    inn="7701234560",
    address="г. Москва, ул. Тверская, д. 7",
    place="Магазин №1",
    tax_system=TaxSystem.USN_INCOME,
    sender_email="noreply@romashka.example",
)


def make_receipt(
    *,
    lines: tuple[ReceiptLine, ...] | None = None,
    payments: tuple[Payment, ...] | None = None,
    seller: Seller = SELLER,
    operation: Operation = Operation.SALE,
    cashier: str | None = "Иванова А.А.",
    contact: str | None = None,
) -> Receipt:
    """Молоко 89.90 x 2 = 179.80 (НДС 22% 32.42), Яблоки 129.90 x 1.355 кг = 176.01 (НДС 10% 16.00),
    total 355.81, paid 500.00 cash: change 144.19."""
    lines = lines or (
        ReceiptLine("Молоко", 8990, Quantity.of(2), VatRate.VAT22),
        ReceiptLine("Яблоки", 12990, Quantity.parse("1.355"), VatRate.VAT10, Measure.KILOGRAM),
    )
    payments = payments or (Payment(PaymentKind.CASH, 50000),)
    return Receipt(operation, lines, payments, seller, WHEN, cashier=cashier, customer_contact=contact)


def make_stamp(*, emulated: bool = True, qr: str = EMULATOR_QR) -> FiscalStamp:
    return FiscalStamp(
        fn="9999078900004312",
        fd=42,
        fp=3098173039,
        shift=5,
        receipt_no=12,
        rnm="0000000001012345",
        qr=qr,
        emulated=emulated,
    )


@pytest.fixture
def receipt() -> Receipt:
    return make_receipt()


@pytest.fixture
def stamp() -> FiscalStamp:
    return make_stamp()
