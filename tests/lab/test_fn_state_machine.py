"""Random command sequences against the FN (through the link layer), checked against a small model."""

from __future__ import annotations

import shutil
import struct
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from register.fiscal.fn_protocol import (
    ArchiveDocument,
    FnStatus,
    OfdStatus,
    ReceiptRequest,
    RegistrationRequest,
    pack_datetime,
)
from register.fiscal.frame import Frame, FrameReader, encode_frame
from register.fiscal.ofd_container import make_ofd_receipt
from register.lab.fn_emulator import FnConfig, FnEmulator
from register.lab.fn_link import FnLink
from register.lab.fn_store import FnStore

KEY = b"state-machine-key"
T0 = datetime(2026, 1, 15, 9, 0)
SHIFT_LIMIT = timedelta(hours=24)

# current-document codes of 30h (fn-protocol.md §6) and their 07h data limits (§13)
RECEIPT, SHIFT_OPEN, SHIFT_CLOSE = 0x04, 0x02, 0x08
LIMIT = {RECEIPT: 30720, SHIFT_OPEN: 1024, SHIFT_CLOSE: 1024}


@dataclass
class SignedDoc:
    form: int
    when: datetime
    fp: int
    operation: int | None = None
    total: int | None = None
    shift: int | None = None


class FnMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="fn-sm-"))
        self.now = T0
        self.last_fd = 0
        self.docs: dict[int, SignedDoc] = {}
        self.unconfirmed: list[int] = []
        self.shift_open = False
        self.shift_opened_at: datetime | None = None
        self.shift = 0
        self.receipt_no = 0
        self.doc: int | None = None  # current-document code
        self.doc_began: datetime | None = None
        self.doc_size = 0
        self.spoiled = False  # a 07h went over the limit: only 06h helps
        self._start()

    def _start(self) -> None:
        self.store = FnStore.open(self.dir, fn_number="9999000011112222", today=T0.date())
        self.link = FnLink(FnEmulator(self.store, config=FnConfig(key=KEY), clock=lambda: self.now))

    def teardown(self) -> None:
        self.store.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def send(self, code: int, data: bytes = b"") -> Frame:
        raw = self.link.feed(encode_frame(code, data))
        (answer,) = FrameReader().feed(raw)
        assert isinstance(answer, Frame), answer
        return answer

    def expect(self, code: int, data: bytes, expected: int) -> bytes:
        answer = self.send(code, data)
        assert answer.code == expected, (
            f"{code:02X}h answered {answer.code:02X}h, model expected {expected:02X}h"
        )
        return answer.data

    def began(self, doc: int) -> None:
        self.doc, self.doc_began, self.doc_size, self.spoiled = doc, self.now, 0, False

    def unsent_too_long(self, at: datetime) -> bool:
        """The oldest document waiting for the OFD is over 30 calendar days old (code 15h)."""
        return bool(self.unconfirmed) and (at.date() - self.docs[self.unconfirmed[0]].when.date()).days > 30

    def finish_refusal(self, doc: int, *, checks_unsent: bool) -> int | None:
        """The code a finish command gets from the model when it cannot succeed."""
        if self.doc != doc or self.doc_size == 0:
            return 0x02
        if self.spoiled:
            return 0x10
        assert self.doc_began is not None
        return 0x15 if checks_unsent and self.unsent_too_long(self.doc_began) else None

    def signed(self, fd: int, doc: SignedDoc) -> None:
        assert fd == self.last_fd + 1, f"FD {fd} after FD {self.last_fd}"
        self.last_fd = fd
        self.docs[fd] = doc
        self.unconfirmed.append(fd)

    @initialize()
    def register(self) -> None:
        self.expect(0x02, b"", 0)
        self.expect(0x07, bytes.fromhex("1E 04 01 00 01"), 0)
        answer = self.expect(0x03, RegistrationRequest(T0, "7700000000", "0000000001058781", 1, 0).pack(), 0)
        fd, fp = struct.unpack("<II", answer)
        self.signed(fd, SignedDoc(1, T0, fp))

    # --- rules ---------------------------------------------------------------------------------

    @rule(minutes=st.one_of(st.integers(0, 30), st.integers(600, 3000), st.integers(10_000, 30_000)))
    def advance_time(self, minutes: int) -> None:
        self.now += timedelta(minutes=minutes)

    @rule()
    def begin_receipt(self) -> None:
        if not self.shift_open or self.doc is not None:
            expected = 0x02
        elif self.unsent_too_long(self.now):
            expected = 0x15
        elif self.shift_opened_at is not None and self.now > self.shift_opened_at + SHIFT_LIMIT:
            expected = 0x16
        else:
            expected = 0
        self.expect(0x15, pack_datetime(self.now), expected)
        if expected == 0:
            self.began(RECEIPT)

    @rule(size=st.integers(0, 1020))
    def send_tlv(self, size: int) -> None:
        tlv = struct.pack("<HH", 1192, size) + bytes(size)
        if self.doc is None:
            self.expect(0x07, tlv, 0x02)
        elif self.spoiled or self.doc_size + len(tlv) > LIMIT[self.doc]:
            self.expect(0x07, tlv, 0x10)
            self.spoiled = True
        else:
            self.expect(0x07, tlv, 0)
            self.doc_size += len(tlv)

    @rule(operation=st.integers(1, 4), total=st.integers(0, 10**9))
    def finish_receipt(self, operation: int, total: int) -> None:
        request = ReceiptRequest(self.now, operation, total).pack()
        if (refusal := self.finish_refusal(RECEIPT, checks_unsent=False)) is not None:
            self.expect(0x16, request, refusal)
            return
        assert self.shift_opened_at is not None
        if self.now > self.shift_opened_at + SHIFT_LIMIT:
            self.expect(0x16, request, 0x07)
            return
        receipt, fd, fp = struct.unpack("<HII", self.expect(0x16, request, 0))
        self.receipt_no += 1
        assert receipt == self.receipt_no
        self.signed(fd, SignedDoc(3, self.now, fp, operation=operation, total=total))
        self.doc = None

    @rule()
    def cancel(self) -> None:
        self.expect(0x06, b"", 0)
        self.doc = None

    @rule()
    def begin_open_shift(self) -> None:
        expected = (
            0x02 if self.shift_open or self.doc is not None else 0x15 if self.unsent_too_long(self.now) else 0
        )
        self.expect(0x11, pack_datetime(self.now), expected)
        if expected == 0:
            self.began(SHIFT_OPEN)

    @rule()
    def finish_open_shift(self) -> None:
        if (refusal := self.finish_refusal(SHIFT_OPEN, checks_unsent=True)) is not None:
            self.expect(0x12, b"", refusal)
            return
        shift, fd, fp = struct.unpack("<HII", self.expect(0x12, b"", 0))
        assert shift == self.shift + 1 and self.doc_began is not None
        self.shift, self.shift_open, self.shift_opened_at, self.receipt_no = shift, True, self.doc_began, 0
        self.signed(fd, SignedDoc(2, self.doc_began, fp, shift=shift))
        self.doc = None

    @rule()
    def begin_close_shift(self) -> None:
        expected = (
            0x02
            if not self.shift_open or self.doc is not None
            else 0x15
            if self.unsent_too_long(self.now)
            else 0
        )
        self.expect(0x13, pack_datetime(self.now), expected)
        if expected == 0:
            self.began(SHIFT_CLOSE)

    @rule()
    def finish_close_shift(self) -> None:
        if (refusal := self.finish_refusal(SHIFT_CLOSE, checks_unsent=True)) is not None:
            self.expect(0x14, b"", refusal)
            return
        shift, fd, fp = struct.unpack("<HII", self.expect(0x14, b"", 0))
        assert shift == self.shift and self.doc_began is not None
        self.shift_open = False
        self.signed(fd, SignedDoc(5, self.doc_began, fp, shift=shift))
        self.doc = None

    @rule(block=st.integers(1, 1024))
    def confirm_by_ofd(self, block: int) -> None:
        self.expect(0x21, b"\x01", 0)
        if not self.unconfirmed:
            self.expect(0x22, b"", 0x08)
            return
        (length,) = struct.unpack("<H", self.expect(0x22, b"", 0))
        message = b""
        while len(message) < length:
            message += self.expect(0x23, struct.pack("<HH", len(message), block), 0)
        self.expect(0x25, b"", 0)
        assert self.expect(0x26, make_ofd_receipt(KEY, message, self.now), 0) == b"\x00"
        self.unconfirmed.pop(0)

    # whole documents in one step, so that long histories (several shifts, 24 h limits) come up often

    @rule(operation=st.integers(1, 4), total=st.integers(0, 10**9), size=st.integers(0, 200))
    def whole_receipt(self, operation: int, total: int, size: int) -> None:
        self.begin_receipt()
        self.send_tlv(size)
        self.finish_receipt(operation, total)

    @rule(size=st.integers(0, 200))
    def whole_shift_open(self, size: int) -> None:
        self.begin_open_shift()
        self.send_tlv(size)
        self.finish_open_shift()

    @rule(size=st.integers(0, 200))
    def whole_shift_close(self, size: int) -> None:
        self.begin_close_shift()
        self.send_tlv(size)
        self.finish_close_shift()

    @rule(receipts=st.integers(1, 4), size=st.integers(0, 200))
    def next_shift_with_receipts(self, receipts: int, size: int) -> None:
        """Finish whatever is open, close the shift if open, open the next one and sell."""
        self.cancel()
        if self.shift_open:
            self.whole_shift_close(size)
        self.whole_shift_open(size)
        for _ in range(receipts):
            self.whole_receipt(1, 100, size)

    @rule()
    def restart(self) -> None:
        """Power loss: the open document is gone, everything signed stays."""
        self.store.close()
        self._start()
        self.doc = None

    # --- invariants ----------------------------------------------------------------------------

    @invariant()
    def status_matches_the_model(self) -> None:
        status = FnStatus.unpack(self.expect(0x30, b"", 0))
        assert status.phase == 3
        assert status.last_fd == self.last_fd
        assert status.current_doc == (self.doc or 0)
        assert status.doc_data_received == (self.doc is not None and self.doc_size > 0)
        assert status.shift_open == self.shift_open
        assert status.last_doc_time == self.docs[self.last_fd].when
        assert self.expect(0x42, b"", 0) == struct.pack("<H", len(self.unconfirmed))
        ofd = OfdStatus.unpack(self.expect(0x20, b"", 0))
        first = self.unconfirmed[0] if self.unconfirmed else 0
        assert (ofd.queued, ofd.first_fd, bool(ofd.flags & 0x02)) == (len(self.unconfirmed), first, first > 0)

    @invariant()
    def every_signed_document_is_in_the_archive(self) -> None:
        assert sorted(self.docs) == list(range(1, self.last_fd + 1))
        for fd, doc in self.docs.items():
            found = ArchiveDocument.unpack(self.expect(0x40, struct.pack("<I", fd), 0))
            assert (found.doc_type, found.fd, found.fp, found.when) == (doc.form, fd, doc.fp, doc.when)
            assert found.ofd_confirmed == (fd not in self.unconfirmed)
            if doc.form == 3:
                assert (found.operation, found.total) == (doc.operation, doc.total)
            if doc.shift is not None:
                assert found.shift == doc.shift


FnMachine.TestCase.settings = settings(max_examples=80, stateful_step_count=50, deadline=None)
TestFnStateMachine = FnMachine.TestCase
