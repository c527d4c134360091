"""Schema migrations: a small versioned runner with a ``schema_version`` table.

Chosen over Alembic because the backend migrates itself at start, from inside the package, on SQLite and
PostgreSQL alike: each migration is a Python function over SQLAlchemy Core, applied together with its
``schema_version`` row in one transaction (DDL is transactional on both databases), under a PostgreSQL
advisory lock (or SQLite's write lock) so that several backends starting at once migrate exactly once.
There are no ini files or script directories to ship, and a database newer than the code is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection, func, insert, select, text

from register.backend.database import Database
from register.backend.migrations import (
    v0001_initial,
    v0002_receipts_retries_expiry,
    v0003_log_tables_unconstrained,
)
from register.backend.schema import schema_version
from register.backend.timeutil import utc_now_text

# Arbitrary constant naming this service's migration lock among PostgreSQL advisory locks.
_ADVISORY_LOCK_KEY = 0x4C4F59414C5459  # "LOYALTY"


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    description: str
    upgrade: Callable[[Connection], None]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, v0001_initial.DESCRIPTION, v0001_initial.upgrade),
    Migration(2, v0002_receipts_retries_expiry.DESCRIPTION, v0002_receipts_retries_expiry.upgrade),
    Migration(3, v0003_log_tables_unconstrained.DESCRIPTION, v0003_log_tables_unconstrained.upgrade),
)
HEAD = MIGRATIONS[-1].version


class MigrationError(RuntimeError):
    """The database cannot be brought to the schema this code expects."""


def current_version(conn: Connection) -> int:
    """The version the database is at; 0 for an empty database."""
    if not conn.dialect.has_table(conn, schema_version.name):
        return 0
    return conn.execute(select(func.coalesce(func.max(schema_version.c.version), 0))).scalar_one()


def startup_lock(conn: Connection, db: Database) -> None:
    """Serialise the start-up work of several backends on one database until this transaction ends
    (SQLite's write transaction already does)."""
    if not db.is_sqlite:
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK_KEY})


def migrate(db: Database) -> int:
    """Apply every migration the database lacks, in order, in one transaction; return the head version."""
    with db.write() as conn:
        startup_lock(conn, db)
        schema_version.create(conn, checkfirst=True)
        version = current_version(conn)
        if version > HEAD:
            raise MigrationError(
                f"the database is at schema version {version}, newer than this backend's {HEAD}: "
                "upgrade the backend"
            )
        for migration in MIGRATIONS:
            if migration.version > version:
                migration.upgrade(conn)
                conn.execute(
                    insert(schema_version).values(
                        version=migration.version,
                        description=migration.description,
                        applied_at=utc_now_text(),
                    )
                )
    return HEAD
