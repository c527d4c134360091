"""PostgreSQL restarted under the backend (its connections cut): the next register request still
succeeds, once, on a new connection; nothing is made twice."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import func, literal, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from register.backend.database import Database
from register.backend.pg_cluster import fresh_database
from register.backend.schema import pos_requests, purchases
from tests.backend.support import CARD_ANNA, LabClient, lab_backend


@pytest.fixture
def pg_lab(pg_admin_url: str, seeded_pg_template: str) -> Iterator[tuple[LabClient, str]]:
    with (
        fresh_database(pg_admin_url, template=seeded_pg_template) as url,
        lab_backend(url, None) as client,
    ):
        yield client, url


def _cut_connections(url: str) -> int:
    """Terminate every server process of the backend's database, as a restart would; how many."""
    parsed = make_url(url)
    admin = parsed.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        cut = conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (parsed.database,),
        ).fetchone()
    return int(cut[0]) if cut else 0


def test_register_requests_survive_the_database_cutting_the_connections(
    pg_lab: tuple[LabClient, str],
) -> None:
    lab, url = pg_lab
    first, _fiscal = lab.sale(CARD_ANNA)  # the pool now holds open connections
    assert _cut_connections(url) >= 1
    body = lab.cheque(CARD_ANNA)
    answer = lab.post("calculate", body)
    assert answer.status_code == 200, answer.text
    assert lab.post("calculate", body).json() == answer.json()  # the stored answer, replayed
    db = Database(url)
    try:
        with db.read() as conn:
            made = conn.execute(
                select(func.count())
                .select_from(purchases)
                .where(purchases.c.cheque_number == body["chequeNumber"])
            ).scalar_one()
            stored = conn.execute(
                select(func.count())
                .select_from(pos_requests)
                .where(pos_requests.c.request_id == body["requestId"])
            ).scalar_one()
    finally:
        db.dispose()
    assert stored == 1
    assert made == 2  # the sale's purchase and this one: the lost run left nothing behind
    assert first != answer.json()["purchaseId"]


def test_after_a_lost_connection_the_next_transaction_is_on_a_live_one(
    pg_admin_url: str, seeded_pg_template: str
) -> None:
    with fresh_database(pg_admin_url, template=seeded_pg_template) as url:
        db = Database(url)
        try:
            with db.write() as first, db.write() as second, db.read() as third:  # three kept open after
                for conn in (first, second, third):
                    conn.execute(select(literal(1)))
            assert _cut_connections(url) == 3
            with pytest.raises(DBAPIError) as lost, db.write() as conn:
                conn.execute(select(literal(1)))
            assert lost.value.connection_invalidated
            with db.write() as conn:  # not another of the dead ones kept
                assert conn.execute(select(literal(2))).scalar_one() == 2
            with db.read() as conn:
                assert conn.execute(select(literal(3))).scalar_one() == 3
        finally:
            db.dispose()
