"""Acceptance test of the FN emulator through an independent client (tests/independent/fn_client.py).

Every expected value comes from /work/shared/reference/fn-protocol.md (sections cited as §n) and
ffd-receipt.md. The emulator is used only through its command line:
``python -m register emulate fn --pty|--tcp ... --state DIR [--no-drift-check]``.
"""

from __future__ import annotations

import calendar
import contextlib
import os
import re
import select
import signal
import struct
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests.independent.fn_client import (
    CMD_BEGIN_CLOSE_SHIFT,
    CMD_BEGIN_CORRECTION,
    CMD_BEGIN_OPEN_SHIFT,
    CMD_BEGIN_READ_MESSAGE,
    CMD_BEGIN_RECEIPT,
    CMD_BEGIN_REGISTRATION,
    CMD_BEGIN_STATE_REPORT,
    CMD_CANCEL_DOCUMENT,
    CMD_CANCEL_READ,
    CMD_CLOSE_SHIFT,
    CMD_DEBUG_RESET,
    CMD_FD_AS_TLV,
    CMD_FIND_FD,
    CMD_FINISH_READ,
    CMD_LAST_ERRORS,
    CMD_MAKE_RECEIPT,
    CMD_MAKE_REGISTRATION,
    CMD_MAKE_STATE_REPORT,
    CMD_NEXT_TLV,
    CMD_OFD_RECEIPT,
    CMD_OFD_STATUS,
    CMD_OPEN_SHIFT,
    CMD_READ_BLOCK,
    CMD_SEND_DATA,
    CMD_SHIFT_PARAMS,
    CMD_STATUS,
    CMD_TRANSPORT,
    CUR_NONE,
    CUR_RECEIPT,
    CUR_REGISTRATION,
    CUR_SHIFT_CLOSE,
    CUR_SHIFT_OPEN,
    DOC_RECEIPT,
    DOC_REGISTRATION,
    DOC_SHIFT_CLOSE,
    DOC_SHIFT_OPEN,
    E_FORMAT,
    E_NO_DATA,
    E_NO_TRANSPORT,
    E_OFD_30_DAYS,
    E_OFD_REJECT,
    E_PARAM,
    E_SHIFT_24H,
    E_STATE,
    E_TIME,
    E_TLV_SIZE,
    OK,
    OP_SALE,
    OP_SALE_RETURN,
    FnClient,
    FnError,
    NumFdFp,
    PtyTransport,
    ShiftParams,
    Status,
    TcpTransport,
    Transport,
    crc16_ccitt_false,
    dt_bytes,
    fn_frame,
    fvln,
    split_tlvs,
    tlv,
    tlv_byte,
    tlv_string,
    tlv_vln,
    vln,
)

MAIN = Path("/work/main")
PYTHON = MAIN / ".venv" / "bin" / "python"

T0 = datetime(2026, 1, 15, 9, 0)  # registration time; every later document moves forward from here
INN = "7707083893"
RNM = "0000000001012345"
TAX_OSN = 0x01
MODE_NONE = 0x00
MODE_AUTONOMOUS = 0x02  # §8 work mode bit 1: nothing is queued for the OFD (§10)


def m(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


# --------------------------------------------------------------------------- emulator process


@dataclass
class Emulator:
    proc: subprocess.Popen[bytes]
    address: str
    client: FnClient
    stderr_path: Path
    extra_clients: list[FnClient] = field(default_factory=list)

    def stop(self) -> None:
        for c in [self.client, *self.extra_clients]:
            with contextlib.suppress(OSError):
                c.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("emulator did not exit within 15 s of SIGTERM") from None
        assert self.proc.stdout is not None
        more = self.proc.stdout.read()
        err = self.stderr_path.read_text(errors="replace")
        assert rc == 0, f"emulator exit code {rc}; stderr:\n{err}"
        assert more == b"", f"emulator printed more than the one `fn:` line: {more!r}"


def _read_fn_line(proc: subprocess.Popen[bytes], stderr_path: Path, timeout: float = 30.0) -> str:
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    buf = b""
    deadline = time.monotonic() + timeout
    while b"\n" not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            proc.kill()
            raise AssertionError(f"no `fn:` line within {timeout} s; stderr: {stderr_path.read_text()}")
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            chunk = os.read(fd, 1)  # byte by byte: nothing after the line may be swallowed
            if not chunk:
                raise AssertionError(f"emulator exited early; stderr: {stderr_path.read_text()}")
            buf += chunk
    return buf.decode()


def start_emulator(state: Path, logdir: Path, *, tcp: bool = False, drift_check: bool = False) -> Emulator:
    args = [str(PYTHON), "-m", "register", "emulate", "fn"]
    args += ["--tcp", "127.0.0.1:0"] if tcp else ["--pty"]
    args += ["--state", str(state)]
    if not drift_check:
        args.append("--no-drift-check")
    stderr_path = logdir / f"emulator.{time.monotonic_ns()}.stderr"
    with open(stderr_path, "wb") as err:
        proc = subprocess.Popen(args, cwd=MAIN, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err)
    line = _read_fn_line(proc, stderr_path)
    if tcp:
        match = re.fullmatch(r"fn: (127\.0\.0\.1):(\d+)\n", line)
        assert match, f"bad ready line {line!r}"
        transport: Transport = TcpTransport(match.group(1), int(match.group(2)))
        address = f"{match.group(1)}:{match.group(2)}"
    else:
        match = re.fullmatch(r"fn: (/\S+)\n", line)
        assert match, f"bad ready line {line!r}"
        address = match.group(1)
        transport = PtyTransport(address)
    return Emulator(proc, address, FnClient(transport), stderr_path)


@pytest.fixture
def emulators(tmp_path: Path) -> Iterator[Callable[..., Emulator]]:
    started: list[Emulator] = []

    def factory(state: Path | None = None, **kw: bool) -> Emulator:
        emu = start_emulator(state or tmp_path / f"state{len(started)}", tmp_path, **kw)
        started.append(emu)
        return emu

    yield factory
    for emu in started:  # shown by pytest only when the test fails
        print(f"--- last frames on {emu.address}:\n{emu.client.dump_history()}")
    errors = []
    for emu in started:
        try:
            emu.stop()
        except AssertionError as exc:  # stop them all, then report
            errors.append(str(exc))
    assert not errors, "\n".join(errors)


@pytest.fixture
def fn(emulators: Callable[..., Emulator]) -> FnClient:
    return emulators().client


# --------------------------------------------------------------------------- helpers


def registration_tlvs() -> bytes:
    return (
        tlv_string(1048, "ООО Ромашка")
        + tlv_string(1018, INN.ljust(12))
        + tlv_string(1037, RNM.ljust(20))
        + tlv_string(1009, "г. Москва, ул. Тестовая, д. 1")
        + tlv_string(1187, "Магазин №1")
        + tlv_string(1013, "00000000381001234567")
        + tlv_byte(1209, 2)
    )


def register(fn: FnClient, t: datetime = T0, mode: int = MODE_NONE) -> tuple[int, int]:
    fn.begin_registration()
    fn.send_tlvs(registration_tlvs())
    r = fn.make_registration(t, INN, RNM, TAX_OSN, mode)
    return r.fd, r.fp


def open_shift(fn: FnClient, t: datetime) -> NumFdFp:
    fn.begin_open_shift(t)
    fn.send_tlvs(tlv_string(1021, "Кассир Иванова"))
    return fn.open_shift()


def close_shift(fn: FnClient, t: datetime) -> NumFdFp:
    fn.begin_close_shift(t)
    fn.send_tlvs(tlv_string(1021, "Кассир Иванова"))
    return fn.close_shift()


ITEM_MILK = bytes.fromhex(  # ffd-receipt.md §3 example item: Молоко 89.90 x 2 = 179.80, VAT 22 %
    "23 04 30 00 06 04 06 00 8C AE AB AE AA AE 37 04 02 00 1E 23 FF 03 02 00 00 02"
    " 13 04 02 00 3C 46 AF 04 01 00 0B BE 04 01 00 04 BC 04 01 00 01 3C 08 01 00 00"
)


def receipt_tlvs(operation: int, total: int) -> list[bytes]:
    """The TLVs of a receipt, one top-level TLV per element, sent in two 07h commands."""
    item2 = tlv(1059, tlv_string(1030, "Хлеб") + tlv_vln(1079, total - 17980) + tlv(1023, fvln("1"))
                + tlv_vln(1043, total - 17980) + tlv_byte(1199, 11) + tlv_byte(1214, 4)
                + tlv_byte(1212, 1))
    return [
        tlv_byte(1054, operation),
        tlv_byte(1055, TAX_OSN),
        tlv_string(1021, "Кассир Иванова"),
        ITEM_MILK,
        item2,
        tlv_vln(1020, total),
        tlv_vln(1031, total),
    ]


def make_receipt(fn: FnClient, t_begin: datetime, t_make: datetime, operation: int, total: int
                 ) -> tuple[NumFdFp, list[bytes]]:
    fn.begin_receipt(t_begin)
    tlvs = receipt_tlvs(operation, total)
    fn.send_tlvs(b"".join(tlvs[:3]))
    fn.send_tlvs(b"".join(tlvs[3:]))
    return fn.make_receipt(t_make, operation, total), tlvs


def code_of(fn: FnClient, cmd: int, data: bytes = b"") -> int:
    a = fn.request(cmd, data)
    if a.code not in (OK, E_OFD_REJECT):  # §3: on an error the DATA is empty (except 26h/20h)
        assert a.data == b"", f"error answer {a.raw.hex(' ')} carries data"
    return a.code


def fd_req(fd: int) -> bytes:
    return struct.pack("<I", fd)


class BytesTransport(Transport):
    """Feeds canned bytes to FnClient.read_answer (client self-test only)."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def write(self, data: bytes) -> None:
        pass

    def read(self, n: int, timeout: float) -> bytes:
        out, self.data = self.data[:n], self.data[n:]
        return out

    def close(self) -> None:
        pass


# --------------------------------------------------------------------------- client self-check (§2)


REQUEST_VECTORS: list[tuple[int, bytes, str]] = [
    (0x30, b"", "04 01 00 30 FF CD"),
    (0x31, b"", "04 01 00 31 DE DD"),
    (0x32, b"", "04 01 00 32 BD ED"),
    (0x33, b"", "04 01 00 33 9C FD"),
    (0x35, b"", "04 01 00 35 5A 9D"),
    (0x02, b"", "04 01 00 02 EE DB"),
    (0x02, b"\x00", "04 02 00 02 00 CA 0F"),
    (0x06, b"", "04 01 00 06 6A 9B"),
    (0x07, tlv_byte(1054, 1), "04 06 00 07 1E 04 01 00 01 A6 5F"),
    (0x10, b"", "04 01 00 10 9D E9"),
    (0x11, dt_bytes(datetime(2026, 1, 15, 9, 0)), "04 06 00 11 1A 01 0F 09 00 38 4C"),
    (0x12, b"", "04 01 00 12 DF C9"),
    (0x14, b"", "04 01 00 14 19 A9"),
    (0x15, dt_bytes(datetime(2026, 1, 15, 14, 32)), "04 06 00 15 1A 01 0F 0E 20 6C F7"),
    (0x16, FnClient.receipt_params(datetime(2026, 1, 15, 14, 32), 1, 123456),
     "04 0C 00 16 1A 01 0F 0E 20 01 40 E2 01 00 00 46 D9"),
    (0x20, b"", "04 01 00 20 CE DF"),
    (0x21, b"\x01", "04 02 00 21 01 5E 4C"),
    (0x22, b"", "04 01 00 22 8C FF"),
    (0x23, struct.pack("<HH", 0, 1024), "04 05 00 23 00 00 00 04 8B 2E"),
    (0x24, b"", "04 01 00 24 4A 9F"),
    (0x25, b"", "04 01 00 25 6B 8F"),
    (0x40, fd_req(1), "04 05 00 40 01 00 00 00 B5 EF"),
    (0x42, b"", "04 01 00 42 2A 93"),
    (0x45, fd_req(1), "04 05 00 45 01 00 00 00 E2 CC"),
    (0x46, b"", "04 01 00 46 AE D3"),
    (0x60, b"\x16", "04 02 00 60 16 75 10"),
]


@pytest.mark.parametrize(("cmd", "data", "expected"), REQUEST_VECTORS)
def test_client_request_vectors(cmd: int, data: bytes, expected: str) -> None:
    assert fn_frame(cmd, data) == bytes.fromhex(expected)


def test_client_crc_and_answer_vectors() -> None:
    assert crc16_ccitt_false(b"123456789") == 0x29B1
    # answers of §2 and §9 decode through the client's reader
    cases = {
        "04 01 00 00 AC FB": (0x00, b""),
        "04 01 00 80 24 6A": (0x80, b""),
        "04 01 00 02 EE DB": (0x02, b""),
        "04 01 00 08 A4 7A": (0x08, b""),
        "04 03 00 00 03 00 8D AA": (0x00, b"\x03\x00"),
        "04 02 00 20 01 6F 7F": (0x20, b"\x01"),
    }
    for text, (answer, data) in cases.items():
        a = FnClient(BytesTransport(bytes.fromhex(text))).read_answer(timeout=0.1)
        assert (a.answer, a.data) == (answer, data)
    a = FnClient(BytesTransport(bytes.fromhex(
        "04 0B 00 00 05 00 2A 00 00 00 78 56 34 12 6D 14"))).read_answer()
    assert NumFdFp.parse(a.data) == NumFdFp(5, 42, 0x12345678)
    a = FnClient(BytesTransport(bytes.fromhex(
        "04 11 00 00 39 39 39 39 30 37 38 39 30 30 30 30 34 33 31 32 03 5D"))).read_answer()
    assert a.data == b"9999078900004312"
    a = FnClient(BytesTransport(bytes.fromhex(
        "04 1F 00 00 03 00 00 01 00 1A 01 0F 0E 20 39 39 39 39 30 37 38 39 30 30 30 30 34 33 31 32"
        " 2A 00 00 00 0E 31"))).read_answer()
    st = Status.parse(a.data)
    assert (st.phase, st.shift_open, st.last_fd, st.fn_number) == (3, 1, 42, "9999078900004312")
    assert st.last_time == bytes.fromhex("1A 01 0F 0E 20")
    with pytest.raises(FnError):
        FnClient(BytesTransport(bytes.fromhex("04 01 00 00 AC FC"))).read_answer(timeout=0.1)
    # ffd-receipt.md §1 encodings
    assert tlv_vln(1020, 123456) == bytes.fromhex("FC 03 03 00 40 E2 01")
    assert tlv(1023, fvln("1.500")) == bytes.fromhex("FF 03 03 00 03 DC 05")
    assert tlv(1023, fvln("2")) == bytes.fromhex("FF 03 02 00 00 02")
    assert tlv_string(1030, "Молоко")[4:] == bytes.fromhex("8C AE AB AE AA AE")
    assert vln(0) == b"\x00"
    assert split_tlvs(ITEM_MILK) == [(1059, ITEM_MILK[4:])]
    assert [tag for tag, _ in split_tlvs(ITEM_MILK[4:])] == [1030, 1079, 1023, 1043, 1199, 1214, 1212, 2108]


# --------------------------------------------------------------------------- service commands, fresh FN


def test_fresh_fn_service_answers(fn: FnClient) -> None:
    # 30h sent as the literal §2 vector; the answer is a 30-byte status (LEN 1F 00)
    fn.send_raw(bytes.fromhex("04 01 00 30 FF CD"))
    a = fn.read_answer()
    assert a.raw[:3] == bytes.fromhex("04 1F 00")
    assert a.code == OK
    st = Status.parse(a.data)
    assert st.phase == 1  # fresh FN: ready for fiscalisation (§5)
    assert (st.current_doc, st.doc_data, st.shift_open, st.last_fd) == (CUR_NONE, 0, 0, 0)
    assert re.fullmatch(r"9999\d{12}", st.fn_number)
    assert a.warning == bool(st.warnings)  # §3: bit 7 iff a warning flag is set
    assert st.warnings & 0x70 == 0  # bits 4-6 are not defined in §7

    # 31h: ASCII 16, the same number
    fn.send_raw(bytes.fromhex("04 01 00 31 DE DD"))
    a = fn.read_answer()
    assert a.raw[:4] == bytes.fromhex("04 11 00") + bytes([a.answer])
    assert a.code == OK and a.data.decode("ascii") == st.fn_number

    # 33h: ASCII 16 version + Byte 0 debug (§15 recommends a debug FN; contract says 9999 debug FN)
    v = fn.version()
    assert v.serial == 0
    assert all(0x20 <= b < 0x7F or b == 0 for b in v.software), v.software

    # 32h: DATE(3) expiry, registrations left, registrations done (0 on a fresh FN)
    ex = fn.expiry()
    expiry = datetime(2000 + ex.date[0], ex.date[1], ex.date[2])
    assert expiry > T0
    assert ex.registrations_done == 0
    assert ex.registrations_left >= 1

    # 35h: at most 256 bytes of diagnostics
    a = fn.request(CMD_LAST_ERRORS)
    assert a.code == OK and len(a.data) <= 256

    # 42h: allowed always (§12), 2 bytes, nothing unconfirmed yet
    assert fn.unconfirmed() == 0


def test_phase1_state_errors(fn: FnClient) -> None:
    # §12: commands that need fiscal mode (phase 3) or an open document answer 02h in phase 1
    fn.send_raw(bytes.fromhex("04 01 00 10 9D E9"))  # 10h
    assert fn.read_answer().raw == bytes.fromhex("04 01 00 02 EE DB")  # §2 answer vector 02h
    assert code_of(fn, CMD_SHIFT_PARAMS) == E_STATE
    assert code_of(fn, CMD_BEGIN_OPEN_SHIFT, dt_bytes(m(0))) == E_STATE
    assert code_of(fn, CMD_BEGIN_RECEIPT, dt_bytes(m(0))) == E_STATE
    assert code_of(fn, CMD_OFD_STATUS) == E_STATE
    assert code_of(fn, CMD_TRANSPORT, b"\x01") == E_STATE
    assert code_of(fn, CMD_FIND_FD, fd_req(1)) == E_STATE
    assert code_of(fn, CMD_FD_AS_TLV, fd_req(1)) == E_STATE
    assert code_of(fn, CMD_SEND_DATA, tlv_byte(1054, 1)) == E_STATE  # 07h, no document
    assert code_of(fn, CMD_OPEN_SHIFT) == E_STATE  # 12h, no 11h
    params = FnClient.registration_params(T0, INN, RNM, TAX_OSN, MODE_NONE)
    assert code_of(fn, CMD_MAKE_REGISTRATION, params) == E_STATE  # 03h without 02h
    fn.begin_registration()
    assert code_of(fn, CMD_MAKE_REGISTRATION, params) == E_STATE  # 03h with 02h but no data
    assert code_of(fn, CMD_BEGIN_REGISTRATION) == E_STATE  # 02h with a document already open
    fn.ok(CMD_CANCEL_DOCUMENT)
    # 02h type 2 needs an existing registration; an unknown type is a parameter error
    assert code_of(fn, CMD_BEGIN_REGISTRATION, b"\x02") == E_STATE
    assert code_of(fn, CMD_BEGIN_REGISTRATION, b"\x03") == E_FORMAT
    assert fn.status().phase == 1


# --------------------------------------------------------------------------- registration


def test_registration(fn: FnClient) -> None:
    fn_number = fn.fn_number()
    left_before = fn.expiry().registrations_left
    fn.send_raw(bytes.fromhex("04 01 00 02 EE DB"))  # 02h, default type 0 (§2 vector)
    a = fn.read_answer()
    assert a.code == OK and a.data == b""
    if not a.warning:
        assert a.raw == bytes.fromhex("04 01 00 00 AC FB")
    st = fn.status()
    assert (st.phase, st.current_doc, st.doc_data) == (1, CUR_REGISTRATION, 0)
    fn.send_tlvs(registration_tlvs())
    assert fn.status().doc_data == 1
    r = fn.make_registration(T0, INN, RNM, TAX_OSN, MODE_NONE)
    assert r.fd == 1  # §10: FD counter starts at 1
    st = fn.status()
    assert (st.phase, st.current_doc, st.doc_data, st.shift_open) == (3, CUR_NONE, 0, 0)
    assert st.last_fd == 1
    assert st.last_time == dt_bytes(T0)
    assert st.fn_number == fn_number

    doc = fn.find_fd(1)  # 40h, Table 83 layout, 47 bytes
    assert doc.doc_type == DOC_REGISTRATION
    assert doc.ofd_confirmed == 0
    assert 13 + len(doc.rest) == 47  # Table 83 layout after the type and OFD bytes
    assert (doc.time, doc.fd, doc.fp) == (dt_bytes(T0), 1, r.fp)
    assert doc.rest[0:12] == INN.encode().ljust(12, b" ")
    assert doc.rest[12:32] == RNM.encode().ljust(20, b" ")
    assert doc.rest[32:34] == bytes([TAX_OSN, MODE_NONE])

    ex = fn.expiry()
    assert ex.registrations_done == 1
    assert ex.registrations_left == left_before - 1

    assert code_of(fn, CMD_BEGIN_REGISTRATION, b"\x00") == E_STATE  # 02h type 0: phase 1 only
    assert fn.shift_params() == ShiftParams(0, 0, 0)  # 10h: 0 before the first shift
    assert code_of(fn, CMD_NEXT_TLV) == E_STATE  # 46h without 45h


def test_reregistration_type2(fn: FnClient) -> None:
    register(fn)
    assert code_of(fn, CMD_BEGIN_REGISTRATION, b"\x01") == E_STATE  # type 1: phase 1 only (§12)
    fn.begin_registration(2)
    st = fn.status()
    assert (st.phase, st.current_doc) == (3, 0x13)  # §6: re-registration without FN replacement
    fn.send_tlvs(registration_tlvs())
    params = FnClient.registration_params(m(1), INN, RNM, TAX_OSN, MODE_NONE)
    assert code_of(fn, CMD_MAKE_REGISTRATION, params) == E_FORMAT  # type 2 needs 40 bytes (Table 19)
    a = fn.request(CMD_MAKE_REGISTRATION, params + b"\x03")  # reason 3: user details changed
    assert a.code == OK and len(a.data) == 8
    fd, fp = struct.unpack("<II", a.data)
    assert fd == 2
    doc = fn.find_fd(2)
    assert (doc.doc_type, doc.fd, doc.fp, doc.time) == (11, 2, fp, dt_bytes(m(1)))
    assert 13 + len(doc.rest) == 48  # Table 84: registration layout + reason
    assert doc.rest[32:35] == bytes([TAX_OSN, MODE_NONE, 3])
    assert fn.expiry().registrations_done == 2
    assert fn.status().phase == 3


def test_close_fiscal_mode(fn: FnClient) -> None:
    register(fn)
    open_shift(fn, m(1))
    close_shift(fn, m(2))
    rnm = RNM.encode().ljust(20, b" ")
    assert code_of(fn, 0x05, dt_bytes(m(3)) + rnm) == E_STATE  # 05h without 04h
    fn.ok(0x04)
    assert fn.status().current_doc == 0x10
    assert code_of(fn, 0x05, dt_bytes(m(3)) + rnm) == E_STATE  # 04h begun, no data yet
    fn.send_tlvs(tlv_string(1021, "Кассир Иванова"))
    assert code_of(fn, 0x05, dt_bytes(m(3)) + rnm[:19]) == E_FORMAT  # 24 bytes instead of 25
    a = fn.request(0x05, dt_bytes(m(3)) + rnm)
    assert a.code == OK and len(a.data) == 8
    fd, fp = struct.unpack("<II", a.data)
    assert fd == 4
    st = fn.status()
    assert (st.phase, st.current_doc, st.last_fd) == (7, CUR_NONE, 4)  # post-fiscal (§5)
    doc = fn.find_fd(4)  # Table 87: 45 bytes
    assert (doc.doc_type, doc.fd, doc.fp, doc.time) == (6, 4, fp, dt_bytes(m(3)))
    assert 13 + len(doc.rest) == 45
    assert doc.rest == INN.encode().ljust(12) + rnm
    # phase 7: no more shifts or receipts; archive and OFD exchange still work
    assert code_of(fn, CMD_BEGIN_OPEN_SHIFT, dt_bytes(m(4))) == E_STATE
    assert code_of(fn, CMD_SHIFT_PARAMS) == E_STATE
    assert code_of(fn, CMD_BEGIN_REGISTRATION, b"\x02") == E_STATE
    assert fn.ofd_status().queued == 4
    assert fn.unconfirmed() == 4


def test_registration_rnm_format_error_09h(fn: FnClient) -> None:
    # §9.3: 03h answers 09h when the RNM format is wrong (letters in a number field)
    fn.begin_registration()
    fn.send_tlvs(registration_tlvs())
    params = FnClient.registration_params(T0, INN, "NOT-A-NUMBER", TAX_OSN, MODE_NONE)
    assert code_of(fn, CMD_MAKE_REGISTRATION, params) == E_PARAM
    assert fn.status().phase == 1


# --------------------------------------------------------------------------- the full working day


def test_shift_sale_return_archive(fn: FnClient) -> None:
    fn_number = fn.fn_number()
    reg_fd, reg_fp = register(fn)

    # shift open: 11h, 07h, 12h
    fn.begin_open_shift(m(5))
    st = fn.status()
    assert (st.current_doc, st.doc_data) == (CUR_SHIFT_OPEN, 0)
    fn.send_tlvs(tlv_string(1021, "Кассир Иванова"))
    assert fn.status().doc_data == 1
    shift = fn.open_shift()
    assert (shift.number, shift.fd) == (1, 2)
    st = fn.status()
    assert (st.shift_open, st.current_doc, st.last_fd, st.last_time) == (1, CUR_NONE, 2, dt_bytes(m(5)))
    assert fn.shift_params() == ShiftParams(1, 1, 0)  # open, shift 1, no receipts

    # sale receipt: 15h, 07h (1054=1, items 1059 ...), 16h op 1
    fn.begin_receipt(m(10))
    st = fn.status()
    assert (st.current_doc, st.doc_data) == (CUR_RECEIPT, 0)
    sale_tlvs = receipt_tlvs(OP_SALE, 123456)
    fn.send_tlvs(b"".join(sale_tlvs[:3]))
    assert fn.status().doc_data == 1
    fn.send_tlvs(b"".join(sale_tlvs[3:]))
    sale = fn.make_receipt(m(11), OP_SALE, 123456)
    assert (sale.number, sale.fd) == (1, 3)
    assert fn.shift_params() == ShiftParams(1, 1, 1)

    # return receipt: operation 2
    ret, ret_tlvs = make_receipt(fn, m(20), m(21), OP_SALE_RETURN, 17980 + 5000)
    assert (ret.number, ret.fd) == (2, 4)
    assert fn.shift_params() == ShiftParams(1, 1, 2)
    st = fn.status()
    assert (st.current_doc, st.last_fd, st.last_time) == (CUR_NONE, 4, dt_bytes(m(21)))

    # 40h: type, FD, FP, operation and total as returned by 16h (Table 86, 19 bytes)
    for ans, op, total, t in ((sale, OP_SALE, 123456, m(11)), (ret, OP_SALE_RETURN, 22980, m(21))):
        a = fn.request(CMD_FIND_FD, fd_req(ans.fd))
        assert a.code == OK and len(a.data) == 2 + 19, a.raw.hex(" ")
        doc = fn.find_fd(ans.fd)
        assert doc.doc_type == DOC_RECEIPT
        assert doc.ofd_confirmed == 0
        assert (doc.fd, doc.fp, doc.operation, doc.total) == (ans.fd, ans.fp, op, total)
        assert doc.time == dt_bytes(t)
    assert sale.fp != ret.fp

    # 45h/46h: the stored TLVs, top level, ending with 08h
    for ans, sent, made_at in ((sale, sale_tlvs, m(11)), (ret, ret_tlvs, m(21))):
        doc_type, length, items, last = fn.read_document_tlvs(ans.fd)
        assert doc_type == DOC_RECEIPT
        assert last.code == E_NO_DATA and last.data == b""
        for item in items:  # every 46h answer is exactly one TLV (L + 4 bytes)
            assert len(item) >= 4 and struct.unpack_from("<H", item, 2)[0] + 4 == len(item), item.hex(" ")
        assert length == sum(len(i) for i in items), (length, [i[:4].hex() for i in items])
        for t in sent:  # the 07h data, byte for byte, each a top-level TLV
            assert t in items, f"sent TLV {t[:8].hex(' ')}... missing from 46h output"
        by_tag = {tag: value for tag, value in (split_tlvs(i)[0] for i in items)}
        assert by_tag[1040] == struct.pack("<I", ans.fd)  # FD number
        assert by_tag[1041] == fn_number.encode("cp866")  # FN number
        assert len(by_tag[1077]) == 6  # fiscal sign, printed FP = bytes 2..5 big-endian
        assert int.from_bytes(by_tag[1077][2:6], "big") == ans.fp
        if 1042 in by_tag:  # optional FN-formed tags must agree with the 16h answer
            assert by_tag[1042] == struct.pack("<I", ans.number)
        if 1038 in by_tag:
            assert by_tag[1038] == struct.pack("<I", 1)
        if 1012 in by_tag:  # UnixTime, local time encoded as if UTC (ffd-receipt.md §1)
            assert by_tag[1012] == struct.pack("<I", calendar.timegm(made_at.timetuple()))
    assert code_of(fn, CMD_NEXT_TLV) in (E_NO_DATA, E_STATE)  # still at the end (or selection dropped)

    # shift documents in the archive (Tables 85-86: 15 bytes)
    doc = fn.find_fd(2)
    assert (doc.doc_type, doc.fd, doc.fp, doc.shift) == (DOC_SHIFT_OPEN, 2, shift.fp, 1)
    assert doc.time == dt_bytes(m(5))
    assert len(doc.rest) == 2

    # close the shift: 13h, 07h, 14h
    fn.begin_close_shift(m(600))
    assert fn.status().current_doc == CUR_SHIFT_CLOSE
    fn.send_tlvs(tlv_string(1021, "Кассир Иванова"))
    closed = fn.close_shift()
    assert (closed.number, closed.fd) == (1, 5)
    st = fn.status()
    assert (st.shift_open, st.current_doc, st.last_fd) == (0, CUR_NONE, 5)
    # 10h after close: closed, last shift 1, its receipt count (2): data persist after close
    assert fn.shift_params() == ShiftParams(0, 1, 2)
    doc = fn.find_fd(5)
    assert (doc.doc_type, doc.fd, doc.fp, doc.shift) == (DOC_SHIFT_CLOSE, 5, closed.fp, 1)
    assert doc.time == dt_bytes(m(600))

    # registration still readable, unchanged
    doc = fn.find_fd(reg_fd)
    assert (doc.doc_type, doc.fp) == (DOC_REGISTRATION, reg_fp)

    # §10: every signed FD is queued for the OFD; nothing confirmed
    fn.send_raw(bytes.fromhex("04 01 00 42 2A 93"))
    a = fn.read_answer()
    assert a.raw[:3] == bytes.fromhex("04 03 00") and a.code == OK and a.data == b"\x05\x00"
    ofd = fn.ofd_status()
    assert ofd.flags & 0x02  # message for the OFD waiting
    assert ofd.flags & 0x01 == 0  # transport not connected yet
    assert (ofd.reading, ofd.queued, ofd.first_fd, ofd.first_time) == (0, 5, 1, dt_bytes(T0))

    # second shift: the shift number and FD continue
    s2 = open_shift(fn, m(700))
    assert (s2.number, s2.fd) == (2, 6)
    assert fn.shift_params().shift == 2


def test_receipt_number_resets_at_shift_open(fn: FnClient) -> None:
    register(fn)
    open_shift(fn, m(1))
    r1, _ = make_receipt(fn, m(2), m(2), OP_SALE, 26980)
    assert r1.number == 1
    close_shift(fn, m(3))
    s2 = open_shift(fn, m(4))
    assert s2.number == 2
    assert fn.shift_params() == ShiftParams(1, 2, 0)  # "0 if the shift is open with no receipts"
    r2, _ = make_receipt(fn, m(5), m(5), OP_SALE, 26980)
    assert (r2.number, r2.fd) == (1, 6)  # §10: receipt number resets at shift open


def test_correction_receipt_and_state_report(fn: FnClient) -> None:
    register(fn)
    open_shift(fn, m(1))
    fn.begin_receipt(m(2))
    fn.request(CMD_CANCEL_DOCUMENT)  # 06h drops the open receipt
    assert fn.status().current_doc == CUR_NONE
    assert fn.request(CMD_BEGIN_CORRECTION, dt_bytes(m(3))).code == OK  # 17h
    assert fn.status().current_doc == 0x14  # §6: correction receipt
    fn.send_tlvs(tlv_byte(1054, OP_SALE) + tlv_vln(1020, 1000) + tlv_vln(1031, 1000))
    corr = fn.make_receipt(m(3), OP_SALE, 1000)  # 16h closes corrections too
    assert corr.fd == 3
    doc = fn.find_fd(3)
    assert (doc.doc_type, doc.fd, doc.fp, doc.operation, doc.total) == (31, 3, corr.fp, OP_SALE, 1000)
    close_shift(fn, m(4))

    # 18h/19h calculation-state report (shift closed), 19h answer: FD, FP, count, DATE of first
    assert fn.request(CMD_BEGIN_STATE_REPORT, dt_bytes(m(5))).code == OK
    assert fn.status().current_doc == 0x17
    a = fn.request(CMD_MAKE_STATE_REPORT)
    assert a.code == OK and len(a.data) == 15, a.raw.hex(" ")
    fd, fp, unconfirmed = struct.unpack_from("<III", a.data)
    assert fd == 5
    assert unconfirmed in (4, 5)  # whether the report counts itself is not stated
    assert a.data[12:15] == dt_bytes(T0)[:3]  # first unconfirmed FD: the registration
    doc = fn.find_fd(5)
    assert (doc.doc_type, doc.fd, doc.fp) == (21, 5, fp)
    assert 13 + len(doc.rest) == 22
    assert fn.unconfirmed() == 5


# --------------------------------------------------------------------------- OFD exchange


def test_ofd_exchange(fn: FnClient) -> None:
    register(fn)
    open_shift(fn, m(1))
    ofd = fn.ofd_status()
    assert ofd.flags & 0x02 and ofd.queued == 2 and ofd.first_fd == 1 and ofd.first_time == dt_bytes(T0)
    assert fn.unconfirmed() == 2

    # 22h/23h need the transport (11h); 23h/24h/25h need 22h (02h)
    assert code_of(fn, CMD_BEGIN_READ_MESSAGE) == E_NO_TRANSPORT
    fn.ok(CMD_TRANSPORT, b"\x01")
    assert fn.ofd_status().flags & 0x01
    assert code_of(fn, CMD_READ_BLOCK, struct.pack("<HH", 0, 100)) == E_STATE
    assert code_of(fn, CMD_FINISH_READ) == E_STATE
    assert code_of(fn, CMD_CANCEL_READ) == E_STATE

    # read in 100-byte blocks, then once more in one 1024-byte block: the same message
    length, msg = fn.read_message(100)
    assert length == len(msg) > 0
    assert fn.ofd_status().reading == 1
    whole = fn.ok(CMD_READ_BLOCK, struct.pack("<HH", 0, 1024))
    assert whole == msg[:1024]
    tail = fn.ok(CMD_READ_BLOCK, struct.pack("<HH", length - 1, 1024))
    assert tail == msg[-1:]  # shorter answer when less remains
    assert code_of(fn, CMD_READ_BLOCK, struct.pack("<HH", length + 1, 16)) == E_FORMAT  # offset > length

    # 24h cancels, a new 22h gives the same message again (still the first queued one)
    fn.ok(CMD_CANCEL_READ)
    assert fn.ofd_status().reading == 0
    assert code_of(fn, CMD_READ_BLOCK, struct.pack("<HH", 0, 16)) == E_STATE
    length2, msg2 = fn.read_message(333)
    assert (length2, msg2) == (length, msg)

    # 25h finishes: the document now awaits the OFD receipt
    fn.ok(CMD_FINISH_READ)
    ofd = fn.ofd_status()
    assert ofd.reading == 0
    assert ofd.flags & 0x04  # waiting for the OFD receipt
    assert ofd.first_fd == 1  # "the one awaiting a receipt if already sent"
    assert fn.unconfirmed() == 2  # nothing confirmed without 26h

    # 26h with an OFD message that is not a valid receipt: refused, nothing confirmed
    a = fn.request(CMD_OFD_RECEIPT, b"\x00" * 40)
    assert a.code != OK
    if a.code == E_OFD_REJECT:
        assert len(a.data) == 1 and 1 <= a.data[0] <= 5
    assert fn.unconfirmed() == 2

    # transport down again: 22h answers 11h
    fn.ok(CMD_TRANSPORT, b"\x00")
    assert fn.ofd_status().flags & 0x01 == 0
    assert code_of(fn, CMD_BEGIN_READ_MESSAGE) == E_NO_TRANSPORT


def test_ofd_nothing_to_send_08h(fn: FnClient) -> None:
    register(fn, mode=MODE_AUTONOMOUS)  # §10: in autonomous mode nothing is queued
    assert fn.unconfirmed() == 0
    ofd = fn.ofd_status()
    assert (ofd.flags & 0x02, ofd.queued, ofd.first_fd) == (0, 0, 0)
    fn.ok(CMD_TRANSPORT, b"\x01")
    assert code_of(fn, CMD_BEGIN_READ_MESSAGE) == E_NO_DATA


def test_ofd_22h_before_21h_is_11h(fn: FnClient) -> None:
    register(fn)
    assert code_of(fn, CMD_BEGIN_READ_MESSAGE) == E_NO_TRANSPORT
    assert code_of(fn, CMD_READ_BLOCK, struct.pack("<HH", 0, 16)) in (E_NO_TRANSPORT, E_STATE)


# --------------------------------------------------------------------------- error codes


def test_state_errors_02h(fn: FnClient) -> None:
    register(fn)
    last = fn.status().last_fd
    assert code_of(fn, CMD_BEGIN_RECEIPT, dt_bytes(m(1))) == E_STATE  # 15h, shift closed
    assert code_of(fn, CMD_OPEN_SHIFT) == E_STATE  # 12h, no begun document
    assert code_of(fn, CMD_BEGIN_CLOSE_SHIFT, dt_bytes(m(1))) == E_STATE  # 13h, shift closed
    assert code_of(fn, CMD_CLOSE_SHIFT) == E_STATE  # 14h, no 13h
    assert code_of(fn, CMD_MAKE_RECEIPT, FnClient.receipt_params(m(1), 1, 100)) == E_STATE  # no 15h
    assert code_of(fn, CMD_SEND_DATA, tlv_byte(1054, 1)) == E_STATE  # 07h, nothing open

    fn.begin_open_shift(m(1))
    assert code_of(fn, CMD_OPEN_SHIFT) == E_STATE  # 12h: begun but no data sent
    fn.send_tlvs(tlv_string(1021, "Кассир"))
    fn.open_shift()
    assert code_of(fn, CMD_BEGIN_OPEN_SHIFT, dt_bytes(m(2))) == E_STATE  # 11h, shift already open

    fn.begin_receipt(m(2))
    # 16h before any 07h
    assert code_of(fn, CMD_MAKE_RECEIPT, FnClient.receipt_params(m(2), OP_SALE, 100)) == E_STATE
    assert code_of(fn, CMD_BEGIN_RECEIPT, dt_bytes(m(2))) == E_STATE  # receipt already open
    assert code_of(fn, CMD_BEGIN_CORRECTION, dt_bytes(m(2))) == E_STATE
    assert code_of(fn, CMD_BEGIN_CLOSE_SHIFT, dt_bytes(m(2))) == E_STATE  # 13h with a receipt open
    assert code_of(fn, CMD_BEGIN_STATE_REPORT, dt_bytes(m(2))) == E_STATE  # 18h: shift open ([S1])
    assert fn.status().current_doc == CUR_RECEIPT
    fn.ok(CMD_CANCEL_DOCUMENT)
    st = fn.status()
    assert (st.current_doc, st.doc_data, st.last_fd) == (CUR_NONE, 0, last + 1)
    assert code_of(fn, CMD_MAKE_RECEIPT, FnClient.receipt_params(m(2), OP_SALE, 100)) == E_STATE


def test_format_errors_01h(fn: FnClient) -> None:
    register(fn)
    open_shift(fn, m(1))
    fn.begin_receipt(m(2))
    fn.send_tlvs(tlv_byte(1054, OP_SALE) + tlv_vln(1020, 100))
    last = fn.status().last_fd
    good = FnClient.receipt_params(m(2), OP_SALE, 100)
    assert code_of(fn, CMD_MAKE_RECEIPT, good[:-1]) == E_FORMAT  # 10 bytes instead of 11
    assert code_of(fn, CMD_MAKE_RECEIPT, good + b"\x00") == E_FORMAT  # 12 bytes
    assert code_of(fn, CMD_MAKE_RECEIPT, b"") == E_FORMAT
    assert fn.status().last_fd == last  # nothing was signed
    for unknown in (0x00, 0x3F, 0x7E, 0xFE):
        assert code_of(fn, unknown) == E_FORMAT, f"command {unknown:02X}h"
    assert code_of(fn, CMD_BEGIN_OPEN_SHIFT + 0x60) == E_FORMAT  # 71h: not a command
    assert code_of(fn, CMD_FIND_FD, b"\x01\x00") == E_FORMAT  # 40h with 2 bytes instead of 4
    assert code_of(fn, CMD_READ_BLOCK, b"") in (E_FORMAT, E_NO_TRANSPORT, E_STATE)
    fn.ok(CMD_CANCEL_DOCUMENT)
    assert fn.status().last_fd == last


def test_oversized_frame_01h(fn: FnClient) -> None:
    register(fn)
    open_shift(fn, m(1))
    fn.begin_receipt(m(2))
    # DATA of 1025 bytes: over the 1024-byte frame limit (§1, §13)
    big = tlv(1059, b"\x00" * 1021)
    assert len(big) == 1025
    fn.send_raw(fn_frame(CMD_SEND_DATA, big))
    a = fn.read_answer()
    assert a.code == E_FORMAT
    fn.drain()
    assert fn.status().doc_data == 0
    # exactly 1024 bytes (one TLV of 1020 value bytes) is accepted
    fn.send_tlvs(tlv(1059, tlv_string(1030, "x" * 1016)))
    assert fn.status().doc_data == 1


def test_inconsistent_tlv_lengths_refused(fn: FnClient) -> None:
    register(fn)
    fn.begin_open_shift(m(1))
    # a TLV that claims 10 value bytes but carries 2: "the FN checks that the lengths are consistent"
    a = fn.request(CMD_SEND_DATA, struct.pack("<HH", 1021, 10) + b"ab")
    assert a.code != OK  # code unspecified (suggested 01h)
    assert fn.status().doc_data == 0


def test_time_errors_07h(fn: FnClient) -> None:
    register(fn)  # at T0
    # 11h may be up to 1 h earlier than fiscalisation ([S1]); 2 h earlier is refused
    assert code_of(fn, CMD_BEGIN_OPEN_SHIFT, dt_bytes(m(-120))) == E_TIME
    assert fn.status().current_doc == CUR_NONE
    fn.begin_open_shift(m(-30))  # within the hour: allowed
    fn.ok(CMD_CANCEL_DOCUMENT)
    open_shift(fn, m(10))
    # 15h earlier than the last document (shift open at m(10))
    assert code_of(fn, CMD_BEGIN_RECEIPT, dt_bytes(m(9))) == E_TIME
    assert fn.status().current_doc == CUR_NONE
    # 16h earlier than its 15h
    fn.begin_receipt(m(20))
    fn.send_tlvs(tlv_byte(1054, OP_SALE) + tlv_vln(1020, 100))
    assert code_of(fn, CMD_MAKE_RECEIPT, FnClient.receipt_params(m(19), OP_SALE, 100)) == E_TIME
    r = fn.make_receipt(m(20), OP_SALE, 100)
    assert r.fd == 3
    # 13h earlier than the last receipt
    assert code_of(fn, CMD_BEGIN_CLOSE_SHIFT, dt_bytes(m(15))) == E_TIME


def test_shift_over_24h(fn: FnClient) -> None:
    register(fn)
    open_shift(fn, m(0))
    # exactly 24 h after the shift open is allowed ("time <= shift open + 24 h")
    fn.begin_receipt(m(24 * 60))
    fn.ok(CMD_CANCEL_DOCUMENT)
    # 15h later than shift open + 24 h: 16h
    assert code_of(fn, CMD_BEGIN_RECEIPT, dt_bytes(m(24 * 60 + 1))) == E_SHIFT_24H
    assert code_of(fn, CMD_BEGIN_CORRECTION, dt_bytes(m(24 * 60 + 1))) == E_SHIFT_24H
    assert fn.status().current_doc == CUR_NONE
    # 16h later than shift open + 24 h: 07h
    fn.begin_receipt(m(24 * 60 - 1))
    fn.send_tlvs(tlv_byte(1054, OP_SALE) + tlv_vln(1020, 100))
    assert code_of(fn, CMD_MAKE_RECEIPT, FnClient.receipt_params(m(24 * 60 + 1), OP_SALE, 100)) == E_TIME
    fn.ok(CMD_CANCEL_DOCUMENT)
    # the shift can still be closed
    close_shift(fn, m(24 * 60 + 5))
    assert fn.status().shift_open == 0


def test_tlv_size_limits_10h(fn: FnClient) -> None:
    # registration: 2 KB. Two 1000-byte TLVs pass (2000 <= 2000/2048), a third is over either reading
    fn.begin_registration()
    chunk = tlv(1048, b"R" * 996)
    assert len(chunk) == 1000
    fn.send_tlvs(chunk)
    fn.send_tlvs(chunk)
    assert code_of(fn, CMD_SEND_DATA, chunk) == E_TLV_SIZE
    fn.ok(CMD_CANCEL_DOCUMENT)
    register(fn)

    # shift open: 1 KB. 2 x 496 = 992 bytes pass, a third 496 (1488) is refused
    fn.begin_open_shift(m(1))
    piece = tlv(1021, b"K" * 492)
    fn.send_tlvs(piece)
    fn.send_tlvs(piece)
    assert code_of(fn, CMD_SEND_DATA, piece) == E_TLV_SIZE
    # after the KKT cancels (06h), the same document can be redone
    fn.ok(CMD_CANCEL_DOCUMENT)
    assert fn.status().current_doc == CUR_NONE
    open_shift(fn, m(2))

    # receipt: 30 KB. 30 x 1000 = 30000 bytes pass, the 31st (31000 > 30720) is refused
    fn.begin_receipt(m(3))
    item = tlv(1059, tlv_string(1030, "Товар") + b"\x00" * (996 - 9))
    assert len(item) == 1000
    for _ in range(30):
        fn.send_tlvs(item)
    assert code_of(fn, CMD_SEND_DATA, item) == E_TLV_SIZE
    fn.ok(CMD_CANCEL_DOCUMENT)

    # shift close: 1 KB as well
    fn.begin_close_shift(m(4))
    fn.send_tlvs(piece)
    fn.send_tlvs(piece)
    assert code_of(fn, CMD_SEND_DATA, piece) == E_TLV_SIZE
    fn.ok(CMD_CANCEL_DOCUMENT)


def test_shift_totals_overflow_09h(fn: FnClient) -> None:
    # 16h answers 09h on a shift-totals overflow; the doc gives no counter width, so this assumes
    # the totals are no wider than the money fields (Uint40): two maximal receipts overflow them.
    register(fn)
    open_shift(fn, m(1))
    max_total = (1 << 40) - 1
    codes = []
    for i in range(3):
        fn.begin_receipt(m(2 + i))
        fn.send_tlvs(tlv_byte(1054, OP_SALE) + tlv_vln(1020, max_total))
        last = fn.status().last_fd
        a = fn.request(CMD_MAKE_RECEIPT, FnClient.receipt_params(m(2 + i), OP_SALE, max_total))
        codes.append(a.code)
        if a.code != OK:
            break
    assert codes == [OK, E_PARAM]
    st = fn.status()
    assert st.last_fd == last  # nothing signed
    assert st.current_doc == CUR_RECEIPT  # "cancel the receipt and close the shift"
    fn.ok(CMD_CANCEL_DOCUMENT)
    closed = close_shift(fn, m(10))
    assert closed.number == 1


def test_absent_data_08h(fn: FnClient) -> None:
    register(fn)
    fn.send_raw(fn_frame(CMD_FIND_FD, fd_req(7)))
    a = fn.read_answer()
    assert a.raw == bytes.fromhex("04 01 00 08 A4 7A") or a.raw[3] == 0x88  # §2 answer vector 08h
    assert code_of(fn, 0x41, fd_req(1)) == E_NO_DATA  # 41h: FD exists but has no OFD receipt
    assert code_of(fn, 0x41, fd_req(99)) == E_NO_DATA
    assert code_of(fn, CMD_FIND_FD, fd_req(99)) == E_NO_DATA
    assert code_of(fn, CMD_FIND_FD, fd_req(2)) == E_NO_DATA  # the next FD, not made yet
    assert code_of(fn, CMD_FIND_FD, fd_req(0)) == E_NO_DATA
    assert code_of(fn, CMD_FD_AS_TLV, fd_req(99)) == E_NO_DATA


def test_unsent_ofd_message_older_than_30_days_15h(fn: FnClient) -> None:
    register(fn, t=datetime(2026, 1, 1, 10, 0))  # queued for the OFD, never sent
    # shift open 29 d 23 h later (not more than 30 days, by time or by calendar date): allowed
    open_shift(fn, datetime(2026, 1, 31, 9, 0))
    # a receipt 30 d 22 h / 31 calendar days later: refused with 15h (within the 24 h shift limit)
    assert code_of(fn, CMD_BEGIN_RECEIPT, dt_bytes(datetime(2026, 2, 1, 8, 0))) == E_OFD_30_DAYS
    assert fn.status().current_doc == CUR_NONE


def test_unsent_ofd_message_older_than_30_days_on_shift_open(fn: FnClient) -> None:
    register(fn, t=datetime(2026, 1, 1, 10, 0))
    assert code_of(fn, CMD_BEGIN_OPEN_SHIFT, dt_bytes(datetime(2026, 2, 5, 10, 0))) == E_OFD_30_DAYS


def test_autonomous_mode_has_no_30_day_limit(fn: FnClient) -> None:
    register(fn, t=datetime(2026, 1, 1, 10, 0), mode=MODE_AUTONOMOUS)
    s = open_shift(fn, datetime(2026, 3, 1, 10, 0))  # §13: 15h only when not autonomous
    assert s.number == 1


# --------------------------------------------------------------------------- link layer


def test_enq_resends_previous_answer(fn: FnClient) -> None:
    a = fn.request(CMD_STATUS)
    assert fn.enq().raw == a.raw
    register(fn)
    open_shift(fn, m(1))
    fn.begin_receipt(m(2))
    fn.send_tlvs(tlv_byte(1054, OP_SALE) + tlv_vln(1020, 100))
    made = fn.request(CMD_MAKE_RECEIPT, FnClient.receipt_params(m(2), OP_SALE, 100))
    assert made.code == OK
    again = fn.enq()
    assert again.raw == made.raw  # byte for byte
    assert fn.enq().raw == made.raw
    assert fn.status().last_fd == NumFdFp.parse(made.data).fd  # not executed twice
    err = fn.request(CMD_OPEN_SHIFT)
    assert err.code == E_STATE
    assert fn.enq().raw == err.raw


def test_start_and_enq_bytes_inside_a_frame_are_data(fn: FnClient) -> None:
    # §1: 05h is ENQ only while idle; inside a frame 04h/05h are ordinary data
    register(fn)
    fn.begin_open_shift(m(5))  # DATE_TIME ends in 05h
    value = b"\x05\x04\x05\x04\x01\x00\x05"
    fn.send_tlvs(tlv(1021, value))
    s = fn.open_shift()
    _, _, items, _ = fn.read_document_tlvs(s.fd)
    assert tlv(1021, value) in items
    doc = fn.find_fd(s.fd)
    assert doc.time == dt_bytes(m(5))


def test_enq_before_first_answer_is_harmless(fn: FnClient) -> None:
    fn.send_raw(b"\x05")
    fn.drain(0.5)  # unspecified (suggested: ignore)
    assert fn.status().phase == 1


def test_bad_crc_is_not_executed_and_not_fatal(fn: FnClient) -> None:
    register(fn)
    good = fn_frame(CMD_BEGIN_OPEN_SHIFT, dt_bytes(m(1)))
    bad = good[:-2] + bytes([good[-2] ^ 0xFF, good[-1]])
    fn.send_raw(bad)
    fn.drain(0.5)  # reaction unspecified (§1, §16)
    st = fn.status()  # the next good command is answered
    assert st.current_doc == CUR_NONE  # the corrupted 11h was not executed
    fn.send_raw(fn_frame(CMD_STATUS)[:-1] + b"\x00")
    fn.drain(0.5)
    assert fn.status().phase == 3


def test_garbage_bytes_survived(fn: FnClient) -> None:
    garbage = bytes(b for b in range(256) if b not in (0x04, 0x05)) + b"\r\nhello\x00\xff"
    fn.send_raw(garbage)
    fn.drain(0.5)
    st = fn.status()
    assert st.phase == 1
    assert fn.fn_number() == st.fn_number
    # start bytes followed by impossible lengths (LEN 0, LEN > 1025)
    for junk in ("04 00 00", "04 FF FF 30", "04 02 04 30 00"):
        fn.send_raw(bytes.fromhex(junk))
        time.sleep(0.3)
        fn.drain(0.5)
        fn.send_raw(fn_frame(CMD_STATUS))
        a = fn.read_answer(timeout=3.0)
        assert a.code == OK and Status.parse(a.data).fn_number == st.fn_number, junk


def test_truncated_frame_survived(fn: FnClient) -> None:
    fn.send_raw(bytes.fromhex("04 0A 00 30"))  # start of a frame that never completes
    time.sleep(1.0)
    fn.drain(0.5)
    for _ in range(4):  # a KKT retries; the FN must resynchronise
        fn.send_raw(fn_frame(CMD_STATUS))
        try:
            a = fn.read_answer(timeout=2.0)
        except FnError:
            continue
        if a.code == OK and len(a.data) == 30:
            break
        fn.drain(0.3)
    else:
        pytest.fail("FN never answered 30h after a truncated frame")
    assert Status.parse(a.data).phase == 1


# --------------------------------------------------------------------------- process contract


def test_tcp_transport(emulators: Callable[..., Emulator]) -> None:
    emu = emulators(tcp=True)
    fn = emu.client
    fn.send_raw(bytes.fromhex("04 01 00 30 FF CD"))
    a = fn.read_answer()
    assert a.code == OK and Status.parse(a.data).phase == 1
    register(fn)
    assert fn.status().phase == 3
    assert fn.enq().raw[3] & 0x7F == OK


def test_state_persists_across_restart(emulators: Callable[..., Emulator], tmp_path: Path) -> None:
    state = tmp_path / "missing" / "fnstate"  # a missing directory is a fresh FN
    emu = emulators(state=state)
    number = emu.client.fn_number()
    fd, fp = register(emu.client)
    open_shift(emu.client, m(1))
    emu.stop()
    emu2 = emulators(state=state)
    st = emu2.client.status()
    assert (st.phase, st.shift_open, st.last_fd, st.fn_number) == (3, 1, 2, number)
    doc = emu2.client.find_fd(1)
    assert (doc.fd, doc.fp) == (fd, fp)


def test_debug_reset_60h(fn: FnClient) -> None:
    assert fn.version().serial == 0
    register(fn)
    fn.ok(CMD_DEBUG_RESET, b"\x16")
    st = fn.status()
    assert st.phase == 1
    assert code_of(fn, CMD_FIND_FD, fd_req(1)) == E_STATE  # phase 1: archive commands refused
    r = register(fn)
    assert r[0] == 1  # archive wiped, the counter restarts


def test_clock_drift_17h(emulators: Callable[..., Emulator]) -> None:
    fn = emulators(drift_check=True).client
    now = datetime.now().replace(second=0, microsecond=0)
    register(fn, t=now)
    open_shift(fn, now)
    fn.begin_receipt(now)
    fn.ok(CMD_CANCEL_DOCUMENT)
    # the document clock jumps 30 min while the FN timer moved a few seconds
    assert code_of(fn, CMD_BEGIN_RECEIPT, dt_bytes(now + timedelta(minutes=30))) == 0x17
