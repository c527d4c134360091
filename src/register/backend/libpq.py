"""PostgreSQL statements of the hot path on libpq itself (psycopg's ``pq`` layer), pipelined.

psycopg's Python layer spends about 70 µs of CPU on each round trip (query conversion, adaptation,
its wait generators), more than the database spends on the statement; on two cores shared with the
database that bounded the backend. Here a statement compiled by SQLAlchemy (``$1`` placeholders, the
casts psycopg's dialect renders) is prepared once per connection and run with text parameters; and the
writes whose results nobody reads are not sent at once but with the next statement that must be (a
read, or the COMMIT): a register request is then one round trip per read plus one for its writes and
COMMIT together, not one per statement plus BEGIN and COMMIT.

The psycopg connection stays the one SQLAlchemy holds: the transaction this module begins (BEGIN goes
with the first statement) is the one SQLAlchemy commits or rolls back (psycopg reads the state off
libpq), and SQLAlchemy's own statements in the same transaction see the writes pending here, which are
sent before them (``flush_before_sqlalchemy``).
"""

from __future__ import annotations

import itertools
import select
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg import pq
from sqlalchemy import Connection, event
from sqlalchemy.engine import Engine
from sqlalchemy.sql import sqltypes

Loader = Callable[[bytes], Any]
# The writes each SQLAlchemy connection (one per transaction here) has yet to send.
_pending: weakref.WeakKeyDictionary[Connection, list[_Call]] = weakref.WeakKeyDictionary()
_names = itertools.count(1)
_PREPARED_ATTRIBUTE = "_register_prepared"  # on the psycopg connection: the names prepared on its session


@dataclass(frozen=True, slots=True)
class PgForm:
    """A statement as libpq runs it: its name once prepared, how to dump its parameters and load rows."""

    name: bytes
    sql: bytes
    parameters: tuple[str, ...]
    names: tuple[str, ...] | None
    loaders: tuple[Loader, ...]


def pg_form(sql: str, parameters: Sequence[str], columns: Sequence[tuple[str, Any]] | None) -> PgForm:
    """``sql`` with ``$n`` placeholders for ``parameters``; ``columns``: (label, SQLAlchemy type)."""
    loaders = tuple(_loader(kind) for _label, kind in columns or ())
    names = tuple(label for label, _kind in columns) if columns else None
    return PgForm(f"_register_{next(_names)}".encode(), sql.encode(), tuple(parameters), names, loaders)


def _loader(kind: Any) -> Loader:
    if isinstance(kind, sqltypes.Boolean):
        return lambda value: value == b"t"
    if isinstance(kind, sqltypes.Integer):
        return int
    if isinstance(kind, sqltypes.String):
        return lambda value: value.decode()
    raise TypeError(f"no text loader for column type {kind!r}")


def _dump(value: Any) -> bytes | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return b"t" if value else b"f"
    if isinstance(value, int):
        return str(value).encode()
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, list) and all(isinstance(item, str) for item in value):  # an array of text
        quoted = (item.replace("\\", "\\\\").replace('"', '\\"') for item in value)
        return ("{" + ",".join(f'"{item}"' for item in quoted) + "}").encode()
    raise TypeError(f"no text dumper for parameter {value!r}")


@dataclass(frozen=True, slots=True)
class _Call:
    form: PgForm
    values: list[bytes | None]


def defer(conn: Connection, form: PgForm, params: dict[str, Any]) -> None:
    """Send this write with the transaction's next round trip."""
    _pending.setdefault(conn, []).append(_Call(form, [_dump(params[p]) for p in form.parameters]))


def execute(conn: Connection, form: PgForm, params: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
    """Run the pending writes and this statement in one round trip; its rows and their count."""
    return execute_together(conn, [(form, params)])[-1]


def execute_together(
    conn: Connection, statements: Sequence[tuple[PgForm, dict[str, Any]]]
) -> list[tuple[list[dict[str, Any]], int]]:
    """Run the pending writes and ``statements`` in one round trip; each statement's rows and count."""
    pending = _pending.pop(conn, None) or []
    done = len(pending)
    pending += [_Call(form, [_dump(params[p]) for p in form.parameters]) for form, params in statements]
    return _round_trip(conn, pending, commit=False)[done:]


def commit(conn: Connection) -> None:
    """Send the pending writes and COMMIT in one round trip (SQLAlchemy's commit then finds it done);
    without pending writes SQLAlchemy's commit is the round trip."""
    pending = _pending.pop(conn, None)
    if pending:
        _round_trip(conn, pending, commit=True)


def discard(conn: Connection) -> None:
    """Forget the pending writes of a transaction that is rolled back."""
    _pending.pop(conn, None)


def flush_before_sqlalchemy(engine: Engine) -> None:
    """Send pending writes before any statement SQLAlchemy itself runs on ``engine``'s connections."""

    @event.listens_for(engine, "before_cursor_execute")
    def _flush(conn: Connection, *_args: Any) -> None:
        pending = _pending.pop(conn, None)
        if pending:
            _round_trip(conn, pending, commit=False)


def _driver(conn: Connection) -> psycopg.Connection[Any]:
    return conn.connection.driver_connection  # type: ignore[return-value]


def _round_trip(
    conn: Connection, calls: list[_Call], *, commit: bool
) -> list[tuple[list[dict[str, Any]], int]]:
    """Every call (and COMMIT) in one pipeline; each call's rows and count."""
    driver = _driver(conn)
    pgconn = driver.pgconn
    prepared: set[bytes] | None = getattr(driver, _PREPARED_ATTRIBUTE, None)
    if prepared is None:
        prepared = set()
        setattr(driver, _PREPARED_ATTRIBUTE, prepared)
    begin = pgconn.transaction_status == _IDLE
    new: list[PgForm] = []
    for call in calls:
        if call.form.name not in prepared and call.form not in new:
            new.append(call.form)
    pgconn.enter_pipeline_mode()
    try:
        if begin:
            pgconn.send_query_params(b"BEGIN", None)
        for form in new:
            pgconn.send_prepare(form.name, form.sql)
        for call in calls:
            pgconn.send_query_prepared(call.form.name, call.values)
        if commit:
            pgconn.send_query_params(b"COMMIT", None)
        pgconn.pipeline_sync()
        results = _results(pgconn, begin + len(new) + len(calls) + commit)
    finally:
        if pgconn.status == _CONNECTION_OK and pgconn.pipeline_status != _PIPELINE_OFF:
            pgconn.exit_pipeline_mode()
    statuses = [result.status for result in results]
    first = begin + len(new)
    if new:
        made = zip(new, statuses[begin:first], strict=True)
        prepared.update(form.name for form, status in made if status == _OK)
    if _FATAL in statuses:
        failure = results[statuses.index(_FATAL)]
        raise pg_errors.error_from_result(failure, encoding=driver.info.encoding)
    end = first + len(calls)
    return [
        (_rows(call.form, result, status), result.command_tuples or 0)
        for call, result, status in zip(calls, results[first:end], statuses[first:end], strict=True)
    ]


_OK = pq.ExecStatus.COMMAND_OK
_FATAL = pq.ExecStatus.FATAL_ERROR
_TUPLES = pq.ExecStatus.TUPLES_OK
_SYNC = pq.ExecStatus.PIPELINE_SYNC
_IDLE = pq.TransactionStatus.IDLE
_CONNECTION_OK = pq.ConnStatus.OK
_PIPELINE_OFF = pq.PipelineStatus.OFF


def _results(pgconn: pq.abc.PGconn, expected: int) -> list[pq.abc.PGresult]:
    """The results up to the sync: one per statement sent, in order (aborted ones included)."""
    results: list[pq.abc.PGresult] = []
    if pgconn.flush() == 1:
        _flush_out(pgconn)
    while True:
        while pgconn.is_busy():
            select.select([pgconn.socket], [], [])
            pgconn.consume_input()
        result = pgconn.get_result()
        if result is None:  # the end of one statement's results
            continue
        if result.status == _SYNC:
            if len(results) != expected:
                raise psycopg.InternalError(
                    f"{expected} results expected in the pipeline, {len(results)} came"
                )
            return results
        results.append(result)


def _flush_out(pgconn: pq.abc.PGconn) -> None:
    while pgconn.flush() == 1:
        select.select([], [pgconn.socket], [])


def _rows(form: PgForm, result: pq.abc.PGresult, status: int) -> list[dict[str, Any]]:
    if form.names is None or status != _TUPLES:
        return []
    names, loaders = form.names, form.loaders
    rows = []
    for row in range(result.ntuples):
        values = {}
        for column, (name, load) in enumerate(zip(names, loaders, strict=True)):
            raw = result.get_value(row, column)
            values[name] = None if raw is None else load(raw)
        rows.append(values)
    return rows
