"""Sample receipts for the lab demo and the benchmarks: Cyrillic names, weighed goods, several VAT rates."""

from __future__ import annotations

from datetime import datetime

from register.config import LAB_CASHIER, LAB_SELLER
from register.domain.quantity import Quantity
from register.domain.receipt import (
    Measure,
    Operation,
    Payment,
    PaymentKind,
    Receipt,
    ReceiptLine,
    Seller,
)
from register.domain.vat import VatRate

SAMPLE_LINES = (
    ReceiptLine("Молоко 3,2% 1 л", 8990, Quantity.of(2), VatRate.VAT10),
    ReceiptLine("Яблоки Гала, вес", 12990, Quantity.parse("1.355"), VatRate.VAT10, Measure.KILOGRAM),
    ReceiptLine("Кофе зерновой «Арабика» 250 г", 45900, Quantity.of(1), VatRate.VAT22),
    ReceiptLine("Пакет-майка", 500, Quantity.of(1), VatRate.VAT22),
    ReceiptLine("Хлеб Бородинский", 6490, Quantity.of(1), VatRate.VAT10),
    ReceiptLine("Сыр Российский, вес", 89900, Quantity.parse("0.412"), VatRate.VAT10, Measure.KILOGRAM),
    ReceiptLine("Вода минеральная 0,5 л", 5990, Quantity.of(6), VatRate.VAT22),
    ReceiptLine("Шоколад горький 75%", 11990, Quantity.of(3), VatRate.VAT22),
    ReceiptLine("Батарейки AA, 4 шт", 34900, Quantity.of(1), VatRate.VAT22),
    ReceiptLine("Газета «Вечерняя Москва»", 3500, Quantity.of(1), VatRate.NO_VAT),
)


def sample_receipt(
    when: datetime,
    items: int = 10,
    *,
    operation: Operation = Operation.SALE,
    seller: Seller = LAB_SELLER,
    cashier: str | None = LAB_CASHIER,
    customer_contact: str | None = None,
    pay: PaymentKind = PaymentKind.CASH,
) -> Receipt:
    """A receipt of ``items`` lines cycling through the samples, paid in full (cash rounded up to 100 ₽)."""
    lines = tuple(SAMPLE_LINES[i % len(SAMPLE_LINES)] for i in range(items))
    total = sum(line.total for line in lines)
    handed = -(-total // 10000) * 10000 if pay is PaymentKind.CASH else total
    return Receipt(
        operation=operation,
        lines=lines,
        payments=(Payment(pay, handed),),
        seller=seller,
        when=when,
        cashier=cashier,
        customer_contact=customer_contact,
    )
