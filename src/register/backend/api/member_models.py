"""Request and answer shapes of the personal account (/member/v1)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints, model_validator

from register.backend.api.wire import ContactKindName, StrictBool, Text32, Text64, Wire

Code = Annotated[str, StringConstraints(min_length=1, max_length=16, pattern=r"^[0-9]+$")]


class MemberLoginRequest(Wire):
    phone: Text32 | None = None
    card: Text32 | None = None
    code: Code = Field(description='The code sent by SMS; the lab issues "0000".')

    @model_validator(mode="after")
    def _one_login(self) -> MemberLoginRequest:
        if (self.phone is None) == (self.card is None):
            raise ValueError("give exactly one of phone and card")
        return self


class MemberLoginAnswer(Wire):
    token: str
    member_id: str


class Contact(Wire):
    value: str
    confirmed: bool


class Contacts(Wire):
    email: Contact | None
    phone: Contact | None


class Profile(Wire):
    id: str
    name: str
    cards: list[str]
    contacts: Contacts
    preferred: ContactKindName | None
    paper_refused: bool
    balance: int = Field(description="Points.")


class PaperReceiptsRequest(Wire):
    refused: StrictBool = Field(description="True: the member refuses paper receipts (e-receipt only).")


class ContactsRequest(Wire):
    """Absent fields are left as they are; null removes a contact. A new value is unconfirmed."""

    email: Text64 | None = None
    phone: Text32 | None = None
    preferred: ContactKindName | None = None


class ConfirmContactRequest(Wire):
    kind: ContactKindName
    code: Code = Field(description='The code sent to the contact; the lab issues "0000".')
