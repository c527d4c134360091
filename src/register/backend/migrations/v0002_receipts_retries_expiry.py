"""Migration 2: e-mail retries, the built-in e-receipt messages, the expiry sweep's index.

- ``messages.attempts`` and ``messages.next_attempt_at``: an e-mail the SMTP server refused for now (or
  could not be reached for) is retried with backoff, status ``retrying``.
- Two built-in "offers" of the system event ``e_receipt`` (e-mail and SMS): the message that carries the
  receipt link when no active offer of the notifier's channel does (54-FZ: paper may be suppressed only
  when the receipt is actually sent). Staff do not see or edit them; they anchor the messages' offer_id,
  so the unique key (purchase, offer) keeps them to one per purchase like any offer message.
- An index on purchases (status, created_at): the sweep that expires old calculations.

Frozen as written (never edit after release).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Boolean, Column, MetaData, String, Table, Text, insert, text
from sqlalchemy.engine import Connection

DESCRIPTION = "message attempts and next attempt, built-in e-receipt messages, purchases by status"

_BUILT_IN = (
    (
        "083b785b-51b5-56f4-b82f-ff4c98e210cd",
        "Электронный чек (встроенное сообщение, e-mail)",
        "email",
        "Электронный чек: {shop}",
        "Здравствуйте!\n\nВаш электронный кассовый чек.\n{shop}\nСумма: {total}\nДата: {datetime}\n"
        "Чек: {receipt_url}\n\nВы отказались от бумажных чеков: чек отправлен на этот адрес.\n",
    ),
    (
        "bc9a3429-4d2c-5a82-81ef-303532b0b5c5",
        "Электронный чек (встроенное сообщение, SMS)",
        "sms",
        "",
        "Чек {shop} на {total} от {datetime}: {receipt_url}",
    ),
)


def upgrade(conn: Connection) -> None:
    conn.execute(text("ALTER TABLE messages ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0"))
    conn.execute(text("ALTER TABLE messages ADD COLUMN next_attempt_at VARCHAR(40)"))
    conn.execute(text("CREATE INDEX ix_purchases_status_created ON purchases (status, created_at)"))
    offers = Table(
        "offers",
        MetaData(),
        Column("id", String(36)),
        Column("name", String(128)),
        Column("event", String(32)),
        Column("channel", String(8)),
        Column("subject", String(200)),
        Column("template", Text),
        Column("active", Boolean),
        Column("valid_from", String(40)),
        Column("valid_to", String(40)),
        Column("created_at", String(40)),
    )
    now = datetime.now(UTC).isoformat(timespec="microseconds")
    for offer_id, name, channel, subject, template in _BUILT_IN:
        conn.execute(
            insert(offers).values(
                id=offer_id,
                name=name,
                event="e_receipt",
                channel=channel,
                subject=subject,
                template=template,
                active=True,
                valid_from=None,
                valid_to=None,
                created_at=now,
            )
        )
