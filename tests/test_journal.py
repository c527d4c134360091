from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from register.journal import Journal, JournalError, Stage, request_id


def test_stages_merge_data_and_survive_reopen(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    journal = Journal(path)
    sale = journal.start("sale", {"lines": [1]})
    journal.advance(sale, Stage.CALCULATED, loyalty={"status": "online"})
    journal.advance(sale, Stage.DECIDED, decision={"print_paper": False})
    journal.close()

    journal = Journal(path)
    record = journal.sale(sale)
    assert record.stage is Stage.DECIDED
    assert record.data == {
        "request": {"lines": [1]},
        "loyalty": {"status": "online"},
        "decision": {"print_paper": False},
    }
    assert [s for s, _, _ in journal.steps(sale)] == ["started", "calculated", "decided"]
    assert [r.id for r in journal.open_sales()] == [sale]


def test_a_stage_is_recorded_once(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    sale = journal.start("sale", {})
    journal.advance(sale, Stage.FISCALISED, fiscal={"fd": 3})
    journal.advance(sale, Stage.FISCALISED, fiscal={"fd": 99})  # a replay after a crash changes nothing
    assert journal.sale(sale).data["fiscal"] == {"fd": 3}
    assert [s for s, _, _ in journal.steps(sale)].count("fiscalised") == 1


def test_done_and_aborted_sales_are_not_open(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    done = journal.start("sale", {})
    journal.advance(done, Stage.DONE)
    aborted = journal.start("sale", {})
    journal.advance(aborted, Stage.ABORTED)
    open_sale = journal.start("refund", {})
    assert [r.id for r in journal.open_sales()] == [open_sale]


def test_request_ids_are_stable_per_sale_and_call() -> None:
    assert request_id("s1", "confirm") == request_id("s1", "confirm")
    assert (
        len({request_id("s1", "confirm"), request_id("s1", "cheque-link"), request_id("s2", "confirm")}) == 3
    )


def test_outbox_keeps_order_and_one_entry_per_request(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    sale = journal.start("sale", {})
    journal.enqueue(sale, "confirm", "r1", {"a": 1})
    journal.enqueue(sale, "confirm", "r1", {"a": 1})
    journal.enqueue(sale, "cheque-link", "r2", {"b": 2})
    pending = journal.pending_calls()
    assert [(p.call, p.request_id) for p in pending] == [("confirm", "r1"), ("cheque-link", "r2")]
    journal.call_failed(pending[0].id, "connection refused")
    journal.call_done(pending[0].id)
    assert [p.request_id for p in journal.pending_calls()] == ["r2"]


def test_find_by_fiscal(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    sale = journal.start("sale", {})
    journal.advance(sale, Stage.FISCALISED, fiscal={"fn": "9999000000000001", "fd": 7})
    found = journal.find_by_fiscal("9999000000000001", 7)
    assert found is not None and found.id == sale
    assert journal.find_by_fiscal("9999000000000001", 8) is None


def test_unknown_sale_and_newer_schema_are_clear_errors(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    journal = Journal(path)
    with pytest.raises(JournalError, match="no sale nope"):
        journal.advance("nope", Stage.DONE)
    journal.close()
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value = '99' WHERE key = 'schema'")
    db.commit()
    db.close()
    with pytest.raises(JournalError, match="newer"):
        Journal(path)


def test_a_version_1_journal_is_migrated_and_its_sales_found_by_fiscal(tmp_path: Path) -> None:
    from register.journal import SCHEMA_V1

    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    for statement in SCHEMA_V1:
        db.execute(statement)
    db.execute("INSERT INTO meta VALUES ('schema', '1')")
    db.execute(
        "INSERT INTO sales VALUES ('old', 'sale', 'done', 't', 't', ?)",
        ('{"fiscal": {"fn": "9999000000000001", "fd": 12}}',),
    )
    db.commit()
    db.close()
    journal = Journal(path)
    found = journal.find_by_fiscal("9999000000000001", 12)
    assert found is not None and found.id == "old"
