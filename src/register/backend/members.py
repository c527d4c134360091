"""Members: finding one by an identifier, their delivery preferences, their profile and contacts."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError

from register.backend import errors
from register.backend.api.member_models import Contact, Contacts, Profile
from register.backend.api.wire import ElectronicCheque
from register.backend.api.wire import Notifier as NotifierView
from register.backend.contacts import (
    ContactError,
    ContactKind,
    Notifier,
    choose_notifier,
    normalise_contact,
    normalise_email,
    normalise_phone,
)
from register.backend.prepared import Prepared
from register.backend.schema import cards, members
from register.backend.settings import DeliveryMode

LAB_CONFIRMATION_CODE = "0000"
_CARD_IDENTIFIERS = frozenset({"CardNumber", "CardBarCode", "QrCode"})

# Built once: SQLAlchemy then reuses their cache keys and compiled forms on every request.
_BY_ID = select(members).where(members.c.id == bindparam("member_id"))
_LOAD = Prepared(_BY_ID)
_LOAD_FOR_UPDATE = Prepared(_BY_ID.with_for_update())
_BY_CARD = Prepared(
    select(members).join(cards, cards.c.member_id == members.c.id).where(cards.c.number == bindparam("card"))
)
_BY_PHONE = Prepared(
    select(members).where(members.c.phone == bindparam("phone"), members.c.phone_confirmed.is_(True))
)
_BY_EMAIL = Prepared(
    select(members).where(members.c.email == bindparam("email"), members.c.email_confirmed.is_(True))
)


@dataclass(frozen=True, slots=True)
class Member:
    id: str
    name: str
    email: str | None
    email_confirmed: bool
    phone: str | None
    phone_confirmed: bool
    preferred: ContactKind | None
    paper_refused: bool
    blocked: bool
    balance: int

    @classmethod
    def from_row(cls, row: RowMapping) -> Member:
        return cls(
            id=row["id"],
            name=row["name"],
            email=row["email"],
            email_confirmed=bool(row["email_confirmed"]),
            phone=row["phone"],
            phone_confirmed=bool(row["phone_confirmed"]),
            preferred=ContactKind(row["preferred"]) if row["preferred"] else None,
            paper_refused=bool(row["paper_refused"]),
            blocked=bool(row["blocked"]),
            balance=int(row["balance"]),
        )

    @property
    def notifier(self) -> Notifier | None:
        return choose_notifier(
            email=self.email,
            email_confirmed=self.email_confirmed,
            phone=self.phone,
            phone_confirmed=self.phone_confirmed,
            preferred=self.preferred,
        )

    def confirmed_contact(self, kind: ContactKind) -> str | None:
        if kind is ContactKind.EMAIL:
            return self.email if self.email_confirmed else None
        return self.phone if self.phone_confirmed else None


def new_member_id() -> str:
    return str(uuid.uuid4())


def fold_name(name: str) -> str:
    """The name as searched: case-folded in Python, since SQLite's lower() knows only ASCII."""
    return name.casefold()


def load_member(conn: Connection, member_id: str, *, for_update: bool = False) -> Member | None:
    query = _LOAD_FOR_UPDATE if for_update else _LOAD
    row = query.execute(conn, {"member_id": member_id}).one_or_none()
    return Member.from_row(row) if row is not None else None


def member_cards(conn: Connection, member_id: str) -> list[str]:
    rows = conn.execute(select(cards.c.number).where(cards.c.member_id == member_id).order_by(cards.c.number))
    return [number for (number,) in rows]


def find_by_identifier(conn: Connection, kind: str, value: str) -> Member:
    """The member an identifier names; MEMBER_NOT_FOUND or CARD_BLOCKED otherwise.

    Cards (number, barcode, the app's QR code) match a card number; a phone or an e-mail matches only a
    confirmed contact.
    """
    query, params = identifier_query(kind, value)
    return identified_member(query.execute(conn, params).one_or_none())


def identifier_query(kind: str, value: str) -> tuple[Prepared, dict[str, str]]:
    """The statement that finds the member of an identifier (``identified_member`` reads its row);
    MEMBER_NOT_FOUND for a phone or e-mail that cannot be one."""
    if kind in _CARD_IDENTIFIERS:
        return _BY_CARD, {"card": value.strip()}
    try:
        if kind == "Phone":
            return _BY_PHONE, {"phone": normalise_phone(value)}
        return _BY_EMAIL, {"email": normalise_email(value)}
    except ContactError:
        raise errors.member_not_found() from None


def identified_member(row: Mapping[str, Any] | None) -> Member:
    """The member of ``identifier_query``'s row; MEMBER_NOT_FOUND or CARD_BLOCKED otherwise."""
    if row is None:
        raise errors.member_not_found()
    member = Member.from_row(row)
    if member.blocked:
        raise errors.card_blocked()
    return member


def member_query(member_id: str) -> tuple[Prepared, dict[str, str]]:
    """The statement ``load_member`` runs (its row for ``Member.from_row``)."""
    return _LOAD, {"member_id": member_id}


def electronic_cheque(member: Member, mode: DeliveryMode) -> ElectronicCheque:
    notifier = member.notifier
    return ElectronicCheque(
        paper_refused=member.paper_refused,
        mode=mode.value,
        notifier=NotifierView(kind=notifier.kind.value, value=notifier.value) if notifier else None,
        need_link=mode is DeliveryMode.LOYALTY,
    )


def stored_electronic_cheque(
    *, paper_refused: bool, mode: str, notifier_kind: str | None, notifier_value: str | None
) -> ElectronicCheque:
    """The electronic cheque fixed on a purchase when it was calculated."""
    return ElectronicCheque(
        paper_refused=paper_refused,
        mode=mode,
        notifier=NotifierView(kind=notifier_kind, value=notifier_value)
        if notifier_kind and notifier_value
        else None,
        need_link=mode == DeliveryMode.LOYALTY.value,
    )


def profile(conn: Connection, member: Member) -> Profile:
    return Profile(
        id=member.id,
        name=member.name,
        cards=member_cards(conn, member.id),
        contacts=Contacts(
            email=Contact(value=member.email, confirmed=member.email_confirmed) if member.email else None,
            phone=Contact(value=member.phone, confirmed=member.phone_confirmed) if member.phone else None,
        ),
        preferred=member.preferred.value if member.preferred else None,
        paper_refused=member.paper_refused,
        balance=member.balance,
    )


def set_paper_refused(conn: Connection, member_id: str, refused: bool) -> None:
    conn.execute(update(members).where(members.c.id == member_id).values(paper_refused=refused))


def update_contacts(conn: Connection, member: Member, changes: dict[str, Any]) -> None:
    """Apply ``{"email"?, "phone"?, "preferred"?}``: a new value is unconfirmed, the same value keeps its
    confirmation, None removes the contact. Bad formats and contacts of another member: VALIDATION."""
    values: dict[str, Any] = {}
    for kind in ContactKind:
        if kind.value not in changes:
            continue
        current = member.email if kind is ContactKind.EMAIL else member.phone
        raw = changes[kind.value]
        if raw is None:
            new_value = None
        else:
            try:
                new_value = normalise_contact(kind, raw)
            except ContactError:
                raise errors.validation(_BAD_FORMAT[kind].format(raw)) from None
        if new_value != current:
            values[kind.value] = new_value
            values[f"{kind.value}_confirmed"] = False
    if changes.get("preferred") is not None:
        values["preferred"] = changes["preferred"]
    if not values:
        return
    try:
        conn.execute(update(members).where(members.c.id == member.id).values(**values))
    except IntegrityError:  # the unique e-mail / phone index: the whole transaction is rolled back
        raise errors.validation("Этот контакт уже привязан к другому участнику") from None


def confirm_contact(conn: Connection, member: Member, kind: ContactKind, code: str) -> None:
    value = member.email if kind is ContactKind.EMAIL else member.phone
    if value is None:
        raise errors.validation(f"Нет контакта для подтверждения: {_KIND_NAME[kind]}")
    if code != LAB_CONFIRMATION_CODE:
        raise errors.validation("Неверный код подтверждения")
    conn.execute(update(members).where(members.c.id == member.id).values({f"{kind.value}_confirmed": True}))


_BAD_FORMAT = {
    ContactKind.EMAIL: "Неверный адрес электронной почты: {!r} (нужен адрес до 64 латинских символов)",
    ContactKind.PHONE: "Неверный номер телефона: {!r} (нужен российский номер +7 и 10 цифр)",
}
_KIND_NAME = {ContactKind.EMAIL: "e-mail", ContactKind.PHONE: "телефон"}
