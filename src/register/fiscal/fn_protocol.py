"""FN command protocol: codes, error codes, data types and the layouts of requests and answers.

A pure codec shared by the host-side driver and the FN emulator (fn-protocol.md §3–§12): each message
layout is one dataclass with ``pack()`` and ``unpack()``, so both sides read and write the same bytes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import date, datetime
from enum import IntEnum
from typing import ClassVar, Self


class Cmd(IntEnum):
    BEGIN_REGISTRATION = 0x02
    MAKE_REGISTRATION = 0x03
    BEGIN_CLOSE_FISCAL = 0x04
    CLOSE_FISCAL = 0x05
    CANCEL_DOCUMENT = 0x06
    SEND_TLV = 0x07
    SHIFT_PARAMS = 0x10
    BEGIN_OPEN_SHIFT = 0x11
    OPEN_SHIFT = 0x12
    BEGIN_CLOSE_SHIFT = 0x13
    CLOSE_SHIFT = 0x14
    BEGIN_RECEIPT = 0x15
    MAKE_RECEIPT = 0x16
    BEGIN_CORRECTION = 0x17
    BEGIN_STATE_REPORT = 0x18
    MAKE_STATE_REPORT = 0x19
    OFD_STATUS = 0x20
    TRANSPORT_STATUS = 0x21
    BEGIN_READ_MESSAGE = 0x22
    READ_MESSAGE_BLOCK = 0x23
    CANCEL_READ_MESSAGE = 0x24
    FINISH_READ_MESSAGE = 0x25
    PASS_OFD_RECEIPT = 0x26
    STATUS = 0x30
    FN_NUMBER = 0x31
    EXPIRY = 0x32
    VERSION = 0x33
    LAST_ERRORS = 0x35
    FIND_DOCUMENT = 0x40
    OFD_TICKET = 0x41
    UNCONFIRMED_COUNT = 0x42
    REGISTRATION_PARAMS = 0x43
    DOCUMENT_TLV_BEGIN = 0x45
    DOCUMENT_TLV_NEXT = 0x46
    RESET = 0x60


class FnError(IntEnum):
    OK = 0x00
    UNKNOWN_COMMAND = 0x01
    WRONG_STATE = 0x02
    FN_FAILURE = 0x03
    CRYPTO_FAILURE = 0x04
    EXPIRED = 0x05
    ARCHIVE_FULL = 0x06
    WRONG_DATETIME = 0x07
    NO_DATA = 0x08
    BAD_PARAMETER = 0x09
    TLV_TOO_LARGE = 0x10
    NO_TRANSPORT = 0x11
    CRYPTO_EXHAUSTED = 0x12
    OFD_STORAGE_EXHAUSTED = 0x14
    OFD_MESSAGE_TOO_OLD = 0x15
    SHIFT_OVER_24H = 0x16
    CLOCK_DRIFT = 0x17
    OFD_MESSAGE_REJECTED = 0x20


ERROR_TEXT: dict[int, tuple[str, str]] = {
    0x01: ("неизвестная команда, неверный формат или параметры", "unknown command, bad format or parameters"),
    0x02: ("неверное состояние ФН", "wrong FN state for this command"),
    0x03: ("отказ ФН", "FN failure"),
    0x04: ("отказ криптографического сопроцессора", "crypto-coprocessor failure"),
    0x05: ("закончен срок эксплуатации ФН", "FN lifetime expired"),
    0x06: ("архив ФН переполнен", "FN archive full"),
    0x07: ("неверные дата и/или время", "wrong date/time"),
    0x08: ("нет запрошенных данных", "requested data absent"),
    0x09: ("некорректное значение параметров команды", "incorrect parameter value"),
    0x10: ("превышение размеров TLV данных", "TLV data too large for the document"),
    0x11: ("нет транспортного соединения", "no transport connection to the OFD"),
    0x12: ("исчерпан ресурс КС", "crypto-coprocessor resource exhausted"),
    0x14: ("исчерпан ресурс хранения документов для ОФД", "storage for OFD documents exhausted"),
    0x15: ("превышено время ожидания передачи сообщения (30 дней)", "oldest unsent OFD message over 30 days"),
    0x16: ("продолжительность смены более 24 часов", "shift longer than 24 hours"),
    0x17: ("неверная разница во времени между двумя операциями", "clock drift over 5 minutes"),
    0x20: ("сообщение от ОФД не может быть принято", "OFD message cannot be accepted"),
}


DEBUG_FN_PREFIX = "9999"  # §15: debug FN numbers; their documents are not fiscal
EMULATED_NOTICE = "ТЕСТОВЫЙ / НЕ ФИСКАЛЬНЫЙ ДОКУМЕНТ: debug FN 9999…, FD, FP and QR are emulated, not fiscal"


def is_debug_fn(fn_number: str) -> bool:
    """A debug FN (number 9999…, §15): what it signs is marked as emulated wherever it is shown."""
    return fn_number.startswith(DEBUG_FN_PREFIX)


def error_text(code: int) -> str:
    ru, en = ERROR_TEXT.get(code, ("неизвестная ошибка", "unknown error"))
    return f"FN error {code:02X}h: {ru} / {en}"


class Phase(IntEnum):
    SETUP = 0
    READY = 1
    FISCAL = 3
    POST_FISCAL = 7
    ARCHIVE = 15


class CurrentDoc(IntEnum):
    """Document open in the FN (30h offset 1)."""

    NONE = 0x00
    REGISTRATION = 0x01
    SHIFT_OPEN = 0x02
    RECEIPT = 0x04
    SHIFT_CLOSE = 0x08
    FISCAL_CLOSE = 0x10
    BSO = 0x11
    REREGISTRATION_NEW_FN = 0x12
    REREGISTRATION = 0x13
    CORRECTION = 0x14
    BSO_CORRECTION = 0x15
    STATE_REPORT = 0x17


class DocForm(IntEnum):
    """Fiscal document form code: the archive's document type and the document's top-level STLV tag."""

    REGISTRATION = 1
    REREGISTRATION = 11
    SHIFT_OPEN = 2
    STATE_REPORT = 21
    RECEIPT = 3
    CORRECTION = 31
    BSO = 4
    BSO_CORRECTION = 41
    SHIFT_CLOSE = 5
    FISCAL_CLOSE = 6
    OFD_RECEIPT = 7


class FormatError(ValueError):
    """A message whose bytes do not fit its layout."""


# --- data types -------------------------------------------------------------------------------


def pack_datetime(dt: datetime) -> bytes:
    """DATE_TIME: YY-2000 MM DD hh mm, binary."""
    if not 2000 <= dt.year <= 2255:
        raise ValueError(f"year {dt.year} cannot be written as DATE_TIME")
    return bytes([dt.year - 2000, dt.month, dt.day, dt.hour, dt.minute])


def unpack_datetime(raw: bytes) -> datetime:
    if len(raw) != 5:
        raise FormatError(f"DATE_TIME needs 5 bytes, got {len(raw)}")
    try:
        return datetime(2000 + raw[0], raw[1], raw[2], raw[3], raw[4])
    except ValueError as exc:
        raise FormatError(f"DATE_TIME {raw.hex(' ')} is not a date: {exc}") from None


def pack_date(d: date) -> bytes:
    return bytes([d.year - 2000, d.month, d.day])


def unpack_date(raw: bytes) -> date | None:
    """DATE: YY MM DD; all zeros means no date."""
    if len(raw) != 3:
        raise FormatError(f"DATE needs 3 bytes, got {len(raw)}")
    if raw == b"\0\0\0":
        return None
    try:
        return date(2000 + raw[0], raw[1], raw[2])
    except ValueError as exc:
        raise FormatError(f"DATE {raw.hex(' ')} is not a date: {exc}") from None


def pack_ascii(text: str, size: int, *, field: str) -> bytes:
    raw = text.encode("ascii")
    if len(raw) > size:
        raise ValueError(f"{field} {text!r} is longer than {size} characters")
    return raw.ljust(size, b" ")


def unpack_ascii(raw: bytes) -> str:
    return raw.decode("ascii", errors="replace").rstrip(" \0")


def pack_u40(value: int) -> bytes:
    if not 0 <= value < 1 << 40:
        raise ValueError(f"{value} does not fit Uint40")
    return value.to_bytes(5, "little")


def _need(data: bytes, size: int, what: str, *, exact: bool = True) -> None:
    if (len(data) != size) if exact else (len(data) < size):
        raise FormatError(f"{what}: expected {size} bytes, got {len(data)}")


# --- messages -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FnStatus:
    """30h answer."""

    phase: int
    current_doc: int
    doc_data_received: bool
    shift_open: bool
    warnings: int
    last_doc_time: datetime | None
    fn_number: str
    last_fd: int

    SIZE: ClassVar[int] = 30

    def pack(self) -> bytes:
        when = pack_datetime(self.last_doc_time) if self.last_doc_time else bytes(5)
        return (
            bytes([self.phase, self.current_doc, int(self.doc_data_received), int(self.shift_open)])
            + bytes([self.warnings])
            + when
            + pack_ascii(self.fn_number, 16, field="FN number")
            + struct.pack("<I", self.last_fd)
        )

    @classmethod
    def unpack(cls, data: bytes) -> Self:
        _need(data, cls.SIZE, "30h FN status")
        raw_time = data[5:10]
        return cls(
            phase=data[0],
            current_doc=data[1],
            doc_data_received=bool(data[2]),
            shift_open=bool(data[3]),
            warnings=data[4],
            last_doc_time=None if raw_time == bytes(5) else unpack_datetime(raw_time),
            fn_number=unpack_ascii(data[10:26]),
            last_fd=struct.unpack_from("<I", data, 26)[0],
        )


@dataclass(frozen=True, slots=True)
class FnExpiry:
    """32h answer."""

    valid_until: date
    registrations_left: int
    registrations_done: int

    def pack(self) -> bytes:
        return pack_date(self.valid_until) + bytes([self.registrations_left, self.registrations_done])

    @classmethod
    def unpack(cls, data: bytes) -> Self:
        _need(data, 5, "32h FN expiry")
        valid = unpack_date(data[:3])
        if valid is None:
            raise FormatError("32h FN expiry: no date")
        return cls(valid, data[3], data[4])


@dataclass(frozen=True, slots=True)
class FnVersion:
    """33h answer."""

    software: str
    serial: bool  # False: debug FN

    def pack(self) -> bytes:
        return pack_ascii(self.software, 16, field="FN software version") + bytes([int(self.serial)])

    @classmethod
    def unpack(cls, data: bytes) -> Self:
        _need(data, 17, "33h FN version")
        return cls(unpack_ascii(data[:16]), bool(data[16]))


@dataclass(frozen=True, slots=True)
class RegistrationRequest:
    """03h request (types 0 and 1: 39 bytes; type 2 adds the re-registration reason)."""

    when: datetime
    inn: str
    rnm: str
    tax_systems: int
    work_mode: int
    reason: int | None = None

    def pack(self) -> bytes:
        body = (
            pack_datetime(self.when)
            + pack_ascii(self.inn, 12, field="INN")
            + pack_ascii(self.rnm, 20, field="KKT registration number")
            + bytes([self.tax_systems, self.work_mode])
        )
        return body + (bytes([self.reason]) if self.reason is not None else b"")

    @classmethod
    def unpack(cls, data: bytes) -> Self:
        if len(data) not in (39, 40):
            raise FormatError(f"03h registration: expected 39 or 40 bytes, got {len(data)}")
        return cls(
            when=unpack_datetime(data[:5]),
            inn=unpack_ascii(data[5:17]),
            rnm=unpack_ascii(data[17:37]),
            tax_systems=data[37],
            work_mode=data[38],
            reason=data[39] if len(data) == 40 else None,
        )


@dataclass(frozen=True, slots=True)
class CloseFiscalRequest:
    """05h request."""

    when: datetime
    rnm: str

    def pack(self) -> bytes:
        return pack_datetime(self.when) + pack_ascii(self.rnm, 20, field="KKT registration number")

    @classmethod
    def unpack(cls, data: bytes) -> Self:
        _need(data, 25, "05h close fiscal mode")
        return cls(unpack_datetime(data[:5]), unpack_ascii(data[5:25]))


@dataclass(frozen=True, slots=True)
class Signed:
    """03h / 05h answer: the document's FD number and fiscal sign."""

    fd: int
    fp: int

    def pack(self) -> bytes:
        return struct.pack("<II", self.fd, self.fp)

    @classmethod
    def unpack(cls, data: bytes) -> Self:
        _need(data, 8, "FD/FP answer")
        return cls(*struct.unpack("<II", data))


@dataclass(frozen=True, slots=True)
class ShiftParams:
    """10h answer."""

    is_open: bool
    shift: int
    receipt: int

    def pack(self) -> bytes:
        return struct.pack("<BHH", int(self.is_open), self.shift, self.receipt)

    @classmethod
    def unpack(cls, data: bytes) -> Self:
        _need(data, 5, "10h shift parameters")
        is_open, shift, receipt = struct.unpack("<BHH", data)
        return cls(bool(is_open), shift, receipt)


@dataclass(frozen=True, slots=True)
class ShiftSigned:
    """12h / 14h answer."""

    shift: int
    fd: int
    fp: int

    def pack(self) -> bytes:
        return struct.pack("<HII", self.shift, self.fd, self.fp)

    @classmethod
    def unpack(cls, data: bytes) -> Self:
        _need(data, 10, "shift answer")
        return cls(*struct.unpack("<HII", data))


@dataclass(frozen=True, slots=True)
class ReceiptRequest:
    """16h request."""

    when: datetime
    operation: int
    total: int  # kopecks

    def pack(self) -> bytes:
        return pack_datetime(self.when) + bytes([self.operation]) + pack_u40(self.total)

    @classmethod
    def unpack(cls, data: bytes) -> Self:
        _need(data, 11, "16h make receipt")
        return cls(unpack_datetime(data[:5]), data[5], int.from_bytes(data[6:11], "little"))


@dataclass(frozen=True, slots=True)
class ReceiptSigned:
    """16h answer."""

    receipt: int
    fd: int
    fp: int

    def pack(self) -> bytes:
        return struct.pack("<HII", self.receipt, self.fd, self.fp)

    @classmethod
    def unpack(cls, data: bytes) -> Self:
        _need(data, 10, "16h receipt answer")
        return cls(*struct.unpack("<HII", data))


@dataclass(frozen=True, slots=True)
class StateReportSigned:
    """19h answer."""

    fd: int
    fp: int
    unconfirmed: int
    first_unconfirmed: date | None

    def pack(self) -> bytes:
        first = pack_date(self.first_unconfirmed) if self.first_unconfirmed else bytes(3)
        return struct.pack("<III", self.fd, self.fp, self.unconfirmed) + first

    @classmethod
    def unpack(cls, data: bytes) -> Self:
        _need(data, 15, "19h state report answer")
        fd, fp, unconfirmed = struct.unpack_from("<III", data)
        return cls(fd, fp, unconfirmed, unpack_date(data[12:15]))


@dataclass(frozen=True, slots=True)
class OfdStatus:
    """20h answer."""

    flags: int
    reading: bool
    queued: int
    first_fd: int
    first_time: datetime | None

    SIZE: ClassVar[int] = 13

    def pack(self) -> bytes:
        when = pack_datetime(self.first_time) if self.first_time else bytes(5)
        return struct.pack("<BBHI", self.flags, int(self.reading), self.queued, self.first_fd) + when

    @classmethod
    def unpack(cls, data: bytes) -> Self:
        _need(data, cls.SIZE, "20h OFD exchange status")
        flags, reading, queued, first_fd = struct.unpack_from("<BBHI", data)
        raw_time = data[8:13]
        when = None if raw_time == bytes(5) else unpack_datetime(raw_time)
        return cls(flags, bool(reading), queued, first_fd, when)


@dataclass(frozen=True, slots=True)
class ArchiveDocument:
    """40h answer: a fiscal document found by number, with the fields its type carries."""

    doc_type: int
    ofd_confirmed: bool
    when: datetime
    fd: int
    fp: int
    operation: int | None = None  # receipts
    total: int | None = None  # receipts, kopecks
    shift: int | None = None  # shift reports
    inn: str | None = None  # registration, FN close
    rnm: str | None = None
    tax_systems: int | None = None  # registration
    work_mode: int | None = None
    reason: int | None = None  # re-registration
    unconfirmed: int | None = None  # state report
    first_unconfirmed: datetime | None = None

    def pack(self) -> bytes:
        head = bytes([self.doc_type, int(self.ofd_confirmed)]) + pack_datetime(self.when)
        head += struct.pack("<II", self.fd, self.fp)
        form = self.doc_type
        if form in (DocForm.RECEIPT, DocForm.CORRECTION, DocForm.BSO, DocForm.BSO_CORRECTION):
            return head + bytes([self.operation or 0]) + pack_u40(self.total or 0)
        if form in (DocForm.SHIFT_OPEN, DocForm.SHIFT_CLOSE):
            return head + struct.pack("<H", self.shift or 0)
        if form in (DocForm.REGISTRATION, DocForm.REREGISTRATION):
            body = head + pack_ascii(self.inn or "", 12, field="INN")
            body += pack_ascii(self.rnm or "", 20, field="RNM")
            body += bytes([self.tax_systems or 0, self.work_mode or 0])
            return body + (bytes([self.reason or 0]) if form == DocForm.REREGISTRATION else b"")
        if form == DocForm.FISCAL_CLOSE:
            return (
                head
                + pack_ascii(self.inn or "", 12, field="INN")
                + pack_ascii(self.rnm or "", 20, field="RNM")
            )
        if form == DocForm.STATE_REPORT:
            first = pack_datetime(self.first_unconfirmed) if self.first_unconfirmed else bytes(5)
            return head + struct.pack("<I", self.unconfirmed or 0) + first
        return head

    @classmethod
    def unpack(cls, data: bytes) -> Self:
        _need(data, 15, "40h archive document", exact=False)
        form = data[0]
        common = {
            "doc_type": form,
            "ofd_confirmed": bool(data[1]),
            "when": unpack_datetime(data[2:7]),
            "fd": struct.unpack_from("<I", data, 7)[0],
            "fp": struct.unpack_from("<I", data, 11)[0],
        }
        rest = data[15:]
        if form in (DocForm.RECEIPT, DocForm.CORRECTION, DocForm.BSO, DocForm.BSO_CORRECTION):
            _need(rest, 6, "40h receipt fields")
            return cls(**common, operation=rest[0], total=int.from_bytes(rest[1:6], "little"))
        if form in (DocForm.SHIFT_OPEN, DocForm.SHIFT_CLOSE):
            _need(rest, 2, "40h shift fields")
            return cls(**common, shift=struct.unpack("<H", rest)[0])
        if form in (DocForm.REGISTRATION, DocForm.REREGISTRATION):
            size = 35 if form == DocForm.REREGISTRATION else 34
            _need(rest, size, "40h registration fields")
            return cls(
                **common,
                inn=unpack_ascii(rest[:12]),
                rnm=unpack_ascii(rest[12:32]),
                tax_systems=rest[32],
                work_mode=rest[33],
                reason=rest[34] if form == DocForm.REREGISTRATION else None,
            )
        if form == DocForm.FISCAL_CLOSE:
            _need(rest, 32, "40h FN close fields")
            return cls(**common, inn=unpack_ascii(rest[:12]), rnm=unpack_ascii(rest[12:32]))
        if form == DocForm.STATE_REPORT:
            _need(rest, 9, "40h state report fields")
            raw_time = rest[4:9]
            return cls(
                **common,
                unconfirmed=struct.unpack_from("<I", rest)[0],
                first_unconfirmed=None if raw_time == bytes(5) else unpack_datetime(raw_time),
            )
        raise FormatError(f"40h: unknown document type {form}")


@dataclass(frozen=True, slots=True)
class OfdTicket:
    """41h answer: the OFD's receipt (квитанция) for a document."""

    when: datetime
    ofd_sign: bytes  # 18 bytes
    fd: int

    def pack(self) -> bytes:
        if len(self.ofd_sign) != 18:
            raise ValueError("OFD fiscal sign must be 18 bytes")
        return pack_datetime(self.when) + self.ofd_sign + struct.pack("<I", self.fd)

    @classmethod
    def unpack(cls, data: bytes) -> Self:
        _need(data, 27, "41h OFD receipt")
        return cls(unpack_datetime(data[:5]), bytes(data[5:23]), struct.unpack_from("<I", data, 23)[0])


@dataclass(frozen=True, slots=True)
class DocumentTlvInfo:
    """45h answer."""

    form: int
    length: int

    def pack(self) -> bytes:
        return struct.pack("<HH", self.form, self.length)

    @classmethod
    def unpack(cls, data: bytes) -> Self:
        _need(data, 4, "45h document TLV header")
        return cls(*struct.unpack("<HH", data))


def pack_u32(value: int) -> bytes:
    return struct.pack("<I", value)


def unpack_u32(data: bytes, what: str) -> int:
    _need(data, 4, what)
    return struct.unpack("<I", data)[0]


def unpack_u16(data: bytes, what: str) -> int:
    _need(data, 2, what)
    return struct.unpack("<H", data)[0]
