"""Receipt links: stored in the purchase's history; in mode LOYALTY the first one fires the offers, and
the e-receipt owed to a member who refused paper is always sent.

Each offer makes at most one message per purchase (a unique key on purchase and offer), and only the
first link of a purchase fires the offers: a repeat, with any requestId, returns the messages already
made. When the purchase owes an e-receipt (mode LOYALTY, the member refused paper and had a notifier at
calculate: the register suppressed paper on that promise) and no offer message goes to the notifier on
its channel (the offer is inactive, out of its lifetime, or absent), the built-in e-receipt message is
queued to the notifier: 54-FZ lets paper be suppressed only when the receipt is actually sent
(ffd-receipt.md §8). It too is one per purchase, by the same unique key.

Messages are only queued here; the sender delivers them after the transaction commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, insert, or_, select
from sqlalchemy.engine import RowMapping

from register.backend import errors
from register.backend.api.pos_models import MessageBrief, ReceiptDelivery
from register.backend.api.wire import Fiscal
from register.backend.contacts import ContactKind
from register.backend.members import Member, member_query
from register.backend.offers import (
    BUILT_IN_OFFER_IDS,
    E_RECEIPT_OFFER_IDS,
    EVENT_PURCHASE_COMPLETED,
    in_force,
    render,
    template_values,
)
from register.backend.prepared import Prepared, read_together
from register.backend.purchases import (
    Kind,
    Status,
    calculation_expired,
    same_document,
)
from register.backend.schema import (
    cheque_links,
    messages,
    offers,
    purchases,
    shop_settings,
)
from register.backend.settings import DeliveryMode
from register.backend.shop import SHOP_ROW_ID
from register.backend.timeutil import parse_stored, utc_now, utc_now_text, utc_text

_NO_CONTACT = {
    "email": "нет подтверждённого e-mail у участника",
    "sms": "нет подтверждённого телефона у участника",
}
CHANNEL_OF_NOTIFIER = {ContactKind.EMAIL.value: "email", ContactKind.PHONE.value: "sms"}
# The furthest a receipt got, best first: one message sent is enough, one still on its way is hope.
_PROGRESS = ("sent", "queued", "retrying", "failed")


# Built once: SQLAlchemy then reuses their cache keys and compiled forms on every request.
# The record, locked, with the URLs of its links (a row per link; one with a null URL when it has none).
_LOCK_WITH_LINKS = Prepared(
    select(purchases, cheque_links.c.url.label("link_url"))
    .select_from(purchases.outerjoin(cheque_links, cheque_links.c.purchase_id == purchases.c.id))
    .where(purchases.c.id == bindparam("record_id"))
    .with_for_update(of=purchases)
)
_INSERT_LINK = Prepared(insert(cheque_links))
_INSERT_MESSAGE = Prepared(insert(messages))
_MESSAGES_OF = Prepared(
    select(
        messages.c.id,
        messages.c.channel,
        messages.c.status,
        messages.c.attempts,
        messages.c.recipient,
        messages.c.offer_id,
    )
    .where(messages.c.purchase_id == bindparam("record_id"))
    .order_by(messages.c.created_at, messages.c.channel, messages.c.id)
)
# The shop's name with the offers that may fire and the built-in e-receipt messages, in one statement.
_CONFIG = Prepared(
    select(shop_settings.c.shop_name, offers)
    .select_from(
        shop_settings.outerjoin(
            offers,
            or_(
                and_(
                    offers.c.event == EVENT_PURCHASE_COMPLETED,
                    offers.c.active.is_(True),
                ),
                offers.c.id.in_(sorted(BUILT_IN_OFFER_IDS)),
            ),
        )
    )
    .where(shop_settings.c.id == SHOP_ROW_ID)
    .order_by(offers.c.created_at)
)


@dataclass(frozen=True, slots=True)
class LinkMessages:
    """The messages of a purchase or refund, and what they mean for its e-receipt."""

    messages: list[MessageBrief]
    e_receipt: ReceiptDelivery


def store_link(
    conn: Connection,
    record_id: str,
    fiscal: Fiscal,
    url: str,
    qr: str,
    *,
    lifetime_seconds: float | None = None,
) -> LinkMessages:
    """Store the link of a purchase or refund; fire the offers on its first link in mode LOYALTY, and
    make sure an owed e-receipt goes out. ``lifetime_seconds``: a calculation older than this (never
    confirmed) has expired and takes no link."""
    rows = _LOCK_WITH_LINKS.execute(conn, {"record_id": record_id}).all()
    if not rows:
        raise errors.purchase_not_found(record_id)
    record = rows[0]
    if record["status"] == Status.CANCELLED:
        raise errors.wrong_state(f"Покупка {record_id} отменена: ссылка на чек не принимается")
    if record["status"] == Status.EXPIRED or calculation_expired(record, lifetime_seconds):
        raise errors.purchase_expired(record_id)
    expected_operation = 1 if record["kind"] == Kind.PURCHASE else 2
    if fiscal.operation != expected_operation or fiscal.total != record["total"]:
        raise errors.validation(
            f"Фискальный документ не соответствует записи {record_id}: ожидались признак расчёта "
            f"{expected_operation} и сумма {record['total']} коп."
        )
    if record["fiscal_fn"] is not None and not same_document(record, fiscal):
        raise errors.wrong_state(f"Запись {record_id} относится к другому фискальному документу")
    urls = {row["link_url"] for row in rows if row["link_url"] is not None}
    first_link = not urls
    if url not in urls:
        _INSERT_LINK.defer(
            conn,
            {
                "purchase_id": record_id,
                "url": url,
                "qr": qr,
                "fiscal_fn": fiscal.fn,
                "fiscal_fd": fiscal.fd,
                "fiscal_fp": fiscal.fp,
                "created_at": utc_now_text(),
            },
        )
    now = utc_now()
    loyalty_sends = record["delivery_mode"] == DeliveryMode.LOYALTY.value and record["member_id"]
    if not first_link:
        found = link_messages(conn, record)
        if found.e_receipt.owed and not found.e_receipt.message_ids:
            _INSERT_MESSAGE.defer(conn, _built_in_receipt(record, _config(conn, now), url, now))
            found = link_messages(conn, record)
        return found
    # The first link: the record has no messages yet (they are made here, under the record's lock), so
    # its messages are the ones queued now, not read back, and they are inserted together.
    owed = owes_receipt(record)
    member: Member | None = None
    config: _Config | None = None
    if loyalty_sends:  # the member and what the messages are made from, in one round trip
        found, configured = read_together(conn, member_query(record["member_id"]), (_CONFIG, {}))
        member = Member.from_row(found.one()) if found.first() is not None else None
        config = _config_of(configured, now)
    elif owed:
        config = _config(conn, now)
    queued: list[dict[str, Any]] = []
    if member is not None and config is not None:
        for offer in config.in_force:
            recipient = _recipient(member, offer["channel"])
            queued.append(_message(record, offer, recipient, config.values(record, url), url, now))
    found = _view_of(record, _in_order(queued))
    if found.e_receipt.owed and not found.e_receipt.message_ids and config is not None:
        queued.append(_built_in_receipt(record, config, url, now))
        found = _view_of(record, _in_order(queued))
    _INSERT_MESSAGE.defer(conn, queued)
    return found


def _in_order(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda row: (row["created_at"], row["channel"], row["id"]))


def link_messages(conn: Connection, record: RowMapping) -> LinkMessages:
    """The record's messages, each marked whether it carries the e-receipt, and the e-receipt's state."""
    rows = _MESSAGES_OF.execute(conn, {"record_id": record["id"]})
    return _view_of(record, rows)


def _view_of(record: RowMapping, rows: Iterable[Mapping[str, Any]]) -> LinkMessages:
    """The messages ``rows`` of the record (in the order of ``_MESSAGES_OF``) as ``link_messages`` tells
    them."""
    channel, recipient = receipt_notifier(record)
    briefs = []
    for row in rows:
        briefs.append(
            MessageBrief(
                id=row["id"],
                channel=row["channel"],
                status=public_status(row["status"], row["attempts"]),
                kind="receipt" if row["offer_id"] in BUILT_IN_OFFER_IDS else "offer",
                carries_receipt=channel is not None
                and (row["channel"], row["recipient"]) == (channel, recipient),
            )
        )
    carrying = [brief for brief in briefs if brief.carries_receipt]
    statuses = {brief.status for brief in carrying}
    return LinkMessages(
        messages=briefs,
        e_receipt=ReceiptDelivery(
            owed=owes_receipt(record),
            status=next((status for status in _PROGRESS if status in statuses), "none"),
            channel=channel,
            recipient=recipient,
            message_ids=[brief.id for brief in carrying],
        ),
    )


def owes_receipt(record: RowMapping) -> bool:
    """The backend is to send this record's receipt: mode LOYALTY, a member who refused paper and had a
    notifier when the purchase was calculated (or the refund recorded): the register suppressed paper."""
    return (
        record["delivery_mode"] == DeliveryMode.LOYALTY.value
        and bool(record["member_id"])
        and bool(record["paper_refused"])
        and receipt_notifier(record)[0] is not None
    )


def receipt_notifier(record: RowMapping) -> tuple[str | None, str | None]:
    """(channel, recipient) of the notifier fixed on the record, or (None, None)."""
    channel = CHANNEL_OF_NOTIFIER.get(record["notifier_kind"] or "")
    if channel is None or not record["notifier_value"]:
        return None, None
    return channel, record["notifier_value"]


def public_status(stored: str, attempts: int = 0) -> str:
    """'sending' (claimed by a sender, outcome not yet known) is reported as 'queued', or as 'retrying'
    when an earlier attempt failed."""
    if stored == "sending":
        return "retrying" if attempts else "queued"
    return stored


@dataclass(frozen=True, slots=True)
class _Config:
    """What the messages of a link are made from, read in one statement: the shop's name, the offers in
    force and the built-in e-receipt messages (by channel)."""

    shop_name: str
    in_force: list[RowMapping]
    built_in: dict[str, RowMapping]

    def values(self, record: RowMapping, url: str) -> dict[str, str]:
        return template_values(
            receipt_url=url,
            total=record["total"],
            when=parse_stored(record["cheque_datetime"]),
            shop=self.shop_name,
        )


def _config(conn: Connection, now: datetime) -> _Config:
    return _config_of(_CONFIG.execute(conn), now)


def _config_of(rows: Iterable[Mapping[str, Any]], now: datetime) -> _Config:
    shop_name: str | None = None
    active: list[Mapping[str, Any]] = []
    built_in: dict[str, Mapping[str, Any]] = {}
    for row in rows:
        shop_name = row["shop_name"]
        if row["id"] is None:
            continue
        if row["id"] in BUILT_IN_OFFER_IDS:
            if E_RECEIPT_OFFER_IDS.get(row["channel"]) == row["id"]:
                built_in[row["channel"]] = row
        elif row["event"] == EVENT_PURCHASE_COMPLETED and row["active"]:
            active.append(row)
    if shop_name is None:
        raise RuntimeError("the shop settings row is missing")
    return _Config(shop_name, in_force(active, now), built_in)


def _built_in_receipt(record: RowMapping, config: _Config, url: str, now: datetime) -> dict[str, Any]:
    """The row of the built-in e-receipt message to the record's notifier."""
    channel, recipient = receipt_notifier(record)
    offer = config.built_in.get(channel or "")
    if offer is None:  # a database without migration 2 cannot happen: the backend migrates at start
        raise RuntimeError(f"the built-in e-receipt message for {channel!r} is missing")
    return _message(record, offer, recipient, config.values(record, url), url, now)


def _message(
    record: RowMapping,
    offer: RowMapping,
    recipient: str | None,
    values: dict[str, str],
    url: str,
    now: datetime,
) -> dict[str, Any]:
    """The row of the offer's message, queued (or failed at once when there is no recipient)."""
    channel = offer["channel"]
    row = {
        "id": str(uuid.uuid4()),
        "member_id": record["member_id"],
        "purchase_id": record["id"],
        "offer_id": offer["id"],
        "channel": channel,
        "recipient": recipient,
        "subject": render(offer["subject"], values)[:400],
        "body": render(offer["template"], values),
        "link": url,
        "status": "queued" if recipient else "failed",
        "error": None if recipient else _NO_CONTACT.get(channel, "нет получателя"),
        "created_at": utc_text(now),
        "attempts": 0,
    }
    return row


def _recipient(member: Member, channel: str) -> str | None:
    if channel == "email":
        return member.confirmed_contact(ContactKind.EMAIL)
    if channel == "sms":
        return member.confirmed_contact(ContactKind.PHONE)
    return member.id  # push goes to the member's app, known by the member id
