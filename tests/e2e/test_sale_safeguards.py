"""What stops a sale from paying out twice, losing an e-receipt, or hiding a problem from the cashier.

Real lab (backend over HTTP, FN and printer on ptys, SMTP sink); the network to the backend runs through a
loopback relay the tests cut at a chosen step of the sale.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import replace
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import update

from register.backend.database import Database
from register.backend.schema import purchases
from register.config import LoyaltySettings, RegisterConfig
from register.domain.decision import BuyerAnswer
from register.sale import (
    Identifier,
    LoyaltyAnswer,
    Register,
    SaleError,
    SaleEvent,
    SaleOutcome,
    SaleRequest,
)

from .conftest import LabClient
from .relay import Relay

REFUSED_EMAIL = "7000000000001"
KEEPS_PAPER = "7000000000004"
LONG_AGO = "2000-01-01T00:00:00.000000+00:00"


@pytest.fixture
def relay(lab: LabClient) -> Iterator[Relay]:
    backend = urlsplit(lab.addresses.loyalty)
    relay = Relay((backend.hostname or "127.0.0.1", backend.port or 80))
    try:
        yield relay
    finally:
        relay.close()


def _config(lab: LabClient, loyalty_url: str | None = None) -> RegisterConfig:
    config = RegisterConfig.load(lab.addresses.config)
    if loyalty_url is not None:
        config = replace(config, loyalty=LoyaltySettings(url=loyalty_url, timeout=1.0))
    return config


def _sell(register: Register, card: str, buyer: BuyerAnswer | None = None) -> SaleOutcome:
    lines = (register.config.catalogue.scan("4600000000028x3"),)
    return register.sell(SaleRequest(lines=lines, identifier=Identifier("CardNumber", card), buyer=buyer))


def _on(step: str, action: Callable[[SaleEvent], None]) -> Callable[[SaleEvent], None]:
    def observe(event: SaleEvent) -> None:
        if event.step == step:
            action(event)

    return observe


def test_a_sale_is_refunded_once(lab: LabClient) -> None:
    with Register.open(_config(lab)) as register:
        register.ensure_shift()
        sale = _sell(register, KEEPS_PAPER, BuyerAnswer(False, None))
        assert sale.stamp is not None
        refund = register.refund_by(str(sale.stamp.fd), buyer=BuyerAnswer(False, None))
        assert refund.stamp is not None
        last_fd = register.fn.status().last_fd
        printed = len(lab.printed())

        for original in (str(sale.stamp.fd), sale.stamp.qr):
            with pytest.raises(SaleError, match=f"already refunded by FD {refund.stamp.fd}"):
                register.refund_by(original, buyer=BuyerAnswer(False, None))

        assert register.fn.status().last_fd == last_fd  # no second return document
        assert len(lab.printed()) == printed


def test_refused_paper_gets_paper_when_the_backend_vanishes_before_the_link(
    lab: LabClient, relay: Relay
) -> None:
    """The member refused paper, but the link never reached the backend: nobody would send the receipt."""
    printed_before = len(lab.printed())
    observer = _on("delivered", lambda _event: relay.cut())
    with Register.open(_config(lab, relay.url), observer=observer) as register:
        register.ensure_shift()
        outcome = _sell(register, REFUSED_EMAIL)

        assert not outcome.decision.print_paper  # the decision was to suppress…
        assert outcome.printed  # …but the e-receipt is not on its way, so paper it is
        assert outcome.stamp is not None and outcome.link is not None
        assert any("e-receipt not confirmed" in problem for problem in outcome.problems)
        delivery = register.journal.sale(outcome.sale_id).data["delivery"]
        assert delivery["paperFallback"] == "the loyalty backend has not taken the receipt link yet"
        assert len(lab.printed()) == printed_before + 1
        assert re.search(rf"ФП +{outcome.stamp.fp}\b", lab.printed()[-1].read_text(encoding="utf-8"))

        # a recovery replaying the settlement (a crash before "done") prints no second copy
        record = register.journal.sale(outcome.sale_id)
        register._paper_unless_sent(
            record, LoyaltyAnswer.from_journal(record.data["loyalty"]), outcome.decision
        )
        assert len(lab.printed()) == printed_before + 1

        # the OFD must not see the document before the backend holds its link (it would mail it too)
        queued = register.fn.unconfirmed_count()
        assert register.drain_ofd() is None
        assert register.fn.unconfirmed_count() == queued

        relay.restore()
        register.flush_outbox()
        assert register.journal.pending_calls() == []
        assert len(lab.mails_with(outcome.link, expect=1)) == 1
        drained = register.drain_ofd()
        assert drained is not None and outcome.stamp.fd in drained.confirmed
        assert len(lab.mails_with(outcome.link, expect=1)) == 1  # the OFD did not mail it a second time


def test_a_refusal_by_the_backend_reaches_the_cashier(lab: LabClient) -> None:
    """The purchase is cancelled behind the register's back: its confirm is refused; the cashier sees it."""
    pos = httpx.Client(base_url=lab.addresses.loyalty, auth=("POS-1", "lab"), timeout=10)
    purchase: dict[str, str] = {}

    def cancel_behind_its_back(event: SaleEvent) -> None:
        answer = pos.post(
            "/pos/v1/cancel",
            json={"requestId": "0b7e4a53-8c1d-4f0e-9d55-2f0f3c7a1b01", "purchaseId": purchase["id"]},
        )
        assert answer.status_code == 200, answer.text

    def observe(event: SaleEvent) -> None:
        if event.step == "calculated":
            purchase["id"] = event.detail["purchaseId"]
        elif event.step == "fiscalised":
            cancel_behind_its_back(event)

    try:
        with Register.open(_config(lab), observer=observe) as register:
            register.ensure_shift()
            outcome = _sell(register, KEEPS_PAPER, BuyerAnswer(False, None))
    finally:
        pos.close()
    assert outcome.printed
    refused = [problem for problem in outcome.problems if "refused confirm" in problem]
    assert len(refused) == 1, outcome.problems


def test_a_receipt_owed_to_paper_is_printed_when_the_register_recovers(lab: LabClient) -> None:
    printer = lab.lab.printer
    assert printer is not None
    observer = _on("fiscalised", lambda _event: printer.set_fault("paper-out"))
    try:
        with Register.open(_config(lab), observer=observer) as register:
            register.ensure_shift()
            outcome = _sell(register, KEEPS_PAPER, BuyerAnswer(False, None))
            assert outcome.reprint_pending and not outcome.printed
            assert register.pending_reprints() == [outcome.sale_id]
            assert register.reprint_pending() == {outcome.sale_id: False}  # still out of paper
    finally:
        printer.clear_fault()
    assert outcome.stamp is not None
    printed_before = len(lab.printed())
    with Register.open(_config(lab)) as register:  # the next start of the register
        register.recover()
        assert register.pending_reprints() == []
        assert register.fn.status().last_fd >= outcome.stamp.fd
    assert len(lab.printed()) == printed_before + 1
    assert re.search(rf"ФП +{outcome.stamp.fp}\b", lab.printed()[-1].read_text(encoding="utf-8"))


def test_a_calculation_expired_before_the_confirm_goes_up_as_an_offline_purchase_with_its_link(
    lab: LabClient,
) -> None:
    """A refused-paper member's purchase whose calculation the backend let expire (a long outage between
    calculate and confirm): confirm is refused PURCHASE_EXPIRED; the sale is uploaded with offline-batch,
    link included, so the e-receipt still goes out and the purchase is in the member's history."""
    db = Database(f"sqlite:///{lab.data / 'loyalty.sqlite3'}")
    purchase: dict[str, str] = {}

    def observe(event: SaleEvent) -> None:
        if event.step == "calculated":
            purchase["id"] = event.detail["purchaseId"]
        elif event.step == "fiscalised":
            with db.write() as conn:
                conn.execute(
                    update(purchases).where(purchases.c.id == purchase["id"]).values(created_at=LONG_AGO)
                )

    try:
        with Register.open(_config(lab), observer=observe) as register:
            register.ensure_shift()
            outcome = _sell(register, REFUSED_EMAIL)
            assert register.journal.pending_calls() == []
            steps = [step for step, _at, _data in register.journal.steps(outcome.sale_id)]
    finally:
        db.dispose()
    assert outcome.stamp is not None and outcome.link is not None
    assert not outcome.printed, outcome.problems  # the e-receipt is on its way through the upload
    assert "done" in steps
    history = lab.crm_history(REFUSED_EMAIL)
    uploaded = [item for item in history if item["fiscal"] and item["fiscal"]["fd"] == outcome.stamp.fd]
    assert len(uploaded) == 1 and uploaded[0]["id"] != purchase["id"]
    assert outcome.link in [link["url"] for link in uploaded[0]["links"]]
    assert len(lab.mails_with(outcome.link, expect=1)) == 1
