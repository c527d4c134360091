"""The sale journal: every step of every sale, durable before the next step starts (SQLite, WAL).

A crash at any point is recovered from here: the sale's last recorded step says what is left to do.
Each step is recorded once per sale (its idempotency key is ``sale_id/step``), and the remote calls a sale
still owes the loyalty backend wait in an outbox until they are acknowledged.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 2
SCHEMA_V1 = (
    """
    CREATE TABLE sales (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        stage TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        data TEXT NOT NULL
    )
    """,
    """
    CREATE INDEX sales_stage ON sales (stage)
    """,
    """
    CREATE TABLE steps (
        sale_id TEXT NOT NULL REFERENCES sales (id),
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        step TEXT NOT NULL,
        at TEXT NOT NULL,
        data TEXT NOT NULL,
        UNIQUE (sale_id, step)
    )
    """,
    """
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        sale_id TEXT NOT NULL REFERENCES sales (id),
        call TEXT NOT NULL,
        request_id TEXT NOT NULL UNIQUE,
        body TEXT NOT NULL,
        created_at TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        done_at TEXT
    )
    """,
)
SCHEMA_V2 = (
    "ALTER TABLE sales ADD COLUMN fiscal_fn TEXT",
    "ALTER TABLE sales ADD COLUMN fiscal_fd INTEGER",
    "UPDATE sales SET fiscal_fn = json_extract(data, '$.fiscal.fn'),"
    " fiscal_fd = json_extract(data, '$.fiscal.fd')",
    "CREATE INDEX sales_fiscal ON sales (fiscal_fn, fiscal_fd)",
)
REQUEST_NAMESPACE = uuid.UUID("5b0c6f8e-3f57-4d8b-9a53-6f1d2a0c9e11")


class Stage(StrEnum):
    """How far a sale got. Each is recorded before the work of the next one starts."""

    STARTED = "started"  # request recorded
    CALCULATED = "calculated"  # loyalty answered (or is offline)
    DECIDED = "decided"  # the delivery decision, with its reason
    FISCAL_PENDING = "fiscal-pending"  # about to send 15h…16h; the FN's last FD before is recorded
    FISCALISED = "fiscalised"  # the FN signed: FD, FP, receipt number
    DELIVERED = "delivered"  # printed, or suppressed with the e-receipt handed to its sender
    DONE = "done"  # loyalty confirm and cheque-link acknowledged or queued
    ABORTED = "aborted"  # no fiscal document was made; nothing to deliver


OPEN_STAGES = (
    Stage.STARTED,
    Stage.CALCULATED,
    Stage.DECIDED,
    Stage.FISCAL_PENDING,
    Stage.FISCALISED,
    Stage.DELIVERED,
)


class JournalError(RuntimeError):
    """The journal cannot be opened or written."""


@dataclass(frozen=True, slots=True)
class SaleRecord:
    id: str
    kind: str
    stage: Stage
    created_at: str
    data: dict[str, Any]
    """Everything recorded so far, merged: request, loyalty, decision, fiscal, delivery, …"""


@dataclass(frozen=True, slots=True)
class OutboxItem:
    id: int
    sale_id: str
    call: str
    request_id: str
    body: dict[str, Any]
    attempts: int
    last_error: str | None


def request_id(sale_id: str, call: str) -> str:
    """The loyalty requestId of one call of one sale: the same after a crash, so a retry is idempotent."""
    return str(uuid.uuid5(REQUEST_NAMESPACE, f"{sale_id}/{call}"))


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10)
        except (OSError, sqlite3.Error) as exc:
            raise JournalError(f"journal {path}: cannot open: {exc}") from None
        self._lock = threading.RLock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._migrate()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _migrate(self) -> None:
        with self._tx() as db:
            db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            row = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
            version = int(row[0]) if row else 0
            if version > SCHEMA_VERSION:
                raise JournalError(f"journal {self.path}: schema {version} is newer than this register's")
            if version < 1:
                for statement in SCHEMA_V1:
                    db.execute(statement)
            if version < 2:  # refunds find their sale by FN and FD number through an index
                for statement in SCHEMA_V2:
                    db.execute(statement)
            if version < SCHEMA_VERSION:
                db.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    # --- sales ---------------------------------------------------------------------------------

    def start(self, kind: str, request: dict[str, Any], sale_id: str | None = None) -> str:
        sale_id = sale_id or str(uuid.uuid4())
        now = _now()
        with self._tx() as db:
            db.execute(
                "INSERT INTO sales (id, kind, stage, created_at, updated_at, data) VALUES (?, ?, ?, ?, ?, ?)",
                (sale_id, kind, Stage.STARTED, now, now, _dump({"request": request})),
            )
            db.execute(
                "INSERT INTO steps (sale_id, step, at, data) VALUES (?, ?, ?, ?)",
                (sale_id, Stage.STARTED, now, _dump(request)),
            )
        return sale_id

    def advance(self, sale_id: str, stage: Stage, **data: Any) -> SaleRecord:
        """Record that ``sale_id`` reached ``stage`` with ``data`` merged into its record, atomically.

        Recording a stage the sale already has is a no-op returning the record (idempotent).
        """
        now = _now()
        with self._tx() as db:
            row = db.execute("SELECT data FROM sales WHERE id = ?", (sale_id,)).fetchone()
            if row is None:
                raise JournalError(f"journal {self.path}: no sale {sale_id}")
            done = db.execute(
                "SELECT 1 FROM steps WHERE sale_id = ? AND step = ?", (sale_id, str(stage))
            ).fetchone()
            if done is None:
                merged = json.loads(row[0]) | data
                fiscal = merged.get("fiscal") or {}
                db.execute(
                    "UPDATE sales SET stage = ?, updated_at = ?, data = ?, fiscal_fn = ?, fiscal_fd = ? "
                    "WHERE id = ?",
                    (stage, now, _dump(merged), fiscal.get("fn"), fiscal.get("fd"), sale_id),
                )
                db.execute(
                    "INSERT INTO steps (sale_id, step, at, data) VALUES (?, ?, ?, ?)",
                    (sale_id, stage, now, _dump(data)),
                )
        return self.sale(sale_id)

    def note(self, sale_id: str, **data: Any) -> None:
        """Merge ``data`` into the sale's record without changing its stage (e.g. a reprint done)."""
        with self._tx() as db:
            row = db.execute("SELECT data FROM sales WHERE id = ?", (sale_id,)).fetchone()
            if row is None:
                raise JournalError(f"journal {self.path}: no sale {sale_id}")
            db.execute(
                "UPDATE sales SET updated_at = ?, data = ? WHERE id = ?",
                (_now(), _dump(json.loads(row[0]) | data), sale_id),
            )

    def sale(self, sale_id: str) -> SaleRecord:
        with self._lock:
            row = self._db.execute(
                "SELECT id, kind, stage, created_at, data FROM sales WHERE id = ?", (sale_id,)
            ).fetchone()
        if row is None:
            raise JournalError(f"journal {self.path}: no sale {sale_id}")
        return SaleRecord(row[0], row[1], Stage(row[2]), row[3], json.loads(row[4]))

    def open_sales(self) -> list[SaleRecord]:
        """Sales a crash left unfinished, oldest first."""
        marks = ",".join("?" * len(OPEN_STAGES))
        with self._lock:
            rows = self._db.execute(
                f"SELECT id FROM sales WHERE stage IN ({marks}) ORDER BY created_at, rowid",
                tuple(str(s) for s in OPEN_STAGES),
            ).fetchall()
        return [self.sale(r[0]) for r in rows]

    def sales(self, limit: int = 100) -> list[SaleRecord]:
        with self._lock:
            rows = self._db.execute("SELECT id FROM sales ORDER BY rowid DESC LIMIT ?", (limit,)).fetchall()
        return [self.sale(r[0]) for r in rows]

    def steps(self, sale_id: str) -> list[tuple[str, str, dict[str, Any]]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT step, at, data FROM steps WHERE sale_id = ? ORDER BY seq", (sale_id,)
            ).fetchall()
        return [(r[0], r[1], json.loads(r[2])) for r in rows]

    def find_by_fiscal(self, fn: str, fd: int) -> SaleRecord | None:
        with self._lock:
            row = self._db.execute(
                "SELECT id FROM sales WHERE fiscal_fn = ? AND fiscal_fd = ?", (fn, fd)
            ).fetchone()
        return self.sale(row[0]) if row else None

    def refunds_of(self, fn: str, fd: int) -> list[SaleRecord]:
        """Refunds of the sale with fiscal document ``fd`` of FN ``fn`` that made, or may make, a document."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id FROM sales WHERE kind = 'refund' AND stage != ? "
                "AND json_extract(data, '$.request.original.fn') = ? "
                "AND json_extract(data, '$.request.original.fd') = ? ORDER BY rowid",
                (str(Stage.ABORTED), fn, fd),
            ).fetchall()
        return [self.sale(r[0]) for r in rows]

    def pending_reprints(self) -> list[SaleRecord]:
        """Sales whose fiscal document was made but whose paper receipt is still owed, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id FROM sales WHERE json_extract(data, '$.delivery.reprintPending') = 1 "
                "ORDER BY rowid"
            ).fetchall()
        return [self.sale(r[0]) for r in rows]

    # --- outbox of loyalty calls ---------------------------------------------------------------

    def enqueue(self, sale_id: str, call: str, request_id: str, body: dict[str, Any]) -> None:
        """Owe the backend a call; the same request_id twice is one entry."""
        with self._tx() as db:
            db.execute(
                "INSERT OR IGNORE INTO outbox (sale_id, call, request_id, body, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (sale_id, call, request_id, _dump(body), _now()),
            )

    def pending_calls(self) -> list[OutboxItem]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, sale_id, call, request_id, body, attempts, last_error FROM outbox "
                "WHERE done_at IS NULL ORDER BY id"
            ).fetchall()
        return [OutboxItem(r[0], r[1], r[2], r[3], json.loads(r[4]), r[5], r[6]) for r in rows]

    def call_done(self, item_id: int) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE outbox SET done_at = ?, attempts = attempts + 1 WHERE id = ?", (_now(), item_id)
            )

    def call_failed(self, item_id: int, error: str) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE id = ?", (error, item_id)
            )


def _now() -> str:
    return datetime.now().astimezone().isoformat(timespec="milliseconds")


def _dump(data: object) -> str:
    return json.dumps(data, ensure_ascii=False, sort_keys=True, default=str)
