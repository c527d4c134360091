"""The database connection: SQLite (a file, WAL, foreign keys, serialised writes) or PostgreSQL.

``write()`` is a transaction that may change data: on SQLite it holds a lock (a thread lock, and an
``flock`` on ``PATH.write-lock`` so that several backend processes on one file queue in the kernel
rather than in SQLite's sleeping busy handler) and begins with ``BEGIN IMMEDIATE`` (so concurrent writers
queue instead of failing with "database is locked"); on
PostgreSQL it is an ordinary READ COMMITTED transaction whose races are settled by row locks and unique
constraints. ``read()`` is a transaction that only reads.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url

from register.backend import libpq, prepared

SQLITE_BUSY_TIMEOUT_MS = 30_000
PG_POOL_SIZE = 40
PG_POOL_OVERFLOW = 10


class DatabaseUrlError(ValueError):
    """A database URL the backend does not support."""


def normalise_url(url: str) -> URL:
    """The URL with the driver the backend uses: psycopg 3 for PostgreSQL, pysqlite for SQLite."""
    try:
        parsed = make_url(url)
    except Exception as exc:  # SQLAlchemy raises ArgumentError with its own wording
        raise DatabaseUrlError(f"database URL {url!r} is not a SQLAlchemy URL: {exc}") from None
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+psycopg")
    if backend == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            raise DatabaseUrlError("the SQLite database must be a file (sqlite:///PATH), not in memory")
        return parsed.set(drivername="sqlite+pysqlite")
    raise DatabaseUrlError(
        f"database URL {url!r}: only sqlite:///PATH and postgresql+psycopg://… are supported"
    )


class Database:
    """One engine and the transaction discipline of its dialect."""

    def __init__(self, url: str) -> None:
        self.url = normalise_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        self._write_lock = threading.Lock()
        self._write_conn: Connection | None = None  # SQLite: the one writing connection, kept open
        self._lock_fd: int | None = None  # SQLite: the file locked by every process's writes
        self._kept: list[Connection] = []  # PostgreSQL: connections idle between transactions
        if self.is_sqlite:
            path = Path(str(self.url.database)).expanduser()
            path.parent.mkdir(parents=True, exist_ok=True)
            self._lock_path = f"{path}.write-lock"
            self.engine = create_engine(
                self.url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
            )
            _install_sqlite_hooks(self.engine)
            self._writer = self.engine
        else:
            # A process holds few connections at once (the register request on its event loop, FastAPI's
            # two request threads, the sender, the sweep); the pool is far larger, so that a burst never
            # opens and closes a connection per checkout (PostgreSQL forks a process for each), and
            # connections are opened only when needed. No pre-ping (a round trip per transaction): a
            # connection found lost invalidates the whole pool, and a register request is run once more
            # on a new one (``idempotency.run_once``).
            self.engine = create_engine(
                self.url,
                pool_size=PG_POOL_SIZE,
                max_overflow=PG_POOL_OVERFLOW,
                pool_use_lifo=True,  # the connections in use stay the warm ones
                # The hot statements are prepared by ``libpq``, the others need not be. And psycopg,
                # once it has prepared statements of its own, deallocates every prepared statement of
                # the session on a rollback, the ones ``libpq`` prepared included.
                connect_args={"prepare_threshold": None},
            )
            libpq.flush_before_sqlalchemy(self.engine)
            self._writer = self.engine

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A transaction that may write; committed on success, rolled back on any exception."""
        if self.is_sqlite:
            # Writes are serial here anyway: one connection kept for them saves a pool checkout a write.
            with self._write_lock:
                fcntl.flock(self._lock_file(), fcntl.LOCK_EX)
                try:
                    yield from self._sqlite_write()
                finally:
                    fcntl.flock(self._lock_file(), fcntl.LOCK_UN)
        else:
            with self._connection() as conn:
                transaction = conn.begin()
                try:
                    yield conn
                    prepared.commit(conn)  # the deferred writes go with the COMMIT
                    transaction.commit()
                except BaseException:
                    prepared.discard(conn)
                    if transaction.is_active:
                        transaction.rollback()
                    raise

    def _lock_file(self) -> int:
        if self._lock_fd is None:
            self._lock_fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        return self._lock_fd

    def _sqlite_write(self) -> Iterator[Connection]:
        conn = self._write_conn
        if conn is not None and conn.invalidated:
            conn.close()
        if conn is None or conn.closed:
            conn = self._write_conn = self._writer.connect()
        with conn.begin():
            _sqlite_begin(conn, "BEGIN IMMEDIATE")
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction: one consistent snapshot for the queries inside."""
        with self._connection() if not self.is_sqlite else self.engine.connect() as conn, conn.begin():
            if self.is_sqlite:
                _sqlite_begin(conn, "BEGIN")
            try:
                yield conn
            finally:
                prepared.discard(conn)

    @contextmanager
    def _connection(self) -> Iterator[Connection]:
        """PostgreSQL: a connection kept open from one transaction to the next (a checkout from the pool
        and its return cost 80 µs a transaction). A lost one found lost closes every kept one: the
        others are likely gone as well, and the request that met it runs again on a new one."""
        try:
            conn = self._kept.pop()
        except IndexError:
            conn = self._writer.connect()
        try:
            yield conn
        finally:
            if conn.invalidated:
                conn.close()
                self._close_kept()
            elif conn.closed or conn.in_transaction():
                conn.close()
            else:
                self._kept.append(conn)

    def _close_kept(self) -> None:
        while self._kept:
            try:
                self._kept.pop().close()
            except IndexError:  # taken meanwhile by another thread
                break

    def dispose(self) -> None:
        self._close_kept()
        with self._write_lock:
            if self._write_conn is not None:
                self._write_conn.close()
                self._write_conn = None
            if self._lock_fd is not None:
                os.close(self._lock_fd)
                self._lock_fd = None
        self.engine.dispose()


def _sqlite_begin(conn: Connection, begin: str) -> None:
    # pysqlite's own transaction handling cannot emit BEGIN IMMEDIATE: it is switched off (on connect)
    # and the transaction begun here, straight on the driver (the recipe in SQLAlchemy's SQLite dialect
    # documentation, without its "begin" event listener: any engine event makes SQLAlchemy dispatch its
    # execution events around every statement).
    conn.connection.driver_connection.execute(begin)


def _install_sqlite_hooks(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()
