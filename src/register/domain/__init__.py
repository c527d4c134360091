"""Pure values and rules of the register (no I/O): money, quantity, VAT, receipt, cart."""

from register.domain.cart import Cart, CartError
from register.domain.money import Kopecks, MoneyFormatError, divide_half_up, format_rub, parse_rub
from register.domain.quantity import Quantity, QuantityError
from register.domain.receipt import (
    ItemType,
    Measure,
    Operation,
    Payment,
    PaymentKind,
    PaymentMethod,
    Receipt,
    ReceiptError,
    ReceiptLine,
    Seller,
    TaxSystem,
    is_customer_contact,
)
from register.domain.vat import VatCodeError, VatRate

__all__ = [
    "Cart",
    "CartError",
    "ItemType",
    "Kopecks",
    "Measure",
    "MoneyFormatError",
    "Operation",
    "Payment",
    "PaymentKind",
    "PaymentMethod",
    "Quantity",
    "QuantityError",
    "Receipt",
    "ReceiptError",
    "ReceiptLine",
    "Seller",
    "TaxSystem",
    "VatCodeError",
    "VatRate",
    "divide_half_up",
    "format_rub",
    "is_customer_contact",
    "parse_rub",
]
