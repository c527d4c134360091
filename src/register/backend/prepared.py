"""Statements of the hot path, compiled once per dialect and run straight on the driver.

SQLAlchemy Core builds and checks the SQL (parameters bound, never formatted in), but running a cached
statement through ``Connection.execute`` still costs about 70 µs of Python per statement (an execution
context, parameter processing, a result object), several times what sqlite3 spends. A register request
runs four to seven statements inside the write transaction, where on SQLite every microsecond is one
the other writers wait. ``Prepared`` keeps the Core statement, compiles it once per dialect and set of
parameter names, and runs it on the SQLAlchemy connection's own driver connection (same transaction):
sqlite3's cursor, or on PostgreSQL libpq itself (``libpq``), where ``defer`` sends writes along with the
transaction's next statement or its COMMIT. Rows come back as dicts keyed like ``.mappings()``, values
converted by the columns' types (booleans on SQLite); driver errors are raised as SQLAlchemy's
(``IntegrityError`` and the rest), and a lost connection invalidates the pool as SQLAlchemy's own
execution does.

Only plain statements: no expanding (``IN`` list) parameters given at run time (``listed`` takes a
list as one parameter instead), no Python-side column defaults the statement would have to fill in; on
PostgreSQL text, integer and boolean columns.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from sqlalchemy import Column, Connection, String, TypeDecorator, bindparam, exc
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import ColumnElement, Executable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.sqltypes import NULLTYPE
from sqlalchemy.sql.visitors import InternalTraversal
from sqlalchemy.types import TypeEngine

from register.backend import libpq

Processor = Callable[[Any], Any]
_PG_DIALECT = PGDialect_psycopg(paramstyle="numeric_dollar")


@dataclass(frozen=True, slots=True)
class _Form:
    """A statement compiled for one dialect and one set of given parameter names."""

    sql: str
    compiled: SQLCompiler
    positional: tuple[str, ...] | None
    binds: tuple[tuple[str, Processor], ...]
    names: tuple[str, ...] | None
    """The result's keys, as labelled in the SQL (None: the statement returns no rows)."""
    results: tuple[Processor | None, ...]
    pg: libpq.PgForm | None
    """PostgreSQL: the statement as libpq runs it."""


class _TextList(TypeDecorator[list[str]]):
    """A list of strings as one parameter: a PostgreSQL array, elsewhere a JSON array text."""

    impl = String
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.ARRAY(String()))
        return dialect.type_descriptor(String())

    def process_bind_param(self, value: Sequence[str] | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        return list(value) if dialect.name == "postgresql" else json.dumps(list(value))


class _Listed(ColumnElement[bool]):
    inherit_cache = True
    type = NULLTYPE  # typed Boolean, SQLite's compiler would append "= 1" to it in a WHERE
    _traverse_internals: ClassVar = [
        ("column", InternalTraversal.dp_clauseelement),
        ("parameter", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, column: Column[Any], parameter: Any) -> None:
        self.column = column
        self.parameter = parameter


def listed(column: Column[Any], name: str) -> ColumnElement[bool]:
    """``column IN`` the strings of the list given as parameter ``name``: one parameter however long
    the list (an expanding IN renders a new statement for each length, which Prepared cannot keep).
    On PostgreSQL ``= ANY`` of an array parameter, which the planner looks up in the column's index
    (an IN over a set-returning function it joined by scanning the table; an array cast from text it
    cast again for every row it scanned)."""
    return _Listed(column, bindparam(name, type_=_TextList()))


@compiles(_Listed, "sqlite")
def _listed_sqlite(element: _Listed, compiler: SQLCompiler, **kw: Any) -> str:
    column, parameter = compiler.process(element.column, **kw), compiler.process(element.parameter, **kw)
    return f"{column} IN (SELECT value FROM json_each({parameter}))"


@compiles(_Listed, "postgresql")
def _listed_pg(element: _Listed, compiler: SQLCompiler, **kw: Any) -> str:
    column, parameter = compiler.process(element.column, **kw), compiler.process(element.parameter, **kw)
    return f"{column} = ANY({parameter})"


class Rows:
    """What a statement returned: its rows as dicts (in order) and the count of rows it changed."""

    __slots__ = ("_rows", "rowcount")

    def __init__(self, rows: list[dict[str, Any]], rowcount: int) -> None:
        self._rows = rows
        self.rowcount = rowcount

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)

    def all(self) -> list[dict[str, Any]]:
        return self._rows

    def first(self) -> dict[str, Any] | None:
        return self._rows[0] if self._rows else None

    def one(self) -> dict[str, Any]:
        if len(self._rows) != 1:
            raise exc.NoResultFound("no row") if not self._rows else exc.MultipleResultsFound("rows")
        return self._rows[0]

    def one_or_none(self) -> dict[str, Any] | None:
        if len(self._rows) > 1:
            raise exc.MultipleResultsFound("more than one row")
        return self.first()

    def scalars(self) -> list[Any]:
        return [next(iter(row.values())) for row in self._rows]


class Prepared:
    """A Core statement run on the driver; ``execute(conn, params)`` as ``conn.execute`` would."""

    __slots__ = ("_forms", "statement")

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._forms: dict[tuple[str, frozenset[str]], _Form] = {}

    def execute(
        self, conn: Connection, params: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None
    ) -> Rows:
        """Run with one set of parameters, or with each of a list of them (no rows then)."""
        many = isinstance(params, Sequence)
        batch: Sequence[Mapping[str, Any]] = params if many else [params or {}]  # type: ignore[assignment]
        if not batch:
            return Rows([], 0)
        form = self._form(conn.dialect, batch[0])
        values = [_bound(form, given) for given in batch]
        # Driver errors are raised as SQLAlchemy's (``IntegrityError`` and the rest); a lost connection
        # invalidates the pool, as SQLAlchemy's own execution does. (A try, not a context manager: this
        # runs for every statement of the hot path.)
        if form.pg is not None:
            try:
                for value in values[:-1]:
                    libpq.defer(conn, form.pg, value)
                rows, count = libpq.execute(conn, form.pg, values[-1])
            except conn.dialect.loaded_dbapi.Error as error:
                raise _wrapped(conn, form.sql, values, error, None) from error
            return Rows([] if many else rows, count)
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            if many:
                cursor.executemany(form.sql, values)
            else:
                cursor.execute(form.sql, values[0])
            rows = _rows(cursor, form) if form.names is not None and not many else []
            return Rows(rows, cursor.rowcount)
        except conn.dialect.loaded_dbapi.Error as error:
            raise _wrapped(conn, form.sql, values, error, cursor) from error
        finally:
            cursor.close()

    def defer(self, conn: Connection, params: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> None:
        """A write whose outcome the transaction does not read: on PostgreSQL it is sent with the
        transaction's next statement or its COMMIT (its errors are raised there); on SQLite it runs now."""
        batch: Sequence[Mapping[str, Any]] = params if isinstance(params, Sequence) else [params]
        if not batch:
            return
        form = self._form(conn.dialect, batch[0])
        if form.pg is None:
            self.execute(conn, params)
            return
        for given in batch:
            libpq.defer(conn, form.pg, _bound(form, given))

    def _form(self, dialect: Dialect, given: Mapping[str, Any]) -> _Form:
        key = (dialect.name, frozenset(given))
        form = self._forms.get(key)
        if form is None:
            form = self._forms[key] = _compile(self.statement, dialect, list(given))
        return form


def read_together(conn: Connection, *queries: tuple[Prepared, Mapping[str, Any]]) -> list[Rows]:
    """The rows of several independent statements: on PostgreSQL in one round trip (with the deferred
    writes), on SQLite one after another."""
    forms = [(query, query._form(conn.dialect, params), params) for query, params in queries]
    if any(form.pg is None for _query, form, _params in forms):
        return [query.execute(conn, params) for query, params in queries]
    values = [_bound(form, params) for _query, form, params in forms]
    try:
        answers = libpq.execute_together(
            conn, [(form.pg, value) for (_query, form, _params), value in zip(forms, values, strict=True)]
        )
    except conn.dialect.loaded_dbapi.Error as error:
        sql = "; ".join(form.sql for _query, form, _params in forms)
        raise _wrapped(conn, sql, values, error, None) from error
    return [Rows(rows, count) for rows, count in answers]


def commit(conn: Connection) -> None:
    """Send the transaction's deferred writes with its COMMIT (PostgreSQL; nothing to do on SQLite)."""
    if conn.dialect.name == "postgresql":
        try:
            libpq.commit(conn)
        except conn.dialect.loaded_dbapi.Error as error:
            raise _wrapped(conn, "COMMIT", None, error, None) from error


def discard(conn: Connection) -> None:
    """Forget the deferred writes of a transaction being rolled back."""
    libpq.discard(conn)


def _compile(statement: Executable, dialect: Dialect, keys: list[str]) -> _Form:
    plain = statement.compile(dialect=dialect, column_keys=keys)
    assert isinstance(plain, SQLCompiler)
    if plain.insert_prefetch or plain.update_prefetch:
        raise TypeError(f"{statement}: Python-side column defaults are not filled in by Prepared")
    if any(bind.expanding and bind.value is None for bind in plain.binds.values()):
        raise TypeError(f"{statement}: expanding parameters given at run time are not supported")
    if dialect.name == "postgresql":
        return _compile_pg(statement, keys)
    # IN lists fixed in the statement are rendered in, as SQLAlchemy does at run time.
    compiled = statement.compile(
        dialect=dialect, column_keys=keys, compile_kwargs={"render_postcompile": True}
    )
    assert isinstance(compiled, SQLCompiler)
    processors = compiled._bind_processors  # the processors SQLAlchemy itself applies
    binds = tuple((name, processor) for name, processor in processors.items() if processor is not None)
    # The selected (or returned) columns with their labels and types; the driver's own description of
    # them is not read, psycopg builds it anew each time.
    columns = compiled._result_columns
    names = tuple(column.keyname for column in columns) if columns else None
    results = tuple(column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns)
    positional = tuple(compiled.positiontup or ()) if dialect.positional else None
    return _Form(compiled.string, compiled, positional, binds, names, results, None)


def _compile_pg(statement: Executable, keys: list[str]) -> _Form:
    """For libpq: ``$n`` placeholders (with the casts psycopg's dialect renders), no implicit RETURNING."""
    compiled = statement.compile(
        dialect=_PG_DIALECT, column_keys=keys, compile_kwargs={"render_postcompile": True}
    )
    assert isinstance(compiled, SQLCompiler)
    processors = compiled._bind_processors
    binds = tuple((name, processor) for name, processor in processors.items() if processor is not None)
    columns = [(column.keyname, column.type) for column in compiled._result_columns]
    pg = libpq.pg_form(compiled.string, compiled.positiontup or (), columns or None)
    return _Form(compiled.string, compiled, None, binds, pg.names, (), pg)


def _bound(form: _Form, given: Mapping[str, Any]) -> Any:
    values = form.compiled.construct_params(given, _check=False)
    for name, processor in form.binds:
        if name in values:
            values[name] = processor(values[name])
    if form.positional is not None:
        return tuple(values[name] for name in form.positional)
    return values


def _rows(cursor: Any, form: _Form) -> list[dict[str, Any]]:
    names = form.names or ()
    processors = form.results
    rows = cursor.fetchall()
    if not any(processors):
        return [dict(zip(names, row, strict=True)) for row in rows]
    return [
        {
            name: processor(value) if processor is not None else value
            for name, value, processor in zip(names, row, processors, strict=True)
        }
        for row in rows
    ]


def _wrapped(conn: Connection, sql: str, values: Any, error: Exception, cursor: Any) -> exc.DBAPIError:
    dialect = conn.dialect
    lost = dialect.is_disconnect(error, conn.connection.dbapi_connection, cursor)
    wrapped = exc.DBAPIError.instance(
        sql,
        values[0] if isinstance(values, list) and len(values) == 1 else values,
        error,
        dialect.loaded_dbapi.Error,
        connection_invalidated=lost,
        dialect=dialect,
    )
    if lost:  # as SQLAlchemy does: the pool's other connections are likely gone as well
        conn.engine.pool._invalidate(conn.connection, wrapped)
        conn.invalidate(wrapped)
    return wrapped
