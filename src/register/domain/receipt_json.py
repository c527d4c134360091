"""A receipt as JSON-able data and back, for the sale journal (a crash must not lose what was sold)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from register.domain.quantity import Quantity
from register.domain.receipt import (
    ItemType,
    Measure,
    Operation,
    Payment,
    PaymentKind,
    PaymentMethod,
    Receipt,
    ReceiptLine,
    Seller,
    TaxSystem,
)
from register.domain.vat import VatRate


def line_to_dict(line: ReceiptLine) -> dict[str, Any]:
    return {
        "name": line.name,
        "price": line.price,
        "quantity": str(line.quantity),
        "vat": line.vat.code,
        "measure": int(line.measure),
        "method": int(line.method),
        "item_type": int(line.item_type),
        "sku": line.sku,
    }


def line_from_dict(data: dict[str, Any]) -> ReceiptLine:
    return ReceiptLine(
        name=data["name"],
        price=int(data["price"]),
        quantity=Quantity.parse(data["quantity"]),
        vat=VatRate.from_code(int(data["vat"])),
        measure=Measure(int(data["measure"])),
        method=PaymentMethod(int(data["method"])),
        item_type=ItemType(int(data["item_type"])),
        sku=data.get("sku"),
    )


def receipt_to_dict(receipt: Receipt) -> dict[str, Any]:
    seller = receipt.seller
    return {
        "operation": int(receipt.operation),
        "when": receipt.when.isoformat(),
        "lines": [line_to_dict(line) for line in receipt.lines],
        "payments": [{"kind": p.kind.name, "amount": p.amount} for p in receipt.payments],
        "seller": {
            "name": seller.name,
            "inn": seller.inn,
            "address": seller.address,
            "place": seller.place,
            "tax_system": int(seller.tax_system),
            "sender_email": seller.sender_email,
        },
        "cashier": receipt.cashier,
        "customer_contact": receipt.customer_contact,
        "total": receipt.total,
    }


def receipt_from_dict(data: dict[str, Any]) -> Receipt:
    seller = data["seller"]
    return Receipt(
        operation=Operation(int(data["operation"])),
        lines=tuple(line_from_dict(line) for line in data["lines"]),
        payments=tuple(Payment(PaymentKind[p["kind"]], int(p["amount"])) for p in data["payments"]),
        seller=Seller(
            name=seller["name"],
            inn=seller["inn"],
            address=seller["address"],
            place=seller["place"],
            tax_system=TaxSystem(int(seller["tax_system"])),
            sender_email=seller.get("sender_email"),
        ),
        when=datetime.fromisoformat(data["when"]),
        cashier=data.get("cashier"),
        customer_contact=data.get("customer_contact"),
    )
