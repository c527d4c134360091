"""Kill a real `register sell` process at every step of a sale; the next run recovers it.

Never a second fiscal document for one sale; never a lost delivery (printed after recovery, or the
e-receipt sent exactly once).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from register.config import RegisterConfig
from register.domain.quantity import Quantity
from register.fiscal.fn_driver import FnDriver
from register.fiscal.fn_protocol import DocForm
from register.journal import Journal, Stage
from register.sale import CRASH_ENV, CRASH_POINTS, REPEAT_PROBLEM

from .conftest import LabClient

FISCAL_POINTS = ("signed", "fiscalised", "printed", "delivered", "done")


def _sell(config: str, *args: str, crash: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != CRASH_ENV}
    if crash:
        env[CRASH_ENV] = crash
    return subprocess.run(
        [sys.executable, "-m", "register", "sell", "--config", config, "--json", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def _receipts_with_total(config: RegisterConfig, total: int) -> list[int]:
    with FnDriver.open(config.fn) as fn:
        last = fn.status().last_fd
        return [
            fd
            for fd in range(1, last + 1)
            if (doc := fn.find_document(fd)).doc_type == DocForm.RECEIPT and doc.total == total
        ]


@pytest.mark.parametrize("card", ["7000000000001", "7000000000004"], ids=["e-receipt", "paper"])
@pytest.mark.parametrize("point", CRASH_POINTS)
def test_killed_at_every_step(lab: LabClient, point: str, card: str) -> None:
    config_path = str(lab.addresses.config)
    config = RegisterConfig.load(lab.addresses.config)
    # a quantity of its own makes this sale's total unique in the FN's archive
    grams = 100 + CRASH_POINTS.index(point) * 2 + (card == "7000000000004")
    item = f"2000000000015x0.{grams:03d}"
    total = config.catalogue.scan(item).total
    extra = ["--no-e-receipt"] if card == "7000000000004" else []

    crashed = _sell(config_path, "--item", item, "--card", card, *extra, crash=point)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr

    journal = Journal(config.journal)
    (killed,) = [
        s for s in journal.sales() if Quantity.parse(s.data["request"]["lines"][0]["quantity"]).milli == grams
    ]
    journal.close()

    after = _sell(config_path, "--item", "4600000000066")  # any next sale recovers first
    assert after.returncode == 0, after.stderr

    journal = Journal(config.journal)
    record = journal.sale(killed.id)
    journal.close()
    receipts = _receipts_with_total(config, total)
    if point in FISCAL_POINTS:
        assert len(receipts) == 1, "the fiscal document is made exactly once"
        assert record.stage is Stage.DONE
        assert record.data["fiscal"]["fd"] == receipts[0]
        link = record.data["link"]
        if card == "7000000000001":
            assert not record.data["delivery"]["printed"]
            assert len(lab.mails_with(link, expect=1)) == 1
        else:
            assert record.data["delivery"]["printed"]
            texts = [p.read_text(encoding="utf-8") for p in lab.printed()]
            papers = [t for t in texts if str(record.data["fiscal"]["fp"]) in t]
            # Killed after the printer took the receipt: printed again on recovery, marked as a repeat.
            marks = ["ПОВТОРНАЯ ПЕЧАТЬ" in t for t in papers]
            assert marks == ([False, True] if point == "printed" else [False])
            assert (REPEAT_PROBLEM in record.data.get("problems", ())) is (point == "printed")
    else:
        assert receipts == [], "killed before 15h…16h: no fiscal document"
        assert record.stage is Stage.ABORTED
    outcome = json.loads(after.stdout)
    assert outcome["fiscal"]["fd"] not in receipts


def test_a_repeat_that_waits_for_paper_is_still_marked_when_it_prints(lab: LabClient) -> None:
    """Killed right after printing, recovered with the printer out of paper: the receipt is owed, and
    the reprint that finally prints it still says it is a repeat (the first paper may be out there)."""
    assert lab.lab.printer is not None
    config_path = str(lab.addresses.config)
    config = RegisterConfig.load(lab.addresses.config)
    grams = 300  # a weight of its own, to find this sale
    item = f"2000000000015x0.{grams:03d}"
    crashed = _sell(config_path, "--item", item, "--card", "7000000000004", "--no-e-receipt", crash="printed")
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr

    lab.lab.printer.set_fault("paper-out")
    try:
        _sell(config_path, "--item", "4600000000066")  # recovers first; its own sale is refused
    finally:
        lab.lab.printer.clear_fault()
    journal = Journal(config.journal)
    (killed,) = [
        s for s in journal.sales() if Quantity.parse(s.data["request"]["lines"][0]["quantity"]).milli == grams
    ]
    journal.close()
    owed = killed.data["delivery"]
    reprinted = subprocess.run(
        [sys.executable, "-m", "register", "reprint", "--config", config_path],
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert (owed["printed"], owed["reprintPending"], owed["repeat"]) == (False, True, True)
    assert reprinted.returncode == 0, reprinted.stderr
    papers = [t for p in lab.printed() if str(killed.data["fiscal"]["fp"]) in (t := p.read_text("utf-8"))]
    assert ["ПОВТОРНАЯ ПЕЧАТЬ" in paper for paper in papers] == [False, True]
