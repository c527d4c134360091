"""Persistent memory of the emulated FN: counters, phase, registration, shift, archive, OFD queue, tickets.

One SQLite database (WAL) in a state directory, locked (``fn.lock``, flock) by the one emulator that uses
it: a second emulator on the same directory is refused, as one FN cannot sit in two readers. Each signed
document is written in one transaction with the
new counters, so a kill at any moment leaves either the whole document or none of it. The open document
(begin + 07h data) is not stored: like a real FN losing power, a restart drops it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import sqlite3
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from register.fiscal.fn_protocol import Phase

DB_NAME = "fn.sqlite3"
LOCK_NAME = "fn.lock"
FN_NUMBER_PREFIX = "9999"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS documents (
    fd INTEGER PRIMARY KEY,
    form INTEGER NOT NULL,
    time BLOB NOT NULL,        -- DATE_TIME, 5 bytes
    archive BLOB NOT NULL,     -- the 40h answer with the OFD-receipt byte left 0
    tlv BLOB NOT NULL,         -- the whole document STLV
    queued INTEGER NOT NULL,   -- 1: waiting for (or confirmed by) the OFD
    confirmed INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS documents_unconfirmed ON documents (fd) WHERE queued = 1 AND confirmed = 0;
CREATE TABLE IF NOT EXISTS tickets (
    fd INTEGER PRIMARY KEY,
    time BLOB NOT NULL,        -- DATE_TIME, 5 bytes
    sign BLOB NOT NULL         -- OFD fiscal sign, 18 bytes
);
"""


class FnStoreError(ValueError):
    """A state directory that cannot be used as FN memory."""


@dataclass(slots=True)
class FnState:
    """Everything the FN remembers between documents (the open document excepted)."""

    fn_number: str
    created: date
    phase: int = Phase.READY
    last_fd: int = 0
    last_fd_time: datetime | None = None
    inn: str | None = None
    rnm: str | None = None
    tax_systems: int | None = None
    work_mode: int | None = None
    registration_fds: list[int] = field(default_factory=list)
    shift_number: int = 0
    shift_open: bool = False
    shift_open_time: datetime | None = None
    receipt_number: int = 0
    shift_total: int = 0  # kopecks signed in receipts of the current shift
    last_op_kkt_time: datetime | None = None  # host time of the last timed operation (drift check)
    last_op_fn_time: datetime | None = None  # FN timer at that operation

    def copy(self, **changes: Any) -> FnState:
        return dataclasses.replace(self, registration_fds=list(self.registration_fds), **changes)

    def to_json(self) -> str:
        body: dict[str, Any] = {}
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            body[item.name] = value.isoformat() if isinstance(value, date) else value
        return json.dumps(body, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> FnState:
        body = json.loads(text)
        body["created"] = date.fromisoformat(body["created"])
        for name in ("last_fd_time", "shift_open_time", "last_op_kkt_time", "last_op_fn_time"):
            if body.get(name) is not None:
                body[name] = datetime.fromisoformat(body[name])
        known = {item.name for item in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in body.items() if key in known})


@dataclass(frozen=True, slots=True)
class StoredDocument:
    fd: int
    form: int
    time: bytes  # DATE_TIME
    archive: bytes  # 40h answer, OFD-receipt byte 0
    tlv: bytes  # document STLV
    queued: bool
    confirmed: bool = False


@dataclass(frozen=True, slots=True)
class StoredTicket:
    fd: int
    time: bytes  # DATE_TIME
    sign: bytes


def derive_fn_number(seed: int | str | bytes) -> str:
    """A debug FN number: 9999 and 12 digits derived from the seed."""
    raw = seed if isinstance(seed, bytes) else str(seed).encode()
    digest = int.from_bytes(hashlib.sha256(b"fn-number:" + raw).digest()[:8], "big")
    return FN_NUMBER_PREFIX + f"{digest % 10**12:012d}"


def check_fn_number(fn_number: str) -> str:
    if len(fn_number) != 16 or not fn_number.isascii() or not fn_number.isdigit():
        raise FnStoreError(f"FN number {fn_number!r} is not 16 ASCII digits")
    return fn_number


class FnStateInUse(FnStoreError):
    """The state directory is held by another emulator (another process, or an FnStore not closed)."""


def _lock_directory(directory: Path) -> int:
    """Take the state directory's lock for this store; the holder's pid is written into the lock file."""
    path = directory / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise FnStoreError(f"FN state in {directory}: cannot open the lock file {path}: {exc}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        os.close(fd)
        by = f" (pid {holder})" if holder.isdigit() else ""
        raise FnStateInUse(
            f"FN state in {directory} is in use by another FN emulator{by}: one FN memory serves one "
            "emulator at a time; stop the other one or give another --state"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
    return fd


class FnStore:
    """The FN's non-volatile memory. Not thread-safe: one user at a time (the emulator holds a lock)."""

    def __init__(self, db: sqlite3.Connection, state: FnState, lock_fd: int | None = None) -> None:
        self._db = db
        self._lock_fd = lock_fd
        self.state = state
        self._unconfirmed = self._count_unconfirmed()
        self._first_unconfirmed: tuple[int, bytes] | None = self._query_first_unconfirmed()

    @classmethod
    def open(
        cls,
        state_dir: Path | str,
        *,
        fn_number: str | None = None,
        seed: int | str | bytes | None = None,
        today: date | None = None,
    ) -> FnStore:
        """Open the FN memory in ``state_dir``; create the directory and a fresh FN (phase 1) if empty.

        ``fn_number`` or ``seed`` choose the number of a fresh FN (random seed by default); an existing
        state keeps its number, and an explicit ``fn_number`` that differs from it is refused.
        """
        directory = Path(state_dir)
        if directory.exists() and not directory.is_dir():
            raise FnStoreError(f"FN state path {directory} is not a directory")
        directory.mkdir(parents=True, exist_ok=True)
        lock_fd = _lock_directory(directory)
        try:
            db = sqlite3.connect(directory / DB_NAME, isolation_level=None, check_same_thread=False)
            where = str(directory)
            return cls._attach(
                db, fn_number=fn_number, seed=seed, today=today, where=where, wal=True, lock_fd=lock_fd
            )
        except BaseException:
            os.close(lock_fd)  # closing the descriptor releases the lock
            raise

    @classmethod
    def in_memory(
        cls, *, fn_number: str | None = None, seed: int | str | bytes | None = None, today: date | None = None
    ) -> FnStore:
        """A throwaway FN memory (unit tests, benchmarks)."""
        db = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        return cls._attach(db, fn_number=fn_number, seed=seed, today=today, where=":memory:", wal=False)

    @classmethod
    def _attach(
        cls,
        db: sqlite3.Connection,
        *,
        fn_number: str | None,
        seed: int | str | bytes | None,
        today: date | None,
        where: str,
        wal: bool,
        lock_fd: int | None = None,
    ) -> FnStore:
        try:
            if wal:
                # WAL + NORMAL: a killed process loses nothing committed; only an OS crash may lose the
                # last few commits, and never half of one.
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_SCHEMA)
            row = db.execute("SELECT body FROM state WHERE id = 1").fetchone()
            if row is None:
                number = check_fn_number(fn_number) if fn_number else derive_fn_number(seed or os.urandom(16))
                fresh = FnState(fn_number=number, created=today or date.today())
                # OR IGNORE: a second process creating the same state at once keeps the first one's FN
                db.execute("INSERT OR IGNORE INTO state (id, body) VALUES (1, ?)", (fresh.to_json(),))
                row = db.execute("SELECT body FROM state WHERE id = 1").fetchone()
            state = FnState.from_json(row[0])
            if fn_number is not None and fn_number != state.fn_number:
                raise FnStoreError(f"FN state in {where} belongs to FN {state.fn_number}, not {fn_number}")
        except (sqlite3.DatabaseError, json.JSONDecodeError, KeyError, TypeError) as exc:
            db.close()
            raise FnStoreError(f"FN state in {where} is unreadable: {exc}") from exc
        except FnStoreError:
            db.close()
            raise
        return cls(db, state, lock_fd)

    def close(self) -> None:
        """Close the database and release the state directory. Safe to call twice."""
        self._db.close()
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._lock_fd)
            self._lock_fd = None

    # --- writes: one transaction each ----------------------------------------------------------

    def commit_document(self, document: StoredDocument, state: FnState) -> None:
        """Store a signed document together with the counters that signing it changed."""
        with self._transaction():
            self._db.execute(
                "INSERT INTO documents (fd, form, time, archive, tlv, queued) VALUES (?, ?, ?, ?, ?, ?)",
                (document.fd, document.form, document.time, document.archive, document.tlv, document.queued),
            )
            self._write_state(state)
        self.state = state
        if document.queued:
            self._unconfirmed += 1
            if self._first_unconfirmed is None:
                self._first_unconfirmed = (document.fd, document.time)

    def confirm(self, ticket: StoredTicket, state: FnState) -> None:
        """Record the OFD's receipt for a queued document."""
        with self._transaction():
            self._db.execute(
                "INSERT OR REPLACE INTO tickets (fd, time, sign) VALUES (?, ?, ?)",
                (ticket.fd, ticket.time, ticket.sign),
            )
            confirmed = self._db.execute(
                "UPDATE documents SET confirmed = 1 WHERE fd = ? AND queued = 1 AND confirmed = 0",
                (ticket.fd,),
            ).rowcount
            self._write_state(state)
        self.state = state
        if confirmed:
            self._unconfirmed -= 1
            self._first_unconfirmed = self._query_first_unconfirmed()

    def wipe(self, state: FnState) -> None:
        """Erase the archive, the OFD queue and the tickets, and start over from ``state``."""
        with self._transaction():
            self._db.execute("DELETE FROM documents")
            self._db.execute("DELETE FROM tickets")
            self._write_state(state)
        self.state = state
        self._unconfirmed = 0
        self._first_unconfirmed = None

    # --- reads ---------------------------------------------------------------------------------

    def document(self, fd: int) -> StoredDocument | None:
        row = self._db.execute(
            "SELECT fd, form, time, archive, tlv, queued, confirmed FROM documents WHERE fd = ?", (fd,)
        ).fetchone()
        if row is None:
            return None
        return StoredDocument(row[0], row[1], row[2], row[3], row[4], bool(row[5]), bool(row[6]))

    def ticket(self, fd: int) -> StoredTicket | None:
        row = self._db.execute("SELECT fd, time, sign FROM tickets WHERE fd = ?", (fd,)).fetchone()
        return None if row is None else StoredTicket(row[0], row[1], row[2])

    @property
    def unconfirmed_count(self) -> int:
        return self._unconfirmed

    @property
    def first_unconfirmed(self) -> tuple[int, bytes] | None:
        """FD number and DATE_TIME of the oldest document waiting for the OFD."""
        return self._first_unconfirmed

    # --- helpers -------------------------------------------------------------------------------

    def _write_state(self, state: FnState) -> None:
        self._db.execute("UPDATE state SET body = ? WHERE id = 1", (state.to_json(),))

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)

    def _count_unconfirmed(self) -> int:
        return self._db.execute(
            "SELECT COUNT(*) FROM documents WHERE queued = 1 AND confirmed = 0"
        ).fetchone()[0]

    def _query_first_unconfirmed(self) -> tuple[int, bytes] | None:
        row = self._db.execute(
            "SELECT fd, time FROM documents WHERE queued = 1 AND confirmed = 0 ORDER BY fd LIMIT 1"
        ).fetchone()
        return None if row is None else (row[0], row[1])


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._db.execute("COMMIT" if exc_type is None else "ROLLBACK")
