"""`register` with no arguments: the register on the embedded lab.

In a terminal, the cashier's TUI on the whole lab (FN and printer emulators on ptys, the loyalty backend,
the OFD, an SMTP sink) under the data directory. Headless (`register demo`, or no terminal): three sales
through the real drivers that show the delivery decision: a member who refused paper (not printed:
e-receipt by e-mail), a member who kept paper, and a buyer without a card. It prints what each party did
and where to look.
"""

from __future__ import annotations

import email
import email.policy
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx

from register.config import RegisterConfig, data_dir
from register.domain.decision import BuyerAnswer
from register.domain.money import format_rub
from register.lab.launcher import Lab, LabAddresses
from register.sale import Identifier, Register, SaleOutcome, SaleRequest
from register.scenario.loader import load_scenario
from register.scenario.model import Scenario
from register.scenario.runner import Environment, ScenarioResult, run_scenario

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


class LabEnvironment(Environment):
    """A scenario's world: the embedded lab in process. Faults go to the lab's parties at run time; the
    backend is driven over its real HTTP API; evidence is read from the printer's output and the mailbox."""

    def __init__(self, lab: Lab, addresses: LabAddresses) -> None:
        self.lab = lab
        self.addresses = addresses
        self.http = httpx.Client(base_url=addresses.loyalty, timeout=10)

    def close(self) -> None:
        self.http.close()

    def inject(self, device: str, spec: str) -> str:
        return self.lab.inject(device, spec)

    def clear(self, device: str) -> str:
        return self.lab.clear(device)

    def _staff(self) -> dict[str, str]:
        answer = self.http.post("/crm/v1/login", json={"login": "crm", "password": "lab"})
        answer.raise_for_status()
        return {"Authorization": f"Bearer {answer.json()['token']}"}

    def set_mode(self, mode: str) -> None:
        staff = self._staff()
        current = self.http.get("/crm/v1/settings", headers=staff)
        current.raise_for_status()
        settings = {**current.json(), "deliveryMode": mode}
        answer = self.http.put("/crm/v1/settings", json=settings, headers=staff)
        answer.raise_for_status()

    def refuse_paper(self, card: str, refused: bool) -> None:
        login = self.http.post("/member/v1/login", json={"card": card, "code": "0000"})
        login.raise_for_status()
        member = {"Authorization": f"Bearer {login.json()['token']}"}
        answer = self.http.put("/member/v1/profile/paper-receipts", json={"refused": refused}, headers=member)
        answer.raise_for_status()

    def printed_receipts(self) -> int:
        return len(list((self.lab.data_dir / "printer").glob("*.txt")))

    def emails_with(self, text: str, expect: int) -> int:
        deadline = time.monotonic() + (10.0 if expect else 1.0)
        while self._mails_with(text) < expect and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # a second (wrong) one would have time to arrive
        return self._mails_with(text)

    def _mails_with(self, text: str) -> int:
        count = 0
        for path in (self.lab.data_dir / "mail").glob("*.eml"):
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            parts = message.walk() if message.is_multipart() else [message]
            body = "".join(
                payload.decode(part.get_content_charset() or "utf-8", errors="replace")
                for part in parts
                if isinstance(payload := part.get_payload(decode=True), bytes)
            )
            count += text in body
        return count


def run_lab_scenarios(paths: Sequence[Path], data: Path) -> list[ScenarioResult]:
    """Each scenario on a fresh embedded lab under ``data``/NN-name (kept for a person to look at)."""
    results = []
    for number, path in enumerate(paths, start=1):
        scenario = load_scenario(path)
        results.append(run_lab_scenario(scenario, data / f"{number:02d}-{path.stem}"))
    return results


def run_lab_scenario(scenario: Scenario, data: Path) -> ScenarioResult:
    """One scenario on a fresh embedded lab under ``data``."""
    lab = Lab(data)
    addresses = lab.start()
    environment = LabEnvironment(lab, addresses)
    try:
        with Register.open(RegisterConfig.load(addresses.config)) as register:
            register.recover()
            register.ensure_shift()
            return run_scenario(scenario, register, environment)
    finally:
        environment.close()
        lab.stop()
