"""The FN link layer over a byte stream: frames in, answers out, ENQ, bad frames, injected faults, wire log.

``FnLink.feed(chunk)`` returns the bytes to send back. A whole frame is executed by the emulator and its
encoded answer remembered; ENQ while idle resends that answer unchanged; a whole frame with a bad CRC is
answered 01h (which then becomes the last answer); garbage and bad length fields are skipped and logged.
Bit 7 of every answer code is set while the FN has warning flags (fn-protocol.md §3).

The last answer belongs to the FN, not to a connection: every link made with ``fresh()`` (one per TCP
connection) shares it, so ENQ after a reconnect still gets it. Injected faults act on what goes out, an
ENQ resend included (``drop-answer:16`` twice loses the 16h answer and its first resend).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from register.fiscal.fn_protocol import FnError
from register.fiscal.frame import Enq, Frame, FrameReader, Junk, encode_frame
from register.lab.wire_log import BoundedWireLog

log = logging.getLogger(__name__)

WARNING_BIT = 0x80


class AnswersFrames(Protocol):
    """What the link needs from the FN: execute a command, report the warning flags."""

    def handle(self, frame: Frame) -> Frame: ...

    def warning_flags(self) -> int: ...


class FaultSpecError(ValueError):
    """A fault description that cannot be parsed."""


class FaultKind(StrEnum):
    DROP_ANSWER = "drop-answer"  # execute the command, send nothing back (a lost answer)
    CORRUPT = "corrupt"  # send the answer with a wrong CRC
    DELAY = "delay"  # send the answer after delay_ms
    LATE = "late"  # hold the answer back and send it just before the next one (it comes too late)
    GARBLE = "garble"  # the request arrives with a bad CRC: answered 01h, not executed
    DROP_REQUEST = "drop-request"  # the request is lost on its way: neither executed nor answered
    SILENT = "silent"  # hang: neither execute nor answer anything until cleared


_OUTPUT_FAULTS = frozenset({FaultKind.DROP_ANSWER, FaultKind.CORRUPT, FaultKind.DELAY, FaultKind.LATE})


@dataclass(frozen=True, slots=True)
class Fault:
    """One injected fault. ``code``: the command code it waits for (None: the next command of any code).

    Text form (``--fault``): ``drop-answer[:CODE]``, ``corrupt[:CODE]``, ``delay:MS[:CODE]``, ``late[:CODE]``,
    ``garble[:CODE]``, ``drop-request[:CODE]``, ``silent``; CODE in hex as the protocol writes it
    (``drop-answer:16`` = the next 16h answer is lost; an ENQ resend of a 16h answer counts as a 16h
    answer).
    """

    kind: FaultKind
    code: int | None = None
    delay_ms: int = 0

    @classmethod
    def parse(cls, text: str) -> Fault:
        name, *args = text.strip().split(":")
        try:
            kind = FaultKind(name)
        except ValueError:
            known = ", ".join(kind.value for kind in FaultKind)
            raise FaultSpecError(f"fault {text!r}: unknown kind {name!r} (known: {known})") from None
        try:
            if kind is FaultKind.SILENT:
                if args:
                    raise FaultSpecError(f"fault {text!r}: 'silent' takes no argument")
                return cls(kind)
            if kind is FaultKind.DELAY:
                if len(args) not in (1, 2):
                    raise FaultSpecError(f"fault {text!r}: expected delay:MS or delay:MS:CODE")
                delay = int(args[0])
                if delay < 0:
                    raise FaultSpecError(f"fault {text!r}: negative delay")
                return cls(kind, _parse_code(args[1], text) if len(args) == 2 else None, delay)
            if len(args) > 1:
                raise FaultSpecError(f"fault {text!r}: expected {name} or {name}:CODE")
            return cls(kind, _parse_code(args[0], text) if args else None)
        except ValueError as exc:
            if isinstance(exc, FaultSpecError):
                raise
            raise FaultSpecError(f"fault {text!r}: {exc}") from None


def _parse_code(text: str, spec: str) -> int:
    code = int(text.removesuffix("h").removesuffix("H"), 16)
    if not 0 <= code <= 0xFF:
        raise FaultSpecError(f"fault {spec!r}: command code {text} is not a byte")
    return code


class FaultPlan:
    """Faults waiting to fire; shared by the links of one server, safe to change from another thread."""

    def __init__(self, faults: Iterable[Fault] = ()) -> None:
        self._lock = threading.Lock()
        self._pending: list[Fault] = []
        self._silent = False
        for fault in faults:
            self.add(fault)

    def add(self, fault: Fault) -> None:
        with self._lock:
            if fault.kind is FaultKind.SILENT:
                self._silent = True
            else:
                self._pending.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._pending.clear()
            self._silent = False

    @property
    def silent(self) -> bool:
        return self._silent

    @property
    def pending(self) -> list[Fault]:
        with self._lock:
            return list(self._pending) + ([Fault(FaultKind.SILENT)] if self._silent else [])

    def take(self, code: int | None, kinds: frozenset[FaultKind] | None = None) -> dict[FaultKind, Fault]:
        """Remove and return the first pending fault of each kind (of ``kinds``) that matches a command."""
        taken: dict[FaultKind, Fault] = {}
        with self._lock:
            for fault in list(self._pending):
                if kinds is not None and fault.kind not in kinds:
                    continue
                if fault.kind in taken or (fault.code is not None and fault.code != code):
                    continue
                taken[fault.kind] = fault
                self._pending.remove(fault)
        return taken


@dataclass(frozen=True, slots=True)
class WireEntry:
    timestamp: float  # time.time()
    direction: str  # "in" (host to FN) or "out"
    code: int | None  # command or answer code; None for ENQ and skipped bytes
    payload: bytes | Frame  # a received frame is kept decoded and encoded again only when asked
    note: str = ""

    @property
    def raw(self) -> bytes:
        return self.payload.encode() if isinstance(self.payload, Frame) else self.payload

    def line(self) -> str:
        when = datetime.fromtimestamp(self.timestamp).isoformat(timespec="milliseconds")
        code = "--" if self.code is None else f"{self.code:02X}h"
        text = f"{when} {self.direction:<3} {code} {self.raw.hex()}"
        return f"{text} {self.note}" if self.note else text


class WireLog(BoundedWireLog[WireEntry]):
    """Every frame in and out, newest last, in a bounded deque and optionally a file (one line each)."""

    def record(self, direction: str, code: int | None, payload: bytes | Frame, note: str = "") -> None:
        self.add(WireEntry(time.time(), direction, code, payload, note))


class AnswerMemory:
    """What the FN remembers of its answers: the last one (for ENQ) and one held back by a ``late`` fault."""

    __slots__ = ("command", "encoded", "held")

    def __init__(self) -> None:
        self.encoded: bytes | None = None  # the last answer as sent (before any fault)
        self.command: int | None = None  # the command it answered (None: a frame with a bad CRC)
        self.held = b""

    def forget(self) -> None:
        self.encoded, self.command, self.held = None, None, b""


class FnLink:
    """One byte stream to the FN. ``feed`` never raises on bad input."""

    def __init__(
        self,
        emulator: AnswersFrames,
        *,
        wire_log: WireLog | None = None,
        faults: FaultPlan | None = None,
        sleep: Callable[[float], None] = time.sleep,
        memory: AnswerMemory | None = None,
    ) -> None:
        self.emulator = emulator
        self.wire_log = wire_log if wire_log is not None else WireLog()
        self.faults = faults if faults is not None else FaultPlan()
        self.memory = memory if memory is not None else AnswerMemory()
        self._sleep = sleep
        self._reader = FrameReader(accept_enq=True)

    @property
    def last_answer(self) -> bytes | None:
        return self.memory.encoded

    def fresh(self) -> FnLink:
        """A link for a new connection: same FN, last answer, faults and wire log; no partial frame."""
        return FnLink(
            self.emulator, wire_log=self.wire_log, faults=self.faults, sleep=self._sleep, memory=self.memory
        )

    def inject(self, fault: Fault | str) -> None:
        self.faults.add(Fault.parse(fault) if isinstance(fault, str) else fault)

    def clear_faults(self) -> None:
        self.faults.clear()

    @property
    def mid_frame(self) -> bool:
        """Bytes of an unfinished frame are waiting."""
        return self._reader.pending > 0

    def reset_partial(self) -> bytes:
        """Drop a partial frame (the servers call this after an inter-byte timeout)."""
        dropped = self._reader.reset()
        if dropped:
            log.info("FN link: dropped a partial frame of %d bytes: %s", len(dropped), dropped.hex())
            self.wire_log.record("in", None, dropped, "partial frame dropped")
        return dropped

    def feed(self, chunk: bytes) -> bytes:
        out = bytearray()
        for item in self._reader.feed(chunk):
            if isinstance(item, Frame):
                out += self._on_frame(item)
            elif isinstance(item, Enq):
                out += self._on_enq()
            else:
                out += self._on_junk(item)
        return bytes(out)

    # --- events --------------------------------------------------------------------------------

    def _on_frame(self, frame: Frame) -> bytes:
        self.wire_log.record("in", frame.code, frame)
        if self.faults.silent:
            self.wire_log.record("out", None, b"", "silent: command ignored")
            return b""
        if self.faults.take(frame.code, frozenset({FaultKind.DROP_REQUEST})):
            self.wire_log.record("in", frame.code, b"", "lost on the way by fault: not executed or answered")
            return b""
        if self.faults.take(frame.code, frozenset({FaultKind.GARBLE})):
            self.wire_log.record("in", frame.code, b"", "garbled by fault: taken as a bad CRC, not executed")
            return self._send(Frame(int(FnError.UNKNOWN_COMMAND)), frame.code)
        answer = self.emulator.handle(frame)
        return self._send(answer, frame.code)

    def _on_enq(self) -> bytes:
        self.wire_log.record("in", None, b"\x05", "ENQ")
        last = self.memory.encoded
        if self.faults.silent or last is None:
            return b""
        return self._emit(last, self.memory.command, last[3], "resent on ENQ")

    def _on_junk(self, junk: Junk) -> bytes:
        log.info("FN link: skipped %d bytes (%s)", len(junk.data), junk.reason)
        self.wire_log.record("in", None, junk.data, f"skipped: {junk.reason}")
        if not junk.crc_error or self.faults.silent:
            return b""
        return self._send(Frame(int(FnError.UNKNOWN_COMMAND)), None)

    def _send(self, answer: Frame, command: int | None) -> bytes:
        code = answer.code | WARNING_BIT if self.emulator.warning_flags() else answer.code
        encoded = encode_frame(code, answer.data)
        self.memory.encoded, self.memory.command = encoded, command
        return self._emit(encoded, command, code, "")

    def _emit(self, encoded: bytes, command: int | None, code: int, note: str) -> bytes:
        """The bytes that go out for one answer, after the faults that wait for ``command``."""
        out = self.memory.held
        if out:
            self.memory.held = b""
            self.wire_log.record("out", out[3], out, "late answer, held back by fault")
        faults = self.faults.take(command, _OUTPUT_FAULTS)
        if FaultKind.DELAY in faults:
            self._sleep(faults[FaultKind.DELAY].delay_ms / 1000)
        if FaultKind.LATE in faults:
            self.memory.held = encoded
            self.wire_log.record("out", code, b"", _join(note, "held back by fault: sent before the next"))
            return out
        if FaultKind.DROP_ANSWER in faults:
            self.wire_log.record("out", code, encoded, _join(note, "dropped by fault"))
            return out
        if FaultKind.CORRUPT in faults:
            encoded = encoded[:-1] + bytes([encoded[-1] ^ 0xFF])
            self.wire_log.record("out", code, encoded, _join(note, "CRC corrupted by fault"))
            return out + encoded
        self.wire_log.record("out", code, encoded, note)
        return out + encoded


def _join(*notes: str) -> str:
    return "; ".join(note for note in notes if note)
