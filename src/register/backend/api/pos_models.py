"""Request and answer shapes of the register endpoints (/pos/v1)."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from pydantic import AfterValidator, Field, Strict, StringConstraints, model_validator

from register.backend.api.wire import (
    ElectronicCheque,
    ErrorBody,
    Fiscal,
    FiscalRef,
    IsoDateTime,
    Kopecks,
    RecordId,
    Text32,
    Text64,
    Text128,
    Text512,
    Url,
    Wire,
)

MAX_LINES = 1000
MAX_BATCH = 500


def _positive_quantity(value: str) -> str:
    if int(value.replace(".", "")) == 0:
        raise ValueError("quantity must be greater than zero")
    return value


Quantity = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9]{1,7}(\.[0-9]{1,3})?$"),
    AfterValidator(_positive_quantity),
    Field(description='Decimal string, at most 3 decimals: "2", "1.355".'),
]
RequestId = Annotated[UUID, Field(description="Idempotency key (UUID): a repeat returns the first answer.")]


class Identifier(Wire):
    type: Literal["CardNumber", "CardBarCode", "Phone", "QrCode", "Email"]
    value: Text64


class MemberBrief(Wire):
    id: str
    name: str
    balance: int = Field(description="Points.")


class ChequeLine(Wire):
    position: Annotated[int, Strict(), Field(ge=1, le=9999)]
    sku: Text64
    name: Text128
    price: Kopecks
    quantity: Quantity
    amount: Kopecks


def _check_lines(lines: list[ChequeLine], total: int) -> None:
    positions = [line.position for line in lines]
    if len(set(positions)) != len(positions):
        raise ValueError("line positions must be unique")
    if sum(line.amount for line in lines) != total:
        raise ValueError(
            f"total {total} is not the sum of the line amounts {sum(line.amount for line in lines)}"
        )


class ChequeFields(Wire):
    """The cheque as the register has it before the fiscal document."""

    cheque_number: Text32
    cheque_date_time: IsoDateTime
    identifier: Identifier | None = None
    lines: Annotated[list[ChequeLine], Field(min_length=1, max_length=MAX_LINES)]
    total: Kopecks

    @model_validator(mode="after")
    def _lines_add_up(self) -> ChequeFields:
        _check_lines(self.lines, self.total)
        return self


class BalanceRequest(Wire):
    request_id: RequestId
    identifier: Identifier


class BalanceAnswer(Wire):
    member: MemberBrief
    electronic_cheque: ElectronicCheque


class CalculateRequest(ChequeFields):
    request_id: RequestId


class LineResult(Wire):
    position: int
    discount: int
    amount: int


class CalculateAnswer(Wire):
    purchase_id: str
    member: MemberBrief | None
    lines: list[LineResult]
    discount: int
    total: int
    electronic_cheque: ElectronicCheque | None = Field(description="Null when no member is identified.")
    cheque_messages: list[str] = Field(
        description="Texts for the printed receipt; empty when paper is refused."
    )
    cashier_messages: list[str]


class ConfirmRequest(Wire):
    request_id: RequestId
    purchase_id: RecordId
    fiscal: Fiscal


class ConfirmAnswer(Wire):
    purchase_id: str
    status: Literal["CONFIRMED"]
    points_earned: int


class CancelRequest(Wire):
    request_id: RequestId
    purchase_id: RecordId


class CancelAnswer(Wire):
    purchase_id: str
    status: Literal["CANCELLED", "EXPIRED"] = Field(
        description="EXPIRED: the purchase had outlived its calculation lifetime and was released already."
    )


class RefundFields(Wire):
    """A return of sale (1054 = 2), attached to the purchase it returns."""

    original_purchase_id: RecordId | None = None
    original_fiscal: FiscalRef | None = None
    lines: Annotated[list[ChequeLine], Field(min_length=1, max_length=MAX_LINES)]
    total: Kopecks
    fiscal: Fiscal

    @model_validator(mode="after")
    def _one_original_and_lines_add_up(self) -> RefundFields:
        if (self.original_purchase_id is None) == (self.original_fiscal is None):
            raise ValueError("give exactly one of originalPurchaseId and originalFiscal")
        _check_lines(self.lines, self.total)
        return self


class RefundRequest(RefundFields):
    request_id: RequestId


class RefundAnswer(Wire):
    refund_id: str
    purchase_id: str = Field(description="The original purchase.")
    status: Literal["REFUNDED"]
    electronic_cheque: ElectronicCheque | None = Field(description="Null when the purchase had no member.")


class ChequeLinkRequest(Wire):
    request_id: RequestId
    purchase_id: RecordId = Field(description="A purchase or a refund id.")
    fiscal: Fiscal
    url: Url
    qr: Text512


MessageStatus = Literal["queued", "retrying", "sent", "failed"]
MESSAGE_STATUS_DOC = (
    "queued: waiting for the sender; retrying: the SMTP server was unreachable or refused for now (4xx), "
    "tried again with backoff; sent; failed: for good (no contact, a 5xx refusal, or the last retry), "
    "the reason is in /crm/v1/messages."
)


class MessageBrief(Wire):
    id: str
    channel: Literal["email", "sms", "push"]
    status: MessageStatus = Field(description=MESSAGE_STATUS_DOC)
    kind: Literal["offer", "receipt"] = Field(
        description="offer: a staff offer fired by the purchase; receipt: the built-in e-receipt message, "
        "sent when no active offer of the notifier's channel carries the receipt."
    )
    carries_receipt: bool = Field(
        description="True when this message delivers the e-receipt: it goes on the notifier's channel to "
        "the notifier fixed at calculate (the contact in tag 1008)."
    )


class ReceiptDelivery(Wire):
    """Whether the backend sends this receipt electronically, and how far it got."""

    owed: bool = Field(
        description="True when the backend is to send this receipt: mode LOYALTY and a member who refused "
        "paper with a notifier, as fixed at calculate. False: the backend sends no e-receipt for it (mode "
        "OFD, no member, paper not refused, no contact); offers may still go out."
    )
    status: Literal["none", "queued", "retrying", "sent", "failed"] = Field(
        description="The furthest of the messages that carry the receipt (sent, then queued, retrying, "
        "failed); none: no message carries it, nothing will be sent."
    )
    channel: Literal["email", "sms"] | None = Field(description="The notifier's channel, null if none.")
    recipient: str | None = Field(description="The notifier (tag 1008), null if none.")
    message_ids: list[str] = Field(description="The messages that carry the receipt.")


class ChequeLinkAnswer(Wire):
    stored: bool
    messages: list[MessageBrief] = Field(description="Every message of the purchase (or refund).")
    e_receipt: ReceiptDelivery = Field(
        description="The e-receipt: owed or not, and the status of the messages carrying it. Paper may stay "
        "suppressed only while status is queued, retrying or sent (54-FZ: the receipt must be sent)."
    )


class OfflinePurchase(ChequeFields):
    """A purchase made while the backend was unreachable: recorded as confirmed (points accrued)."""

    type: Literal["purchase"]
    request_id: RequestId
    fiscal: Fiscal
    url: Url | None = None
    qr: Text512 | None = None

    @model_validator(mode="after")
    def _link_has_both_parts(self) -> OfflinePurchase:
        if (self.url is None) != (self.qr is None):
            raise ValueError("give both url and qr of the receipt link, or neither")
        return self


class OfflineRefund(RefundFields):
    type: Literal["refund"]
    request_id: RequestId


class OfflineCancel(Wire):
    type: Literal["cancel"]
    request_id: RequestId
    purchase_id: RecordId


OfflineItem = Annotated[OfflinePurchase | OfflineRefund | OfflineCancel, Field(discriminator="type")]


class OfflineBatchRequest(Wire):
    request_id: RequestId
    requests: Annotated[list[OfflineItem], Field(min_length=1, max_length=MAX_BATCH)]


class OfflinePurchaseAnswer(Wire):
    purchase_id: str
    status: Literal["CONFIRMED"]
    points_earned: int
    electronic_cheque: ElectronicCheque | None
    messages: list[MessageBrief]
    e_receipt: ReceiptDelivery = Field(description="As in cheque-link.")


class OfflineResult(Wire):
    request_id: str
    status: int = Field(description="The HTTP status the request would have had on its own.")
    body: OfflinePurchaseAnswer | RefundAnswer | CancelAnswer | ErrorBody


class OfflineBatchAnswer(Wire):
    results: list[OfflineResult] = Field(description="One per request, in order.")
