"""Messages the TUI's workers post up to the app: typed, one per thing that happened."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from register.sale import DeviceReport, LoyaltyAnswer, SaleEvent, SaleOutcome


@dataclass
class RegisterOpened(Message):
    """The devices are open, the journal recovered, the shift open."""

    recovered: int
    """Sales a crash had interrupted, finished now."""


@dataclass
class RegisterFailed(Message):
    """The register could not start (a device or the journal); the message says which."""

    error: str


@dataclass
class DevicesReported(Message):
    reports: tuple[DeviceReport, ...]


@dataclass
class MemberFound(Message):
    card: str
    answer: LoyaltyAnswer


@dataclass
class SaleProgressed(Message):
    """One step of the sale in progress (SaleEvent from the sale flow)."""

    event: SaleEvent


@dataclass
class SaleFinished(Message):
    outcome: SaleOutcome


@dataclass
class SaleRefused(Message):
    """The sale was not made (nothing fiscal happened, or the FN refused): the cart stays as it was."""

    error: str


@dataclass
class ReprintsDone(Message):
    printed: int
    owed: int
