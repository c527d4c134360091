"""The OFD emulator's memory: every document received, the receipt answered, and the buyer notifications.

One SQLite database (WAL) in the data directory. A document is keyed by (FN, FD, FP): the FN resends a
document until it accepts a receipt, and a debug FN reset (60h) restarts FD numbering, so FD alone is not
unique; the fiscal sign tells the two apart. A document and its notification are written in one
transaction, and a document seen again creates nothing new: the buyer is notified once per document.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path

DB_NAME = "ofd.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    fn TEXT NOT NULL,
    fd INTEGER NOT NULL,
    fp INTEGER NOT NULL,
    form INTEGER NOT NULL,
    document BLOB NOT NULL,         -- the document STLV as the FN sent it
    answer BLOB NOT NULL,           -- the OFD receipt answered: the same bytes on every resend
    received_at TEXT NOT NULL,      -- ISO time of the first arrival, the OFD's clock
    times_received INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (fn, fd, fp)
);
CREATE TABLE IF NOT EXISTS notifications (
    fn TEXT NOT NULL,
    fd INTEGER NOT NULL,
    fp INTEGER NOT NULL,
    channel TEXT NOT NULL,          -- email | sms
    recipient TEXT NOT NULL,
    state TEXT NOT NULL,            -- pending | sent | failed
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    done_at TEXT,
    PRIMARY KEY (fn, fd, fp)
);
"""


class OfdStoreError(ValueError):
    """A data directory that cannot hold the OFD's store, or a document that contradicts a stored one."""


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"


class NoticeState(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


@dataclass(frozen=True, slots=True, order=True)
class DocumentKey:
    fn: str
    fd: int
    fp: int


@dataclass(frozen=True, slots=True)
class StoredOfdDocument:
    key: DocumentKey
    form: int
    document: bytes
    answer: bytes
    received_at: datetime
    times_received: int


@dataclass(frozen=True, slots=True)
class Notice:
    """A buyer notification of one document: an e-mail or an SMS to the 1008 contact."""

    key: DocumentKey
    channel: Channel
    recipient: str
    state: NoticeState = NoticeState.PENDING
    attempts: int = 0
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class Received:
    """The outcome of storing a document: the answer to send, and whether it was new."""

    answer: bytes
    new: bool


class OfdStore:
    """Thread-safe: one connection behind a lock."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._db = connection
        self._lock = threading.Lock()

    @classmethod
    def open(cls, data_dir: Path) -> OfdStore:
        data_dir = Path(data_dir)
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(data_dir / DB_NAME, check_same_thread=False, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise OfdStoreError(f"OFD data directory {data_dir}: {exc}") from None
        return cls(db)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def receive(
        self,
        key: DocumentKey,
        form: int,
        document: bytes,
        answer: bytes,
        when: datetime,
        notice: Notice | None,
    ) -> Received:
        """Store a document and its notification, or count a resend of a stored one (its first answer)."""
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute(
                    "SELECT document, answer FROM documents WHERE fn = ? AND fd = ? AND fp = ?",
                    (key.fn, key.fd, key.fp),
                ).fetchone()
                if row is not None:
                    if bytes(row[0]) != document:
                        raise OfdStoreError(
                            f"FN {key.fn} FD {key.fd} FP {key.fp} was received before with other content"
                        )
                    db.execute(
                        "UPDATE documents SET times_received = times_received + 1 "
                        "WHERE fn = ? AND fd = ? AND fp = ?",
                        (key.fn, key.fd, key.fp),
                    )
                    db.execute("COMMIT")
                    return Received(bytes(row[1]), new=False)
                db.execute(
                    "INSERT INTO documents (fn, fd, fp, form, document, answer, received_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (key.fn, key.fd, key.fp, form, document, answer, when.isoformat()),
                )
                if notice is not None:
                    db.execute(
                        "INSERT INTO notifications (fn, fd, fp, channel, recipient, state, last_error) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (
                            key.fn,
                            key.fd,
                            key.fp,
                            notice.channel,
                            notice.recipient,
                            notice.state,
                            notice.last_error,
                        ),
                    )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            return Received(answer, new=True)

    def document(self, key: DocumentKey) -> StoredOfdDocument | None:
        rows = self._documents("WHERE fn = ? AND fd = ? AND fp = ?", (key.fn, key.fd, key.fp))
        return rows[0] if rows else None

    def latest(self, limit: int = 50) -> list[StoredOfdDocument]:
        return self._documents("ORDER BY received_at DESC, fn, fd DESC LIMIT ?", (limit,))

    def registration(self, fn: str, forms: frozenset[int]) -> StoredOfdDocument | None:
        """The FN's latest document of one of ``forms`` (its registration or re-registration report)."""
        marks = ", ".join("?" * len(forms))
        rows = self._documents(f"WHERE fn = ? AND form IN ({marks}) ORDER BY fd DESC LIMIT 1", (fn, *forms))
        return rows[0] if rows else None

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM documents").fetchone()[0])

    def _documents(self, where: str, args: tuple[object, ...]) -> list[StoredOfdDocument]:
        with self._lock:
            rows = self._db.execute(
                "SELECT fn, fd, fp, form, document, answer, received_at, times_received FROM documents "
                + where,
                args,
            ).fetchall()
        return [
            StoredOfdDocument(
                DocumentKey(fn, fd, fp),
                form,
                bytes(document),
                bytes(answer),
                datetime.fromisoformat(at),
                times,
            )
            for fn, fd, fp, form, document, answer, at, times in rows
        ]

    # --- notifications ----------------------------------------------------------------------------

    def notices(self, state: NoticeState | None = None) -> list[Notice]:
        """Notifications in the order they were created, all or those in one state."""
        if state is None:
            return self._notices("", ())
        return self._notices("WHERE state = ?", (str(state),))

    def notice(self, key: DocumentKey) -> Notice | None:
        rows = self._notices("WHERE fn = ? AND fd = ? AND fp = ?", (key.fn, key.fd, key.fp))
        return rows[0] if rows else None

    def _notices(self, where: str, args: tuple[object, ...]) -> list[Notice]:
        with self._lock:
            rows = self._db.execute(
                "SELECT fn, fd, fp, channel, recipient, state, attempts, last_error FROM notifications "
                f"{where} ORDER BY rowid",
                args,
            ).fetchall()
        return [
            Notice(DocumentKey(fn, fd, fp), Channel(channel), recipient, NoticeState(st), attempts, error)
            for fn, fd, fp, channel, recipient, st, attempts, error in rows
        ]

    def mark_sent(self, key: DocumentKey, when: datetime) -> None:
        self._update(
            key,
            "state = ?, attempts = attempts + 1, last_error = NULL, done_at = ?",
            (NoticeState.SENT, when.isoformat()),
        )

    def mark_attempt_failed(self, key: DocumentKey, error: str, *, final: bool, when: datetime) -> None:
        state = NoticeState.FAILED if final else NoticeState.PENDING
        self._update(
            key,
            "state = ?, attempts = attempts + 1, last_error = ?, done_at = ?",
            (state, error, when.isoformat() if final else None),
        )

    def _update(self, key: DocumentKey, assignments: str, args: tuple[object, ...]) -> None:
        with self._lock:
            self._db.execute(
                f"UPDATE notifications SET {assignments} WHERE fn = ? AND fd = ? AND fp = ?",
                (*args, key.fn, key.fd, key.fp),
            )
