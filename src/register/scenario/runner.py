"""Play a scenario through the sale flow and check every expectation against evidence.

The runner drives `register.sale.Register`, as the TUI and the CLI do, and reads what happened from an
`Environment`: the printer's output, the mailbox, the backend's settings, the faults. The environment is
the lab in process (register.lab_session.LabEnvironment) or, for an integrator's real printer, whatever
can observe it; evidence it cannot observe is reported as such, never passed on trust.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from register.domain.catalogue import CatalogueError
from register.domain.decision import BuyerAnswer
from register.domain.receipt import PaymentKind
from register.sale import Identifier, Register, SaleError, SaleOutcome, SaleRequest
from register.scenario.model import (
    Action,
    Clear,
    Expect,
    Fault,
    Mode,
    Refund,
    RefusePaper,
    Reprint,
    Scenario,
    Sell,
    Step,
)


class Environment(ABC):
    """What a scenario can do to the world around the register, and what it can see of it."""

    @abstractmethod
    def inject(self, device: str, spec: str) -> str:
        """A fault into a device (printer, fn, loyalty) at run time; returns what was done."""

    @abstractmethod
    def clear(self, device: str) -> str: ...

    @abstractmethod
    def set_mode(self, mode: str) -> None:
        """The loyalty backend's delivery mode (LOYALTY or OFD)."""

    @abstractmethod
    def refuse_paper(self, card: str, refused: bool) -> None:
        """The member refuses (or takes back the refusal of) paper receipts in their account."""

    @abstractmethod
    def printed_receipts(self) -> int | None:
        """Receipts that came out of the printer so far; None: this printer cannot be observed."""

    @abstractmethod
    def emails_with(self, text: str, expect: int) -> int | None:
        """E-mails containing ``text`` in the mailbox, after waiting a bounded time for ``expect`` of them
        (and a little longer, so a second one would show); None: no mailbox to observe."""


@dataclass(frozen=True, slots=True)
class Check:
    what: str
    expected: Any
    actual: Any

    @property
    def ok(self) -> bool:
        return self.expected == self.actual


@dataclass(slots=True)
class StepResult:
    number: int
    kind: str
    line: int
    checks: list[Check] = field(default_factory=list)
    error: str | None = None
    """The step could not be played (not an expectation that failed)."""
    detail: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None and all(check.ok for check in self.checks)


@dataclass(slots=True)
class ScenarioResult:
    name: str
    path: str
    steps: list[StepResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(step.ok for step in self.steps)


def run_scenario(scenario: Scenario, register: Register, environment: Environment) -> ScenarioResult:
    """Play every step in order; a step that cannot be played fails and the rest still run."""
    result = ScenarioResult(scenario.name, str(scenario.path))
    outcomes: dict[int, SaleOutcome] = {}
    started = time.perf_counter()
    for step in scenario.steps:
        step_started = time.perf_counter()
        step_result = StepResult(step.number, step.kind, step.where.line)
        try:
            _play(step, register, environment, outcomes, step_result)
        except Exception as exc:  # reported with the step, never lost
            step_result.error = f"{type(exc).__name__}: {exc}"
        step_result.seconds = time.perf_counter() - step_started
        result.steps.append(step_result)
    result.seconds = time.perf_counter() - started
    return result


def _play(
    step: Step,
    register: Register,
    environment: Environment,
    outcomes: dict[int, SaleOutcome],
    result: StepResult,
) -> None:
    action: Action = step.action
    if isinstance(action, Fault):
        result.detail["done"] = environment.inject(action.device, action.spec)
    elif isinstance(action, Clear):
        result.detail["done"] = environment.clear(action.device)
    elif isinstance(action, Mode):
        environment.set_mode(action.mode)
    elif isinstance(action, RefusePaper):
        environment.refuse_paper(action.card, action.refused)
    elif isinstance(action, Reprint):
        before = environment.printed_receipts()
        done = register.reprint_pending()
        result.detail["reprinted"] = sum(done.values())
        if action.printed is not None:
            result.checks.append(Check("reprinted", action.printed, sum(done.values())))
            if before is not None:
                after = environment.printed_receipts()
                result.checks.append(Check("paper", action.printed, (after or 0) - before))
    elif isinstance(action, Sell | Refund):
        _sale(step, action, register, environment, outcomes, result)


def _sale(
    step: Step,
    action: Sell | Refund,
    register: Register,
    environment: Environment,
    outcomes: dict[int, SaleOutcome],
    result: StepResult,
) -> None:
    expect = step.expect or Expect()
    paper_before = environment.printed_receipts()
    try:
        outcome = _run(action, register, outcomes)
    except (SaleError, CatalogueError) as exc:
        result.detail["refused"] = str(exc)
        if expect.error is None:
            raise
        result.checks.append(
            Check("refused with", expect.error, expect.error if expect.error in str(exc) else str(exc))
        )
        if expect.paper is not None and paper_before is not None:
            result.checks.append(
                Check("paper", expect.paper, (environment.printed_receipts() or 0) - paper_before)
            )
        return
    register.drain_ofd()
    outcomes[step.number] = outcome
    stamp = outcome.stamp
    result.detail.update(
        {
            "fd": stamp.fd if stamp else None,
            "fp": stamp.fp if stamp else None,
            "reason": outcome.decision.reason.value,
            "printed": outcome.printed,
            "link": outcome.link,
            "problems": list(outcome.problems),
        }
    )
    if expect.error is not None:
        result.checks.append(Check("refused with", expect.error, "the sale was made"))
    if expect.printed is not None:
        result.checks.append(Check("printed", expect.printed, outcome.printed))
    if expect.paper is not None:
        after = environment.printed_receipts()
        observed = None if after is None or paper_before is None else after - paper_before
        result.checks.append(Check("paper", expect.paper, observed))
    if expect.reason is not None:
        result.checks.append(Check("reason", expect.reason, outcome.decision.reason.value))
    if expect.sender is not None:
        result.checks.append(Check("sender", expect.sender, outcome.decision.sender.value))
    if expect.contact is not False:
        actual = register.document_contact(stamp.fd) if stamp else "no fiscal document"
        result.checks.append(Check("tag 1008", expect.contact, actual))
    if expect.emails is not None:
        found = environment.emails_with(outcome.link, expect.emails) if outcome.link else 0
        result.checks.append(Check("e-mails", expect.emails, found))
    for text in expect.problems:  # seen as the text itself when some problem contains it, else all of them
        found = any(text in problem for problem in outcome.problems)
        result.checks.append(Check("problem", text, text if found else list(outcome.problems)))
    if expect.no_problems:
        result.checks.append(Check("problems", [], list(outcome.problems)))


def _run(action: Sell | Refund, register: Register, outcomes: dict[int, SaleOutcome]) -> SaleOutcome:
    if isinstance(action, Refund):
        original = action.original
        if original.startswith("@"):
            earlier = outcomes.get(int(original[1:]))
            if earlier is None or earlier.stamp is None:
                raise SaleError(f"refund of step {original[1:]}: that step made no fiscal document")
            original = str(earlier.stamp.fd)
        return register.refund_by(original, buyer=_buyer_answer(action.buyer))
    lines = tuple(register.config.catalogue.scan(item) for item in action.items)
    identifier = (
        Identifier("CardNumber", action.card)
        if action.card
        else Identifier("Phone", action.phone)
        if action.phone
        else None
    )
    pay = PaymentKind.CASH if action.pay == "cash" else PaymentKind.ELECTRONIC
    return register.sell(
        SaleRequest(lines=lines, pay=pay, identifier=identifier, buyer=_buyer_answer(action.buyer))
    )


def _buyer_answer(buyer: dict[str, Any] | str | None) -> BuyerAnswer | None:
    if buyer is None:
        return None
    if buyer == "declined":
        return BuyerAnswer(wants_electronic=False, contact=None)
    assert isinstance(buyer, dict)
    return BuyerAnswer(True, buyer["e-receipt"], also_paper=bool(buyer.get("also-paper", False)))
