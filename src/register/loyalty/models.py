"""The loyalty protocol's requests and answers as typed values (money in kopecks, aware datetimes)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from register.domain import Kopecks, Quantity
from register.loyalty.errors import LoyaltyInputError, LoyaltyRejected


class IdentifierType(StrEnum):
    CARD_NUMBER = "CardNumber"
    CARD_BAR_CODE = "CardBarCode"
    PHONE = "Phone"
    QR_CODE = "QrCode"
    EMAIL = "Email"


class DeliveryMode(StrEnum):
    LOYALTY = "LOYALTY"
    """The register sends the receipt link with cheque-link; the backend sends the offer message."""
    OFD = "OFD"
    """The register puts the notifier in tag 1008; the OFD sends the receipt."""


class NotifierKind(StrEnum):
    EMAIL = "email"
    PHONE = "phone"


def new_request_id() -> str:
    """A fresh requestId. Make one per operation and keep it for every retry of that operation."""
    return str(uuid.uuid4())


def derive_request_id(request_id: str, purpose: str) -> str:
    """A requestId for a follow-up call of an operation (e.g. the cheque-link after a refund): a UUID made
    from the operation's requestId and the purpose, so every retry derives the same one."""
    return str(uuid.uuid5(uuid.UUID(require_request_id(request_id)), purpose))


def require_request_id(request_id: str) -> str:
    try:
        return str(uuid.UUID(request_id))
    except (ValueError, TypeError, AttributeError):
        raise LoyaltyInputError(f"requestId must be a UUID string, got {request_id!r}") from None


def _require_kopecks(value: object, what: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise LoyaltyInputError(f"{what} must be whole non-negative kopecks (int), got {value!r}")


def _require_aware(value: object, what: str) -> None:
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise LoyaltyInputError(f"{what} must be a datetime with a UTC offset, got {value!r}")


@dataclass(frozen=True, slots=True)
class Identifier:
    type: IdentifierType
    value: str

    @classmethod
    def card(cls, number: str) -> Identifier:
        return cls(IdentifierType.CARD_NUMBER, number)

    def __post_init__(self) -> None:
        object.__setattr__(self, "type", IdentifierType(self.type))
        if not isinstance(self.value, str) or not self.value.strip():
            raise LoyaltyInputError(f"identifier value must be non-empty text, got {self.value!r}")


@dataclass(frozen=True, slots=True)
class Notifier:
    kind: NotifierKind
    value: str


@dataclass(frozen=True, slots=True)
class ElectronicCheque:
    """How the receipt reaches the member (the delivery decision's input from loyalty)."""

    paper_refused: bool
    mode: DeliveryMode
    notifier: Notifier | None
    need_link: bool


@dataclass(frozen=True, slots=True)
class Member:
    id: str
    name: str
    balance: int
    """Points."""


@dataclass(frozen=True, slots=True)
class BalanceAnswer:
    member: Member
    electronic_cheque: ElectronicCheque


@dataclass(frozen=True, slots=True)
class ChequeLine:
    position: int
    sku: str
    name: str
    price: Kopecks
    quantity: Quantity
    amount: Kopecks

    def __post_init__(self) -> None:
        if not isinstance(self.position, int) or isinstance(self.position, bool) or self.position < 1:
            raise LoyaltyInputError(f"line position must be a positive int, got {self.position!r}")
        _require_kopecks(self.price, f"line {self.position} price")
        _require_kopecks(self.amount, f"line {self.position} amount")
        if not isinstance(self.quantity, Quantity):
            raise LoyaltyInputError(
                f"line {self.position} quantity must be a Quantity, got {self.quantity!r}"
            )


def _check_lines(lines: tuple[ChequeLine, ...], total: Kopecks) -> None:
    if not lines:
        raise LoyaltyInputError("a cheque needs at least one line")
    _require_kopecks(total, "total")
    positions = [line.position for line in lines]
    if len(set(positions)) != len(positions):
        raise LoyaltyInputError(f"line positions must be unique, got {positions}")
    line_sum = sum(line.amount for line in lines)
    if line_sum != total:
        raise LoyaltyInputError(f"total {total} is not the sum of the line amounts {line_sum}")


@dataclass(frozen=True, slots=True)
class Cheque:
    """The cheque before the fiscal document, as calculate sees it."""

    cheque_number: str
    cheque_datetime: datetime
    lines: tuple[ChequeLine, ...]
    total: Kopecks
    identifier: Identifier | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "lines", tuple(self.lines))
        _require_aware(self.cheque_datetime, "cheque_datetime")
        _check_lines(self.lines, self.total)


@dataclass(frozen=True, slots=True)
class LineResult:
    position: int
    discount: Kopecks
    amount: Kopecks


@dataclass(frozen=True, slots=True)
class CalculateAnswer:
    purchase_id: str
    member: Member | None
    lines: tuple[LineResult, ...]
    discount: Kopecks
    total: Kopecks
    electronic_cheque: ElectronicCheque | None
    """None when no member was identified."""
    cheque_messages: tuple[str, ...]
    """Texts for the printed receipt (empty when the member refused paper)."""
    cashier_messages: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Fiscal:
    """The fiscal document a purchase or a return was registered with."""

    fn: str
    fd: int
    fp: int
    operation: int
    """Tag 1054: 1 sale, 2 return of sale."""
    total: Kopecks
    date_time: datetime

    def __post_init__(self) -> None:
        if not isinstance(self.fn, str) or len(self.fn) != 16 or not self.fn.isdigit():
            raise LoyaltyInputError(f"fn must be the 16-digit FN number, got {self.fn!r}")
        _require_kopecks(self.total, "fiscal total")
        _require_aware(self.date_time, "fiscal date_time")


@dataclass(frozen=True, slots=True)
class FiscalRef:
    fn: str
    fd: int
    fp: int


@dataclass(frozen=True, slots=True)
class ConfirmAnswer:
    purchase_id: str
    status: str
    points_earned: int


@dataclass(frozen=True, slots=True)
class CancelAnswer:
    purchase_id: str
    status: str


@dataclass(frozen=True, slots=True)
class Refund:
    """A return of sale (1054 = 2) of a purchase named by its id or by its fiscal document."""

    lines: tuple[ChequeLine, ...]
    total: Kopecks
    fiscal: Fiscal
    original_purchase_id: str | None = None
    original_fiscal: FiscalRef | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "lines", tuple(self.lines))
        if (self.original_purchase_id is None) == (self.original_fiscal is None):
            raise LoyaltyInputError("a refund names exactly one of original_purchase_id and original_fiscal")
        _check_lines(self.lines, self.total)


@dataclass(frozen=True, slots=True)
class RefundAnswer:
    refund_id: str
    purchase_id: str
    """The original purchase."""
    status: str
    electronic_cheque: ElectronicCheque | None


@dataclass(frozen=True, slots=True)
class SentMessage:
    id: str
    channel: str
    status: str
    """queued, retrying, sent or failed."""
    carries_receipt: bool | None = None
    """The message delivers the receipt to its 1008 contact (None: the backend does not say)."""


@dataclass(frozen=True, slots=True)
class ChequeLinkAnswer:
    stored: bool
    messages: tuple[SentMessage, ...]


@dataclass(frozen=True, slots=True)
class OfflinePurchase:
    """A purchase made while the backend was unreachable, with its fiscal document (and link, if any)."""

    request_id: str
    cheque: Cheque
    fiscal: Fiscal
    url: str | None = None
    qr: str | None = None

    def __post_init__(self) -> None:
        require_request_id(self.request_id)
        if (self.url is None) != (self.qr is None):
            raise LoyaltyInputError("an offline purchase has both url and qr of its receipt link, or neither")


@dataclass(frozen=True, slots=True)
class OfflineRefund:
    request_id: str
    refund: Refund

    def __post_init__(self) -> None:
        require_request_id(self.request_id)


@dataclass(frozen=True, slots=True)
class OfflineCancel:
    request_id: str
    purchase_id: str

    def __post_init__(self) -> None:
        require_request_id(self.request_id)


OfflineItem = OfflinePurchase | OfflineRefund | OfflineCancel


@dataclass(frozen=True, slots=True)
class OfflinePurchaseAnswer:
    purchase_id: str
    status: str
    points_earned: int
    electronic_cheque: ElectronicCheque | None
    messages: tuple[SentMessage, ...]


@dataclass(frozen=True, slots=True)
class OfflineResult:
    """What one uploaded item would have got on its own: an answer, or a refusal."""

    request_id: str
    status: int
    answer: OfflinePurchaseAnswer | RefundAnswer | CancelAnswer | None = None
    error: LoyaltyRejected | None = field(default=None, compare=False)

    @property
    def ok(self) -> bool:
        return self.error is None
