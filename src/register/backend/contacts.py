"""Member contacts: normalising phones and e-mails, and choosing the notifier for tag 1008."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from register.domain import is_customer_contact

_PHONE_SEPARATORS = re.compile(r"[\s()\-]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class ContactKind(StrEnum):
    EMAIL = "email"
    PHONE = "phone"


class ContactError(ValueError):
    """A phone or e-mail that cannot be a buyer contact (tag 1008)."""


@dataclass(frozen=True, slots=True)
class Notifier:
    kind: ContactKind
    value: str


def normalise_phone(text: str) -> str:
    """A Russian mobile number as +7XXXXXXXXXX: "+7 (900) 123-45-02" and "89001234502" both give
    "+79001234502"."""
    compact = _PHONE_SEPARATORS.sub("", text)
    if compact.startswith("8") and len(compact) == 11:
        compact = "+7" + compact[1:]
    elif compact.startswith("7") and len(compact) == 11:
        compact = "+" + compact
    if not compact.startswith("+7") or not is_customer_contact(compact):
        raise ContactError(f"{text!r} is not a Russian phone number (+7 and 10 digits)")
    return compact


def normalise_email(text: str) -> str:
    """An e-mail address, lower-cased, that fits tag 1008 (at most 64 characters)."""
    value = text.strip().lower()
    if "@" not in value or _CONTROL.search(value) or not value.isascii() or not is_customer_contact(value):
        raise ContactError(f"{text!r} is not an e-mail address of at most 64 ASCII characters")
    return value


def normalise_contact(kind: ContactKind, text: str) -> str:
    return normalise_phone(text) if kind is ContactKind.PHONE else normalise_email(text)


def choose_notifier(
    *,
    email: str | None,
    email_confirmed: bool,
    phone: str | None,
    phone_confirmed: bool,
    preferred: ContactKind | None,
) -> Notifier | None:
    """The member's confirmed preferred contact, else the confirmed e-mail, else the confirmed phone."""
    confirmed = {
        ContactKind.EMAIL: email if email_confirmed else None,
        ContactKind.PHONE: phone if phone_confirmed else None,
    }
    for kind in (preferred, ContactKind.EMAIL, ContactKind.PHONE):
        if kind is not None and confirmed[kind]:
            return Notifier(kind, str(confirmed[kind]))
    return None
