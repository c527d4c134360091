"""A small FN (fiscal storage) client written from /work/shared/reference/fn-protocol.md alone.

Deliberately independent of the project: it imports nothing from ``register``. It frames commands
(§2: ``04h LEN CMD DATA CRC16``, CRC-16/CCITT-FALSE, little-endian), talks to a pty (raw termios) or a
TCP socket, and decodes the answers the acceptance test needs into small typed records.
"""

from __future__ import annotations

import os
import select
import socket
import struct
import termios
import time
import tty
from collections import deque
from dataclasses import dataclass
from datetime import datetime

MSG_START = 0x04
ENQ = 0x05
MAX_DATA = 1024

# Command codes (§9).
CMD_BEGIN_REGISTRATION = 0x02
CMD_MAKE_REGISTRATION = 0x03
CMD_BEGIN_CLOSE_FISCAL = 0x04
CMD_CLOSE_FISCAL = 0x05
CMD_CANCEL_DOCUMENT = 0x06
CMD_SEND_DATA = 0x07
CMD_SHIFT_PARAMS = 0x10
CMD_BEGIN_OPEN_SHIFT = 0x11
CMD_OPEN_SHIFT = 0x12
CMD_BEGIN_CLOSE_SHIFT = 0x13
CMD_CLOSE_SHIFT = 0x14
CMD_BEGIN_RECEIPT = 0x15
CMD_MAKE_RECEIPT = 0x16
CMD_BEGIN_CORRECTION = 0x17
CMD_BEGIN_STATE_REPORT = 0x18
CMD_MAKE_STATE_REPORT = 0x19
CMD_OFD_STATUS = 0x20
CMD_TRANSPORT = 0x21
CMD_BEGIN_READ_MESSAGE = 0x22
CMD_READ_BLOCK = 0x23
CMD_CANCEL_READ = 0x24
CMD_FINISH_READ = 0x25
CMD_OFD_RECEIPT = 0x26
CMD_STATUS = 0x30
CMD_FN_NUMBER = 0x31
CMD_EXPIRY = 0x32
CMD_VERSION = 0x33
CMD_LAST_ERRORS = 0x35
CMD_FIND_FD = 0x40
CMD_OFD_TICKET = 0x41
CMD_UNCONFIRMED = 0x42
CMD_FD_AS_TLV = 0x45
CMD_NEXT_TLV = 0x46
CMD_DEBUG_RESET = 0x60

# Response codes (§11).
OK = 0x00
E_FORMAT = 0x01
E_STATE = 0x02
E_FN = 0x03
E_EXPIRED = 0x05
E_TIME = 0x07
E_NO_DATA = 0x08
E_PARAM = 0x09
E_TLV_SIZE = 0x10
E_NO_TRANSPORT = 0x11
E_OFD_30_DAYS = 0x15
E_SHIFT_24H = 0x16
E_DRIFT = 0x17
E_OFD_REJECT = 0x20

# Document types (40h/45h, §9.6) and current-document codes (30h offset 1, §6).
DOC_REGISTRATION = 1
DOC_SHIFT_OPEN = 2
DOC_RECEIPT = 3
DOC_SHIFT_CLOSE = 5
CUR_NONE = 0x00
CUR_REGISTRATION = 0x01
CUR_SHIFT_OPEN = 0x02
CUR_RECEIPT = 0x04
CUR_SHIFT_CLOSE = 0x08

# Operation (16h, = FFD 1054).
OP_SALE = 1
OP_SALE_RETURN = 2


class FnError(Exception):
    """A transport or framing problem (not an FN response code)."""


# --------------------------------------------------------------------------- encoding


def crc16_ccitt_false(data: bytes, crc: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, xorout 0 (§2)."""
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def fn_frame(code: int, data: bytes = b"") -> bytes:
    """A complete frame: 04h, LEN (N + 1, LE), code, data, CRC LE over LEN..data."""
    body = struct.pack("<H", len(data) + 1) + bytes([code]) + data
    return bytes([MSG_START]) + body + struct.pack("<H", crc16_ccitt_false(body))


def dt_bytes(t: datetime) -> bytes:
    """DATE_TIME (§4): YY MM DD hh mm, binary, YY = year - 2000."""
    return bytes([t.year - 2000, t.month, t.day, t.hour, t.minute])


def dt_parse(b: bytes) -> datetime:
    return datetime(2000 + b[0], b[1], b[2], b[3], b[4])


def tlv(tag: int, value: bytes) -> bytes:
    """TLV (ffd-receipt.md §1): tag Uint16 LE, length Uint16 LE, value."""
    return struct.pack("<HH", tag, len(value)) + value


def vln(n: int) -> bytes:
    return n.to_bytes(max(1, (n.bit_length() + 7) // 8), "little")


def fvln(text: str) -> bytes:
    ip, _, fp = text.partition(".")
    return bytes([len(fp)]) + vln(int(ip + fp))


def tlv_string(tag: int, text: str) -> bytes:
    return tlv(tag, text.encode("cp866"))


def tlv_byte(tag: int, value: int) -> bytes:
    return tlv(tag, bytes([value]))


def tlv_u32(tag: int, value: int) -> bytes:
    return tlv(tag, struct.pack("<I", value))


def tlv_vln(tag: int, value: int) -> bytes:
    return tlv(tag, vln(value))


def split_tlvs(data: bytes) -> list[tuple[int, bytes]]:
    """Split a TLV list; raise ValueError if a length runs past the end."""
    out: list[tuple[int, bytes]] = []
    off = 0
    while off < len(data):
        if off + 4 > len(data):
            raise ValueError(f"truncated TLV header at {off}")
        tag, length = struct.unpack_from("<HH", data, off)
        if off + 4 + length > len(data):
            raise ValueError(f"TLV {tag} length {length} runs past the end")
        out.append((tag, data[off + 4 : off + 4 + length]))
        off += 4 + length
    return out


def ascii_field(text: str, width: int) -> bytes:
    raw = text.encode("ascii")
    if len(raw) > width:
        raise ValueError(f"{text!r} longer than {width}")
    return raw.ljust(width, b" ")


# --------------------------------------------------------------------------- answers


@dataclass(frozen=True)
class Answer:
    raw: bytes  # the whole frame as received
    answer: int  # the ANSWER byte including the warning bit
    data: bytes

    @property
    def code(self) -> int:
        return self.answer & 0x7F

    @property
    def warning(self) -> bool:
        return bool(self.answer & 0x80)


@dataclass(frozen=True)
class Status:  # 30h
    phase: int
    current_doc: int
    doc_data: int
    shift_open: int
    warnings: int
    last_time: bytes
    fn_number: str
    last_fd: int

    @classmethod
    def parse(cls, d: bytes) -> Status:
        if len(d) != 30:
            raise ValueError(f"30h answer must be 30 bytes, got {len(d)}")
        return cls(d[0], d[1], d[2], d[3], d[4], d[5:10], d[10:26].decode("ascii"),
                   struct.unpack_from("<I", d, 26)[0])


@dataclass(frozen=True)
class Expiry:  # 32h
    date: bytes
    registrations_left: int
    registrations_done: int

    @classmethod
    def parse(cls, d: bytes) -> Expiry:
        if len(d) != 5:
            raise ValueError(f"32h answer must be 5 bytes, got {len(d)}")
        return cls(d[0:3], d[3], d[4])


@dataclass(frozen=True)
class Version:  # 33h
    software: bytes
    serial: int  # 0 debug, 1 serial

    @classmethod
    def parse(cls, d: bytes) -> Version:
        if len(d) != 17:
            raise ValueError(f"33h answer must be 17 bytes, got {len(d)}")
        return cls(d[0:16], d[16])


@dataclass(frozen=True)
class FdFp:  # 03h, 05h answers
    fd: int
    fp: int

    @classmethod
    def parse(cls, d: bytes) -> FdFp:
        if len(d) != 8:
            raise ValueError(f"answer must be 8 bytes, got {len(d)}")
        fd, fp = struct.unpack("<II", d)
        return cls(fd, fp)


@dataclass(frozen=True)
class NumFdFp:  # 12h, 14h, 16h answers: Uint16 number, FD, FP
    number: int
    fd: int
    fp: int

    @classmethod
    def parse(cls, d: bytes) -> NumFdFp:
        if len(d) != 10:
            raise ValueError(f"answer must be 10 bytes, got {len(d)}")
        return cls(*struct.unpack("<HII", d))


@dataclass(frozen=True)
class ShiftParams:  # 10h
    open: int
    shift: int
    receipt: int

    @classmethod
    def parse(cls, d: bytes) -> ShiftParams:
        if len(d) != 5:
            raise ValueError(f"10h answer must be 5 bytes, got {len(d)}")
        return cls(*struct.unpack("<BHH", d))


@dataclass(frozen=True)
class OfdStatus:  # 20h
    flags: int
    reading: int
    queued: int
    first_fd: int
    first_time: bytes

    @classmethod
    def parse(cls, d: bytes) -> OfdStatus:
        if len(d) != 13:
            raise ValueError(f"20h answer must be 13 bytes, got {len(d)}")
        flags, reading, queued, first_fd = struct.unpack_from("<BBHI", d)
        return cls(flags, reading, queued, first_fd, d[8:13])


@dataclass(frozen=True)
class FoundDocument:  # 40h
    doc_type: int
    ofd_confirmed: int
    time: bytes
    fd: int
    fp: int
    rest: bytes  # type-specific tail after DATE_TIME, FD, FP

    @classmethod
    def parse(cls, d: bytes) -> FoundDocument:
        if len(d) < 15:
            raise ValueError(f"40h answer too short: {len(d)}")
        fd, fp = struct.unpack_from("<II", d, 7)
        return cls(d[0], d[1], d[2:7], fd, fp, d[15:])

    @property
    def operation(self) -> int:  # receipts
        return self.rest[0]

    @property
    def total(self) -> int:  # receipts, Uint40
        return int.from_bytes(self.rest[1:6], "little")

    @property
    def shift(self) -> int:  # shift open/close
        return struct.unpack_from("<H", self.rest)[0]


# --------------------------------------------------------------------------- transports


class Transport:
    def write(self, data: bytes) -> None:
        raise NotImplementedError

    def read(self, n: int, timeout: float) -> bytes:
        """Up to n bytes; b"" on timeout."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class PtyTransport(Transport):
    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(self.fd)
        attrs = termios.tcgetattr(self.fd)
        attrs[4] = attrs[5] = termios.B115200  # ispeed, ospeed: 115200 8N1 (§1)
        termios.tcsetattr(self.fd, termios.TCSANOW, attrs)

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = os.write(self.fd, view)
            view = view[n:]

    def read(self, n: int, timeout: float) -> bytes:
        ready, _, _ = select.select([self.fd], [], [], max(0.0, timeout))
        if not ready:
            return b""
        return os.read(self.fd, n)

    def close(self) -> None:
        os.close(self.fd)


class TcpTransport(Transport):
    def __init__(self, host: str, port: int) -> None:
        self.sock = socket.create_connection((host, port), timeout=5)

    def write(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read(self, n: int, timeout: float) -> bytes:
        ready, _, _ = select.select([self.sock], [], [], max(0.0, timeout))
        if not ready:
            return b""
        chunk = self.sock.recv(n)
        if not chunk:
            raise FnError("connection closed by the FN")
        return chunk

    def close(self) -> None:
        self.sock.close()


# --------------------------------------------------------------------------- client


class FnClient:
    def __init__(self, transport: Transport, timeout: float = 5.0) -> None:
        self.t = transport
        self.timeout = timeout
        self.skipped: bytes = b""  # bytes seen before the last answer's start byte
        self._buf = b""
        self.history: deque[tuple[str, bytes]] = deque(maxlen=40)  # ("->" sent / "<-" received)

    # ---- raw link layer

    def _read_exact(self, n: int, deadline: float) -> bytes:
        while len(self._buf) < n:
            chunk = self.t.read(4096, deadline - time.monotonic())
            if not chunk:
                if time.monotonic() >= deadline:
                    raise FnError(f"timeout: wanted {n} bytes, have {self._buf.hex(' ')!r}")
                continue
            self._buf += chunk
        out, self._buf = self._buf[:n], self._buf[n:]
        return out

    def read_answer(self, timeout: float | None = None) -> Answer:
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        skipped = bytearray()
        while True:
            b = self._read_exact(1, deadline)
            if b[0] == MSG_START:
                break
            skipped += b
        self.skipped = bytes(skipped)
        head = self._read_exact(2, deadline)
        (length,) = struct.unpack("<H", head)
        if not 1 <= length <= MAX_DATA + 1:
            raise FnError(f"bad LEN {length} in answer")
        rest = self._read_exact(length + 2, deadline)
        body = head + rest[:-2]
        (crc,) = struct.unpack("<H", rest[-2:])
        raw = bytes([MSG_START]) + head + rest
        self.history.append(("<-", raw))
        if crc != crc16_ccitt_false(body):
            raise FnError(f"bad CRC in answer {raw.hex(' ')}")
        return Answer(raw=raw, answer=body[2], data=bytes(body[3:]))

    def drain(self, quiet: float = 0.3) -> bytes:
        """Read and return whatever arrives until the line is quiet for `quiet` seconds."""
        got = self._buf
        self._buf = b""
        while True:
            chunk = self.t.read(4096, quiet)
            if not chunk:
                if got:
                    self.history.append(("<- (drained)", got))
                return got
            got += chunk

    def send_raw(self, data: bytes) -> None:
        self.history.append(("->", data))
        self.t.write(data)

    def dump_history(self) -> str:
        return "\n".join(f"{d} {b.hex(' ')}" for d, b in self.history)

    def request(self, code: int, data: bytes = b"") -> Answer:
        self.send_raw(fn_frame(code, data))
        return self.read_answer()

    def enq(self) -> Answer:
        self.send_raw(bytes([ENQ]))
        return self.read_answer()

    def ok(self, code: int, data: bytes = b"") -> bytes:
        """Request that must succeed (code 00h, warning bit allowed); returns DATA."""
        a = self.request(code, data)
        if a.code != OK:
            raise AssertionError(
                f"command {code:02X}h {data.hex(' ')} answered {a.answer:02X}h ({a.raw.hex(' ')})")
        return a.data

    def close(self) -> None:
        self.t.close()

    # ---- typed commands

    def status(self) -> Status:
        return Status.parse(self.ok(CMD_STATUS))

    def fn_number(self) -> str:
        return self.ok(CMD_FN_NUMBER).decode("ascii")

    def expiry(self) -> Expiry:
        return Expiry.parse(self.ok(CMD_EXPIRY))

    def version(self) -> Version:
        return Version.parse(self.ok(CMD_VERSION))

    def shift_params(self) -> ShiftParams:
        return ShiftParams.parse(self.ok(CMD_SHIFT_PARAMS))

    def ofd_status(self) -> OfdStatus:
        return OfdStatus.parse(self.ok(CMD_OFD_STATUS))

    def unconfirmed(self) -> int:
        d = self.ok(CMD_UNCONFIRMED)
        if len(d) != 2:
            raise AssertionError(f"42h answer must be 2 bytes, got {d.hex(' ')}")
        return struct.unpack("<H", d)[0]

    def find_fd(self, fd: int) -> FoundDocument:
        return FoundDocument.parse(self.ok(CMD_FIND_FD, struct.pack("<I", fd)))

    def send_tlvs(self, data: bytes) -> None:
        self.ok(CMD_SEND_DATA, data)

    def begin_registration(self, kind: int | None = None) -> None:
        self.ok(CMD_BEGIN_REGISTRATION, b"" if kind is None else bytes([kind]))

    @staticmethod
    def registration_params(t: datetime, inn: str, rnm: str, tax: int, mode: int) -> bytes:
        return dt_bytes(t) + ascii_field(inn, 12) + ascii_field(rnm, 20) + bytes([tax, mode])

    def make_registration(self, t: datetime, inn: str, rnm: str, tax: int, mode: int) -> FdFp:
        return FdFp.parse(self.ok(CMD_MAKE_REGISTRATION, self.registration_params(t, inn, rnm, tax, mode)))

    def begin_open_shift(self, t: datetime) -> None:
        self.ok(CMD_BEGIN_OPEN_SHIFT, dt_bytes(t))

    def open_shift(self) -> NumFdFp:
        return NumFdFp.parse(self.ok(CMD_OPEN_SHIFT))

    def begin_close_shift(self, t: datetime) -> None:
        self.ok(CMD_BEGIN_CLOSE_SHIFT, dt_bytes(t))

    def close_shift(self) -> NumFdFp:
        return NumFdFp.parse(self.ok(CMD_CLOSE_SHIFT))

    def begin_receipt(self, t: datetime) -> None:
        self.ok(CMD_BEGIN_RECEIPT, dt_bytes(t))

    @staticmethod
    def receipt_params(t: datetime, operation: int, total: int) -> bytes:
        return dt_bytes(t) + bytes([operation]) + total.to_bytes(5, "little")

    def make_receipt(self, t: datetime, operation: int, total: int) -> NumFdFp:
        return NumFdFp.parse(self.ok(CMD_MAKE_RECEIPT, self.receipt_params(t, operation, total)))

    def fd_as_tlv(self, fd: int) -> tuple[int, int]:
        d = self.ok(CMD_FD_AS_TLV, struct.pack("<I", fd))
        if len(d) != 4:
            raise AssertionError(f"45h answer must be 4 bytes, got {d.hex(' ')}")
        doc_type, length = struct.unpack("<HH", d)
        return doc_type, length

    def read_document_tlvs(self, fd: int, limit: int = 1000) -> tuple[int, int, list[bytes], Answer]:
        """45h then 46h until 08h. Returns (type, length, raw top-level TLVs, the final answer)."""
        doc_type, length = self.fd_as_tlv(fd)
        items: list[bytes] = []
        for _ in range(limit):
            a = self.request(CMD_NEXT_TLV)
            if a.code != OK:
                return doc_type, length, items, a
            items.append(a.data)
        raise AssertionError("46h never answered 08h")

    def read_message(self, block: int) -> tuple[int, bytes]:
        """22h, 23h x n with blocks of `block` bytes, (not 25h). Returns (22h length, message)."""
        d = self.ok(CMD_BEGIN_READ_MESSAGE)
        if len(d) != 2:
            raise AssertionError(f"22h answer must be 2 bytes, got {d.hex(' ')}")
        (length,) = struct.unpack("<H", d)
        msg = b""
        while len(msg) < length:
            chunk = self.ok(CMD_READ_BLOCK, struct.pack("<HH", len(msg), block))
            if len(chunk) != min(block, length - len(msg)):  # "shorter if less remains"
                raise AssertionError(f"23h at {len(msg)} returned {len(chunk)} bytes (asked {block}, "
                                     f"message {length})")
            msg += chunk
        return length, msg
