"""Migration 3: on PostgreSQL, no foreign-key constraints on the log tables.

The idempotency records (``pos_requests``: a device's id), the messages (their member, purchase and offer)
and the outbox (its message) are written once per request or message, by a transaction that has just
authenticated the device or read the rows referred to; nothing ever deletes a device, member, purchase,
offer or message. On PostgreSQL each constraint still costs a trigger and a row lock per row written:
about eight of the twelve checks a purchase makes, 13 % of the database's CPU under the benchmark's
load. The business records keep theirs (a purchase's device, member and original; its lines and its
link; a card's member). SQLite keeps every constraint: a check there is one index probe, no lock, and the
tests that run on SQLite still catch a row written with a dangling reference.

Frozen as written (never edit after release).
"""

from __future__ import annotations

from sqlalchemy import inspect
from sqlalchemy.engine import Connection

DESCRIPTION = "PostgreSQL: no foreign-key constraints on pos_requests, messages and outbox"

_UNCONSTRAINED = {
    "pos_requests": {"device_id"},
    "messages": {"member_id", "purchase_id", "offer_id"},
    "outbox": {"message_id"},
}


def upgrade(conn: Connection) -> None:
    if conn.dialect.name != "postgresql":
        return
    inspector = inspect(conn)
    preparer = conn.dialect.identifier_preparer
    for table, columns in _UNCONSTRAINED.items():
        for key in inspector.get_foreign_keys(table):
            if set(key["constrained_columns"]) <= columns and key["name"]:
                conn.exec_driver_sql(
                    f"ALTER TABLE {preparer.quote(table)} DROP CONSTRAINT {preparer.quote(key['name'])}"
                )
