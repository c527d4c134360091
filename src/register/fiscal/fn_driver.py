"""Host-side FN driver: typed FN commands over a byte channel (pyserial: a serial port, a pty, TCP).

Link rules (fn-protocol.md §1–§3), with ``retries`` (default 2) as the budget of each kind of retry:
- a corrupt answer (bad CRC) is fetched again with ENQ, which makes the FN resend its last answer;
- a lost answer (timeout) to a query is fetched by repeating the query (queries change nothing);
- a lost answer to any other command (15h, 06h, 16h, 46h …) is fetched with ENQ: the command is not
  sent again, since the FN may have executed it;
- except 07h: its OK answer carries no data, so the answer ENQ brings back cannot be told from the previous
  07h's (or 15h's) when the 07h frame itself was lost on the way; taking it would sign a receipt without
  that data. A lost 07h answer is reported (FnNoAnswer) and the document cycle cancels and starts again
  (fn_documents);
- whatever arrives after an ENQ follows the same rules as a direct answer: corrupt -> ENQ again, a late
  answer of another command (an OK answer of the wrong size) is skipped, 01h -> the command is resent;
- answer 01h to a command is taken as a frame corrupted on its way to the FN (the FN did not execute it)
  and the command is sent once more (01h again is reported);
- a signing command (03h, 05h, 12h, 14h, 16h, 19h) whose answer stays lost or corrupt: the driver asks
  30h and 40h before anything else and sends the signing command a second time only when 30h shows the
  document still open (the FN did not execute it). Never a second fiscal document.

Limit of ENQ: an FN that never received a command (its frame lost whole on the way) resends the answer of
the command before. The driver sees that only when the two answers differ (a late answer of another
size); an OK answer with no data cannot be told apart on the wire, hence the 07h rule above.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Self, TypeVar

import serial

from register.fiscal import fn_protocol as p
from register.fiscal.fn_errors import (
    FnBadAnswer,
    FnCommandError,
    FnCorruptAnswer,
    FnDocumentLost,
    FnLinkError,
    FnNoAnswer,
    FnNoData,
    FnOutcomeUnknown,
    command_error,
)
from register.fiscal.fn_protocol import Cmd, CurrentDoc, DocForm
from register.fiscal.frame import ENQ, Frame, FrameReader, Junk, encode_frame
from register.fiscal.transport import open_fn_port
from register.uri import DeviceUri

_T = TypeVar("_T")

NO_ENQ_AFTER_TIMEOUT = frozenset({Cmd.SEND_TLV})
"""Commands whose lost answer is not fetched with ENQ: an empty OK that ENQ may bring back from before."""

QUERIES = frozenset(
    {
        Cmd.SHIFT_PARAMS,
        Cmd.OFD_STATUS,
        Cmd.READ_MESSAGE_BLOCK,
        Cmd.STATUS,
        Cmd.FN_NUMBER,
        Cmd.EXPIRY,
        Cmd.VERSION,
        Cmd.LAST_ERRORS,
        Cmd.FIND_DOCUMENT,
        Cmd.OFD_TICKET,
        Cmd.UNCONFIRMED_COUNT,
        Cmd.REGISTRATION_PARAMS,
        Cmd.DOCUMENT_TLV_BEGIN,
    }
)
# data size of a successful answer, where the layout fixes it: an OK answer of another size is a late
# answer to an earlier command (it arrived after that command timed out) and is skipped
ANSWER_SIZES: dict[int, int] = {
    Cmd.BEGIN_REGISTRATION: 0,
    Cmd.MAKE_REGISTRATION: 8,
    Cmd.BEGIN_CLOSE_FISCAL: 0,
    Cmd.CLOSE_FISCAL: 8,
    Cmd.CANCEL_DOCUMENT: 0,
    Cmd.SEND_TLV: 0,
    Cmd.SHIFT_PARAMS: 5,
    Cmd.BEGIN_OPEN_SHIFT: 0,
    Cmd.OPEN_SHIFT: 10,
    Cmd.BEGIN_CLOSE_SHIFT: 0,
    Cmd.CLOSE_SHIFT: 10,
    Cmd.BEGIN_RECEIPT: 0,
    Cmd.MAKE_RECEIPT: 10,
    Cmd.BEGIN_CORRECTION: 0,
    Cmd.BEGIN_STATE_REPORT: 0,
    Cmd.MAKE_STATE_REPORT: 15,
    Cmd.OFD_STATUS: 13,
    Cmd.TRANSPORT_STATUS: 0,
    Cmd.BEGIN_READ_MESSAGE: 2,
    Cmd.CANCEL_READ_MESSAGE: 0,
    Cmd.FINISH_READ_MESSAGE: 0,
    Cmd.STATUS: 30,
    Cmd.FN_NUMBER: 16,
    Cmd.EXPIRY: 5,
    Cmd.VERSION: 17,
    Cmd.OFD_TICKET: 27,
    Cmd.UNCONFIRMED_COUNT: 2,
    Cmd.DOCUMENT_TLV_BEGIN: 4,
    Cmd.RESET: 0,
}
# signing command -> (size of its answer data, the documents it finishes)
SIGNING: dict[int, tuple[int, frozenset[int]]] = {
    Cmd.MAKE_REGISTRATION: (
        8,
        frozenset({CurrentDoc.REGISTRATION, CurrentDoc.REREGISTRATION, CurrentDoc.REREGISTRATION_NEW_FN}),
    ),
    Cmd.CLOSE_FISCAL: (8, frozenset({CurrentDoc.FISCAL_CLOSE})),
    Cmd.OPEN_SHIFT: (10, frozenset({CurrentDoc.SHIFT_OPEN})),
    Cmd.CLOSE_SHIFT: (10, frozenset({CurrentDoc.SHIFT_CLOSE})),
    Cmd.MAKE_RECEIPT: (
        10,
        frozenset({CurrentDoc.RECEIPT, CurrentDoc.CORRECTION, CurrentDoc.BSO, CurrentDoc.BSO_CORRECTION}),
    ),
    Cmd.MAKE_STATE_REPORT: (15, frozenset({CurrentDoc.STATE_REPORT})),
}


@dataclass(frozen=True, slots=True)
class WireEvent:
    """One frame or ENQ on the wire, for logs and evidence."""

    at: float
    direction: str  # "out" (to the FN) or "in"
    raw: bytes
    note: str = ""


class _CorruptAnswer(Exception):
    pass


class FnDriver:
    """Typed FN commands. One lock per device: every exchange is serialised."""

    def __init__(
        self,
        port: serial.SerialBase,
        *,
        timeout: float = 2.0,
        retries: int = 2,
        on_wire: Callable[[WireEvent], None] | None = None,
        name: str = "FN",
    ) -> None:
        self._port = port
        self.timeout = timeout
        self.retries = retries
        self._on_wire = on_wire
        self.name = name
        self._reader = FrameReader()
        self._lock = threading.RLock()
        self.last_warning = False
        self._last_fd: int | None = None
        self._fn_number: str | None = None

    @classmethod
    def open(cls, uri: str | DeviceUri, **kwargs: object) -> Self:
        return cls(open_fn_port(uri), name=str(uri), **kwargs)  # type: ignore[arg-type]

    def close(self) -> None:
        self._port.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- link ---------------------------------------------------------------------------------

    def _wire(self, direction: str, raw: bytes, note: str = "") -> None:
        if self._on_wire is not None:
            self._on_wire(WireEvent(time.time(), direction, raw, note))

    def _send(self, raw: bytes, note: str = "") -> None:
        self._wire("out", raw, note)
        try:
            self._port.write(raw)
        except (serial.SerialException, OSError) as exc:
            raise FnLinkError(f"{self.name}: write failed: {exc}") from None

    def _discard_input(self) -> None:
        self._reader.reset()
        try:
            self._port.reset_input_buffer()
        except (serial.SerialException, OSError) as exc:
            raise FnLinkError(f"{self.name}: {exc}") from None

    def _read_answer(self) -> Frame | None:
        """The next answer frame, or None on timeout; _CorruptAnswer on a bad CRC."""
        deadline = time.monotonic() + self.timeout
        port = self._port
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._reader.reset()
                return None
            port.timeout = remaining
            try:
                chunk = port.read(1)
                if chunk:
                    waiting = port.in_waiting
                    if waiting:
                        chunk += port.read(waiting)
            except (serial.SerialException, OSError) as exc:
                raise FnLinkError(f"{self.name}: read failed: {exc}") from None
            for item in self._reader.feed(chunk):
                if isinstance(item, Frame):
                    self._wire("in", item.encode())
                    return item
                if isinstance(item, Junk):
                    self._wire("in", item.data, f"junk: {item.reason}")
                    if item.crc_error:
                        self._reader.reset()
                        raise _CorruptAnswer(item.reason)

    def _transact(self, cmd: int, data: bytes = b"") -> Frame:
        frame = encode_frame(cmd, data)
        query = cmd in QUERIES
        enq_left = resend_left = self.retries
        resend_after_01h = self.retries > 0  # once: 01h again is the FN's real answer
        self._discard_input()
        self._send(frame, f"{cmd:02X}h")
        while True:
            try:
                answer = self._read_answer()
            except _CorruptAnswer as exc:
                if not enq_left:
                    raise FnCorruptAnswer(
                        f"{self.name}: {cmd:02X}h: the answer stayed corrupt after {self.retries} ENQ ({exc})"
                    ) from None
                enq_left -= 1
                self._send(bytes([ENQ]), "ENQ after a corrupt answer")
                continue
            if answer is None:
                if query and resend_left:
                    resend_left -= 1
                    self._discard_input()
                    self._send(frame, f"{cmd:02X}h again after a timeout")
                    continue
                if not query and enq_left and cmd not in NO_ENQ_AFTER_TIMEOUT:
                    enq_left -= 1
                    self._send(bytes([ENQ]), "ENQ after a timeout")
                    continue
                raise FnNoAnswer(
                    f"{self.name}: no answer to {cmd:02X}h within {self.timeout:g} s"
                    + (
                        ""
                        if query or not self.retries or cmd in NO_ENQ_AFTER_TIMEOUT
                        else f" (nor to {self.retries} ENQ)"
                    )
                )
            if self._is_late(cmd, answer):
                self._wire("in", b"", f"skipped a late answer of {len(answer.data)} bytes")
                continue
            if answer.code & 0x7F == p.FnError.UNKNOWN_COMMAND and resend_after_01h:
                resend_after_01h = False
                self._discard_input()
                self._send(frame, f"{cmd:02X}h again after 01h")
                continue
            return answer

    @staticmethod
    def _is_late(cmd: int, answer: Frame) -> bool:
        size = ANSWER_SIZES.get(cmd)
        return size is not None and answer.code & 0x7F == 0 and len(answer.data) != size

    def call(self, cmd: int, data: bytes = b"") -> bytes:
        """Send one command; return the answer data or raise the FN's error as a typed exception."""
        with self._lock:
            answer = self._transact(cmd, data)
        code = answer.code & 0x7F
        self.last_warning = bool(answer.code & 0x80)
        if code != 0:
            raise command_error(cmd, code, answer.data)
        return answer.data

    def _parse(self, parse: Callable[[bytes], _T], data: bytes) -> _T:
        try:
            return parse(data)
        except ValueError as exc:
            raise FnBadAnswer(f"{self.name}: {exc}") from None

    # --- service --------------------------------------------------------------------------------

    def status(self) -> p.FnStatus:
        st = self._parse(p.FnStatus.unpack, self.call(Cmd.STATUS))
        self._last_fd = st.last_fd
        return st

    def fn_number(self) -> str:
        """31h, asked once per connection: an FN's number never changes."""
        if self._fn_number is None:
            data = self.call(Cmd.FN_NUMBER)
            if len(data) != 16:
                raise FnBadAnswer(f"{self.name}: 31h: expected 16 bytes, got {len(data)}")
            self._fn_number = p.unpack_ascii(data)
        return self._fn_number

    def expiry(self) -> p.FnExpiry:
        return self._parse(p.FnExpiry.unpack, self.call(Cmd.EXPIRY))

    def version(self) -> p.FnVersion:
        return self._parse(p.FnVersion.unpack, self.call(Cmd.VERSION))

    def last_errors(self) -> bytes:
        return self.call(Cmd.LAST_ERRORS)

    def reset(self, request: int = 0x16) -> None:
        self.call(Cmd.RESET, bytes([request]))
        self._last_fd = None

    # --- documents ----------------------------------------------------------------------------

    def cancel_document(self) -> None:
        self.call(Cmd.CANCEL_DOCUMENT)

    def send_tlv(self, tlv: bytes) -> None:
        self.call(Cmd.SEND_TLV, tlv)

    def begin_registration(self, kind: int = 0) -> None:
        self._remember_last_fd()
        self.call(Cmd.BEGIN_REGISTRATION, bytes([kind]))

    def make_registration(self, request: p.RegistrationRequest) -> p.Signed:
        return self._parse(p.Signed.unpack, self._sign(Cmd.MAKE_REGISTRATION, request.pack()))

    def begin_close_fiscal(self) -> None:
        self._remember_last_fd()
        self.call(Cmd.BEGIN_CLOSE_FISCAL)

    def close_fiscal(self, request: p.CloseFiscalRequest) -> p.Signed:
        return self._parse(p.Signed.unpack, self._sign(Cmd.CLOSE_FISCAL, request.pack()))

    def shift_params(self) -> p.ShiftParams:
        return self._parse(p.ShiftParams.unpack, self.call(Cmd.SHIFT_PARAMS))

    def begin_open_shift(self, when: datetime) -> None:
        self._remember_last_fd()
        self.call(Cmd.BEGIN_OPEN_SHIFT, p.pack_datetime(when))

    def open_shift(self) -> p.ShiftSigned:
        return self._parse(p.ShiftSigned.unpack, self._sign(Cmd.OPEN_SHIFT))

    def begin_close_shift(self, when: datetime) -> None:
        self._remember_last_fd()
        self.call(Cmd.BEGIN_CLOSE_SHIFT, p.pack_datetime(when))

    def close_shift(self) -> p.ShiftSigned:
        return self._parse(p.ShiftSigned.unpack, self._sign(Cmd.CLOSE_SHIFT))

    def begin_receipt(self, when: datetime) -> None:
        self._remember_last_fd()
        self.call(Cmd.BEGIN_RECEIPT, p.pack_datetime(when))

    def begin_correction(self, when: datetime) -> None:
        self._remember_last_fd()
        self.call(Cmd.BEGIN_CORRECTION, p.pack_datetime(when))

    def make_receipt(self, request: p.ReceiptRequest) -> p.ReceiptSigned:
        return self._parse(p.ReceiptSigned.unpack, self._sign(Cmd.MAKE_RECEIPT, request.pack(), request))

    def begin_state_report(self, when: datetime) -> None:
        self._remember_last_fd()
        self.call(Cmd.BEGIN_STATE_REPORT, p.pack_datetime(when))

    def make_state_report(self) -> p.StateReportSigned:
        return self._parse(p.StateReportSigned.unpack, self._sign(Cmd.MAKE_STATE_REPORT))

    def _remember_last_fd(self) -> None:
        if self._last_fd is None:
            self.status()

    def _sign(self, cmd: int, data: bytes = b"", receipt: p.ReceiptRequest | None = None) -> bytes:
        """Send a signing command; on a lost or corrupt answer, find out from 30h/40h whether the FN signed.

        The command is sent again only when 30h shows its document still open (the FN did not execute it),
        at most ``retries`` times; then the document is reported as not signed (FnNoAnswer) and left open.
        """
        size, documents = SIGNING[cmd]
        known_last_fd = self._last_fd
        resends_left = self.retries
        while True:
            try:
                answer = self.call(cmd, data)
                break
            except (FnNoAnswer, FnCorruptAnswer) as lost:
                recovered = self._recover_signed(cmd, documents, known_last_fd, receipt, lost)
                if recovered is not None:
                    answer = recovered
                    break
                if not resends_left:
                    raise FnNoAnswer(
                        f"{self.name}: {cmd:02X}h got no usable answer and 30h shows its document still "
                        "open: nothing was signed"
                    ) from lost
                resends_left -= 1
        if len(answer) != size:
            raise FnBadAnswer(f"{self.name}: {cmd:02X}h: expected {size} bytes, got {len(answer)}")
        self._last_fd = int.from_bytes(answer[2:6] if size == 10 else answer[0:4], "little")
        return answer

    def _recover_signed(
        self,
        cmd: int,
        documents: frozenset[int],
        known_last_fd: int | None,
        receipt: p.ReceiptRequest | None,
        lost: FnLinkError,
    ) -> bytes | None:
        """The signing command's answer rebuilt from 30h/40h, or None when its document is still open."""
        try:
            st = self.status()
        except FnLinkError:
            raise FnOutcomeUnknown(
                f"{self.name}: no answer to {cmd:02X}h nor to 30h: the document may have been signed; "
                "read 30h/40h on reconnect before anything else"
            ) from lost
        if st.current_doc in documents:
            return None  # the FN never executed it: the document is still open
        if (
            known_last_fd is not None
            and st.last_fd == known_last_fd + 1
            and st.current_doc == CurrentDoc.NONE
        ):
            try:
                doc = self.find_document(st.last_fd)
                return self._answer_from_archive(cmd, doc, receipt)
            except (FnLinkError, FnCommandError) as exc:
                if isinstance(exc, FnOutcomeUnknown):
                    raise
                raise FnOutcomeUnknown(
                    f"{self.name}: {cmd:02X}h got no answer and FD {st.last_fd} is new, but 40h failed "
                    f"({exc}): read 30h/40h before anything else"
                ) from lost
        if known_last_fd is not None and st.last_fd == known_last_fd:
            raise FnDocumentLost(
                f"{self.name}: {cmd:02X}h got no answer and the FN has no open document and no new FD "
                f"(last FD {st.last_fd}): the document was lost (FN restarted?); nothing was signed"
            ) from lost
        raise FnOutcomeUnknown(
            f"{self.name}: {cmd:02X}h got no answer; the FN's last FD is {st.last_fd} (before: "
            f"{known_last_fd}): cannot tell which document was signed"
        ) from lost

    def _answer_from_archive(
        self, cmd: int, doc: p.ArchiveDocument, receipt: p.ReceiptRequest | None
    ) -> bytes:
        """Rebuild the lost answer of a signing command from the archive (40h) and 10h."""
        expected_forms = {
            Cmd.MAKE_REGISTRATION: {DocForm.REGISTRATION, DocForm.REREGISTRATION},
            Cmd.CLOSE_FISCAL: {DocForm.FISCAL_CLOSE},
            Cmd.OPEN_SHIFT: {DocForm.SHIFT_OPEN},
            Cmd.CLOSE_SHIFT: {DocForm.SHIFT_CLOSE},
            Cmd.MAKE_RECEIPT: {DocForm.RECEIPT, DocForm.CORRECTION, DocForm.BSO, DocForm.BSO_CORRECTION},
            Cmd.MAKE_STATE_REPORT: {DocForm.STATE_REPORT},
        }[Cmd(cmd)]
        if doc.doc_type not in expected_forms:
            raise FnOutcomeUnknown(
                f"{self.name}: {cmd:02X}h got no answer; the new FD {doc.fd} is of type {doc.doc_type}"
            )
        if receipt is not None and (doc.operation, doc.total) != (receipt.operation, receipt.total):
            raise FnOutcomeUnknown(
                f"{self.name}: 16h got no answer; FD {doc.fd} has operation {doc.operation} total "
                f"{doc.total}, expected {receipt.operation} / {receipt.total}"
            )
        if cmd in (Cmd.MAKE_REGISTRATION, Cmd.CLOSE_FISCAL):
            return p.Signed(doc.fd, doc.fp).pack()
        if cmd in (Cmd.OPEN_SHIFT, Cmd.CLOSE_SHIFT):
            return p.ShiftSigned(doc.shift or 0, doc.fd, doc.fp).pack()
        if cmd == Cmd.MAKE_RECEIPT:
            return p.ReceiptSigned(self.shift_params().receipt, doc.fd, doc.fp).pack()
        return p.StateReportSigned(doc.fd, doc.fp, doc.unconfirmed or 0, None).pack()

    # --- OFD exchange -------------------------------------------------------------------------

    def ofd_status(self) -> p.OfdStatus:
        return self._parse(p.OfdStatus.unpack, self.call(Cmd.OFD_STATUS))

    def set_transport(self, up: bool) -> None:
        self.call(Cmd.TRANSPORT_STATUS, bytes([int(up)]))

    def begin_read_message(self) -> int:
        return self._parse(lambda d: p.unpack_u16(d, "22h message length"), self.call(Cmd.BEGIN_READ_MESSAGE))

    def read_message_block(self, offset: int, size: int) -> bytes:
        return self.call(Cmd.READ_MESSAGE_BLOCK, offset.to_bytes(2, "little") + size.to_bytes(2, "little"))

    def cancel_read_message(self) -> None:
        self.call(Cmd.CANCEL_READ_MESSAGE)

    def finish_read_message(self) -> None:
        self.call(Cmd.FINISH_READ_MESSAGE)

    def read_ofd_message(self, block: int = 1024) -> bytes:
        """22h, 23h until the whole message is read, 25h. Cancels with 24h on a failure."""
        with self._lock:
            length = self.begin_read_message()
            try:
                message = bytearray()
                while len(message) < length:
                    chunk = self.read_message_block(len(message), min(block, length - len(message)))
                    if not chunk:
                        raise FnBadAnswer(f"{self.name}: 23h returned no data at offset {len(message)}")
                    message += chunk
            except BaseException:
                with contextlib.suppress(FnCommandError):
                    self.cancel_read_message()
                raise
            self.finish_read_message()
            return bytes(message[:length])

    def pass_ofd_receipt(self, receipt: bytes) -> tuple[int, bytes]:
        """26h: the OFD's answer code and the optional operator message (STLV)."""
        data = self.call(Cmd.PASS_OFD_RECEIPT, receipt)
        if not data:
            raise FnBadAnswer(f"{self.name}: 26h: empty answer")
        return data[0], data[1:]

    # --- archive ------------------------------------------------------------------------------

    def find_document(self, fd: int) -> p.ArchiveDocument:
        return self._parse(p.ArchiveDocument.unpack, self.call(Cmd.FIND_DOCUMENT, p.pack_u32(fd)))

    def ofd_ticket(self, fd: int) -> p.OfdTicket:
        return self._parse(p.OfdTicket.unpack, self.call(Cmd.OFD_TICKET, p.pack_u32(fd)))

    def unconfirmed_count(self) -> int:
        return self._parse(lambda d: p.unpack_u16(d, "42h count"), self.call(Cmd.UNCONFIRMED_COUNT))

    def document_tlv(self, fd: int) -> tuple[int, bytes]:
        """45h then 46h until 08h: the document's form code and its TLV list."""
        with self._lock:
            info = self._parse(p.DocumentTlvInfo.unpack, self.call(Cmd.DOCUMENT_TLV_BEGIN, p.pack_u32(fd)))
            parts = bytearray()
            while True:
                try:
                    parts += self.call(Cmd.DOCUMENT_TLV_NEXT)
                except FnNoData:
                    break
        if len(parts) != info.length:
            raise FnBadAnswer(
                f"{self.name}: FD {fd}: 45h announced {info.length} bytes of TLV, 46h gave {len(parts)}"
            )
        return info.form, bytes(parts)
