"""Request and answer shapes of the staff endpoints (/crm/v1)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from register.backend.api.pos_models import MESSAGE_STATUS_DOC
from register.backend.api.wire import (
    NO_CONTROL_CHARS,
    DeliveryModeName,
    IsoDateTime,
    StrictBool,
    Text64,
    Text128,
    Wire,
)

ChannelName = Literal["email", "sms", "push"]
Subject = Annotated[str, StringConstraints(max_length=200, pattern=NO_CONTROL_CHARS)]
# Templates are message bodies: line breaks and tabs are allowed, other control characters are not.
Template = Annotated[
    str, StringConstraints(min_length=1, max_length=2000, pattern=r"^[^\x00-\x08\x0b-\x1f\x7f]*$")
]


class StaffLoginRequest(Wire):
    login: Text64
    password: Annotated[str, StringConstraints(min_length=1, max_length=128)]


class StaffLoginAnswer(Wire):
    token: str


class MemberSummary(Wire):
    id: str
    name: str
    cards: list[str]
    email: str | None
    phone: str | None
    paper_refused: bool
    blocked: bool


class MemberList(Wire):
    items: list[MemberSummary]


class MessageView(Wire):
    id: str
    member_id: str | None
    purchase_id: str
    offer_id: str | None = Field(description="The offer that made it; null for the built-in e-receipt.")
    kind: Literal["offer", "receipt"] = Field(
        description="offer: a staff offer; receipt: the built-in e-receipt message (no active offer of the "
        "notifier's channel carried the receipt of a member who refused paper)."
    )
    channel: ChannelName
    recipient: str | None
    status: Literal["queued", "retrying", "sent", "failed"] = Field(description=MESSAGE_STATUS_DOC)
    attempts: int = Field(description="Delivery attempts made so far.")
    link: str | None
    error: str | None = Field(description="Why it failed; for a retrying e-mail, the last attempt's error.")
    created_at: str
    sent_at: str | None


class MessageList(Wire):
    items: list[MessageView] = Field(description="Newest first.")


class OfferFields(Wire):
    name: Text128
    event: Literal["purchase_completed"]
    channel: ChannelName
    subject: Subject = ""
    template: Template = Field(description="Placeholders: {receipt_url} {total} {datetime} {shop}.")
    active: StrictBool = True
    valid_from: IsoDateTime | None = None
    valid_to: IsoDateTime | None = None

    @model_validator(mode="after")
    def _lifetime_in_order(self) -> OfferFields:
        if self.valid_from is not None and self.valid_to is not None and self.valid_from > self.valid_to:
            raise ValueError("validFrom must not be after validTo")
        return self


class Offer(Wire):
    id: str
    name: str
    event: Literal["purchase_completed"]
    channel: ChannelName
    subject: str
    template: str
    active: bool
    valid_from: str | None
    valid_to: str | None


class OfferList(Wire):
    items: list[Offer]


class ShopSettings(Wire):
    delivery_mode: DeliveryModeName
    shop_name: Text128
