"""Receipt links: stored in the purchase's history; in mode LOYALTY the first one fires the offers.

Each offer makes at most one message per purchase (a unique key on purchase and offer), and only the
first link of a purchase fires: a repeat, with any requestId, returns the messages already made.
Messages are only queued here; the sender delivers them after the transaction commits.
"""

from __future__ import annotations

import uuid

from sqlalchemy import Connection, bindparam, insert, select
from sqlalchemy.engine import RowMapping

from register.backend import errors
from register.backend.api.pos_models import MessageBrief
from register.backend.api.wire import Fiscal
from register.backend.contacts import ContactKind
from register.backend.members import Member, load_member
from register.backend.offers import EVENT_PURCHASE_COMPLETED, offers_in_force, render, template_values
from register.backend.purchases import Kind, Status, lock_record, same_document
from register.backend.schema import cheque_links, messages
from register.backend.settings import DeliveryMode
from register.backend.shop import load_shop
from register.backend.timeutil import parse_stored, utc_now, utc_now_text, utc_text

_NO_CONTACT = {
    "email": "нет подтверждённого e-mail у участника",
    "sms": "нет подтверждённого телефона у участника",
}


# Built once: SQLAlchemy then reuses their cache keys and compiled forms on every request.
_ANY_LINK = select(cheque_links.c.id).where(cheque_links.c.purchase_id == bindparam("record_id")).limit(1)
_SAME_LINK = (
    select(cheque_links.c.id)
    .where(cheque_links.c.purchase_id == bindparam("record_id"), cheque_links.c.url == bindparam("url"))
    .limit(1)
)
_INSERT_LINK = insert(cheque_links)
_INSERT_MESSAGE = insert(messages)
_MESSAGES_OF = (
    select(messages.c.id, messages.c.channel, messages.c.status)
    .where(messages.c.purchase_id == bindparam("record_id"))
    .order_by(messages.c.created_at, messages.c.channel, messages.c.id)
)


def store_link(conn: Connection, record_id: str, fiscal: Fiscal, url: str, qr: str) -> list[MessageBrief]:
    """Store the link of a purchase or refund; fire the offers on its first link in mode LOYALTY."""
    record = lock_record(conn, record_id)
    if record is None:
        raise errors.purchase_not_found(record_id)
    if record["status"] == Status.CANCELLED:
        raise errors.wrong_state(f"Покупка {record_id} отменена: ссылка на чек не принимается")
    expected_operation = 1 if record["kind"] == Kind.PURCHASE else 2
    if fiscal.operation != expected_operation or fiscal.total != record["total"]:
        raise errors.validation(
            f"Фискальный документ не соответствует записи {record_id}: ожидались признак расчёта "
            f"{expected_operation} и сумма {record['total']} коп."
        )
    if record["fiscal_fn"] is not None and not same_document(record, fiscal):
        raise errors.wrong_state(f"Запись {record_id} относится к другому фискальному документу")
    first_link = not _has_link(conn, record_id)
    if not _has_link(conn, record_id, url):
        conn.execute(
            _INSERT_LINK,
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
    if first_link and record["delivery_mode"] == DeliveryMode.LOYALTY.value and record["member_id"]:
        member = load_member(conn, record["member_id"])
        if member is not None:
            _queue_offer_messages(conn, record, member, url)
    return messages_of(conn, record_id)


def messages_of(conn: Connection, record_id: str) -> list[MessageBrief]:
    rows = conn.execute(_MESSAGES_OF, {"record_id": record_id})
    return [MessageBrief(id=row.id, channel=row.channel, status=public_status(row.status)) for row in rows]


def public_status(stored: str) -> str:
    """'sending' (claimed by a sender, outcome not yet known) is reported as 'queued'."""
    return "queued" if stored == "sending" else stored


def _has_link(conn: Connection, record_id: str, url: str | None = None) -> bool:
    if url is None:
        return conn.execute(_ANY_LINK, {"record_id": record_id}).first() is not None
    return conn.execute(_SAME_LINK, {"record_id": record_id, "url": url}).first() is not None


def _queue_offer_messages(conn: Connection, record: RowMapping, member: Member, url: str) -> None:
    shop = load_shop(conn)
    values = template_values(
        receipt_url=url,
        total=record["total"],
        when=parse_stored(record["cheque_datetime"]),
        shop=shop.shop_name,
    )
    now = utc_now()
    for offer in offers_in_force(conn, EVENT_PURCHASE_COMPLETED, now):
        channel = offer["channel"]
        recipient = _recipient(member, channel)
        conn.execute(
            _INSERT_MESSAGE,
            {
                "id": str(uuid.uuid4()),
                "member_id": member.id,
                "purchase_id": record["id"],
                "offer_id": offer["id"],
                "channel": channel,
                "recipient": recipient,
                "subject": render(offer["subject"], values)[:400],
                "body": render(offer["template"], values),
                "link": url,
                "status": "queued" if recipient else "failed",
                "error": None if recipient else _NO_CONTACT[channel],
                "created_at": utc_text(now),
            },
        )


def _recipient(member: Member, channel: str) -> str | None:
    if channel == "email":
        return member.confirmed_contact(ContactKind.EMAIL)
    if channel == "sms":
        return member.confirmed_contact(ContactKind.PHONE)
    return member.id  # push goes to the member's app, known by the member id
