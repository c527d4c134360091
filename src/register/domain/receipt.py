"""A receipt (кассовый чек) as a value: lines, payments, seller, and the 54-FZ arithmetic between them.

Tags and codes: ffd-receipt.md §3 (tags), §4 (1199), §5 (1214, 1212). Amounts are kopecks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import Enum, IntEnum

from register.domain.money import Kopecks, format_rub
from register.domain.quantity import Quantity
from register.domain.vat import VatRate

# Maximum string lengths of the tags (ffd-receipt.md §3).
ITEM_NAME_MAX = 128  # 1030
SELLER_TEXT_MAX = 256  # 1048, 1009, 1187
CONTACT_MAX = 64  # 1008, 1117
CASHIER_MAX = 64  # 1021

_EMAIL_PATTERN = re.compile(r"[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+")
_PHONE_PATTERN = re.compile(r"\+7[0-9]{10}")
_INN_PATTERN = re.compile(r"[0-9]{10}|[0-9]{12}")


class ReceiptError(ValueError):
    """A receipt, line, payment or seller that breaks a rule; the message names the rule and the value."""


class Operation(IntEnum):
    """Calculation sign, tag 1054."""

    SALE = 1
    SALE_RETURN = 2
    EXPENSE = 3
    EXPENSE_RETURN = 4

    @property
    def label(self) -> str:
        return _OPERATION_LABELS[self]


class Measure(IntEnum):
    """Measure of quantity, tag 2108."""

    PIECE = 0
    GRAM = 10
    KILOGRAM = 11
    METRE = 22
    LITRE = 41
    OTHER = 255

    @property
    def label(self) -> str:
        return _MEASURE_LABELS[self]


class PaymentMethod(IntEnum):
    """Payment-method sign, tag 1214."""

    PREPAYMENT_FULL = 1
    PREPAYMENT = 2
    ADVANCE = 3
    FULL = 4
    PARTIAL_CREDIT = 5
    CREDIT = 6
    CREDIT_PAYMENT = 7

    @property
    def label(self) -> str:
        return _PAYMENT_METHOD_LABELS[self]


class ItemType(IntEnum):
    """Item-type sign, tag 1212."""

    GOODS = 1
    EXCISE = 2
    WORK = 3
    SERVICE = 4
    PAYMENT = 10
    OTHER = 13


class TaxSystem(IntEnum):
    """Taxation system, tag 1055: one bit per receipt."""

    OSN = 1
    USN_INCOME = 2
    USN_INCOME_EXPENSE = 4
    ENVD = 8
    ESHN = 16
    PATENT = 32

    @property
    def label(self) -> str:
        return _TAX_SYSTEM_LABELS[self]


class PaymentKind(Enum):
    """How the buyer paid; member value = the receipt tag that carries the amount."""

    CASH = 1031
    ELECTRONIC = 1081
    PREPAYMENT = 1215
    CREDIT = 1216
    COUNTER = 1217

    @property
    def tag(self) -> int:
        return self.value

    @property
    def label(self) -> str:
        return _PAYMENT_KIND_LABELS[self]


_OPERATION_LABELS = {
    Operation.SALE: "ПРИХОД",
    Operation.SALE_RETURN: "ВОЗВРАТ ПРИХОДА",
    Operation.EXPENSE: "РАСХОД",
    Operation.EXPENSE_RETURN: "ВОЗВРАТ РАСХОДА",
}
_MEASURE_LABELS = {
    Measure.PIECE: "шт",
    Measure.GRAM: "г",
    Measure.KILOGRAM: "кг",
    Measure.METRE: "м",
    Measure.LITRE: "л",
    Measure.OTHER: "",
}
_PAYMENT_METHOD_LABELS = {
    PaymentMethod.PREPAYMENT_FULL: "ПРЕДОПЛАТА 100%",
    PaymentMethod.PREPAYMENT: "ПРЕДОПЛАТА",
    PaymentMethod.ADVANCE: "АВАНС",
    PaymentMethod.FULL: "ПОЛНЫЙ РАСЧЕТ",
    PaymentMethod.PARTIAL_CREDIT: "ЧАСТИЧНЫЙ РАСЧЕТ И КРЕДИТ",
    PaymentMethod.CREDIT: "ПЕРЕДАЧА В КРЕДИТ",
    PaymentMethod.CREDIT_PAYMENT: "ОПЛАТА КРЕДИТА",
}
_TAX_SYSTEM_LABELS = {
    TaxSystem.OSN: "ОСН",
    TaxSystem.USN_INCOME: "УСН доход",
    TaxSystem.USN_INCOME_EXPENSE: "УСН доход - расход",
    TaxSystem.ENVD: "ЕНВД",
    TaxSystem.ESHN: "ЕСХН",
    TaxSystem.PATENT: "ПСН",
}
_PAYMENT_KIND_LABELS = {
    PaymentKind.CASH: "НАЛИЧНЫМИ",
    PaymentKind.ELECTRONIC: "БЕЗНАЛИЧНЫМИ",
    PaymentKind.PREPAYMENT: "ПРЕДВАРИТЕЛЬНАЯ ОПЛАТА (АВАНС)",
    PaymentKind.CREDIT: "ПОСЛЕДУЮЩАЯ ОПЛАТА (КРЕДИТ)",
    PaymentKind.COUNTER: "ИНОЕ ПРЕДОСТАВЛЕНИЕ",
}


@dataclass(frozen=True)
class ReceiptLine:
    """One item (tag 1059): unit price 1079, quantity 1023, VAT rate 1199, 1214, 1212, measure 2108."""

    name: str
    price: Kopecks
    quantity: Quantity
    vat: VatRate
    measure: Measure = Measure.PIECE
    method: PaymentMethod = PaymentMethod.FULL
    item_type: ItemType = ItemType.GOODS
    sku: str | None = None

    def __post_init__(self) -> None:
        _require_text(self.name, "item name (1030)", ITEM_NAME_MAX)
        _require_kopecks(self.price, f"unit price of {self.name!r}")
        if self.price < 0:
            raise ReceiptError(f"unit price of {self.name!r} is negative: {format_rub(self.price)}")
        _require_type(self.quantity, Quantity, f"quantity of {self.name!r}")
        _require_type(self.vat, VatRate, f"VAT rate of {self.name!r}")
        _require_type(self.measure, Measure, f"measure of {self.name!r}")
        _require_type(self.method, PaymentMethod, f"payment method of {self.name!r}")
        _require_type(self.item_type, ItemType, f"item type of {self.name!r}")

    @property
    def total(self) -> Kopecks:
        """Item total (1043): price × quantity, half-up to the kopeck."""
        return self.quantity.times(self.price)

    @property
    def vat_amount(self) -> Kopecks:
        """VAT of the item (1200)."""
        return self.vat.vat_of(self.total)


@dataclass(frozen=True)
class Payment:
    kind: PaymentKind
    amount: Kopecks

    def __post_init__(self) -> None:
        _require_type(self.kind, PaymentKind, "payment kind")
        _require_kopecks(self.amount, f"{self.kind.name} payment")
        if self.amount <= 0:
            raise ReceiptError(f"{self.kind.name} payment must be positive, got {format_rub(self.amount)}")


@dataclass(frozen=True)
class Seller:
    """The user of the KKT: name 1048, INN 1018, address 1009, place 1187, 1055, sender e-mail 1117."""

    name: str
    inn: str
    address: str
    place: str
    tax_system: TaxSystem
    sender_email: str | None = None

    def __post_init__(self) -> None:
        _require_text(self.name, "seller name (1048)", SELLER_TEXT_MAX)
        if not isinstance(self.inn, str) or _INN_PATTERN.fullmatch(self.inn) is None:
            raise ReceiptError(f"seller INN (1018) must be 10 or 12 digits, got {self.inn!r}")
        _require_text(self.address, "settlement address (1009)", SELLER_TEXT_MAX)
        _require_text(self.place, "place of settlement (1187)", SELLER_TEXT_MAX)
        _require_type(self.tax_system, TaxSystem, "taxation system (1055)")
        if self.sender_email is not None and not _is_email(self.sender_email):
            raise ReceiptError(f"sender e-mail (1117) is not an e-mail address: {self.sender_email!r}")


@dataclass(frozen=True)
class Receipt:
    operation: Operation
    lines: tuple[ReceiptLine, ...]
    payments: tuple[Payment, ...]
    seller: Seller
    when: datetime
    cashier: str | None = None
    customer_contact: str | None = None

    def __post_init__(self) -> None:
        # Accept any iterable of lines / payments but store tuples, so a receipt stays immutable.
        object.__setattr__(self, "lines", tuple(self.lines))
        object.__setattr__(self, "payments", tuple(self.payments))
        _require_type(self.operation, Operation, "operation (1054)")
        _require_type(self.seller, Seller, "seller")
        if not isinstance(self.when, datetime) or self.when.tzinfo is not None:
            raise ReceiptError(f"receipt time must be a naive local datetime, got {self.when!r}")
        self._check_lines()
        self._check_payments()
        if self.cashier is not None:
            _require_text(self.cashier, "cashier (1021)", CASHIER_MAX)
        if self.customer_contact is not None and not is_customer_contact(self.customer_contact):
            raise ReceiptError(
                f"customer contact (1008) must be an e-mail or a phone +7XXXXXXXXXX, "
                f"got {self.customer_contact!r}"
            )

    @property
    def total(self) -> Kopecks:
        """Receipt total (1020)."""
        return sum(line.total for line in self.lines)

    def paid(self, kind: PaymentKind) -> Kopecks:
        """What the buyer handed over in this kind (cash before change)."""
        return sum(payment.amount for payment in self.payments if payment.kind is kind)

    @property
    def change(self) -> Kopecks:
        """Cash handed back to the buyer (сдача)."""
        return max(0, self._handed_over() - self.total)

    def payment_totals(self) -> dict[PaymentKind, Kopecks]:
        """Amounts for tags 1031/1081/1215–1217, per kind paid, cash net of change; they sum to the total."""
        totals = {kind: self.paid(kind) for kind in PaymentKind if self.paid(kind) > 0}
        if PaymentKind.CASH in totals:
            totals[PaymentKind.CASH] -= self.change
        return totals

    def amount_by_vat(self) -> dict[VatRate, Kopecks]:
        """Summed line totals per VAT rate present, in VatRate declaration order."""
        amounts: dict[VatRate, Kopecks] = {}
        for rate in VatRate:
            rate_lines = [line for line in self.lines if line.vat is rate]
            if rate_lines:
                amounts[rate] = sum(line.total for line in rate_lines)
        return amounts

    def vat_totals(self) -> dict[VatRate, Kopecks]:
        """Receipt VAT per rate present: the VAT of the summed amount, rounded once.

        VAT0 and NO_VAT carry the amount itself, as tags 1104 / 1105 do.
        """
        return {
            rate: amount if rate in (VatRate.VAT0, VatRate.NO_VAT) else rate.vat_of(amount)
            for rate, amount in self.amount_by_vat().items()
        }

    def _handed_over(self) -> Kopecks:
        return sum(payment.amount for payment in self.payments)

    def _check_lines(self) -> None:
        if not self.lines:
            raise ReceiptError("a receipt needs at least one line")
        day = self.when.date()
        for position, line in enumerate(self.lines, start=1):
            _require_type(line, ReceiptLine, f"receipt line {position}")
            if not line.vat.valid_on(day):
                raise ReceiptError(
                    f"line {position} ({line.name!r}): {line.vat.label} (1199 = {line.vat.code}) "
                    f"is not valid on a receipt dated {day.isoformat()}"
                )

    def _check_payments(self) -> None:
        for number, payment in enumerate(self.payments, start=1):
            _require_type(payment, Payment, f"payment {number}")
        total = self.total
        handed_over = self._handed_over()
        if handed_over < total:
            raise ReceiptError(
                f"payments of {format_rub(handed_over)} do not cover the total of {format_rub(total)}"
            )
        # Change comes out of the cash drawer only: non-cash payments must fit inside the total.
        non_cash = handed_over - self.paid(PaymentKind.CASH)
        if non_cash > total:
            raise ReceiptError(
                f"non-cash payments of {format_rub(non_cash)} exceed the total of {format_rub(total)}: "
                f"change is given only from cash"
            )


def is_customer_contact(text: str) -> bool:
    """Whether text may go in tag 1008: an e-mail address or a Russian phone number +7XXXXXXXXXX."""
    return isinstance(text, str) and (_PHONE_PATTERN.fullmatch(text) is not None or _is_email(text))


def _is_email(text: str) -> bool:
    return isinstance(text, str) and len(text) <= CONTACT_MAX and _EMAIL_PATTERN.fullmatch(text) is not None


def _require_text(value: object, what: str, max_length: int) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ReceiptError(f"{what} must be non-empty text, got {value!r}")
    if len(value) > max_length:
        raise ReceiptError(
            f"{what} is {len(value)} characters, at most {max_length} allowed: {value[:40]!r}…"
        )


def _require_kopecks(value: object, what: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ReceiptError(f"{what} must be whole kopecks (int), got {value!r}")


def _require_type(value: object, expected: type, what: str) -> None:
    if not isinstance(value, expected):
        raise ReceiptError(f"{what} must be a {expected.__name__}, got {value!r}")
