"""Migrations bring an empty database to head on SQLite and PostgreSQL, and the result is schema.py."""

from __future__ import annotations

import pytest
from sqlalchemy import insert, inspect, select, text

from register.backend.database import Database, DatabaseUrlError
from register.backend.migrations import (
    HEAD,
    MIGRATIONS,
    MigrationError,
    current_version,
    migrate,
    v0001_initial,
)
from register.backend.schema import (
    cards,
    devices,
    members,
    messages,
    metadata,
    offers,
    schema_version,
    staff,
)
from register.backend.seed import seed_lab


def test_an_empty_database_migrates_to_head(db_url: str) -> None:
    db = Database(db_url)
    try:
        assert migrate(db) == HEAD
        with db.read() as conn:
            versions = conn.execute(
                select(schema_version.c.version).order_by(schema_version.c.version)
            ).scalars()
            assert list(versions) == [m.version for m in MIGRATIONS]
    finally:
        db.dispose()


def test_the_migrated_schema_is_the_one_queries_are_written_against(db_url: str) -> None:
    db = Database(db_url)
    try:
        migrate(db)
        inspector = inspect(db.engine)
        assert set(inspector.get_table_names()) == set(metadata.tables)
        for table in metadata.sorted_tables:
            assert [c["name"] for c in inspector.get_columns(table.name)] == [c.name for c in table.columns]
    finally:
        db.dispose()


def test_postgresql_keeps_foreign_keys_on_business_records_only(db_url: str, db_kind: str) -> None:
    db = Database(db_url)
    try:
        migrate(db)
        inspector = inspect(db.engine)
        references = {
            table: sorted(
                (key["constrained_columns"][0], key["referred_table"])
                for key in inspector.get_foreign_keys(table)
            )
            for table in (
                "purchases",
                "purchase_lines",
                "cheque_links",
                "cards",
                "pos_requests",
                "messages",
                "outbox",
            )
        }
    finally:
        db.dispose()
    business = {
        "purchases": [("device_id", "devices"), ("member_id", "members"), ("original_id", "purchases")],
        "purchase_lines": [("purchase_id", "purchases")],
        "cheque_links": [("purchase_id", "purchases")],
        "cards": [("member_id", "members")],
    }
    logs = {
        "pos_requests": [("device_id", "devices")],
        "messages": [("member_id", "members"), ("offer_id", "offers"), ("purchase_id", "purchases")],
        "outbox": [("message_id", "messages")],
    }
    if db_kind == "sqlite":  # every check is an index probe there: all stay
        assert references == {**business, **logs}
    else:
        assert references == {**business, **{table: [] for table in logs}}


def test_migrating_again_changes_nothing(db_url: str) -> None:
    db = Database(db_url)
    try:
        migrate(db)
        migrate(db)
        with db.read() as conn:
            versions = conn.execute(select(schema_version.c.version).order_by(schema_version.c.version))
            assert versions.scalars().all() == [m.version for m in MIGRATIONS]
    finally:
        db.dispose()


def test_a_database_newer_than_the_code_is_refused(db_url: str) -> None:
    db = Database(db_url)
    try:
        migrate(db)
        with db.write() as conn:
            conn.execute(
                insert(schema_version).values(version=HEAD + 1, description="future", applied_at="x")
            )
        with pytest.raises(MigrationError, match="newer"):
            migrate(db)
    finally:
        db.dispose()


def test_the_lab_seed_is_idempotent(db_url: str) -> None:
    db = Database(db_url)
    try:
        migrate(db)
        for _ in range(2):
            with db.write() as conn:
                seed_lab(conn)
        with db.read() as conn:
            counts = {
                table.name: conn.execute(select(text("count(*)")).select_from(table)).scalar_one()
                for table in (devices, staff, members, cards, offers)
            }
            assert current_version(conn) == HEAD
    finally:
        db.dispose()
    # Offers: the lab's two and the two built-in e-receipt messages of migration 2.
    assert counts == {"devices": 1, "staff": 1, "members": 5, "cards": 5, "offers": 4}


def test_a_version_1_database_keeps_its_messages_through_migration_2(db_url: str) -> None:
    db = Database(db_url)
    try:
        with db.write() as conn:
            schema_version.create(conn)
            v0001_initial.upgrade(conn)
            conn.execute(insert(schema_version).values(version=1, description="initial", applied_at="x"))
            seed_v1(conn)
        assert migrate(db) == HEAD
        with db.read() as conn:
            message = conn.execute(select(messages)).mappings().one()
            built_in = conn.execute(
                select(offers.c.id, offers.c.event, offers.c.channel).where(offers.c.event == "e_receipt")
            ).all()
    finally:
        db.dispose()
    assert (message["status"], message["attempts"], message["next_attempt_at"]) == ("sent", 0, None)
    assert sorted(built_in) == [
        ("083b785b-51b5-56f4-b82f-ff4c98e210cd", "e_receipt", "email"),
        ("bc9a3429-4d2c-5a82-81ef-303532b0b5c5", "e_receipt", "sms"),
    ]


def seed_v1(conn) -> None:  # type: ignore[no-untyped-def]
    """One sent message of one purchase, in version 1's columns."""
    stamp = "2026-01-15T11:32:00.000000+00:00"
    conn.execute(
        text("INSERT INTO devices (id, code, secret_hash, created_at) VALUES (1, 'POS-1', 'x', :t)"),
        {"t": stamp},
    )
    conn.execute(
        text(
            "INSERT INTO purchases (id, kind, device_id, cheque_datetime, occurred_at, total, discount, "
            "status, delivery_mode, paper_refused, points, created_at) VALUES ('p1', 'purchase', 1, :t, :t, "
            "100, 0, 'CONFIRMED', 'LOYALTY', false, 0, :t)"
        ),
        {"t": stamp},
    )
    conn.execute(
        text(
            "INSERT INTO offers (id, name, event, channel, subject, template, active, created_at) "
            "VALUES ('o1', 'offer', 'purchase_completed', 'email', '', 'x', true, :t)"
        ),
        {"t": stamp},
    )
    conn.execute(
        text(
            "INSERT INTO messages (id, purchase_id, offer_id, channel, recipient, subject, body, status, "
            "created_at) VALUES ('m1', 'p1', 'o1', 'email', 'a@example.ru', 's', 'b', 'sent', :t)"
        ),
        {"t": stamp},
    )


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'x.sqlite3'}")
    try:
        with db.read() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        db.dispose()


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:", "mysql://x@y/z", "not a url"])
def test_unsupported_database_urls_are_refused_by_name(url: str) -> None:
    with pytest.raises(DatabaseUrlError, match=r"URL|SQLite"):
        Database(url)


def test_a_plain_postgresql_url_uses_psycopg_3() -> None:
    db = Database("postgresql://u:p@127.0.0.1:1/db")
    try:
        assert db.url.drivername == "postgresql+psycopg"
    finally:
        db.dispose()
