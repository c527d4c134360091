"""``Prepared`` runs Core statements on the driver: the same rows, counts and errors as
``Connection.execute``, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from register.backend.cheque_links import _CONFIG
from register.backend.database import Database
from register.backend.members import _BY_CARD
from register.backend.prepared import Prepared, listed
from register.backend.schema import devices, members
from tests.backend.support import CARD_ANNA, CARD_GLEB


@pytest.fixture
def db(seeded_db_url: str) -> Iterator[Database]:
    database = Database(seeded_db_url)
    yield database
    database.dispose()


@pytest.mark.parametrize(
    "statement, params",
    [
        (_BY_CARD.statement, {"card": CARD_ANNA}),  # booleans: 0/1 on SQLite until processed
        (_BY_CARD.statement, {"card": CARD_GLEB}),
        (_BY_CARD.statement, {"card": "no such card"}),
        (_CONFIG.statement, {}),  # an IN list fixed in the statement, an outer join with nulls
        (select(members.c.id, members.c.balance).order_by(members.c.id), {}),
    ],
)
def test_rows_are_those_of_connection_execute(db: Database, statement: object, params: dict) -> None:
    with db.read() as conn:
        expected = [dict(row) for row in conn.execute(statement, params).mappings()]  # type: ignore[call-overload]
        got = Prepared(statement).execute(conn, params).all()  # type: ignore[arg-type]
    assert got == expected
    types = [[type(value) for value in row.values()] for row in got]
    assert types == [[type(value) for value in row.values()] for row in expected]


def test_a_listed_parameter_matches_exactly_the_strings_given(db: Database) -> None:
    # Quotes, backslashes, commas and braces mean something in a PostgreSQL array literal and in JSON.
    awkward = ['T-"1"', "T-\\2", "T-3,4", "T-{5}", "T-6 7", "T-ж", "T-NULL"]
    with db.write() as conn:
        conn.execute(
            insert(devices),
            [
                {"code": code, "secret_hash": "h", "created_at": "2026-01-01T00:00:00+00:00"}
                for code in awkward
            ],
        )
        query = Prepared(
            select(devices.c.code).where(listed(devices.c.code, "codes")).order_by(devices.c.code)
        )
        wanted = [*awkward[::2], "T-absent", "POS-1"]
        got = query.execute(conn, {"codes": wanted}).scalars()
        through_sqlalchemy = conn.execute(query.statement, {"codes": wanted}).scalars().all()
        none = query.execute(conn, {"codes": []}).scalars()
    assert sorted(got) == sorted([*awkward[::2], "POS-1"])
    assert sorted(through_sqlalchemy) == sorted(got)
    assert none == []


def test_changes_count_and_many_rows_go_in_one_call(db: Database) -> None:
    add = Prepared(insert(devices))
    rename = Prepared(
        update(devices).where(devices.c.code.like(bindparam("pattern"))).values(secret_hash="x")
    )
    with db.write() as conn:
        add.execute(
            conn,
            [
                {"code": f"T-{n}", "secret_hash": "h", "created_at": "2026-01-01T00:00:00+00:00"}
                for n in range(3)
            ],
        )
        changed = rename.execute(conn, {"pattern": "T-%"})
        hashes = conn.execute(select(devices.c.secret_hash).where(devices.c.code.like("T-%"))).scalars().all()
    assert changed.rowcount == 3
    assert hashes == ["x", "x", "x"]


def test_a_constraint_violation_is_sqlalchemys_integrity_error_and_rolls_back(db: Database) -> None:
    add = Prepared(insert(devices))
    row = {"code": "POS-1", "secret_hash": "h", "created_at": "2026-01-01T00:00:00+00:00"}
    with pytest.raises(IntegrityError, match="devices"), db.write() as conn:
        add.execute(conn, dict(row, code="T-NEW"))
        add.execute(conn, row)  # POS-1 exists: unique code
    with db.read() as conn:
        assert conn.execute(select(devices.c.id).where(devices.c.code == "T-NEW")).first() is None


def test_statements_it_cannot_run_as_sqlalchemy_would_are_refused(db: Database) -> None:
    expanding = Prepared(select(devices.c.id).where(devices.c.code.in_(bindparam("codes", expanding=True))))
    with db.read() as conn, pytest.raises(TypeError, match="expanding"):
        expanding.execute(conn, {"codes": ["POS-1"]})


def test_a_statement_still_runs_after_a_rolled_back_transaction(db: Database) -> None:
    find = Prepared(_BY_CARD.statement)
    for _ in range(3):  # each time on the pool's one warm connection
        with pytest.raises(IntegrityError), db.write() as conn:
            assert find.execute(conn, {"card": CARD_ANNA}).one()["name"] == "Анна Смирнова"
            conn.execute(insert(devices).values(code="POS-1", secret_hash="h", created_at="2026"))
    with db.read() as conn:
        assert find.execute(conn, {"card": CARD_ANNA}).one()["name"] == "Анна Смирнова"


def test_deferred_writes_are_seen_by_the_next_read_and_go_with_the_commit(db: Database) -> None:
    add = Prepared(insert(devices))
    count = Prepared(select(devices.c.code).where(devices.c.code.like(bindparam("pattern"))))
    with db.write() as conn:
        add.defer(conn, {"code": "D-1", "secret_hash": "h", "created_at": "2026"})
        assert [row["code"] for row in count.execute(conn, {"pattern": "D-%"})] == ["D-1"]
        add.defer(conn, [{"code": f"D-{n}", "secret_hash": "h", "created_at": "2026"} for n in (2, 3)])
        assert conn.execute(select(devices.c.code).where(devices.c.code == "D-3")).scalar_one() == "D-3"
        add.defer(conn, {"code": "D-4", "secret_hash": "h", "created_at": "2026"})
    with pytest.raises(IntegrityError), db.write() as conn:
        add.defer(conn, {"code": "D-5", "secret_hash": "h", "created_at": "2026"})
        add.defer(conn, {"code": "POS-1", "secret_hash": "h", "created_at": "2026"})  # fails at COMMIT
    with db.read() as conn:
        codes = [row["code"] for row in count.execute(conn, {"pattern": "D-%"})]
    assert sorted(codes) == ["D-1", "D-2", "D-3", "D-4"]
