"""A scenario: steps QA replays against the register (sales, refunds, faults, settings) with what each
step must show. Pure values; loader.py reads them from YAML, runner.py plays them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEVICES = ("printer", "fn", "loyalty")


@dataclass(frozen=True, slots=True)
class Where:
    """A place in a scenario file, for messages: ``file:line``."""

    path: Path
    line: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass(frozen=True, slots=True)
class Expect:
    """What a sale or refund must show; None: not checked."""

    printed: bool | None = None
    """The register reports the paper receipt printed."""
    paper: int | None = None
    """Receipts that came out of the printer during the step (evidence from the printer's output)."""
    reason: str | None = None
    sender: str | None = None
    contact: str | bool | None = False
    """Tag 1008 read back from the FN's document; None: absent; False: not checked."""
    emails: int | None = None
    """E-mails with this receipt's link that reached the mailbox (evidence from the SMTP sink)."""
    problems: tuple[str, ...] = ()
    """Texts each of which some problem reported to the cashier contains."""
    no_problems: bool = False
    error: str | None = None
    """The sale is refused (nothing fiscal) with a message containing this text."""


@dataclass(frozen=True, slots=True)
class Sell:
    items: tuple[str, ...]
    card: str | None = None
    phone: str | None = None
    pay: str = "cash"
    buyer: dict[str, Any] | str | None = None
    """None: not asked; "declined"; {"e-receipt": CONTACT, "also-paper": bool}."""


@dataclass(frozen=True, slots=True)
class Refund:
    original: str
    """"@N": the sale of step N; or an FD number."""
    buyer: dict[str, Any] | str | None = "declined"


@dataclass(frozen=True, slots=True)
class Fault:
    device: str
    spec: str


@dataclass(frozen=True, slots=True)
class Clear:
    device: str


@dataclass(frozen=True, slots=True)
class Mode:
    mode: str
    """LOYALTY or OFD: who sends a member's e-receipt (the backend's setting)."""


@dataclass(frozen=True, slots=True)
class RefusePaper:
    card: str
    refused: bool = True


@dataclass(frozen=True, slots=True)
class Reprint:
    printed: int | None = None
    """How many owed receipts must come out."""


Action = Sell | Refund | Fault | Clear | Mode | RefusePaper | Reprint


@dataclass(frozen=True, slots=True)
class Step:
    number: int
    action: Action
    expect: Expect | None
    where: Where

    @property
    def kind(self) -> str:
        return type(self.action).__name__.lower()


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    path: Path
    steps: tuple[Step, ...]
    description: str = ""
    tags: tuple[str, ...] = field(default=())
