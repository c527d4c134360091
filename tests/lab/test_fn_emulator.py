"""The FN emulator's state machine, driven through command frames (fn-protocol.md §2–§15)."""

from __future__ import annotations

import hashlib
import hmac
import struct
from datetime import datetime, timedelta

import pytest

from register.fiscal.fn_protocol import (
    ArchiveDocument,
    FnStatus,
    OfdStatus,
    OfdTicket,
    ReceiptRequest,
    ReceiptSigned,
    RegistrationRequest,
    ShiftParams,
    ShiftSigned,
    Signed,
    StateReportSigned,
    pack_datetime,
)
from register.fiscal.frame import Frame, decode_frame, encode_frame
from register.fiscal.ofd_container import OfdMessage, make_ofd_receipt
from register.fiscal.tlv import encode_tlv, iter_tlv
from register.lab.fn_emulator import FnConfig, FnEmulator, fiscal_sign
from register.lab.fn_link import FnLink
from register.lab.fn_store import FnStore

KEY = b"emulator-test-key"
FN_NUMBER = "9999078900004312"
INN = "7700000000"
RNM = "0000000001058781"
T0 = datetime(2026, 1, 15, 9, 0)
TLV_1054 = bytes.fromhex("1E 04 01 00 01")  # tag 1054 = 1, the §2 07h example


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Fn:
    """An emulator with a hand-moved clock and short-hands for command sequences."""

    def __init__(self, *, drift_check: bool = True, store: FnStore | None = None) -> None:
        self.clock = Clock(T0)
        self.store = store or FnStore.in_memory(fn_number=FN_NUMBER, today=T0.date())
        self.emulator = FnEmulator(
            self.store, config=FnConfig(key=KEY, drift_check=drift_check), clock=self.clock
        )

    def cmd(self, code: int, data: bytes = b"") -> Frame:
        return self.emulator.handle(Frame(code, data))

    def ok(self, code: int, data: bytes = b"") -> bytes:
        answer = self.cmd(code, data)
        assert answer.code == 0, f"{code:02X}h answered {answer.code:02X}h: {self.cmd(0x35).data!r}"
        return answer.data

    def code(self, code: int, data: bytes = b"") -> int:
        return self.cmd(code, data).code

    def at(self, when: datetime) -> bytes:
        """Move the FN timer with the host clock; return the DATE_TIME of ``when``."""
        self.clock.now = when
        return pack_datetime(when)

    def register(self, when: datetime = T0, *, work_mode: int = 0, tax: int = 1) -> Signed:
        self.ok(0x02)
        self.ok(0x07, TLV_1054)
        return Signed.unpack(self.ok(0x03, RegistrationRequest(when, INN, RNM, tax, work_mode).pack()))

    def open_shift(self, when: datetime = T0) -> ShiftSigned:
        self.ok(0x11, self.at(when))
        self.ok(0x07, TLV_1054)
        return ShiftSigned.unpack(self.ok(0x12))

    def close_shift(self, when: datetime = T0) -> ShiftSigned:
        self.ok(0x13, self.at(when))
        self.ok(0x07, TLV_1054)
        return ShiftSigned.unpack(self.ok(0x14))

    def receipt(
        self, when: datetime = T0, *, operation: int = 1, total: int = 123456, tlv: bytes = TLV_1054
    ) -> ReceiptSigned:
        self.ok(0x15, self.at(when))
        self.ok(0x07, tlv)
        return ReceiptSigned.unpack(self.ok(0x16, ReceiptRequest(when, operation, total).pack()))

    def status(self) -> FnStatus:
        return FnStatus.unpack(self.ok(0x30))

    def document(self, fd: int) -> ArchiveDocument:
        return ArchiveDocument.unpack(self.ok(0x40, struct.pack("<I", fd)))

    def document_tlvs(self, fd: int) -> tuple[int, int, list[bytes]]:
        form, length = struct.unpack("<HH", self.ok(0x45, struct.pack("<I", fd)))
        items = []
        while (answer := self.cmd(0x46)).code == 0:
            items.append(answer.data)
        assert answer.code == 0x08
        return form, length, items

    def read_ofd_message(self, block: int = 1024) -> bytes:
        (length,) = struct.unpack("<H", self.ok(0x22))
        message = b""
        while len(message) < length:
            message += self.ok(0x23, struct.pack("<HH", len(message), block))
        self.ok(0x25)
        return message

    def confirm_first(self, when: datetime = T0) -> None:
        self.ok(0x21, b"\x01")
        message = self.read_ofd_message()
        assert self.ok(0x26, make_ofd_receipt(KEY, message, when)) == b"\x00"


def lab_fp(fd: int, when: datetime, form: int, fixed: bytes, tlv: bytes, fn: str = FN_NUMBER) -> int:
    """The fiscal sign as fn-protocol.md §15 defines it."""
    message = fn.encode() + struct.pack("<I", fd) + pack_datetime(when) + bytes([form]) + fixed + tlv
    return int.from_bytes(hmac.new(KEY, message, hashlib.sha256).digest()[:4], "big")


@pytest.fixture
def fn() -> Fn:
    return Fn()


@pytest.fixture
def trading() -> Fn:
    """Registered (FD 1) with a shift open (FD 2) at T0."""
    fn = Fn()
    fn.register()
    fn.open_shift()
    return fn


# --- the §2 / §9 / §15 byte examples ------------------------------------------------------------


@pytest.fixture(scope="module")
def fn42() -> tuple[Fn, ReceiptSigned, bytes]:
    """FD 42 = receipt 5 of shift 2 at 2026-01-15 14:32: the document of the §15 test vector."""
    fn = Fn()
    fn.register()  # FD 1
    fn.open_shift()  # FD 2
    for _ in range(33):  # FD 3..35
        fn.receipt(T0 + timedelta(hours=1), total=100)
    fn.close_shift(T0 + timedelta(hours=1))  # FD 36
    fn.open_shift(T0 + timedelta(hours=1))  # FD 37
    for _ in range(4):  # FD 38..41
        fn.receipt(T0 + timedelta(hours=2), total=100)
    when = datetime(2026, 1, 15, 14, 32)
    fn.ok(0x15, fn.at(when))
    fn.ok(0x07, TLV_1054)
    raw_16h = encode_frame(0, fn.ok(0x16, bytes.fromhex("1A 01 0F 0E 20 01 40 E2 01 00 00")))
    return fn, ReceiptSigned.unpack(decode_frame(raw_16h).data), raw_16h


def test_fiscal_sign_function_matches_the_section_15_vector() -> None:
    when, fixed = bytes.fromhex("1A 01 0F 0E 20"), bytes.fromhex("01 40 E2 01 00 00")
    assert fiscal_sign(KEY, FN_NUMBER, 42, when, 3, fixed, TLV_1054) == 3098173039


class TestGoldenScenario:
    """The byte examples of §2, §9.1, §9.6 and §15 on the FD 42 document (tests run in this order)."""

    def test_fiscal_sign_matches_the_section_15_vector(self, fn42: tuple[Fn, ReceiptSigned, bytes]) -> None:
        _, signed, raw = fn42
        assert (signed.receipt, signed.fd, signed.fp) == (5, 42, 3098173039)
        # the §2 16h answer layout, with the §15 sign in place of the example's 12345678h
        assert raw[:14] == bytes.fromhex("04 0B 00 00 05 00 2A 00 00 00 6F 5E AA B8")

    def test_status_answer_is_the_section_9_example(self, fn42: tuple[Fn, ReceiptSigned, bytes]) -> None:
        fn, _, _ = fn42
        answer = FnLink(fn.emulator).feed(bytes.fromhex("04 01 00 30 FF CD"))
        assert answer == bytes.fromhex(
            "04 1F 00 00 03 00 00 01 00 1A 01 0F 0E 20 39 39 39 39 30 37 38 39 30 30 30 30 34 33 31 32"
            " 2A 00 00 00 0E 31"
        )

    def test_stored_document_carries_tag_1077(self, fn42: tuple[Fn, ReceiptSigned, bytes]) -> None:
        fn, _, _ = fn42
        form, _, items = fn.document_tlvs(42)
        assert form == 3
        assert items[0] == TLV_1054
        assert encode_tlv(1077, bytes.fromhex("00 00 B8 AA 5E 6F")) in items
        assert encode_tlv(1042, struct.pack("<I", 5)) in items
        assert encode_tlv(1038, struct.pack("<I", 2)) in items

    def test_archive_answer_after_ofd_confirmation(self, fn42: tuple[Fn, ReceiptSigned, bytes]) -> None:
        fn, _, _ = fn42
        for _ in range(42):
            fn.confirm_first()
        assert fn.ok(0x40, bytes.fromhex("2A 00 00 00")) == bytes.fromhex(
            "03 01 1A 01 0F 0E 20 2A 00 00 00 6F 5E AA B8 01 40 E2 01 00 00"
        )
        assert fn.ok(0x42) == b"\x00\x00"


def test_fresh_fn_status(fn: Fn) -> None:
    expected = bytes([1, 0, 0, 0, 0]) + bytes(5) + FN_NUMBER.encode() + bytes(4)
    assert fn.ok(0x30) == expected


def test_fn_number_answer_is_the_section_2_example(fn: Fn) -> None:
    raw = FnLink(fn.emulator).feed(bytes.fromhex("04 01 00 31 DE DD"))
    assert raw == bytes.fromhex("04 11 00 00 39 39 39 39 30 37 38 39 30 30 30 30 34 33 31 32 03 5D")


def test_version_reports_an_emulated_debug_fn(fn: Fn) -> None:
    answer = fn.ok(0x33)
    assert answer[:16] == b"EMU 1.0".ljust(16, b" ")
    assert answer[16] == 0


def test_expiry_counts_registrations(fn: Fn) -> None:
    assert fn.ok(0x32) == bytes([29, 1, 15, 30, 0])  # 2029-01-15: three years after the FN was made
    fn.register()
    assert fn.ok(0x32)[3:] == bytes([29, 1])


# --- registration, counters, documents ---------------------------------------------------------


def test_registration_moves_to_fiscal_mode_and_signs_fd_1(fn: Fn) -> None:
    signed = fn.register(work_mode=0)
    fixed = INN.encode().ljust(12) + RNM.encode().ljust(20) + bytes([1, 0])
    assert signed == Signed(1, lab_fp(1, T0, 1, fixed, TLV_1054))
    status = fn.status()
    assert (status.phase, status.last_fd, status.last_doc_time, status.current_doc) == (3, 1, T0, 0)
    doc = fn.document(1)
    assert (doc.doc_type, doc.fd, doc.fp, doc.inn, doc.rnm, doc.tax_systems, doc.work_mode) == (
        1, 1, signed.fp, INN, RNM, 1, 0,
    )  # fmt: skip


def test_fd_numbers_run_across_all_document_kinds(trading: Fn) -> None:
    assert trading.receipt().fd == 3
    assert trading.close_shift().fd == 4
    trading.ok(0x18, trading.at(T0))
    assert StateReportSigned.unpack(trading.ok(0x19)).fd == 5
    assert trading.open_shift().fd == 6
    assert trading.status().last_fd == 6


def test_shift_and_receipt_numbers(fn: Fn) -> None:
    fn.register()
    assert ShiftParams.unpack(fn.ok(0x10)) == ShiftParams(False, 0, 0)
    assert fn.open_shift().shift == 1
    assert ShiftParams.unpack(fn.ok(0x10)) == ShiftParams(True, 1, 0)
    assert [fn.receipt().receipt for _ in range(3)] == [1, 2, 3]
    assert fn.close_shift().shift == 1
    assert ShiftParams.unpack(fn.ok(0x10)) == ShiftParams(False, 1, 3)
    assert fn.open_shift().shift == 2
    assert fn.receipt().receipt == 1


def test_receipt_archive_fields(trading: Fn) -> None:
    signed = trading.receipt(T0 + timedelta(minutes=5), operation=2, total=17980)
    doc = trading.document(signed.fd)
    assert (doc.doc_type, doc.when, doc.operation, doc.total, doc.ofd_confirmed) == (
        3, T0 + timedelta(minutes=5), 2, 17980, False,
    )  # fmt: skip
    assert doc.fp == lab_fp(
        3, T0 + timedelta(minutes=5), 3, bytes([2]) + (17980).to_bytes(5, "little"), TLV_1054
    )


def test_shift_documents_in_the_archive(trading: Fn) -> None:
    closed = trading.close_shift(T0 + timedelta(hours=8))
    doc = trading.document(closed.fd)
    assert (doc.doc_type, doc.shift, doc.when) == (5, 1, T0 + timedelta(hours=8))
    assert (trading.document(2).doc_type, trading.document(2).shift) == (2, 1)


def test_document_tlv_listing(trading: Fn) -> None:
    tlv = TLV_1054 + encode_tlv(1020, bytes.fromhex("40 E2 01"))
    when = datetime(2026, 1, 15, 14, 32)
    signed = trading.receipt(when, tlv=tlv)
    form, length, items = trading.document_tlvs(signed.fd)
    expected = [
        TLV_1054,
        encode_tlv(1020, bytes.fromhex("40 E2 01")),
        encode_tlv(1012, bytes.fromhex("60 FA 68 69")),  # 1768487520, ffd-receipt.md §1
        encode_tlv(1040, bytes.fromhex("03 00 00 00")),
        encode_tlv(1041, FN_NUMBER.encode()),
        encode_tlv(1038, bytes.fromhex("01 00 00 00")),
        encode_tlv(1042, bytes.fromhex("01 00 00 00")),
        encode_tlv(1077, b"\0\0" + signed.fp.to_bytes(4, "big")),
    ]
    assert (form, items) == (3, expected)
    assert length == sum(len(item) for item in expected)
    assert trading.code(0x46) == 0x08  # still at the end


def test_document_tlv_errors(fn: Fn) -> None:
    assert fn.code(0x45, struct.pack("<I", 1)) == 0x02  # phase 1: no archive yet
    fn.register()
    assert fn.code(0x46) == 0x02  # no 45h
    assert fn.code(0x45, struct.pack("<I", 9)) == 0x08
    assert fn.code(0x40, struct.pack("<I", 9)) == 0x08
    assert fn.code(0x40, b"\x01") == 0x01


def test_registration_tlv_document_has_no_shift_tags(fn: Fn) -> None:
    fn.register()
    _form, _length, items = fn.document_tlvs(1)
    assert [tag for item in items for tag, _ in iter_tlv(item)] == [1054, 1012, 1040, 1041, 1077]


def test_correction_receipt(trading: Fn) -> None:
    trading.ok(0x17, trading.at(T0))
    assert trading.status().current_doc == 0x14
    trading.ok(0x07, TLV_1054)
    signed = ReceiptSigned.unpack(trading.ok(0x16, ReceiptRequest(T0, 1, 500).pack()))
    assert trading.document(signed.fd).doc_type == 31
    assert signed.receipt == 1


def test_bso_work_mode(fn: Fn) -> None:
    fn.register(work_mode=0x10)
    fn.open_shift()
    fn.ok(0x15, fn.at(T0))
    assert fn.status().current_doc == 0x11
    fn.ok(0x07, TLV_1054)
    signed = ReceiptSigned.unpack(fn.ok(0x16, ReceiptRequest(T0, 1, 500).pack()))
    assert fn.document(signed.fd).doc_type == 4


def test_status_follows_the_open_document(trading: Fn) -> None:
    trading.ok(0x15, trading.at(T0))
    status = trading.status()
    assert (status.current_doc, status.doc_data_received, status.shift_open) == (0x04, False, True)
    trading.ok(0x07, TLV_1054)
    assert trading.status().doc_data_received
    trading.ok(0x06)
    status = trading.status()
    assert (status.current_doc, status.doc_data_received, status.last_fd) == (0, False, 2)
    assert trading.ok(0x06) == b""  # nothing open: still 00h


def test_state_report_counts_unconfirmed_documents(fn: Fn) -> None:
    fn.register(T0)
    fn.open_shift(T0 + timedelta(days=1))
    fn.close_shift(T0 + timedelta(days=1))
    fn.ok(0x18, fn.at(T0 + timedelta(days=2)))
    report = StateReportSigned.unpack(fn.ok(0x19))  # no 07h needed
    assert (report.fd, report.unconfirmed, report.first_unconfirmed) == (4, 3, T0.date())
    doc = fn.document(4)
    assert (doc.doc_type, doc.unconfirmed, doc.first_unconfirmed) == (21, 3, T0)


def test_reregistration_without_fn_replacement(fn: Fn) -> None:
    fn.register()
    assert fn.code(0x02, b"\x01") == 0x02  # type 1 only before fiscalisation
    fn.ok(0x02, b"\x02")
    assert fn.status().current_doc == 0x13
    fn.ok(0x07, TLV_1054)
    request = RegistrationRequest(T0, INN, RNM, 2, 0, reason=3).pack()
    assert fn.code(0x03, request[:39]) == 0x01  # type 2 needs the reason byte
    signed = Signed.unpack(fn.ok(0x03, request))
    doc = fn.document(signed.fd)
    assert (doc.doc_type, doc.tax_systems, doc.reason) == (11, 2, 3)
    assert fn.status().phase == 3


def test_registration_parameters(fn: Fn) -> None:
    assert fn.code(0x43) == 0x02
    first = fn.register(tax=1)
    fn.ok(0x02, b"\x02")
    fn.ok(0x07, TLV_1054)
    second = Signed.unpack(fn.ok(0x03, RegistrationRequest(T0, INN, RNM, 4, 0, reason=2).pack()))
    fields = INN.encode().ljust(12) + RNM.encode().ljust(20)
    assert fn.ok(0x43) == pack_datetime(T0) + fields + bytes([4, 0]) + struct.pack(
        "<II", second.fd, second.fp
    )
    assert fn.ok(0x43, b"\x01") == pack_datetime(T0) + fields + bytes([1, 0, 0]) + struct.pack(
        "<II", first.fd, first.fp
    )
    assert fn.ok(0x43, b"\x02")[37:40] == bytes([4, 0, 2])  # tax, work mode, reason of the re-registration
    assert fn.code(0x43, b"\x03") == 0x08


# --- error codes --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "data"),
    [
        (0x30, b"\x00"),  # 30h takes no data
        (0x02, b"\x03"),  # unknown registration type
        (0x02, b"\x00\x00"),
        (0x07, b""),  # no TLV at all
        (0x07, bytes.fromhex("1E 04 05 00 01")),  # length runs past the end
        (0x07, bytes.fromhex("1E 04 01")),  # truncated header
        (0x11, bytes.fromhex("1A 01 0F 09")),  # DATE_TIME of 4 bytes
        (0x99, b""),  # unknown command
        (0x60, b"\x15"),  # unknown reset code
        (0x40, b"\x01\x00\x00"),
    ],
)
def test_format_errors_answer_01h(fn: Fn, code: int, data: bytes) -> None:
    assert fn.code(code, data) == 0x01


def test_format_is_checked_before_state(fn: Fn) -> None:
    # phase 1 and no document: both 07h and 11h would be in the wrong state, but their data are bad first
    assert fn.code(0x07, bytes.fromhex("1E 04 05 00 01")) == 0x01
    assert fn.code(0x11, b"\x1a") == 0x01


@pytest.mark.parametrize(
    ("code", "data"),
    [
        (0x10, b""),  # shift parameters before fiscalisation
        (0x11, pack_datetime(T0)),  # shift open before fiscalisation
        (0x07, TLV_1054),  # no document begun
        (0x03, RegistrationRequest(T0, INN, RNM, 1, 0).pack()),  # no 02h
        (0x04, b""),  # closing fiscal mode needs phase 3
        (0x20, b""),  # OFD exchange before fiscal mode
        (0x21, b"\x01"),
        (0x26, b"OFDR1"),
        (0x12, b""),  # no 11h
        (0x19, b""),  # no 18h
        (0x24, b""),  # no 22h
        (0x25, b""),
    ],
)
def test_wrong_state_in_phase_1(fn: Fn, code: int, data: bytes) -> None:
    assert fn.code(code, data) == 0x02


def test_wrong_state_in_fiscal_mode(trading: Fn) -> None:
    assert trading.code(0x02) == 0x02  # already registered
    assert trading.code(0x11, trading.at(T0)) == 0x02  # shift already open
    assert trading.code(0x18, trading.at(T0)) == 0x02  # state report needs the shift closed
    assert trading.code(0x04) == 0x02  # closing fiscal mode needs the shift closed
    assert trading.code(0x16, ReceiptRequest(T0, 1, 1).pack()) == 0x02  # no receipt begun
    trading.ok(0x15, trading.at(T0))
    assert trading.code(0x16, ReceiptRequest(T0, 1, 1).pack()) == 0x02  # begun but no 07h data
    assert trading.code(0x15, trading.at(T0)) == 0x02  # a receipt is open
    assert trading.code(0x17, trading.at(T0)) == 0x02
    assert trading.code(0x13, trading.at(T0)) == 0x02  # cannot close the shift over an open receipt
    assert trading.code(0x14) == 0x02
    trading.ok(0x06)
    trading.close_shift()
    assert trading.code(0x15, trading.at(T0)) == 0x02  # shift closed
    assert trading.code(0x13, trading.at(T0)) == 0x02
    assert trading.code(0x23, struct.pack("<HH", 0, 10)) == 0x02  # no 22h


def test_bad_parameter_values_answer_09h(trading: Fn) -> None:
    assert trading.code(0x15, bytes.fromhex("1A 0D 0F 09 00")) == 0x09  # month 13
    trading.ok(0x15, trading.at(T0))
    trading.ok(0x07, TLV_1054)
    assert trading.code(0x16, ReceiptRequest(T0, 5, 100).pack()) == 0x09  # operation 5 is not 1054


@pytest.mark.parametrize("rnm", [b"ABC".ljust(20), b" " * 20, "РН".encode().ljust(20), b"12 34".ljust(20)])
def test_registration_refuses_a_malformed_rnm(fn: Fn, rnm: bytes) -> None:
    fn.ok(0x02)
    fn.ok(0x07, TLV_1054)
    request = pack_datetime(T0) + INN.encode().ljust(12) + rnm + b"\x01\x00"
    assert fn.code(0x03, request) == 0x09
    assert fn.status().phase == 1


def test_time_earlier_than_the_last_document_answers_07h(trading: Fn) -> None:
    trading.receipt(T0 + timedelta(hours=1))
    assert trading.code(0x15, trading.at(T0 + timedelta(minutes=59))) == 0x07
    assert trading.code(0x13, trading.at(T0 + timedelta(minutes=59))) == 0x07


def test_receipt_time_before_its_begin_answers_07h(trading: Fn) -> None:
    trading.ok(0x15, trading.at(T0 + timedelta(minutes=10)))
    trading.ok(0x07, TLV_1054)
    assert trading.code(0x16, ReceiptRequest(T0 + timedelta(minutes=9), 1, 1).pack()) == 0x07
    trading.ok(0x16, ReceiptRequest(T0 + timedelta(minutes=10), 1, 1).pack())


def test_receipt_finished_over_24h_after_shift_open_answers_07h(trading: Fn) -> None:
    trading.ok(0x15, trading.at(T0 + timedelta(hours=23, minutes=59)))
    trading.ok(0x07, TLV_1054)
    late = T0 + timedelta(hours=24, minutes=1)
    assert trading.code(0x16, ReceiptRequest(late, 1, 1).pack()) == 0x07
    trading.ok(0x16, ReceiptRequest(T0 + timedelta(hours=24), 1, 1).pack())


def test_receipt_begun_over_24h_after_shift_open_answers_16h(trading: Fn) -> None:
    trading.ok(0x15, trading.at(T0 + timedelta(hours=24)))
    trading.ok(0x06)
    assert trading.code(0x15, trading.at(T0 + timedelta(hours=24, minutes=1))) == 0x16
    assert trading.code(0x17, trading.at(T0 + timedelta(hours=24, minutes=1))) == 0x16
    trading.close_shift(T0 + timedelta(hours=30))  # closing is still allowed


def test_shift_may_open_up_to_an_hour_before_the_last_document() -> None:
    fn = Fn()
    fn.register(T0 + timedelta(hours=1))
    assert fn.code(0x11, fn.at(T0 - timedelta(minutes=1))) == 0x07
    fn.ok(0x11, fn.at(T0))


class TestClockDrift:
    def test_host_clock_running_ahead_of_the_fn_timer_answers_17h(self, trading: Fn) -> None:
        trading.clock.now = T0 + timedelta(minutes=10)
        assert trading.code(0x15, pack_datetime(T0 + timedelta(minutes=16))) == 0x17
        trading.ok(0x15, pack_datetime(T0 + timedelta(minutes=15)))  # exactly 5 minutes apart

    def test_host_clock_lagging_answers_17h(self, trading: Fn) -> None:
        trading.clock.now = T0 + timedelta(hours=2)
        assert trading.code(0x17, pack_datetime(T0 + timedelta(hours=1))) == 0x17

    def test_drift_check_can_be_switched_off(self) -> None:
        fn = Fn(drift_check=False)
        fn.register()
        fn.open_shift()
        fn.clock.now = T0
        fn.ok(0x15, pack_datetime(T0 + timedelta(hours=3)))


class TestTlvLimits:
    @staticmethod
    def filler(size: int) -> bytes:
        """One TLV of ``size`` bytes including its header."""
        return encode_tlv(1192, bytes(size - 4))

    def test_receipt_takes_30_kb(self, trading: Fn) -> None:
        trading.ok(0x15, trading.at(T0))
        for _ in range(30):
            trading.ok(0x07, self.filler(1024))
        assert trading.code(0x07, self.filler(4)) == 0x10
        status = trading.status()
        assert (status.current_doc, status.doc_data_received) == (0x04, True)  # still open
        assert trading.code(0x16, ReceiptRequest(T0, 1, 1).pack()) == 0x10  # the host must cancel
        trading.ok(0x06)
        assert trading.receipt().fd == 3

    def test_shift_open_takes_1_kb(self, fn: Fn) -> None:
        fn.register()
        fn.ok(0x11, fn.at(T0))
        fn.ok(0x07, self.filler(1000))
        assert fn.code(0x07, self.filler(25)) == 0x10
        fn.ok(0x06)
        fn.ok(0x11, fn.at(T0))
        fn.ok(0x07, self.filler(1000))
        fn.ok(0x07, self.filler(24))

    def test_registration_takes_2_kb(self, fn: Fn) -> None:
        fn.ok(0x02)
        fn.ok(0x07, self.filler(1024))
        fn.ok(0x07, self.filler(1020))
        assert fn.code(0x07, self.filler(5)) == 0x10
        fn.ok(0x06)
        assert fn.status().current_doc == 0

    def test_format_state_and_size_in_that_order(self, trading: Fn) -> None:
        assert trading.code(0x07, self.filler(1024)) == 0x02  # no document: state before size
        trading.ok(0x15, trading.at(T0))
        for _ in range(30):
            trading.ok(0x07, self.filler(1024))
        assert trading.code(0x07, bytes.fromhex("1E 04 05 00 01")) == 0x01  # bad TLV: format before size


class TestUnsentOfdMessages:
    def test_oldest_unsent_over_30_days_answers_15h(self, fn: Fn) -> None:
        fn.register(T0)  # FD 1 waits for the OFD
        fn.open_shift(T0 + timedelta(days=30))
        fn.close_shift(T0 + timedelta(days=30))
        assert fn.code(0x11, fn.at(T0 + timedelta(days=31))) == 0x15

    def test_shift_commands_and_receipts_are_refused(self, fn: Fn) -> None:
        fn.register(T0)
        fn.open_shift(T0 + timedelta(days=30))
        assert fn.code(0x15, fn.at(T0 + timedelta(days=31))) == 0x15
        assert fn.code(0x17, fn.at(T0 + timedelta(days=31))) == 0x15
        assert fn.code(0x13, fn.at(T0 + timedelta(days=31))) == 0x15

    def test_confirmed_documents_do_not_count(self, fn: Fn) -> None:
        fn.register(T0)
        fn.confirm_first()
        fn.ok(0x11, fn.at(T0 + timedelta(days=40)))

    def test_autonomous_mode_sends_nothing(self, fn: Fn) -> None:
        fn.register(T0, work_mode=0x02)
        fn.ok(0x11, fn.at(T0 + timedelta(days=40)))
        assert fn.ok(0x42) == b"\x00\x00"
        assert OfdStatus.unpack(fn.ok(0x20)).queued == 0


def test_expired_fn_answers_05h(fn: Fn) -> None:
    fn.register()
    fn.clock.now = datetime(2029, 1, 16, 9, 0)
    assert fn.code(0x11, pack_datetime(datetime(2029, 1, 16, 9, 0))) == 0x05


def test_warning_flags_as_expiry_nears(fn: Fn) -> None:
    fn.clock.now = datetime(2028, 12, 20, 12, 0)  # 26 days left
    assert fn.status().warnings == 0x02
    fn.clock.now = datetime(2029, 1, 13, 12, 0)  # 2 days left
    assert fn.status().warnings == 0x03


def test_last_error_text(fn: Fn) -> None:
    assert fn.code(0x11, pack_datetime(T0)) == 0x02
    text = fn.ok(0x35).decode()
    assert "11h" in text and "02h" in text and "phase 1" in text
    fn.ok(0x30)
    assert fn.ok(0x35).decode() == text  # successful commands leave it


# --- OFD exchange -------------------------------------------------------------------------------


class TestOfdExchange:
    def test_round_trip(self, trading: Fn) -> None:
        status = OfdStatus.unpack(trading.ok(0x20))
        assert status == OfdStatus(flags=0x02, reading=False, queued=2, first_fd=1, first_time=T0)
        assert trading.ok(0x42) == struct.pack("<H", 2)
        assert trading.code(0x22) == 0x11  # no transport yet
        trading.ok(0x21, b"\x01")
        (length,) = struct.unpack("<H", trading.ok(0x22))
        assert OfdStatus.unpack(trading.ok(0x20)).reading
        message = b""
        while len(message) < length:
            message += trading.ok(0x23, struct.pack("<HH", len(message), 10))
        assert trading.ok(0x23, struct.pack("<HH", length, 10)) == b""
        assert trading.code(0x23, struct.pack("<HH", length + 1, 10)) == 0x01
        trading.ok(0x25)
        status = OfdStatus.unpack(trading.ok(0x20))
        assert (status.flags, status.reading) == (0x07, False)

        decoded = OfdMessage.decode(message)
        form, _length, items = trading.document_tlvs(1)
        assert (decoded.fn_number, decoded.fd, decoded.form) == (FN_NUMBER, 1, form)
        assert decoded.document == encode_tlv(form, b"".join(items))
        assert message[:6] == b"FNOFD1" and message[6:22] == FN_NUMBER.encode()

        when = datetime(2026, 1, 15, 9, 1)
        receipt = make_ofd_receipt(KEY, message, when)
        assert trading.ok(0x26, receipt) == b"\x00"
        assert trading.ok(0x42) == struct.pack("<H", 1)
        ticket = OfdTicket.unpack(trading.ok(0x41, struct.pack("<I", 1)))
        expected_sign = hmac.new(KEY, receipt[:30], hashlib.sha256).digest()[:18]
        assert ticket == OfdTicket(when, expected_sign, 1)
        assert trading.document(1).ofd_confirmed
        assert not trading.document(2).ofd_confirmed
        assert trading.code(0x41, struct.pack("<I", 2)) == 0x08
        status = OfdStatus.unpack(trading.ok(0x20))
        assert (status.flags, status.queued, status.first_fd) == (0x03, 1, 2)

        trading.confirm_first()
        assert trading.ok(0x42) == b"\x00\x00"
        assert trading.code(0x22) == 0x08  # nothing left to send
        assert OfdStatus.unpack(trading.ok(0x20)) == OfdStatus(0x01, False, 0, 0, None)

    def test_cancel_reading(self, trading: Fn) -> None:
        trading.ok(0x21, b"\x01")
        trading.ok(0x22)
        trading.ok(0x24)
        assert trading.code(0x23, struct.pack("<HH", 0, 10)) == 0x02
        assert trading.code(0x25) == 0x02

    def test_transport_down_stops_block_reads(self, trading: Fn) -> None:
        trading.ok(0x21, b"\x01")
        trading.ok(0x22)
        trading.ok(0x21, b"\x00")
        assert trading.code(0x23, struct.pack("<HH", 0, 10)) == 0x11

    def test_block_length_over_1024_is_refused(self, trading: Fn) -> None:
        trading.ok(0x21, b"\x01")
        trading.ok(0x22)
        assert trading.code(0x23, struct.pack("<HH", 0, 1025)) == 0x01

    def receipt_reject(self, fn: Fn, receipt: bytes) -> Frame:
        answer = fn.cmd(0x26, receipt)
        assert fn.ok(0x42) == struct.pack("<H", 2)  # nothing confirmed
        return answer

    def test_rejections(self, trading: Fn) -> None:
        trading.ok(0x21, b"\x01")
        message = trading.read_ofd_message()
        good = make_ofd_receipt(KEY, message, T0)
        assert self.receipt_reject(trading, good[:-1]) == Frame(0x20, b"\x02")  # format
        assert self.receipt_reject(trading, b"XXXXX" + good[5:]) == Frame(0x20, b"\x02")
        other_fn = good[:5] + b"9999000000000001" + good[21:]
        assert self.receipt_reject(trading, other_fn) == Frame(0x20, b"\x04")
        second = OfdMessage(FN_NUMBER, 2, trading.store.document(2).tlv).encode()  # type: ignore[union-attr]
        assert self.receipt_reject(trading, make_ofd_receipt(KEY, second, T0)) == Frame(0x20, b"\x03")
        assert self.receipt_reject(trading, make_ofd_receipt(b"other key", message, T0)) == Frame(
            0x20, b"\x01"
        )
        assert self.receipt_reject(trading, good[:-1] + bytes([good[-1] ^ 1])) == Frame(0x20, b"\x01")
        assert trading.ok(0x26, good) == b"\x00"

    def test_post_fiscal_phase_ends_when_everything_is_confirmed(self, trading: Fn) -> None:
        trading.close_shift()
        trading.ok(0x04)
        assert trading.status().current_doc == 0x10
        trading.ok(0x07, TLV_1054)
        assert trading.code(0x05, pack_datetime(T0) + b"0000000000000001".ljust(20)) == 0x09  # not our RNM
        signed = Signed.unpack(trading.ok(0x05, pack_datetime(T0) + RNM.encode().ljust(20)))
        assert (signed.fd, trading.status().phase) == (4, 7)
        doc = trading.document(4)
        assert (doc.doc_type, doc.inn, doc.rnm) == (6, INN, RNM)
        assert trading.code(0x11, trading.at(T0)) == 0x02
        for _ in range(3):
            trading.confirm_first()
        assert trading.status().phase == 7
        trading.confirm_first()
        assert trading.status().phase == 15
        assert trading.code(0x20) == 0x02
        assert trading.document(4).ofd_confirmed  # the archive stays readable

    def test_autonomous_fn_closes_straight_to_the_archive_phase(self, fn: Fn) -> None:
        fn.register(work_mode=0x02)
        fn.ok(0x04)
        fn.ok(0x07, TLV_1054)
        fn.ok(0x05, pack_datetime(T0) + RNM.encode().ljust(20))
        assert fn.status().phase == 15


# --- debug reset --------------------------------------------------------------------------------


def test_reset_wipes_back_to_phase_1(trading: Fn) -> None:
    trading.receipt()
    trading.ok(0x15, trading.at(T0))
    trading.ok(0x60, b"\x16")
    status = trading.status()
    assert (status.phase, status.last_fd, status.current_doc, status.shift_open, status.fn_number) == (
        1, 0, 0, False, FN_NUMBER,
    )  # fmt: skip
    assert trading.ok(0x42) == b"\x00\x00"
    assert trading.register().fd == 1
    assert trading.open_shift().shift == 1


def test_reset_needs_a_debug_fn() -> None:
    store = FnStore.in_memory(fn_number=FN_NUMBER, today=T0.date())
    emulator = FnEmulator(store, config=FnConfig(key=KEY, debug=False), clock=Clock(T0))
    assert emulator.handle(Frame(0x60, b"\x16")).code == 0x01
    assert emulator.handle(Frame(0x33)).data[16] == 1
