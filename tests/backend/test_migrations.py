"""Migrations bring an empty database to head on SQLite and PostgreSQL, and the result is schema.py."""

from __future__ import annotations

import pytest
from sqlalchemy import insert, inspect, select, text

from register.backend.database import Database, DatabaseUrlError
from register.backend.migrations import HEAD, MIGRATIONS, MigrationError, current_version, migrate
from register.backend.schema import cards, devices, members, metadata, offers, schema_version, staff
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


def test_migrating_again_changes_nothing(db_url: str) -> None:
    db = Database(db_url)
    try:
        migrate(db)
        migrate(db)
        with db.read() as conn:
            assert conn.execute(select(schema_version.c.version)).scalars().all() == [HEAD]
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
    assert counts == {"devices": 1, "staff": 1, "members": 5, "cards": 5, "offers": 2}


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
