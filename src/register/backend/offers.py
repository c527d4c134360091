"""Offers: CRM-managed messages fired when a purchase completes, and their templates.

Besides the staff's offers (event ``purchase_completed``) the offers table holds the built-in e-receipt
messages (event ``e_receipt``, added by migration 2): the message that carries a receipt to a member who
refused paper when no active offer of the notifier's channel does. Staff neither see nor edit those.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime

from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.engine import RowMapping

from register.backend import errors
from register.backend.api.crm_models import Offer, OfferFields
from register.backend.errors import ApiError, ErrorCode
from register.backend.schema import offers
from register.backend.timeutil import parse_stored, utc_now_text
from register.domain import format_rub

PLACEHOLDERS = frozenset({"receipt_url", "total", "datetime", "shop"})
EVENT_PURCHASE_COMPLETED = "purchase_completed"
EVENT_E_RECEIPT = "e_receipt"
E_RECEIPT_OFFER_IDS: dict[str, str] = {  # channel -> the built-in offer (ids fixed by migration 2)
    "email": "083b785b-51b5-56f4-b82f-ff4c98e210cd",
    "sms": "bc9a3429-4d2c-5a82-81ef-303532b0b5c5",
}
BUILT_IN_OFFER_IDS = frozenset(E_RECEIPT_OFFER_IDS.values())
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_ACTIVE_FOR_EVENT = (  # built once, compiled once
    select(offers)
    .where(offers.c.event == bindparam("event"), offers.c.active.is_(True))
    .order_by(offers.c.created_at)
)
_BY_ID = select(offers).where(offers.c.id == bindparam("offer_id"))


class TemplateError(ValueError):
    """A template naming a placeholder that does not exist."""


def check_template(template: str) -> None:
    unknown = sorted({name for name in _PLACEHOLDER.findall(template) if name not in PLACEHOLDERS})
    if unknown:
        raise TemplateError(
            f"unknown placeholders {', '.join('{' + n + '}' for n in unknown)}; "
            f"known: {', '.join('{' + n + '}' for n in sorted(PLACEHOLDERS))}"
        )


def render(template: str, values: Mapping[str, str]) -> str:
    """The template with each known ``{placeholder}`` replaced; any other text is left as written."""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)


def template_values(*, receipt_url: str, total: int, when: datetime, shop: str) -> dict[str, str]:
    return {
        "receipt_url": receipt_url,
        "total": f"{format_rub(total)} ₽",
        "datetime": when.strftime("%d.%m.%Y %H:%M"),
        "shop": shop,
    }


def list_offers(conn: Connection) -> list[Offer]:
    """The staff's offers (the built-in e-receipt messages are not among them)."""
    rows = conn.execute(
        select(offers)
        .where(offers.c.event == EVENT_PURCHASE_COMPLETED)
        .order_by(offers.c.created_at, offers.c.id)
    ).mappings()
    return [_view(row) for row in rows]


def create_offer(conn: Connection, fields: OfferFields) -> Offer:
    _validate(fields)
    offer_id = str(uuid.uuid4())
    conn.execute(insert(offers).values(id=offer_id, created_at=utc_now_text(), **_columns(fields)))
    return _view(_load(conn, offer_id))


def update_offer(conn: Connection, offer_id: str, fields: OfferFields) -> Offer:
    _validate(fields)
    changed = conn.execute(
        update(offers)
        .where(offers.c.id == offer_id, offers.c.event == EVENT_PURCHASE_COMPLETED)
        .values(**_columns(fields))
    )
    if changed.rowcount == 0:
        raise ApiError(ErrorCode.OFFER_NOT_FOUND, f"Предложение {offer_id} не найдено")
    return _view(_load(conn, offer_id))


def offers_in_force(conn: Connection, event: str, moment: datetime) -> list[RowMapping]:
    """Active offers for ``event`` whose lifetime includes ``moment``."""
    return in_force(conn.execute(_ACTIVE_FOR_EVENT, {"event": event}).mappings(), moment)


def in_force(rows: Iterable[RowMapping], moment: datetime) -> list[RowMapping]:
    """The offers of ``rows`` whose lifetime includes ``moment``."""
    return [
        row
        for row in rows
        if (row["valid_from"] is None or parse_stored(row["valid_from"]) <= moment)
        and (row["valid_to"] is None or moment <= parse_stored(row["valid_to"]))
    ]


def built_in_offer(conn: Connection, channel: str) -> RowMapping | None:
    """The built-in e-receipt message of a channel (e-mail or SMS), None for a channel without one."""
    offer_id = E_RECEIPT_OFFER_IDS.get(channel)
    if offer_id is None:
        return None
    return conn.execute(_BY_ID, {"offer_id": offer_id}).mappings().one_or_none()


def _validate(fields: OfferFields) -> None:
    for what, text in (("template", fields.template), ("subject", fields.subject)):
        try:
            check_template(text)
        except TemplateError as exc:
            raise errors.validation(f"Шаблон ({what}): неизвестная подстановка: {exc}") from None


def _columns(fields: OfferFields) -> dict[str, object]:
    return {
        "name": fields.name,
        "event": fields.event,
        "channel": fields.channel,
        "subject": fields.subject,
        "template": fields.template,
        "active": fields.active,
        "valid_from": fields.valid_from.isoformat() if fields.valid_from else None,
        "valid_to": fields.valid_to.isoformat() if fields.valid_to else None,
    }


def _load(conn: Connection, offer_id: str) -> RowMapping:
    return conn.execute(select(offers).where(offers.c.id == offer_id)).mappings().one()


def _view(row: RowMapping) -> Offer:
    return Offer(
        id=row["id"],
        name=row["name"],
        event=row["event"],
        channel=row["channel"],
        subject=row["subject"],
        template=row["template"],
        active=bool(row["active"]),
        valid_from=row["valid_from"],
        valid_to=row["valid_to"],
    )
