"""The tables at the head migration, for queries (SQLAlchemy Core).

Keep in step with ``migrations.py``: a test migrates an empty database and compares it with this file.
Times the service stamps are ISO 8601 UTC text with microseconds (sortable as text); times the registers
send are kept as sent, with their offset, next to a UTC copy used for ordering.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

STAMP = String(40)
ID = String(36)

schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("description", String(200), nullable=False),
    Column("applied_at", STAMP, nullable=False),
)

devices = Table(
    "devices",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("code", String(64), nullable=False, unique=True),
    Column("secret_hash", String(255), nullable=False),
    Column("created_at", STAMP, nullable=False),
)

staff = Table(
    "staff",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("login", String(64), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),
    Column("created_at", STAMP, nullable=False),
)

members = Table(
    "members",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(128), nullable=False),
    Column("name_folded", String(128), nullable=False),
    Column("email", String(64), unique=True),
    Column("email_confirmed", Boolean, nullable=False),
    Column("phone", String(16), unique=True),
    Column("phone_confirmed", Boolean, nullable=False),
    Column("preferred", String(8)),
    Column("paper_refused", Boolean, nullable=False),
    Column("blocked", Boolean, nullable=False),
    Column("balance", BigInteger, nullable=False),
    Column("created_at", STAMP, nullable=False),
)

cards = Table(
    "cards",
    metadata,
    Column("number", String(32), primary_key=True),
    Column("member_id", ID, ForeignKey("members.id"), nullable=False, index=True),
    Column("created_at", STAMP, nullable=False),
)

tokens = Table(
    "tokens",
    metadata,
    Column("digest", String(64), primary_key=True),
    Column("kind", String(8), nullable=False),
    Column("subject", ID, nullable=False),
    Column("expires_at", STAMP, nullable=False),
    Column("created_at", STAMP, nullable=False),
)

shop_settings = Table(
    "shop_settings",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("delivery_mode", String(8), nullable=False),
    Column("shop_name", String(128), nullable=False),
)

purchases = Table(
    "purchases",
    metadata,
    Column("id", ID, primary_key=True),
    Column("kind", String(8), nullable=False),
    Column("device_id", Integer, ForeignKey("devices.id"), nullable=False),
    Column("member_id", ID, ForeignKey("members.id")),
    Column("original_id", ID, ForeignKey("purchases.id"), index=True),
    Column("cheque_number", String(32)),
    Column("cheque_datetime", STAMP, nullable=False),
    Column("occurred_at", STAMP, nullable=False),
    Column("total", BigInteger, nullable=False),
    Column("discount", BigInteger, nullable=False),
    Column("status", String(12), nullable=False),
    Column("delivery_mode", String(8), nullable=False),
    Column("paper_refused", Boolean, nullable=False),
    Column("notifier_kind", String(8)),
    Column("notifier_value", String(64)),
    Column("fiscal_fn", String(16)),
    Column("fiscal_fd", BigInteger),
    Column("fiscal_fp", BigInteger),
    Column("fiscal_operation", Integer),
    Column("fiscal_total", BigInteger),
    Column("fiscal_datetime", STAMP),
    Column("points", BigInteger, nullable=False),
    Column("created_at", STAMP, nullable=False),
    UniqueConstraint("fiscal_fn", "fiscal_fd", name="uq_purchases_fiscal"),
    Index("ix_purchases_member_occurred", "member_id", "occurred_at"),
    Index("ix_purchases_status_created", "status", "created_at"),  # migration 2: the expiry sweep
)

purchase_lines = Table(
    "purchase_lines",
    metadata,
    Column("purchase_id", ID, ForeignKey("purchases.id"), primary_key=True),
    Column("position", Integer, primary_key=True, autoincrement=False),
    Column("sku", String(64), nullable=False),
    Column("name", String(128), nullable=False),
    Column("price", BigInteger, nullable=False),
    Column("quantity", String(16), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("discount", BigInteger, nullable=False),
)

cheque_links = Table(
    "cheque_links",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("purchase_id", ID, ForeignKey("purchases.id"), nullable=False),
    Column("url", String(1024), nullable=False),
    Column("qr", String(512), nullable=False),
    Column("fiscal_fn", String(16), nullable=False),
    Column("fiscal_fd", BigInteger, nullable=False),
    Column("fiscal_fp", BigInteger, nullable=False),
    Column("created_at", STAMP, nullable=False),
    UniqueConstraint("purchase_id", "url", name="uq_cheque_links_purchase_url"),
)

offers = Table(
    "offers",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(128), nullable=False),
    Column("event", String(32), nullable=False),
    Column("channel", String(8), nullable=False),
    Column("subject", String(200), nullable=False),
    Column("template", Text, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("valid_from", STAMP),
    Column("valid_to", STAMP),
    Column("created_at", STAMP, nullable=False),
)

# The references of the log tables (messages, outbox, pos_requests) are constraints on SQLite only;
# migration 3 dropped them on PostgreSQL, where each cost a trigger and a row lock per row written.
messages = Table(
    "messages",
    metadata,
    Column("id", ID, primary_key=True),
    Column("member_id", ID, ForeignKey("members.id"), index=True),
    Column("purchase_id", ID, ForeignKey("purchases.id"), nullable=False),
    Column("offer_id", ID, ForeignKey("offers.id"), nullable=False),
    Column("channel", String(8), nullable=False),
    Column("recipient", String(64)),
    Column("subject", String(400), nullable=False),
    Column("body", Text, nullable=False),
    Column("link", String(1024)),
    Column("status", String(8), nullable=False, index=True),
    Column("error", Text),
    Column("created_at", STAMP, nullable=False),
    Column("claimed_at", STAMP),
    Column("sent_at", STAMP),
    Column("attempts", Integer, nullable=False, default=0),  # migration 2: e-mail retries
    Column("next_attempt_at", STAMP),  # migration 2: when a "retrying" e-mail is due
    UniqueConstraint("purchase_id", "offer_id", name="uq_messages_purchase_offer"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("message_id", ID, ForeignKey("messages.id"), nullable=False, unique=True),
    Column("channel", String(8), nullable=False),
    Column("recipient", String(64), nullable=False),
    Column("text", Text, nullable=False),
    Column("created_at", STAMP, nullable=False),
)

pos_requests = Table(
    "pos_requests",
    metadata,
    Column("device_id", Integer, ForeignKey("devices.id"), primary_key=True, autoincrement=False),
    Column("request_id", ID, primary_key=True),
    Column("endpoint", String(32), nullable=False),
    Column("body_digest", String(64), nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("answer", Text, nullable=False),
    Column("created_at", STAMP, nullable=False),
)
