"""The emulated ESC/POS printer as a device: status answers, faults, receipts written out, wire log.

``EscposDevice.receive(chunk)`` returns what the printer sends back. A receive layer in front of the parser
reacts to the real-time commands (``DLE EOT n``, ``DLE ENQ n``, ``DLE DC4 1 m t``) as their bytes arrive,
even inside another command's data (escpos.md §1.6, §1.7); the bytes still reach the parser, as on an
Epson printer (the parser consumes them at a command boundary, and inside image data they stay data).
``GS r n`` is answered after the data before it, ``GS a n`` turns on Automatic Status Back.

While the printer cannot print (paper out, cover open) received data is discarded: the receipt in progress
is written marked as not finished and the parser restarts. After a cutter jam the data is held until
``DLE ENQ 1`` (resume), ``DLE ENQ 2`` (drop) or ``clear_fault("cutter-jam")`` (resume). Offline is a
printer that is switched off: no answer, no printing, and the transports refuse connections.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from register.lab.escpos_model import PrintedReceipt
from register.lab.escpos_parser import (
    AutoStatusBack,
    DrawerKick,
    EscposParser,
    Initialised,
    ReceiptDone,
    StatusQuery,
    Unknown,
)
from register.lab.escpos_render import (
    RenderedReceipt,
    render_png,
    render_text,
    skipped_note,
    with_note,
    write_receipts,
)
from register.lab.wire_log import BoundedWireLog
from register.profiles import PrinterProfile, load_profile

log = logging.getLogger(__name__)

DLE = 0x10
EOT, ENQ, DC4 = 0x04, 0x05, 0x14
HOLD_LIMIT = 256 * 1024
"""Bytes kept while a cutter jam holds printing; more is lost (a real printer's buffer is ~4 KB)."""

FIXED_STATUS = 0x12  # DLE EOT bits 1 and 4 always on (pattern 0xx1xx10)
FIXED_ASB = 0x10  # ASB byte 1 bit 4 always on


# --- faults ------------------------------------------------------------------------------------------


class FaultSpecError(ValueError):
    """A printer fault description that cannot be parsed or applied."""


class FaultKind(StrEnum):
    PAPER_NEAR_END = "paper-near-end"  # still prints
    PAPER_OUT = "paper-out"  # at once, or after-bytes=N / after-receipts=N
    COVER_OPEN = "cover-open"
    CUTTER_JAM = "cutter-jam"  # recoverable error: data held until DLE ENQ 1/2 or clear_fault
    OFFLINE = "offline"  # switched off: no answer, no printing, connections refused
    NO_ANSWER = "no-answer"  # prints, but never answers status (DLE EOT, GS r, ASB)
    DRAWER_OPEN = "drawer-open"  # drawer kick-out connector pin 3 high


PARAMETERS = {"after-bytes": "after_bytes", "after-receipts": "after_receipts"}


@dataclass(frozen=True, slots=True)
class Fault:
    """One printer condition. ``after_bytes``/``after_receipts``: paper-out only, runs out later: after N
    bytes reached the print path, or once N receipts printed in full, as receipt N+1 starts (at its first
    byte that prints or feeds paper, so receipt N's status queries still find paper). 0: at once.

    Text form (``--fault``): ``paper-near-end``, ``paper-out``, ``paper-out:after-bytes=N``,
    ``paper-out:after-receipts=N``, ``cover-open``, ``cutter-jam``, ``offline``, ``no-answer``,
    ``drawer-open``.
    """

    kind: FaultKind
    after_bytes: int | None = None
    after_receipts: int | None = None

    def __post_init__(self) -> None:
        for name in ("after_bytes", "after_receipts"):
            value = getattr(self, name)
            if value is None:
                continue
            if self.kind is not FaultKind.PAPER_OUT:
                raise FaultSpecError(f"fault {self.kind.value}: {name} applies to paper-out only")
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise FaultSpecError(
                    f"fault {self.kind.value}: {name} must be an integer >= 0, got {value!r}"
                )
        if self.after_bytes is not None and self.after_receipts is not None:
            raise FaultSpecError("fault paper-out: give after-bytes or after-receipts, not both")

    @property
    def delayed(self) -> bool:
        return self.after_bytes is not None or self.after_receipts is not None

    def __str__(self) -> str:
        if self.after_bytes is not None:
            return f"{self.kind.value}:after-bytes={self.after_bytes}"
        if self.after_receipts is not None:
            return f"{self.kind.value}:after-receipts={self.after_receipts}"
        return self.kind.value


def fault_kind(name: str | FaultKind) -> FaultKind:
    try:
        return FaultKind(name)
    except ValueError:
        known = ", ".join(kind.value for kind in FaultKind)
        raise FaultSpecError(f"unknown printer fault {name!r} (known: {known})") from None


def parse_fault(text: str) -> Fault:
    """Parse a ``--fault`` string such as ``paper-out:after-bytes=200``."""
    name, sep, rest = text.strip().partition(":")
    kind = fault_kind(name)
    if sep and not rest.strip():
        raise FaultSpecError(f"fault {text!r}: empty parameter after ':'")
    params: dict[str, int] = {}
    for item in rest.split(",") if rest else ():
        key, sep, value = item.partition("=")
        if not sep or key not in PARAMETERS:
            known = ", ".join(f"{key}=N" for key in PARAMETERS)
            raise FaultSpecError(f"fault {text!r}: unknown parameter {item!r} (known: {known})")
        if not value.strip().isdigit():
            raise FaultSpecError(f"fault {text!r}: {key} must be a whole number, got {value!r}")
        params[PARAMETERS[key]] = int(value)
    return Fault(kind, **params)


# --- status bytes (escpos.md §1.6) ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Condition:
    """What the printer's sensors report."""

    near_end: bool = False
    paper_out: bool = False
    cover_open: bool = False
    cutter_jam: bool = False
    drawer_pin3_high: bool = False

    @property
    def can_print(self) -> bool:
        return not (self.paper_out or self.cover_open or self.cutter_jam)

    @property
    def offline(self) -> bool:
        """The printer's own offline state (bit 3 of DLE EOT 1), not the switched-off fault."""
        return not self.can_print


def dle_eot_reply(condition: Condition, n: int) -> int | None:
    """The one-byte answer to ``DLE EOT n``; None for an n the printer ignores."""
    c = condition
    if n == 1:
        return FIXED_STATUS | (0x04 if c.drawer_pin3_high else 0) | (0x08 if c.offline else 0)
    if n == 2:
        error = c.cutter_jam
        return (
            FIXED_STATUS
            | (0x04 if c.cover_open else 0)
            | (0x20 if c.paper_out else 0)
            | (0x40 if error else 0)
        )
    if n == 3:
        return FIXED_STATUS | (0x08 if c.cutter_jam else 0)
    if n == 4:
        return FIXED_STATUS | (0x0C if c.near_end else 0) | (0x60 if c.paper_out else 0)
    return None


def gs_r_reply(condition: Condition, n: int) -> int | None:
    """The answer to ``GS r n`` (1/49 paper, 2/50 drawer); None for other n."""
    if n in (1, 0x31):
        return (0x03 if condition.near_end else 0) | (0x0C if condition.paper_out else 0)
    if n in (2, 0x32):
        return 0x01 if condition.drawer_pin3_high else 0
    return None


def asb_status(condition: Condition) -> bytes:
    """The 4 bytes of Automatic Status Back (escpos.md §1.6 layout)."""
    c = condition
    first = FIXED_ASB | (0x04 if c.drawer_pin3_high else 0) | (0x08 if c.offline else 0)
    first |= 0x20 if c.cover_open else 0
    second = 0x08 if c.cutter_jam else 0
    third = (0x03 if c.near_end else 0) | (0x0C if c.paper_out else 0)
    return bytes((first, second, third, 0))


ASB_GROUPS = (  # GS a n bit -> the ASB bits it watches, as a 4-byte mask
    (0x01, bytes((0x04, 0x00, 0x00, 0x00))),  # drawer
    (0x02, bytes((0x68, 0x03, 0x00, 0x00))),  # on/offline, cover, feed, waiting for recovery
    (0x04, bytes((0x00, 0x6C, 0x00, 0x00))),  # errors
    (0x08, bytes((0x00, 0x00, 0x0F, 0x00))),  # roll paper
)


def asb_changed(mask: int, before: bytes, after: bytes) -> bool:
    """Whether a status change concerns a group enabled by ``GS a mask``."""
    for bit, watched in ASB_GROUPS:
        if mask & bit and any((a ^ b) & w for a, b, w in zip(before, after, watched, strict=True)):
            return True
    return False


# --- real-time commands in the byte stream --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RealTime:
    """A real-time command found in the stream: ``function`` is EOT, ENQ or DC4; ``args`` its bytes."""

    function: int
    args: bytes

    def encode(self) -> bytes:
        return bytes((DLE, self.function)) + self.args


class RealTimeScanner:
    """Finds ``DLE EOT n``, ``DLE ENQ n`` and ``DLE DC4 1 m t`` anywhere in the stream, across chunks."""

    def __init__(self) -> None:
        self._partial = bytearray()

    def reset(self) -> None:
        self._partial.clear()

    def scan(
        self, data: bytes, may_start: Callable[[int], bool] | None = None
    ) -> Iterator[tuple[int, RealTime]]:
        """Each command completed in ``data`` with the offset just past its last byte, lazily.

        ``may_start(i)`` (if given) decides whether the ``DLE`` at ``data[i]`` can begin a command: with
        "react inside data" off, only one at a command boundary does.
        """
        i = 0
        while i < len(data):
            if not self._partial:
                i = data.find(DLE, i)
                if i < 0:
                    return
                if may_start is not None and not may_start(i):
                    i += 1
                    continue
            byte = data[i]
            i += 1
            command = self._push(byte)
            if command is not None:
                yield i, command

    def _push(self, byte: int) -> RealTime | None:
        partial = self._partial
        partial.append(byte)
        if len(partial) == 1:
            return None
        function = partial[1]
        if function not in (EOT, ENQ, DC4):
            return self._restart(byte)
        if function in (EOT, ENQ):
            if len(partial) < 3:
                return None
            return self._complete()
        if len(partial) == 3 and partial[2] != 1:
            return self._restart(byte)
        if len(partial) < 5:
            return None
        return self._complete()

    def _restart(self, byte: int) -> None:
        self._partial.clear()
        if byte == DLE:
            self._partial.append(byte)
        return None

    def _complete(self) -> RealTime:
        command = RealTime(self._partial[1], bytes(self._partial[2:]))
        self._partial.clear()
        return command


# --- wire log and receipts ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WireEntry:
    timestamp: float  # time.time()
    direction: str  # "in" (host to printer) or "out"
    data: bytes
    note: str = ""

    def line(self) -> str:
        when = datetime.fromtimestamp(self.timestamp).isoformat(timespec="milliseconds")
        text = f"{when} {self.direction:<3} {len(self.data):5d} {self.data.hex(' ')}"
        return f"{text}  # {self.note}" if self.note else text


class WireLog(BoundedWireLog[WireEntry]):
    """Every chunk in and out, newest last, in a bounded deque and optionally a file (one line each)."""

    def record(self, direction: str, data: bytes, note: str = "") -> None:
        self.add(WireEntry(time.time(), direction, data, note))


@dataclass(frozen=True, slots=True)
class DeviceReceipt:
    """One receipt as the device printed it. ``complete`` is False for one cut short by a fault."""

    number: int
    """1, 2, … in the order this device printed them."""
    text: str
    png: bytes | None
    cut: str
    """"full", "partial" or "none" (ended by ESC @, connection close or idle; or cut short)."""
    complete: bool
    printed: PrintedReceipt
    paths: tuple[Path, ...] = ()

    @property
    def skipped(self) -> tuple[bytes, ...]:
        """The unknown commands skipped in this receipt's stream (noted on the last lines of its .txt)."""
        return self.printed.skipped


@dataclass(frozen=True, slots=True)
class DrawerPulse:
    pin: int
    on_ms: int
    off_ms: int
    realtime: bool
    """Sent by ``DLE DC4 1`` (real-time) rather than ``ESC p``."""


INCOMPLETE_NOTES = {
    FaultKind.PAPER_OUT: "[paper out: receipt not finished]",
    FaultKind.COVER_OPEN: "[cover open: receipt not finished]",
    FaultKind.CUTTER_JAM: "[cutter jam: receipt not finished]",
    FaultKind.OFFLINE: "[switched off: receipt not finished]",
}


@dataclass(slots=True)
class _State:
    condition: Condition = field(default_factory=Condition)
    offline: bool = False
    no_answer: bool = False
    paper_out_after_bytes: int | None = None
    paper_out_after_receipts: int | None = None


# --- the device -----------------------------------------------------------------------------------------


class EscposDevice:
    """An ESC/POS printer: bytes in, answers out, receipts to ``out_dir``. Thread-safe."""

    def __init__(
        self,
        profile: PrinterProfile | str,
        out_dir: Path | None,
        *,
        render_png: bool = True,
        faults: Iterable[Fault | str] = (),
        react_inside_data: bool = True,
        wire_log: WireLog | None = None,
        on_unknown: Callable[[bytes, int, int], None] | None = None,
    ) -> None:
        """``on_unknown(command, offset, receipt_number)`` is called (under the device lock: keep it short)
        for each command skipped as unknown; ``receipt_number`` is the receipt it belongs to."""
        self.profile = load_profile(profile) if isinstance(profile, str) else profile
        self.out_dir = Path(out_dir) if out_dir is not None else None
        if self.out_dir is not None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        self.render_png = render_png
        self.react_inside_data = react_inside_data
        self.wire_log = wire_log if wire_log is not None else WireLog()
        self.receipts: list[DeviceReceipt] = []
        self.drawer_pulses: list[DrawerPulse] = []
        self.unknown_commands = 0
        self.bytes_received = 0
        """Commands skipped as unknown since start, over all receipts."""
        self._on_unknown = on_unknown
        self._lock = threading.RLock()
        self._state = _State()
        self._parser = EscposParser(self.profile)
        self._scanner = RealTimeScanner()
        self._printing = False  # data reached the parser since the last receipt ended
        self._held = bytearray()
        self._asb_mask = 0
        self._outbox = bytearray()
        self._notify: Callable[[], None] | None = None
        for fault in faults:
            spec = parse_fault(fault) if isinstance(fault, str) else fault
            self.set_fault(spec.kind, after_bytes=spec.after_bytes, after_receipts=spec.after_receipts)

    # --- reading the state ---------------------------------------------------------------------------

    @property
    def condition(self) -> Condition:
        with self._lock:
            return self._state.condition

    @property
    def offline(self) -> bool:
        """Switched off: the transports refuse connections and nothing is answered."""
        with self._lock:
            return self._state.offline

    @property
    def answers_status(self) -> bool:
        with self._lock:
            return not (self._state.offline or self._state.no_answer)

    @property
    def printing(self) -> bool:
        """A receipt has begun and not ended (the servers flush it after an idle time)."""
        with self._lock:
            return self._printing

    @property
    def drawer_kicks(self) -> int:
        with self._lock:
            return len(self.drawer_pulses)

    def counters(self) -> dict[str, int]:
        """What the printer has done since start: bytes received, receipts printed in full and cut short,
        unknown commands skipped, drawer pulses."""
        with self._lock:
            complete = sum(1 for receipt in self.receipts if receipt.complete)
            return {
                "bytes_received": self.bytes_received,
                "receipts": complete,
                "unfinished_receipts": len(self.receipts) - complete,
                "unknown_commands": self.unknown_commands,
                "drawer_kicks": len(self.drawer_pulses),
            }

    @property
    def faults(self) -> list[Fault]:
        """The conditions in force, as faults (a delayed paper-out shows with its remaining count)."""
        with self._lock:
            s, c = self._state, self._state.condition
            active = [
                (c.near_end, Fault(FaultKind.PAPER_NEAR_END)),
                (c.paper_out, Fault(FaultKind.PAPER_OUT)),
                (s.paper_out_after_bytes is not None, Fault(FaultKind.PAPER_OUT, s.paper_out_after_bytes)),
                (
                    s.paper_out_after_receipts is not None,
                    Fault(FaultKind.PAPER_OUT, after_receipts=s.paper_out_after_receipts),
                ),
                (c.cover_open, Fault(FaultKind.COVER_OPEN)),
                (c.cutter_jam, Fault(FaultKind.CUTTER_JAM)),
                (s.offline, Fault(FaultKind.OFFLINE)),
                (s.no_answer, Fault(FaultKind.NO_ANSWER)),
                (c.drawer_pin3_high, Fault(FaultKind.DRAWER_OPEN)),
            ]
            return [fault for on, fault in active if on]

    def set_notifier(self, notify: Callable[[], None] | None) -> None:
        """``notify()`` is called (under the device lock; keep it short) when output is queued outside
        ``receive`` (ASB on a fault change) or the offline state changes."""
        with self._lock:
            self._notify = notify

    def take_output(self) -> bytes:
        """Bytes the printer sent on its own (ASB after a fault changed) since the last call."""
        with self._lock:
            out = bytes(self._outbox)
            self._outbox.clear()
        if out:
            self.wire_log.record("out", out, "unsolicited")
        return out

    # --- faults --------------------------------------------------------------------------------------

    def set_fault(self, kind: FaultKind | str, **params: int | None) -> None:
        """Set a condition now: ``set_fault("paper-out", after_bytes=200)``, ``set_fault("cover-open")``."""
        unknown = set(params) - set(PARAMETERS.values())
        if unknown:
            raise FaultSpecError(f"fault {kind}: unknown parameter(s) {', '.join(sorted(unknown))}")
        fault = Fault(fault_kind(kind), **params)  # type: ignore[arg-type]
        with self._lock:
            self.wire_log.record("in", b"", f"fault set: {fault}")
            out = bytearray()
            self._apply(fault, out)
            self._queue(out)

    def clear_fault(self, kind: FaultKind | str | None = None) -> None:
        """Clear one condition, or all of them (None). A cleared cutter jam resumes the held data."""
        kinds = list(FaultKind) if kind is None else [fault_kind(kind)]
        with self._lock:
            self.wire_log.record("in", b"", f"fault cleared: {kind or 'all'}")
            out = bytearray()
            for each in kinds:
                self._clear(each, out)
            self._queue(out)

    def _apply(self, fault: Fault, out: bytearray) -> None:
        s = self._state
        kind = fault.kind
        if kind is FaultKind.PAPER_OUT and fault.delayed:
            s.paper_out_after_bytes, s.paper_out_after_receipts = fault.after_bytes, fault.after_receipts
            if fault.after_bytes == 0 or fault.after_receipts == 0:
                self._run_out_of_paper(out)
        elif kind is FaultKind.PAPER_OUT:
            self._run_out_of_paper(out)
        elif kind is FaultKind.PAPER_NEAR_END:
            self._change(out, near_end=True)
        elif kind is FaultKind.COVER_OPEN:
            self._interrupt(FaultKind.COVER_OPEN)
            self._change(out, cover_open=True)
        elif kind is FaultKind.CUTTER_JAM:
            self._change(out, cutter_jam=True)
        elif kind is FaultKind.DRAWER_OPEN:
            self._change(out, drawer_pin3_high=True)
        elif kind is FaultKind.NO_ANSWER:
            s.no_answer = True
        elif kind is FaultKind.OFFLINE and not s.offline:
            self._interrupt(FaultKind.OFFLINE)
            s.offline = True
            self._asb_mask = 0  # switched off: ASB is off after power-on
            self._outbox.clear()
            self._signal()

    def _clear(self, kind: FaultKind, out: bytearray) -> None:
        s = self._state
        if kind is FaultKind.PAPER_OUT:
            s.paper_out_after_bytes = s.paper_out_after_receipts = None
            self._change(out, paper_out=False)
        elif kind is FaultKind.PAPER_NEAR_END:
            self._change(out, near_end=False)
        elif kind is FaultKind.COVER_OPEN:
            self._change(out, cover_open=False)
        elif kind is FaultKind.CUTTER_JAM:
            self._recover(out, resume=True)
        elif kind is FaultKind.DRAWER_OPEN:
            self._change(out, drawer_pin3_high=False)
        elif kind is FaultKind.NO_ANSWER:
            s.no_answer = False
        elif kind is FaultKind.OFFLINE and s.offline:
            s.offline = False
            self._scanner.reset()
            self._signal()

    def _run_out_of_paper(self, out: bytearray) -> None:
        self._state.paper_out_after_bytes = self._state.paper_out_after_receipts = None
        if self._state.condition.paper_out:
            return
        self._interrupt(FaultKind.PAPER_OUT)
        self._change(out, paper_out=True)

    def _change(self, out: bytearray, **changes: bool) -> None:
        before = self._state.condition
        after = replace(before, **changes)
        if after == before:
            return
        self._state.condition = after
        log.info("printer: condition %s", after)
        if self._asb_mask and self.answers_status:
            old, new = asb_status(before), asb_status(after)
            if asb_changed(self._asb_mask, old, new):
                out += new

    def _queue(self, out: bytearray) -> None:
        if out and not self._state.offline:
            self._outbox += out
            self._signal()

    def _signal(self) -> None:
        if self._notify is not None:
            self._notify()

    # --- bytes in ------------------------------------------------------------------------------------

    def receive(self, data: bytes) -> bytes:
        """Take bytes from the host; return the bytes the printer sends back. Never raises on bad input."""
        data = bytes(data)
        with self._lock:
            if self._state.offline:
                self.wire_log.record("in", data, "switched off: ignored")
                return b""
            self.wire_log.record("in", data)
            self.bytes_received += len(data)
            out = bytearray(self._outbox)
            self._outbox.clear()
            start = 0

            def at_command_boundary(index: int) -> bool:
                nonlocal start
                self._print(data[start:index], out)
                start = index
                return self._parser_idle()

            may_start = None if self.react_inside_data else at_command_boundary
            for end, command in self._scanner.scan(data, may_start):
                self._print(data[start:end], out)
                start = end
                self._realtime(command, out)
            self._print(data[start:], out)
            reply = bytes(out)
        if reply:
            self.wire_log.record("out", reply)
        return reply

    def connection_closed(self) -> None:
        """The host went away: a receipt in progress ends here (no cut), a partial real-time command is
        dropped."""
        with self._lock:
            self._scanner.reset()
            self._flush()

    def flush(self) -> None:
        """End a receipt in progress (no cut), e.g. after an idle time: cutter-less printers get no cut."""
        with self._lock:
            self._flush()

    def _flush(self) -> None:
        if self._state.offline or not self._state.condition.can_print:
            return
        printed = self._parser.finish()
        self._printing = False
        if printed is not None:
            self._emit(printed, "none", None)
            out = bytearray()
            self._count_receipt(out)
            self._queue(out)

    def _parser_idle(self) -> bool:
        """No command is half-received, so a DLE here starts a command rather than sitting in data."""
        if not self._state.condition.can_print:
            return True
        return not self._parser._pending  # the parser keeps an incomplete command's bytes there

    def _print(self, data: bytes, out: bytearray) -> None:
        """Data for the print path: printed, discarded (paper out, cover open) or held (cutter jam)."""
        if not data:
            return
        condition = self._state.condition
        if condition.cutter_jam:
            room = HOLD_LIMIT - len(self._held)
            if len(data) > room:
                self.wire_log.record("in", data[room:], "cutter jam: hold buffer full, lost")
            self._held += data[:room]
            return
        if not condition.can_print:
            reason = "paper out" if condition.paper_out else "cover open"
            self.wire_log.record("in", data, f"{reason}: discarded")
            return
        after_bytes = self._state.paper_out_after_bytes
        if after_bytes is not None and after_bytes < len(data):
            self._state.paper_out_after_bytes = 0
            self._feed(data[:after_bytes], out)
            self._run_out_of_paper(out)
            self._print(data[after_bytes:], out)
            return
        if after_bytes is not None:
            self._state.paper_out_after_bytes = after_bytes - len(data)
        if self._state.paper_out_after_receipts is None:
            self._feed(data, out)
            return
        for index in range(len(data)):  # byte by byte: the N-th receipt ends, the paper runs out exactly
            if self._state.paper_out_after_receipts == 0:
                if self._feed_until_paper_needed(data[index : index + 1], out):
                    self._print(data[index + 1 :], out)
                    return
                continue
            self._feed(data[index : index + 1], out)
            if not self._state.condition.can_print:
                self._print(data[index + 1 :], out)
                return

    def _feed_until_paper_needed(self, byte: bytes, out: bytearray) -> bool:
        """After the N-th receipt of ``after-receipts=N``: the roll ends where receipt N+1 would first put
        something on paper. Status queries, ``ESC @``, mode and table settings still go through (so the
        driver's ``GS r`` after receipt N is answered); the first byte that prints or feeds paper finds no
        paper: it is not printed and paper-out begins. Returns True once the paper is out."""
        self._printing = True
        before = self._parser.progress()
        events = self._parser.feed(byte)
        if self._parser.progress() == before:
            for event in events:
                self._on_event(event, out)
            return False
        self._parser = EscposParser(self.profile)  # the byte that needed paper is lost with the rest
        self._run_out_of_paper(out)
        return True

    def _feed(self, data: bytes, out: bytearray) -> None:
        if not data:
            return
        self._printing = True
        for event in self._parser.feed(data):
            self._on_event(event, out)
        if self._state.paper_out_after_bytes == 0:
            self._run_out_of_paper(out)

    def _on_event(self, event: object, out: bytearray) -> None:
        if isinstance(event, ReceiptDone):
            self._printing = False
            if event.receipt.has_content:  # a cut of blank paper is no receipt
                self._emit(event.receipt, event.cut, None)
                self._count_receipt(out)
        elif isinstance(event, DrawerKick):
            self._drawer(DrawerPulse(event.pin, event.on_ms, event.off_ms, realtime=False))
        elif isinstance(event, StatusQuery):
            self._answer_gs_r(event.n, out)
        elif isinstance(event, AutoStatusBack):
            self._enable_asb(event.mask, out)
        elif isinstance(event, Initialised):
            log.debug("printer: initialised (ESC @)")
        elif isinstance(event, Unknown):
            self._skipped(event)

    def _skipped(self, event: Unknown) -> None:
        """An unknown command: counted, noted in the wire log and in the receipt it belongs to (the next
        one to be emitted), and passed to ``on_unknown``."""
        self.unknown_commands += 1
        receipt = len(self.receipts) + 1
        shown = event.data[:32].hex(" ") + (" ..." if len(event.data) > 32 else "")
        self.wire_log.record(
            "in", b"", f"skipped unknown command at offset {event.offset} (receipt {receipt}): {shown}"
        )
        log.debug("printer: unknown command at %d: %s", event.offset, event.data.hex())
        if self._on_unknown is not None:
            try:
                self._on_unknown(event.data, event.offset, receipt)
            except Exception:
                log.exception("printer: the unknown-command callback failed")

    def _count_receipt(self, out: bytearray) -> None:
        """One more receipt printed in full; after the N-th the paper runs out as receipt N+1 starts."""
        remaining = self._state.paper_out_after_receipts
        if remaining is None or remaining == 0:
            return
        self._state.paper_out_after_receipts = remaining - 1

    def _answer_gs_r(self, n: int, out: bytearray) -> None:
        if not self.profile.gs_r or not self.answers_status:
            return
        reply = gs_r_reply(self._state.condition, n)
        if reply is not None:
            out.append(reply)

    def _enable_asb(self, mask: int, out: bytearray) -> None:
        if not self.profile.asb:
            return
        self._asb_mask = mask & 0x0F
        if self._asb_mask and self.answers_status:
            out += asb_status(self._state.condition)

    def _drawer(self, pulse: DrawerPulse) -> None:
        if not self.profile.drawer:
            log.info("printer: drawer pulse ignored, %s has no drawer port", self.profile.name)
            return
        self.drawer_pulses.append(pulse)

    # --- real-time commands --------------------------------------------------------------------------

    def _realtime(self, command: RealTime, out: bytearray) -> None:
        if command.function == EOT:
            if self.profile.dle_eot and self.answers_status:
                reply = dle_eot_reply(self._state.condition, command.args[0])
                if reply is not None:
                    out.append(reply)
        elif command.function == ENQ:
            if self._state.condition.cutter_jam and command.args[0] in (1, 2):
                self._recover(out, resume=command.args[0] == 1)
        else:
            pin_code, time_code = command.args[1], command.args[2]
            if pin_code in (0, 1) and 1 <= time_code <= 8:
                self._drawer(DrawerPulse(2 if pin_code == 0 else 5, time_code * 100, time_code * 100, True))

    def _recover(self, out: bytearray, *, resume: bool) -> None:
        """Leave a cutter jam: print the held data (``DLE ENQ 1``) or drop it with the receipt (2)."""
        if not self._state.condition.cutter_jam:
            return
        held = bytes(self._held)
        self._held.clear()
        if not resume:
            self._interrupt(FaultKind.CUTTER_JAM)
        self._change(out, cutter_jam=False)
        if resume and held:
            self._print(held, out)

    # --- receipts ------------------------------------------------------------------------------------

    def _interrupt(self, reason: FaultKind) -> None:
        """Printing stops mid-stream: what was printed is written marked unfinished; the parser restarts,
        since the data that would have followed is lost."""
        self._held.clear()
        printed = self._parser.finish()
        self._parser = EscposParser(self.profile)
        self._printing = False
        if printed is not None:
            self._emit(printed, "none", INCOMPLETE_NOTES[reason])

    def _emit(self, printed: PrintedReceipt, cut: str, note: str | None) -> None:
        try:
            text = render_text(printed, self.profile)
        except Exception as exc:
            log.exception("printer: text rendering failed")
            text = f"[render failed: {exc!r}]\n"
        text = with_note(with_note(text, skipped_note(printed)), note)
        png: bytes | None = None
        if self.render_png:
            try:
                png = render_png(printed, self.profile)
            except Exception:
                log.exception("printer: PNG rendering failed")
        paths: tuple[Path, ...] = ()
        if self.out_dir is not None:
            paths = tuple(self._write(printed, text, png, cut))
        receipt = DeviceReceipt(len(self.receipts) + 1, text, png, cut, note is None, printed, paths)
        self.receipts.append(receipt)
        log.info(
            "printer: receipt %d (%s cut%s)", receipt.number, cut, "" if note is None else ", unfinished"
        )

    def _write(self, printed: PrintedReceipt, text: str, png: bytes | None, cut: str) -> list[Path]:
        assert self.out_dir is not None
        try:
            paths = write_receipts([RenderedReceipt(printed, text, png or b"", cut)], self.out_dir)
        except OSError:
            log.exception("printer: cannot write the receipt to %s", self.out_dir)
            return []
        if png is None:
            for path in [p for p in paths if p.suffix == ".png"]:
                path.unlink(missing_ok=True)
                paths.remove(path)
        return paths
