"""The emulated FN (fiscal storage module): the command state machine of fn-protocol.md §5–§13.

``FnEmulator.handle(frame)`` takes one decoded command frame and returns the answer frame (code + data);
the link layer (``fn_link``) adds framing, ENQ and the warning bit. Pure logic over an ``FnStore`` and an
injectable clock (the FN's internal timer).

Checks run in the order of §12: request format (01h, 09h for values out of range) -> state (02h) ->
resources (05h, 15h) -> time (07h, 16h, 17h) -> size (10h).

Fiscal signs are lab signs (§15): FP = first 4 bytes of HMAC-SHA256(key, message), big-endian, with
message = FN number ASCII(16) | FD Uint32 LE | DATE_TIME | form code byte | the finishing command's fixed
fields after its DATE_TIME (03h: INN..work mode [reason], 05h: RNM, 16h: operation + total) | the 07h TLVs.
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import logging
import struct
import threading
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from register.fiscal.fn_protocol import (
    Cmd,
    CurrentDoc,
    DocForm,
    DocumentTlvInfo,
    FnError,
    FnExpiry,
    FnStatus,
    FnVersion,
    FormatError,
    OfdStatus,
    OfdTicket,
    Phase,
    ReceiptSigned,
    ShiftParams,
    ShiftSigned,
    Signed,
    StateReportSigned,
    pack_datetime,
    unpack_datetime,
)
from register.fiscal.frame import Frame
from register.fiscal.ofd_container import OfdContainerError, OfdMessage, OfdReceipt
from register.fiscal.tlv import encode_tlv, split_tlv
from register.lab.fn_store import FnState, FnStore, StoredDocument, StoredTicket

log = logging.getLogger(__name__)

DEFAULT_KEY = b"register-lab-fn-emulator-key"
EMULATOR_VERSION = "EMU 1.0"

RECEIPT_TLV_LIMIT = 30 * 1024
SHIFT_TLV_LIMIT = 1024
REPORT_TLV_LIMIT = 2 * 1024
MAX_SHIFT = timedelta(hours=24)
MAX_DRIFT = timedelta(minutes=5)
SHIFT_OPEN_EARLY = timedelta(hours=1)  # [S1]: 11h may be up to 1 h before the previous document
MAX_UNSENT_DAYS = 30
VALIDITY_YEARS = 3
MAX_READ_BLOCK = 1024
MAX_LAST_ERROR = 256
MAX_INTERNAL_ERRORS = 32
MAX_SHIFT_TOTAL = (1 << 40) - 1
MAX_RECEIPT_NUMBER = 0xFFFF

OPERATIONS = (1, 2, 3, 4)  # tag 1054: sale, sale return, expense, expense return
WORK_MODE_AUTONOMOUS = 0x02
WORK_MODE_BSO = 0x10
RESET_WIPE_ARCHIVE = 0x16

WARNING_EXPIRY_3_DAYS = 0x01
WARNING_EXPIRY_30_DAYS = 0x02

OFD_FLAG_TRANSPORT = 0x01
OFD_FLAG_MESSAGE_WAITING = 0x02
OFD_FLAG_AWAITING_RECEIPT = 0x04

REJECT_WRONG_SIGN = 1
REJECT_WRONG_FORMAT = 2
REJECT_WRONG_FD = 3
REJECT_WRONG_FN = 4

_FORM_OF: dict[CurrentDoc, DocForm] = {
    CurrentDoc.REGISTRATION: DocForm.REGISTRATION,
    CurrentDoc.REREGISTRATION_NEW_FN: DocForm.REREGISTRATION,
    CurrentDoc.REREGISTRATION: DocForm.REREGISTRATION,
    CurrentDoc.SHIFT_OPEN: DocForm.SHIFT_OPEN,
    CurrentDoc.SHIFT_CLOSE: DocForm.SHIFT_CLOSE,
    CurrentDoc.RECEIPT: DocForm.RECEIPT,
    CurrentDoc.BSO: DocForm.BSO,
    CurrentDoc.CORRECTION: DocForm.CORRECTION,
    CurrentDoc.BSO_CORRECTION: DocForm.BSO_CORRECTION,
    CurrentDoc.FISCAL_CLOSE: DocForm.FISCAL_CLOSE,
    CurrentDoc.STATE_REPORT: DocForm.STATE_REPORT,
}
_REGISTRATION_DOCS = (CurrentDoc.REGISTRATION, CurrentDoc.REREGISTRATION_NEW_FN, CurrentDoc.REREGISTRATION)
_RECEIPT_DOCS = (CurrentDoc.RECEIPT, CurrentDoc.BSO, CurrentDoc.CORRECTION, CurrentDoc.BSO_CORRECTION)
_ARCHIVE_PHASES = (Phase.FISCAL, Phase.POST_FISCAL, Phase.ARCHIVE)
_OFD_PHASES = (Phase.FISCAL, Phase.POST_FISCAL)

TAG_DATE_TIME = 1012
TAG_SHIFT = 1038
TAG_FD = 1040
TAG_FN = 1041
TAG_RECEIPT = 1042
TAG_FISCAL_SIGN = 1077


@dataclass(frozen=True, slots=True)
class FnConfig:
    key: bytes = DEFAULT_KEY  # fiscal signs and OFD receipt signs (shared with the emulated OFD)
    drift_check: bool = True  # 17h on 15h/17h when the host clock drifts from the FN timer
    debug: bool = True  # 33h type 0; 60h allowed only on a debug FN
    version: str = EMULATOR_VERSION
    max_registrations: int = 30  # 32h; the real total is FN-model specific


class FnRefusal(ValueError):
    """A command the FN answers with an error code."""

    def __init__(self, code: FnError, reason: str, data: bytes = b"") -> None:
        super().__init__(f"{int(code):02X}h: {reason}")
        self.code = code
        self.reason = reason
        self.data = data


@dataclass(slots=True)
class OpenDocument:
    """The document between its begin command and its finish: volatile, lost on restart."""

    kind: CurrentDoc
    limit: int
    when: datetime | None  # the begin command's time (none for 02h/04h)
    registration_type: int = 0
    tlv: bytearray = field(default_factory=bytearray)
    spoiled: bool = False  # a 07h went over the limit: only 06h helps


def fiscal_sign(key: bytes, fn_number: str, fd: int, when: bytes, form: int, fixed: bytes, tlv: bytes) -> int:
    message = fn_number.encode("ascii") + struct.pack("<I", fd) + when + bytes([form]) + fixed + tlv
    return int.from_bytes(hmac.new(key, message, hashlib.sha256).digest()[:4], "big")


def local_unix_time(when: datetime) -> int:
    """Tag 1012: local wall-clock time encoded as if it were UTC (ffd-receipt.md §1)."""
    return calendar.timegm(when.timetuple())


def build_document_tlv(
    form: int,
    host_tlv: bytes,
    *,
    when: datetime,
    fd: int,
    fn_number: str,
    fp: int,
    shift: int | None = None,
    receipt: int | None = None,
) -> bytes:
    """The archived document: STLV(form) of the host's 07h TLVs followed by the tags the FN adds."""
    added = encode_tlv(TAG_DATE_TIME, struct.pack("<I", local_unix_time(when)))
    added += encode_tlv(TAG_FD, struct.pack("<I", fd))
    added += encode_tlv(TAG_FN, fn_number.encode("ascii"))
    if shift is not None:
        added += encode_tlv(TAG_SHIFT, struct.pack("<I", shift))
    if receipt is not None:
        added += encode_tlv(TAG_RECEIPT, struct.pack("<I", receipt))
    added += encode_tlv(TAG_FISCAL_SIGN, b"\0\0" + fp.to_bytes(4, "big"))
    return encode_tlv(form, host_tlv + added)


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


class FnEmulator:
    """The FN command state machine. Thread-safe: ``handle`` runs one command at a time."""

    def __init__(
        self,
        store: FnStore,
        *,
        config: FnConfig | None = None,
        clock: Callable[[], datetime] = datetime.now,
    ) -> None:
        self.store = store
        self.config = config or FnConfig()
        self.clock = clock
        self.extra_warnings = 0  # warning flags forced on by a test or scenario (30h offset 4)
        self._lock = threading.RLock()
        self._doc: OpenDocument | None = None
        self._transport_up = False
        self._reading: bytes | None = None  # the OFD message between 22h and 24h/25h
        self._awaiting_receipt = False
        self._selected: list[bytes] | None = None  # 45h: top-level TLVs still to hand out with 46h
        self._last_error = "no error since start"
        # emulator faults (exceptions inside a command), answered 03h: a healthy emulator has none
        self.internal_errors: deque[str] = deque(maxlen=MAX_INTERNAL_ERRORS)
        self.internal_error_count = 0
        state = store.state
        self._last_op: tuple[datetime, datetime] | None = (
            (state.last_op_kkt_time, state.last_op_fn_time)
            if state.last_op_kkt_time is not None and state.last_op_fn_time is not None
            else None
        )
        self._handlers: dict[int, Callable[[bytes], bytes]] = {
            Cmd.BEGIN_REGISTRATION: self._begin_registration,
            Cmd.MAKE_REGISTRATION: self._make_registration,
            Cmd.BEGIN_CLOSE_FISCAL: self._begin_close_fiscal,
            Cmd.CLOSE_FISCAL: self._close_fiscal,
            Cmd.CANCEL_DOCUMENT: self._cancel_document,
            Cmd.SEND_TLV: self._send_tlv,
            Cmd.SHIFT_PARAMS: self._shift_params,
            Cmd.BEGIN_OPEN_SHIFT: self._begin_open_shift,
            Cmd.OPEN_SHIFT: self._open_shift,
            Cmd.BEGIN_CLOSE_SHIFT: self._begin_close_shift,
            Cmd.CLOSE_SHIFT: self._close_shift,
            Cmd.BEGIN_RECEIPT: self._begin_receipt,
            Cmd.MAKE_RECEIPT: self._make_receipt,
            Cmd.BEGIN_CORRECTION: self._begin_correction,
            Cmd.BEGIN_STATE_REPORT: self._begin_state_report,
            Cmd.MAKE_STATE_REPORT: self._make_state_report,
            Cmd.OFD_STATUS: self._ofd_status,
            Cmd.TRANSPORT_STATUS: self._transport_status,
            Cmd.BEGIN_READ_MESSAGE: self._begin_read_message,
            Cmd.READ_MESSAGE_BLOCK: self._read_message_block,
            Cmd.CANCEL_READ_MESSAGE: self._cancel_read_message,
            Cmd.FINISH_READ_MESSAGE: self._finish_read_message,
            Cmd.PASS_OFD_RECEIPT: self._pass_ofd_receipt,
            Cmd.STATUS: self._status,
            Cmd.FN_NUMBER: self._fn_number,
            Cmd.EXPIRY: self._expiry,
            Cmd.VERSION: self._version,
            Cmd.LAST_ERRORS: self._last_errors,
            Cmd.FIND_DOCUMENT: self._find_document,
            Cmd.OFD_TICKET: self._ofd_ticket,
            Cmd.UNCONFIRMED_COUNT: self._unconfirmed_count,
            Cmd.REGISTRATION_PARAMS: self._registration_params,
            Cmd.DOCUMENT_TLV_BEGIN: self._document_tlv_begin,
            Cmd.DOCUMENT_TLV_NEXT: self._document_tlv_next,
            Cmd.RESET: self._reset,
        }

    # --- entry points --------------------------------------------------------------------------

    def handle(self, frame: Frame) -> Frame:
        """Execute one command; return the answer (code without the warning bit, data)."""
        with self._lock:
            handler = self._handlers.get(frame.code)
            try:
                if handler is None:
                    raise FnRefusal(FnError.UNKNOWN_COMMAND, "unknown command")
                return Frame(int(FnError.OK), handler(frame.data))
            except FnRefusal as refusal:
                self._last_error = f"command {frame.code:02X}h -> {int(refusal.code):02X}h: {refusal.reason}"
                log.debug("FN %s", self._last_error)
                return Frame(int(refusal.code), refusal.data)
            except Exception as exc:  # an emulator fault must look like an FN failure, not kill the link
                log.exception("FN emulator failed on command %02Xh", frame.code)
                self._last_error = f"command {frame.code:02X}h -> 03h: internal failure: {exc!r}"
                self.internal_error_count += 1
                self.internal_errors.append(
                    f"{frame.code:02X}h {frame.data.hex()}: {traceback.format_exc(limit=-3)}"
                )
                return Frame(int(FnError.FN_FAILURE))

    def warning_flags(self) -> int:
        """The warning-flags byte of 30h (§7); the link sets bit 7 of every answer when it is not 0."""
        flags = self.extra_warnings
        days_left = (self.valid_until - self.clock().date()).days
        if days_left <= 30:
            flags |= WARNING_EXPIRY_30_DAYS
        if days_left <= 3:
            flags |= WARNING_EXPIRY_3_DAYS
        return flags

    @property
    def valid_until(self) -> date:
        return _add_years(self.store.state.created, VALIDITY_YEARS)

    @property
    def open_document(self) -> OpenDocument | None:
        return self._doc

    def close(self) -> None:
        with self._lock:
            self.store.close()

    # --- shared checks -------------------------------------------------------------------------

    @property
    def _state(self) -> FnState:
        return self.store.state

    @staticmethod
    def _need_size(data: bytes, size: int) -> None:
        if len(data) != size:
            raise FnRefusal(FnError.UNKNOWN_COMMAND, f"request data of {len(data)} bytes, expected {size}")

    @staticmethod
    def _parse_time(raw: bytes) -> datetime:
        try:
            return unpack_datetime(raw)
        except FormatError as exc:
            raise FnRefusal(FnError.BAD_PARAMETER, str(exc)) from None

    @classmethod
    def _timed_request(cls, data: bytes) -> datetime:
        cls._need_size(data, 5)
        return cls._parse_time(data)

    @staticmethod
    def _require(condition: bool, reason: str) -> None:
        if not condition:
            raise FnRefusal(FnError.WRONG_STATE, reason)

    def _require_phase(self, phases: tuple[int, ...]) -> None:
        phase = self._state.phase
        if phase not in phases:
            allowed = ", ".join(str(int(p)) for p in phases)
            raise FnRefusal(FnError.WRONG_STATE, f"life phase {phase}, the command needs phase {allowed}")

    def _require_no_document(self) -> None:
        if self._doc is not None:
            raise FnRefusal(FnError.WRONG_STATE, f"document {int(self._doc.kind):02X}h is open")

    def _require_document(self, kinds: tuple[CurrentDoc, ...], *, with_data: bool) -> OpenDocument:
        doc = self._doc
        if doc is None or doc.kind not in kinds:
            names = "/".join(f"{int(kind):02X}h" for kind in kinds)
            current = "no document" if doc is None else f"document {int(doc.kind):02X}h"
            raise FnRefusal(FnError.WRONG_STATE, f"{current} open, the command finishes {names}")
        if with_data and not doc.tlv:
            raise FnRefusal(FnError.WRONG_STATE, "no document data (07h) received")
        if doc.spoiled:
            raise FnRefusal(FnError.TLV_TOO_LARGE, "document data went over its limit: cancel it with 06h")
        return doc

    def _autonomous(self) -> bool:
        return bool((self._state.work_mode or 0) & WORK_MODE_AUTONOMOUS)

    def _check_expiry(self, when: datetime) -> None:
        if when.date() > self.valid_until:
            raise FnRefusal(
                FnError.EXPIRED, f"FN valid until {self.valid_until}, document dated {when:%Y-%m-%d}"
            )

    def _check_unsent_age(self, now: datetime) -> None:
        first = self.store.first_unconfirmed
        if first is None or self._autonomous():
            return
        oldest = unpack_datetime(first[1])
        if (now.date() - oldest.date()).days > MAX_UNSENT_DAYS:
            raise FnRefusal(
                FnError.OFD_MESSAGE_TOO_OLD,
                f"FD {first[0]} of {oldest:%Y-%m-%d} not sent to the OFD for over {MAX_UNSENT_DAYS} days",
            )

    def _check_not_before_last(self, when: datetime, *, tolerance: timedelta = timedelta(0)) -> None:
        last = self._state.last_fd_time
        if last is not None and when < last - tolerance:
            raise FnRefusal(
                FnError.WRONG_DATETIME,
                f"time {when:%Y-%m-%d %H:%M} is before the last FD ({last:%Y-%m-%d %H:%M})",
            )

    def _check_drift(self, when: datetime) -> None:
        if not self.config.drift_check or self._last_op is None:
            return
        host_before, timer_before = self._last_op
        drift = (when - host_before) - (self.clock() - timer_before)
        if abs(drift) > MAX_DRIFT:
            raise FnRefusal(
                FnError.CLOCK_DRIFT,
                f"host time moved {when - host_before} since the last operation, the FN timer "
                f"{self.clock() - timer_before}",
            )

    def _note_operation(self, when: datetime) -> None:
        self._last_op = (when, self.clock())

    def _begin(
        self, kind: CurrentDoc, limit: int, when: datetime | None, registration_type: int = 0
    ) -> bytes:
        if when is not None:
            self._note_operation(when)
        self._doc = OpenDocument(kind, limit, when, registration_type)
        return b""

    # --- signing -------------------------------------------------------------------------------

    def _sign(
        self,
        state: FnState,
        form: int,
        when: datetime,
        *,
        fixed: bytes = b"",
        archive_fields: bytes = b"",
        shift: int | None = None,
        receipt: int | None = None,
    ) -> tuple[int, int]:
        """Sign the open document with the counters of ``state`` (a copy), store it, close it."""
        fd = state.last_fd + 1
        when_raw = pack_datetime(when)
        host_tlv = bytes(self._doc.tlv) if self._doc is not None else b""
        fp = fiscal_sign(self.config.key, state.fn_number, fd, when_raw, form, fixed, host_tlv)
        document = build_document_tlv(
            form, host_tlv, when=when, fd=fd, fn_number=state.fn_number, fp=fp, shift=shift, receipt=receipt
        )
        archive = bytes([form, 0]) + when_raw + struct.pack("<II", fd, fp) + archive_fields
        state.last_fd = fd
        state.last_fd_time = when
        if self._last_op is not None:
            state.last_op_kkt_time, state.last_op_fn_time = self._last_op
        queued = not bool((state.work_mode or 0) & WORK_MODE_AUTONOMOUS)
        self.store.commit_document(StoredDocument(fd, form, when_raw, archive, document, queued), state)
        self._doc = None
        return fd, fp

    # --- 02h-07h: fiscalisation, closing, common document commands ------------------------------

    def _begin_registration(self, data: bytes) -> bytes:
        if len(data) > 1:
            raise FnRefusal(FnError.UNKNOWN_COMMAND, f"request data of {len(data)} bytes, expected 0 or 1")
        kind_of = {
            0: CurrentDoc.REGISTRATION,
            1: CurrentDoc.REREGISTRATION_NEW_FN,
            2: CurrentDoc.REREGISTRATION,
        }
        report_type = data[0] if data else 0
        if report_type not in kind_of:
            raise FnRefusal(FnError.UNKNOWN_COMMAND, f"unknown registration report type {report_type}")
        self._require_no_document()
        if report_type == 2:
            self._require_phase((Phase.FISCAL,))
            self._require(not self._state.shift_open, "shift is open: close it before re-registration")
        else:
            self._require_phase((Phase.READY,))
        return self._begin(kind_of[report_type], REPORT_TLV_LIMIT, None, report_type)

    def _make_registration(self, data: bytes) -> bytes:
        if len(data) not in (39, 40):
            raise FnRefusal(FnError.UNKNOWN_COMMAND, f"request data of {len(data)} bytes, expected 39 or 40")
        when = self._parse_time(data[:5])
        inn = _parse_inn(data[5:17])
        rnm = _parse_rnm(data[17:37])
        tax_systems, work_mode = data[37], data[38]
        doc = self._require_document(_REGISTRATION_DOCS, with_data=True)
        reason: int | None = None
        if doc.registration_type == 2:
            if len(data) != 40:
                raise FnRefusal(FnError.UNKNOWN_COMMAND, "re-registration needs 40 bytes (with the reason)")
            reason = data[39]
            if reason not in (2, 3, 4):
                raise FnRefusal(FnError.BAD_PARAMETER, f"re-registration reason {reason} is not 2, 3 or 4")
        elif len(data) != 39:
            raise FnRefusal(FnError.UNKNOWN_COMMAND, "registration takes 39 bytes (no reason)")
        elif doc.registration_type == 1:
            reason = 1  # FN replaced: set by the FN itself
        self._check_expiry(when)
        self._check_not_before_last(when)
        self._note_operation(when)
        state = self._state.copy(inn=inn, rnm=rnm, tax_systems=tax_systems, work_mode=work_mode)
        if doc.registration_type != 2:
            state.phase = Phase.FISCAL
        form = _FORM_OF[doc.kind]
        fields = data[5:39] + (bytes([reason]) if form == DocForm.REREGISTRATION else b"")
        state.registration_fds.append(state.last_fd + 1)
        fd, fp = self._sign(state, form, when, fixed=data[5:], archive_fields=fields)
        return Signed(fd, fp).pack()

    def _begin_close_fiscal(self, data: bytes) -> bytes:
        self._need_size(data, 0)
        self._require_phase((Phase.FISCAL,))
        self._require_no_document()
        self._require(not self._state.shift_open, "shift is open: close it before closing fiscal mode")
        return self._begin(CurrentDoc.FISCAL_CLOSE, REPORT_TLV_LIMIT, None)

    def _close_fiscal(self, data: bytes) -> bytes:
        self._need_size(data, 25)
        when = self._parse_time(data[:5])
        rnm = _parse_rnm(data[5:25])
        self._require_document((CurrentDoc.FISCAL_CLOSE,), with_data=True)
        if rnm != self._state.rnm:
            raise FnRefusal(FnError.BAD_PARAMETER, f"RNM {rnm!r} is not the registered {self._state.rnm!r}")
        self._check_not_before_last(when)
        self._note_operation(when)
        # Phase 7 lasts until the OFD has confirmed everything; with nothing to send it is over at once.
        nothing_to_send = self._autonomous() and self.store.unconfirmed_count == 0
        state = self._state.copy(phase=Phase.ARCHIVE if nothing_to_send else Phase.POST_FISCAL)
        fields = data[5:25]
        inn_field = (state.inn or "").encode("ascii").ljust(12, b" ")
        fd, fp = self._sign(
            state, DocForm.FISCAL_CLOSE, when, fixed=fields, archive_fields=inn_field + fields
        )
        return Signed(fd, fp).pack()

    def _cancel_document(self, data: bytes) -> bytes:
        self._need_size(data, 0)
        self._doc = None
        return b""

    def _send_tlv(self, data: bytes) -> bytes:
        if not data:
            raise FnRefusal(FnError.UNKNOWN_COMMAND, "07h without TLV data")
        problem = _tlv_list_problem(data)
        if problem:
            raise FnRefusal(FnError.UNKNOWN_COMMAND, f"07h data are not whole TLVs: {problem}")
        doc = self._doc
        if doc is None:
            raise FnRefusal(FnError.WRONG_STATE, "no document open: begin one first")
        if doc.spoiled:
            raise FnRefusal(FnError.TLV_TOO_LARGE, "document data went over its limit: cancel it with 06h")
        if len(doc.tlv) + len(data) > doc.limit:
            doc.spoiled = True
            raise FnRefusal(
                FnError.TLV_TOO_LARGE,
                f"document data would reach {len(doc.tlv) + len(data)} bytes, over {doc.limit}: send 06h",
            )
        doc.tlv += data
        return b""

    # --- 10h-19h: shifts, receipts, state report --------------------------------------------------

    def _shift_params(self, data: bytes) -> bytes:
        self._need_size(data, 0)
        self._require_phase((Phase.FISCAL,))
        state = self._state
        return ShiftParams(state.shift_open, state.shift_number, state.receipt_number).pack()

    def _begin_open_shift(self, data: bytes) -> bytes:
        when = self._timed_request(data)
        self._require_phase((Phase.FISCAL,))
        self._require(not self._state.shift_open, f"shift {self._state.shift_number} is already open")
        self._require_no_document()
        self._check_expiry(when)
        self._check_unsent_age(when)
        self._check_not_before_last(when, tolerance=SHIFT_OPEN_EARLY)
        return self._begin(CurrentDoc.SHIFT_OPEN, SHIFT_TLV_LIMIT, when)

    def _open_shift(self, data: bytes) -> bytes:
        self._need_size(data, 0)
        doc = self._require_document((CurrentDoc.SHIFT_OPEN,), with_data=True)
        assert doc.when is not None
        self._check_unsent_age(doc.when)
        state = self._state.copy(
            shift_number=self._state.shift_number + 1,
            shift_open=True,
            shift_open_time=doc.when,
            receipt_number=0,
            shift_total=0,
        )
        shift = state.shift_number
        fd, fp = self._sign(
            state, DocForm.SHIFT_OPEN, doc.when, archive_fields=struct.pack("<H", shift), shift=shift
        )
        return ShiftSigned(shift, fd, fp).pack()

    def _begin_close_shift(self, data: bytes) -> bytes:
        when = self._timed_request(data)
        self._require_phase((Phase.FISCAL,))
        self._require(self._state.shift_open, "shift is closed")
        self._require_no_document()
        self._check_unsent_age(when)
        self._check_not_before_last(when)
        return self._begin(CurrentDoc.SHIFT_CLOSE, SHIFT_TLV_LIMIT, when)

    def _close_shift(self, data: bytes) -> bytes:
        self._need_size(data, 0)
        doc = self._require_document((CurrentDoc.SHIFT_CLOSE,), with_data=True)
        assert doc.when is not None
        self._check_unsent_age(doc.when)
        state = self._state.copy(shift_open=False)
        shift = state.shift_number
        fd, fp = self._sign(
            state, DocForm.SHIFT_CLOSE, doc.when, archive_fields=struct.pack("<H", shift), shift=shift
        )
        return ShiftSigned(shift, fd, fp).pack()

    def _begin_receipt(self, data: bytes) -> bytes:
        bso = bool((self._state.work_mode or 0) & WORK_MODE_BSO)
        return self._begin_receipt_like(data, CurrentDoc.BSO if bso else CurrentDoc.RECEIPT)

    def _begin_correction(self, data: bytes) -> bytes:
        bso = bool((self._state.work_mode or 0) & WORK_MODE_BSO)
        return self._begin_receipt_like(data, CurrentDoc.BSO_CORRECTION if bso else CurrentDoc.CORRECTION)

    def _begin_receipt_like(self, data: bytes, kind: CurrentDoc) -> bytes:
        when = self._timed_request(data)
        self._require_phase((Phase.FISCAL,))
        self._require(self._state.shift_open, "shift is closed: open one first")
        self._require_no_document()
        self._check_expiry(when)
        self._check_unsent_age(when)
        self._check_not_before_last(when)
        opened = self._state.shift_open_time
        if opened is not None and when > opened + MAX_SHIFT:
            raise FnRefusal(
                FnError.SHIFT_OVER_24H, f"shift open since {opened:%Y-%m-%d %H:%M}, over 24 hours"
            )
        self._check_drift(when)
        return self._begin(kind, RECEIPT_TLV_LIMIT, when)

    def _make_receipt(self, data: bytes) -> bytes:
        self._need_size(data, 11)
        when = self._parse_time(data[:5])
        operation = data[5]
        if operation not in OPERATIONS:
            raise FnRefusal(FnError.BAD_PARAMETER, f"operation {operation} is not 1..4 (tag 1054)")
        total = int.from_bytes(data[6:11], "little")
        doc = self._require_document(_RECEIPT_DOCS, with_data=True)
        assert doc.when is not None
        if when < doc.when:
            raise FnRefusal(
                FnError.WRONG_DATETIME,
                f"time {when:%Y-%m-%d %H:%M} is before the receipt began ({doc.when:%H:%M})",
            )
        opened = self._state.shift_open_time
        if opened is not None and when > opened + MAX_SHIFT:
            raise FnRefusal(
                FnError.WRONG_DATETIME, f"time {when:%Y-%m-%d %H:%M} is over 24 h after shift open"
            )
        if (
            self._state.receipt_number >= MAX_RECEIPT_NUMBER
            or self._state.shift_total + total > MAX_SHIFT_TOTAL
        ):
            raise FnRefusal(
                FnError.BAD_PARAMETER, "shift totals overflow: cancel the receipt and close the shift"
            )
        self._note_operation(when)
        state = self._state.copy(
            receipt_number=self._state.receipt_number + 1, shift_total=self._state.shift_total + total
        )
        fd, fp = self._sign(
            state,
            _FORM_OF[doc.kind],
            when,
            fixed=data[5:11],
            archive_fields=data[5:11],
            shift=state.shift_number,
            receipt=state.receipt_number,
        )
        return ReceiptSigned(state.receipt_number, fd, fp).pack()

    def _begin_state_report(self, data: bytes) -> bytes:
        when = self._timed_request(data)
        self._require_phase((Phase.FISCAL, Phase.POST_FISCAL))
        self._require(not self._state.shift_open, "shift is open: the state report needs it closed")
        self._require_no_document()
        self._check_expiry(when)
        self._check_not_before_last(when)
        return self._begin(CurrentDoc.STATE_REPORT, REPORT_TLV_LIMIT, when)

    def _make_state_report(self, data: bytes) -> bytes:
        self._need_size(data, 0)
        doc = self._require_document((CurrentDoc.STATE_REPORT,), with_data=False)
        assert doc.when is not None
        unconfirmed = self.store.unconfirmed_count
        first = self.store.first_unconfirmed
        first_time = unpack_datetime(first[1]) if first else None
        fields = struct.pack("<I", unconfirmed) + (first[1] if first else bytes(5))
        fd, fp = self._sign(self._state.copy(), DocForm.STATE_REPORT, doc.when, archive_fields=fields)
        return StateReportSigned(fd, fp, unconfirmed, first_time.date() if first_time else None).pack()

    # --- 20h-26h: OFD exchange -----------------------------------------------------------------

    def _ofd_status(self, data: bytes) -> bytes:
        self._need_size(data, 0)
        self._require_phase(_OFD_PHASES)
        first = self.store.first_unconfirmed
        flags = OFD_FLAG_TRANSPORT if self._transport_up else 0
        if first is not None:
            flags |= OFD_FLAG_MESSAGE_WAITING
            if self._awaiting_receipt:
                flags |= OFD_FLAG_AWAITING_RECEIPT
        return OfdStatus(
            flags=flags,
            reading=self._reading is not None,
            queued=min(self.store.unconfirmed_count, 0xFFFF),
            first_fd=first[0] if first else 0,
            first_time=unpack_datetime(first[1]) if first else None,
        ).pack()

    def _transport_status(self, data: bytes) -> bytes:
        self._need_size(data, 1)
        if data[0] not in (0, 1):
            raise FnRefusal(FnError.UNKNOWN_COMMAND, f"transport status {data[0]} is not 0 or 1")
        self._require_phase(_OFD_PHASES)
        self._transport_up = bool(data[0])
        return b""

    def _begin_read_message(self, data: bytes) -> bytes:
        self._need_size(data, 0)
        self._require_phase(_OFD_PHASES)
        if not self._transport_up:
            raise FnRefusal(FnError.NO_TRANSPORT, "no transport connection: send 21h(1) first")
        first = self.store.first_unconfirmed
        if first is None:
            raise FnRefusal(FnError.NO_DATA, "no document waiting for the OFD")
        document = self.store.document(first[0])
        assert document is not None
        self._reading = OfdMessage(self._state.fn_number, first[0], document.tlv).encode()
        return struct.pack("<H", len(self._reading))

    def _read_message_block(self, data: bytes) -> bytes:
        self._need_size(data, 4)
        offset, size = struct.unpack("<HH", data)
        if size > MAX_READ_BLOCK:
            raise FnRefusal(FnError.UNKNOWN_COMMAND, f"block length {size} over {MAX_READ_BLOCK}")
        message = self._reading
        if message is None:
            raise FnRefusal(FnError.WRONG_STATE, "message reading not started: send 22h first")
        if not self._transport_up:
            raise FnRefusal(FnError.NO_TRANSPORT, "no transport connection")
        if offset > len(message):
            raise FnRefusal(
                FnError.UNKNOWN_COMMAND, f"offset {offset} beyond the {len(message)}-byte message"
            )
        return message[offset : offset + size]

    def _cancel_read_message(self, data: bytes) -> bytes:
        self._need_size(data, 0)
        self._require(self._reading is not None, "message reading not started")
        self._reading = None
        return b""

    def _finish_read_message(self, data: bytes) -> bytes:
        self._need_size(data, 0)
        self._require(self._reading is not None, "message reading not started")
        self._reading = None
        self._awaiting_receipt = True
        return b""

    def _pass_ofd_receipt(self, data: bytes) -> bytes:
        self._require_phase(_OFD_PHASES)
        try:
            receipt = OfdReceipt.decode(data)
        except OfdContainerError as exc:
            raise self._reject(REJECT_WRONG_FORMAT, str(exc)) from None
        if receipt.fn_number != self._state.fn_number:
            raise self._reject(REJECT_WRONG_FN, f"receipt for FN {receipt.fn_number}")
        first = self.store.first_unconfirmed
        if first is None or receipt.fd != first[0]:
            expected = "none queued" if first is None else f"FD {first[0]} expected"
            raise self._reject(REJECT_WRONG_FD, f"receipt for FD {receipt.fd}, {expected}")
        if not receipt.sign_is_valid(self.config.key):
            raise self._reject(REJECT_WRONG_SIGN, f"OFD sign of FD {receipt.fd} does not match")
        state = self._state.copy()
        if state.phase == Phase.POST_FISCAL and self.store.unconfirmed_count == 1:
            state.phase = Phase.ARCHIVE  # the last document after 05h is confirmed
        self.store.confirm(StoredTicket(receipt.fd, pack_datetime(receipt.when), receipt.sign), state)
        self._awaiting_receipt = False
        if state.phase == Phase.ARCHIVE:
            self._transport_up = False
            self._reading = None
        return b"\x00"  # OFD answer code: accepted; no operator message

    @staticmethod
    def _reject(reason: int, text: str) -> FnRefusal:
        return FnRefusal(
            FnError.OFD_MESSAGE_REJECTED, f"OFD receipt rejected ({reason}): {text}", bytes([reason])
        )

    # --- 30h-35h: service ----------------------------------------------------------------------

    def _status(self, data: bytes) -> bytes:
        self._need_size(data, 0)
        state = self._state
        doc = self._doc
        return FnStatus(
            phase=state.phase,
            current_doc=doc.kind if doc else CurrentDoc.NONE,
            doc_data_received=bool(doc and doc.tlv),
            shift_open=state.shift_open,
            warnings=self.warning_flags(),
            last_doc_time=state.last_fd_time,
            fn_number=state.fn_number,
            last_fd=state.last_fd,
        ).pack()

    def _fn_number(self, data: bytes) -> bytes:
        self._need_size(data, 0)
        return self._state.fn_number.encode("ascii")

    def _expiry(self, data: bytes) -> bytes:
        self._need_size(data, 0)
        done = len(self._state.registration_fds)
        left = max(0, self.config.max_registrations - done)
        return FnExpiry(self.valid_until, min(left, 0xFF), min(done, 0xFF)).pack()

    def _version(self, data: bytes) -> bytes:
        self._need_size(data, 0)
        return FnVersion(self.config.version, serial=not self.config.debug).pack()

    def _last_errors(self, data: bytes) -> bytes:
        self._need_size(data, 0)
        return self._last_error.encode("utf-8")[:MAX_LAST_ERROR]

    # --- 40h-47h: archive ----------------------------------------------------------------------

    def _requested_fd(self, data: bytes) -> int:
        self._need_size(data, 4)
        (fd,) = struct.unpack("<I", data)
        self._require_phase(_ARCHIVE_PHASES)
        return fd

    def _stored(self, fd: int) -> StoredDocument:
        document = self.store.document(fd)
        if document is None:
            raise FnRefusal(FnError.NO_DATA, f"no FD {fd} in the archive (last FD {self._state.last_fd})")
        return document

    def _find_document(self, data: bytes) -> bytes:
        document = self._stored(self._requested_fd(data))
        return document.archive[:1] + bytes([int(document.confirmed)]) + document.archive[2:]

    def _ofd_ticket(self, data: bytes) -> bytes:
        fd = self._requested_fd(data)
        ticket = self.store.ticket(fd)
        if ticket is None:
            raise FnRefusal(FnError.NO_DATA, f"no OFD receipt for FD {fd}")
        return OfdTicket(unpack_datetime(ticket.time), ticket.sign, fd).pack()

    def _unconfirmed_count(self, data: bytes) -> bytes:
        self._need_size(data, 0)
        return struct.pack("<H", min(self.store.unconfirmed_count, 0xFFFF))

    def _registration_params(self, data: bytes) -> bytes:
        if len(data) > 1:
            raise FnRefusal(FnError.UNKNOWN_COMMAND, f"request data of {len(data)} bytes, expected 0 or 1")
        self._require_phase(_ARCHIVE_PHASES)
        fds = self._state.registration_fds
        if data:
            index = data[0]
            if not 1 <= index <= len(fds):
                raise FnRefusal(
                    FnError.NO_DATA, f"no registration report number {index} (there are {len(fds)})"
                )
            fd = fds[index - 1]
        else:
            fd = fds[-1]
        archive = self._stored(fd).archive
        # archive: form, confirmed, DATE_TIME 5, FD 4, FP 4, INN 12, RNM 20, tax 1, mode 1 [, reason 1]
        answer = archive[2:7] + archive[15:49]
        if data:
            answer += archive[49:50] or b"\x00"
        return answer + archive[7:15]

    def _document_tlv_begin(self, data: bytes) -> bytes:
        document = self._stored(self._requested_fd(data))
        (form, length) = struct.unpack_from("<HH", document.tlv)
        self._selected = split_tlv(document.tlv[4:])
        self._selected.reverse()
        return DocumentTlvInfo(form, length).pack()

    def _document_tlv_next(self, data: bytes) -> bytes:
        self._need_size(data, 0)
        self._require_phase(_ARCHIVE_PHASES)
        if self._selected is None:
            raise FnRefusal(FnError.WRONG_STATE, "no document selected: send 45h first")
        if not self._selected:
            raise FnRefusal(FnError.NO_DATA, "end of the document")
        return self._selected.pop()

    # --- 60h: debug reset ------------------------------------------------------------------------

    def _reset(self, data: bytes) -> bytes:
        self._need_size(data, 1)
        if data[0] != RESET_WIPE_ARCHIVE or not self.config.debug:
            raise FnRefusal(FnError.UNKNOWN_COMMAND, f"reset code {data[0]:02X}h not supported by this FN")
        state = FnState(fn_number=self._state.fn_number, created=self._state.created)
        self.store.wipe(state)
        self._doc = None
        self._transport_up = False
        self._reading = None
        self._awaiting_receipt = False
        self._selected = None
        self._last_op = None
        return b""


def _tlv_list_problem(data: bytes) -> str | None:
    """Why ``data`` is not a list of whole top-level TLVs, or None. Walks headers only (no copies)."""
    pos, end = 0, len(data)
    while pos < end:
        if end - pos < 4:
            return f"TLV header truncated at offset {pos}: {end - pos} bytes left"
        tag, length = struct.unpack_from("<HH", data, pos)
        if pos + 4 + length > end:
            return f"TLV {tag} at offset {pos} says {length} bytes, only {end - pos - 4} left"
        pos += 4 + length
    return None


def _parse_inn(raw: bytes) -> str:
    text = raw.decode("ascii", errors="replace").rstrip(" ")
    if len(text) not in (10, 12) or not text.isdigit():
        raise FnRefusal(FnError.BAD_PARAMETER, f"INN {raw!r} is not 10 or 12 digits padded with spaces")
    return text


def _parse_rnm(raw: bytes) -> str:
    text = raw.decode("ascii", errors="replace").rstrip(" ")
    if not text or not text.isascii() or not text.isdigit():
        raise FnRefusal(
            FnError.BAD_PARAMETER, f"RNM {raw!r} is not 20 ASCII characters: digits padded with spaces"
        )
    return text
