"""Migration 1: the initial schema, frozen as it was when written (never edit after release)."""

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
from sqlalchemy.engine import Connection

DESCRIPTION = "initial schema: devices, staff, members, cards, tokens, purchases, links, offers, messages"


def upgrade(conn: Connection) -> None:
    metadata = MetaData()
    stamp = String(40)
    id_ = String(36)

    Table(
        "devices",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("code", String(64), nullable=False, unique=True),
        Column("secret_hash", String(255), nullable=False),
        Column("created_at", stamp, nullable=False),
    )

    Table(
        "staff",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("login", String(64), nullable=False, unique=True),
        Column("password_hash", String(255), nullable=False),
        Column("created_at", stamp, nullable=False),
    )

    Table(
        "members",
        metadata,
        Column("id", id_, primary_key=True),
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
        Column("created_at", stamp, nullable=False),
    )

    Table(
        "cards",
        metadata,
        Column("number", String(32), primary_key=True),
        Column("member_id", id_, ForeignKey("members.id"), nullable=False, index=True),
        Column("created_at", stamp, nullable=False),
    )

    Table(
        "tokens",
        metadata,
        Column("digest", String(64), primary_key=True),
        Column("kind", String(8), nullable=False),
        Column("subject", id_, nullable=False),
        Column("expires_at", stamp, nullable=False),
        Column("created_at", stamp, nullable=False),
    )

    Table(
        "shop_settings",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("delivery_mode", String(8), nullable=False),
        Column("shop_name", String(128), nullable=False),
    )

    Table(
        "purchases",
        metadata,
        Column("id", id_, primary_key=True),
        Column("kind", String(8), nullable=False),
        Column("device_id", Integer, ForeignKey("devices.id"), nullable=False),
        Column("member_id", id_, ForeignKey("members.id")),
        Column("original_id", id_, ForeignKey("purchases.id"), index=True),
        Column("cheque_number", String(32)),
        Column("cheque_datetime", stamp, nullable=False),
        Column("occurred_at", stamp, nullable=False),
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
        Column("fiscal_datetime", stamp),
        Column("points", BigInteger, nullable=False),
        Column("created_at", stamp, nullable=False),
        UniqueConstraint("fiscal_fn", "fiscal_fd", name="uq_purchases_fiscal"),
        Index("ix_purchases_member_occurred", "member_id", "occurred_at"),
    )

    Table(
        "purchase_lines",
        metadata,
        Column("purchase_id", id_, ForeignKey("purchases.id"), primary_key=True),
        Column("position", Integer, primary_key=True, autoincrement=False),
        Column("sku", String(64), nullable=False),
        Column("name", String(128), nullable=False),
        Column("price", BigInteger, nullable=False),
        Column("quantity", String(16), nullable=False),
        Column("amount", BigInteger, nullable=False),
        Column("discount", BigInteger, nullable=False),
    )

    Table(
        "cheque_links",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("purchase_id", id_, ForeignKey("purchases.id"), nullable=False),
        Column("url", String(1024), nullable=False),
        Column("qr", String(512), nullable=False),
        Column("fiscal_fn", String(16), nullable=False),
        Column("fiscal_fd", BigInteger, nullable=False),
        Column("fiscal_fp", BigInteger, nullable=False),
        Column("created_at", stamp, nullable=False),
        UniqueConstraint("purchase_id", "url", name="uq_cheque_links_purchase_url"),
    )

    Table(
        "offers",
        metadata,
        Column("id", id_, primary_key=True),
        Column("name", String(128), nullable=False),
        Column("event", String(32), nullable=False),
        Column("channel", String(8), nullable=False),
        Column("subject", String(200), nullable=False),
        Column("template", Text, nullable=False),
        Column("active", Boolean, nullable=False),
        Column("valid_from", stamp),
        Column("valid_to", stamp),
        Column("created_at", stamp, nullable=False),
    )

    Table(
        "messages",
        metadata,
        Column("id", id_, primary_key=True),
        Column("member_id", id_, ForeignKey("members.id"), index=True),
        Column("purchase_id", id_, ForeignKey("purchases.id"), nullable=False),
        Column("offer_id", id_, ForeignKey("offers.id"), nullable=False),
        Column("channel", String(8), nullable=False),
        Column("recipient", String(64)),
        Column("subject", String(400), nullable=False),
        Column("body", Text, nullable=False),
        Column("link", String(1024)),
        Column("status", String(8), nullable=False, index=True),
        Column("error", Text),
        Column("created_at", stamp, nullable=False),
        Column("claimed_at", stamp),
        Column("sent_at", stamp),
        UniqueConstraint("purchase_id", "offer_id", name="uq_messages_purchase_offer"),
    )

    Table(
        "outbox",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("message_id", id_, ForeignKey("messages.id"), nullable=False, unique=True),
        Column("channel", String(8), nullable=False),
        Column("recipient", String(64), nullable=False),
        Column("text", Text, nullable=False),
        Column("created_at", stamp, nullable=False),
    )

    Table(
        "pos_requests",
        metadata,
        Column("device_id", Integer, ForeignKey("devices.id"), primary_key=True, autoincrement=False),
        Column("request_id", id_, primary_key=True),
        Column("endpoint", String(32), nullable=False),
        Column("body_digest", String(64), nullable=False),
        Column("status_code", Integer, nullable=False),
        Column("answer", Text, nullable=False),
        Column("created_at", stamp, nullable=False),
    )
    metadata.create_all(conn)
