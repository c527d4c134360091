"""`register` with no arguments: the register on the embedded lab.

In a terminal, the cashier's TUI on the whole lab (FN and printer emulators on ptys, the loyalty backend,
the OFD, an SMTP sink) under the data directory. Headless (`register demo`, or no terminal): three sales
through the real drivers that show the delivery decision: a member who refused paper (not printed:
e-receipt by e-mail), a member who kept paper, and a buyer without a card. It prints what each party did
and where to look.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from register.config import RegisterConfig, data_dir
from register.domain.decision import BuyerAnswer
from register.domain.money import format_rub
from register.lab.launcher import Lab
from register.sale import Identifier, Register, SaleOutcome, SaleRequest

DEMO = (
    ("member 7000000000001, refused paper receipts", "7000000000001", None),
    ("member 7000000000004, keeps paper", "7000000000004", BuyerAnswer(False, None)),
    ("no card, e-receipt asked at the till", None, BuyerAnswer(True, "buyer@example.ru", also_paper=True)),
)


def _show(echo: Callable[[str], None], title: str, outcome: SaleOutcome) -> None:
    stamp = outcome.stamp
    assert stamp is not None and outcome.receipt is not None
    echo(f"\n== {title}")
    echo(f"   total {format_rub(outcome.receipt.total)}, FD {stamp.fd}, FP {stamp.fp}")
    echo(f"   paper: {'printed' if outcome.printed else 'NOT printed'} ({outcome.decision.reason})")
    echo(f"   tag 1008: {outcome.decision.customer_contact or '-'}; sender: {outcome.decision.sender}")
    echo(f"   link: {outcome.link}")
    for message in outcome.cashier_messages:
        echo(f"   cashier: {message}")


def run_lab_tui(data: Path | None = None) -> None:
    """The cashier's TUI on the embedded lab; the lab stops when the TUI exits."""
    from register.tui.app import make_app

    data = data or data_dir() / "lab"
    with Lab(data) as addresses:
        make_app(addresses.config).run()
    print(f"lab data (receipts, mail, journal): {data}")


def run_lab_demo(echo: Callable[[str], None], data: Path | None = None) -> None:
    data = data or data_dir() / "lab"
    with Lab(data) as addresses:
        echo(f"embedded lab in {data}:")
        echo(f"  FN {addresses.fn}, printer {addresses.printer}, loyalty {addresses.loyalty}")
        echo(f"  OFD {addresses.ofd_http}, SMTP {addresses.smtp}, config {addresses.config}")
        config = RegisterConfig.load(addresses.config)
        lines = (config.catalogue.scan("4600000000011x2"), config.catalogue.scan("2000000000015x1.355"))
        with Register.open(config) as register:
            register.recover()
            register.ensure_shift()
            mails_before = len(list((data / "mail").glob("*.eml")))
            emailed = 0
            for title, card, buyer in DEMO:
                identifier = Identifier("CardNumber", card) if card else None
                outcome = register.sell(SaleRequest(lines=lines, identifier=identifier, buyer=buyer))
                _show(echo, title, outcome)
                emailed += "@" in (outcome.decision.customer_contact or "")
            drained = register.drain_ofd()
        if drained is not None:
            echo(f"\nOFD: {len(drained.confirmed)} documents sent and confirmed")
        # the backend and the OFD send e-mail in the background: let it reach the sink before the lab stops
        deadline = time.monotonic() + 10
        while (
            len(list((data / "mail").glob("*.eml"))) < mails_before + emailed and time.monotonic() < deadline
        ):
            time.sleep(0.05)
    receipts = sorted((data / "printer").glob("*.txt"))
    mails = sorted((data / "mail").glob("*.eml"))
    newest = receipts[-1].name if receipts else "-"
    echo(f"printed receipts: {len(receipts)} in {data / 'printer'} (newest: {newest})")
    echo(f"e-mails: {len(mails)} in {data / 'mail'}")
    echo(f"journal (every decision with its reason): {data / 'journal.sqlite3'}")
