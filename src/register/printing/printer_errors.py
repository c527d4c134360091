"""Printer status (the DLE EOT replies of escpos.md §1.6) and the exceptions the printer driver raises.

A status is decoded from the replies to ``DLE EOT 1..4``; a missing or malformed reply makes it UNKNOWN,
never "ready" (python-escpos 3.1 reads silence as "paper adequate", escpos.md §2.5). Every message names
the device and the condition in Russian and English.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

STATUS_MASK = 0x93  # DLE EOT replies have the fixed bits 0xx1xx10
STATUS_FIXED = 0x12


class PrinterState(StrEnum):
    READY = "ready"
    NEAR_END = "near_end"
    """Paper near end: still prints."""
    PAPER_OUT = "paper_out"
    COVER_OPEN = "cover_open"
    ERROR = "error"
    OFFLINE = "offline"
    """Offline for no reported cause."""
    UNKNOWN = "unknown"
    """No reply, a malformed reply, or a device that cannot report (file:)."""


class Paper(StrEnum):
    OK = "ok"
    NEAR_END = "near_end"
    OUT = "out"
    UNKNOWN = "unknown"


class ErrorCause(StrEnum):
    AUTOCUTTER = "autocutter"
    UNRECOVERABLE = "unrecoverable"
    AUTO_RECOVERABLE = "auto_recoverable"
    RECOVERABLE = "recoverable"
    UNKNOWN = "unknown"


_STATE_TEXT: dict[PrinterState, tuple[str, str]] = {
    PrinterState.READY: ("готов", "ready"),
    PrinterState.NEAR_END: ("бумага заканчивается", "paper near end"),
    PrinterState.PAPER_OUT: ("нет бумаги", "paper out"),
    PrinterState.COVER_OPEN: ("открыта крышка", "cover open"),
    PrinterState.OFFLINE: ("принтер не в сети", "printer offline"),
    PrinterState.UNKNOWN: ("состояние принтера неизвестно", "printer status unknown"),
}
_ERROR_TEXT: dict[ErrorCause, tuple[str, str]] = {
    ErrorCause.AUTOCUTTER: ("ошибка отрезчика", "autocutter error"),
    ErrorCause.UNRECOVERABLE: ("неустранимая ошибка принтера", "unrecoverable printer error"),
    ErrorCause.AUTO_RECOVERABLE: (
        "временная ошибка (перегрев головки?), подождите",
        "auto-recoverable error (head overheated?), wait",
    ),
    ErrorCause.RECOVERABLE: ("механическая ошибка", "recoverable mechanical error"),
    ErrorCause.UNKNOWN: ("ошибка принтера", "printer error"),
}


@dataclass(frozen=True, slots=True)
class PrinterStatus:
    state: PrinterState
    online: bool | None = None
    paper: Paper = Paper.UNKNOWN
    cover_open: bool | None = None
    drawer_pin3_high: bool | None = None
    error: ErrorCause | None = None
    replies: tuple[tuple[int, int | None], ...] = ()
    """(n of DLE EOT n, reply byte or None for no reply), in the order asked."""
    supported: bool = True
    """False for devices that cannot report a status at all (file:)."""
    detail: str = ""

    @property
    def printable(self) -> bool:
        """Ready to print: ready or paper near end."""
        return self.state in (PrinterState.READY, PrinterState.NEAR_END)

    def describe(self) -> tuple[str, str]:
        """The condition in Russian and English."""
        if self.state is PrinterState.ERROR:
            ru, en = _ERROR_TEXT[self.error or ErrorCause.UNKNOWN]
        else:
            ru, en = _STATE_TEXT[self.state]
        if self.detail:
            en = f"{en} ({self.detail})"
        return ru, en

    def __str__(self) -> str:
        ru, en = self.describe()
        return f"{ru} / {en}"


def is_status_byte(byte: int) -> bool:
    """Whether a byte can be a DLE EOT reply (fixed bits 0xx1xx10)."""
    return byte & STATUS_MASK == STATUS_FIXED


def decode_status(
    eot1: int | None, eot2: int | None = None, eot3: int | None = None, eot4: int | None = None
) -> PrinterStatus:
    """The status from the replies to DLE EOT 1 (printer), 2 (offline cause), 3 (error cause), 4 (paper).

    None stands for "not asked or no reply"; a byte without the fixed bits counts as no reply.
    """
    replies = tuple((n, b) for n, b in ((1, eot1), (2, eot2), (3, eot3), (4, eot4)) if b is not None)
    valid = {n: b for n, b in replies if is_status_byte(b)}
    if 1 not in valid:
        return PrinterStatus(PrinterState.UNKNOWN, replies=replies, detail=_why_missing(1, eot1))
    printer = valid[1]
    paper = _paper(valid.get(4))
    base = PrinterStatus(
        PrinterState.UNKNOWN,
        online=not printer & 0x08,
        paper=paper,
        drawer_pin3_high=bool(printer & 0x04),
        replies=replies,
    )
    if base.online:
        if paper is Paper.UNKNOWN:
            return replace(base, cover_open=False, detail=_why_missing(4, eot4))
        state = {Paper.OUT: PrinterState.PAPER_OUT, Paper.NEAR_END: PrinterState.NEAR_END}.get(
            paper, PrinterState.READY
        )
        return replace(base, state=state, cover_open=False)
    cause = valid.get(2)
    if cause is None:
        state = PrinterState.PAPER_OUT if paper is Paper.OUT else PrinterState.OFFLINE
        return replace(base, state=state, detail=_why_missing(2, eot2))
    if cause & 0x04:
        return replace(base, state=PrinterState.COVER_OPEN, cover_open=True)
    if cause & 0x20 or paper is Paper.OUT:
        return replace(base, state=PrinterState.PAPER_OUT, cover_open=False)
    if cause & 0x40:
        return replace(base, state=PrinterState.ERROR, cover_open=False, error=_error_cause(valid.get(3)))
    return replace(base, state=PrinterState.OFFLINE, cover_open=False)


def _paper(reply: int | None) -> Paper:
    if reply is None:
        return Paper.UNKNOWN
    if reply & 0x60:
        return Paper.OUT
    if reply & 0x0C:
        return Paper.NEAR_END
    return Paper.OK


def _error_cause(reply: int | None) -> ErrorCause:
    if reply is None:
        return ErrorCause.UNKNOWN
    if reply & 0x08:
        return ErrorCause.AUTOCUTTER
    if reply & 0x20:
        return ErrorCause.UNRECOVERABLE
    if reply & 0x40:
        return ErrorCause.AUTO_RECOVERABLE
    if reply & 0x04:
        return ErrorCause.RECOVERABLE
    return ErrorCause.UNKNOWN


def _why_missing(n: int, reply: int | None) -> str:
    return f"no reply to DLE EOT {n}" if reply is None else f"invalid reply {reply:02X} to DLE EOT {n}"


class PrinterDriverError(Exception):
    """Anything the printer driver reports; ``device`` is the URI, the message is Russian / English."""

    def __init__(self, device: str, ru: str, en: str, status: PrinterStatus | None = None) -> None:
        self.device = device
        self.status = status
        super().__init__(f"принтер {device}: {ru} / printer {device}: {en}")


class PrinterUnavailable(PrinterDriverError):
    """The device cannot be opened or reached (not found, no permission, connection refused or lost)."""


class PrinterNotReady(PrinterDriverError):
    """Printing refused after the status check: nothing was sent."""

    def __init__(self, device: str, status: PrinterStatus) -> None:
        ru, en = status.describe()
        super().__init__(device, ru, en, status)


class PaperOut(PrinterNotReady):
    pass


class CoverOpen(PrinterNotReady):
    pass


class PrinterOffline(PrinterNotReady):
    pass


class PrinterError(PrinterNotReady):
    """Autocutter, mechanical, unrecoverable or auto-recoverable (head hot) error: see ``status.error``."""


class StatusUnknown(PrinterNotReady):
    """No valid status reply: the printer may be off, unplugged or not an ESC/POS printer."""


class ReceiptNotPrinted(PrinterDriverError):
    """The receipt was (partly) sent but not printed: paper out, cover open or an error after or during the
    write. Queue a reprint."""


_REFUSALS: dict[PrinterState, type[PrinterNotReady]] = {
    PrinterState.PAPER_OUT: PaperOut,
    PrinterState.COVER_OPEN: CoverOpen,
    PrinterState.OFFLINE: PrinterOffline,
    PrinterState.ERROR: PrinterError,
    PrinterState.UNKNOWN: StatusUnknown,
}


def refusal(device: str, status: PrinterStatus) -> PrinterNotReady | None:
    """The exception refusing to print in this status, or None when the printer can print."""
    if status.printable:
        return None
    return _REFUSALS[status.state](device, status)
