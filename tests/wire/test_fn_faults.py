"""The FN driver on a faulty link: corrupt answers, lost answers, late answers, a hung or restarted FN.

Every test runs the real driver against the real emulator over a pty. Faults are injected in the
emulator's link layer; a driver's ``on_wire`` hook (called as each frame is about to go out) plays the
events that happen between two frames, such as the FN being power-cycled. Never a second document.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from register.demo_receipts import sample_receipt
from register.fiscal import fn_documents, kkt_documents
from register.fiscal.fn_driver import FnDriver, WireEvent
from register.fiscal.fn_errors import (
    FnBadParameter,
    FnCommandError,
    FnDocumentLost,
    FnNoAnswer,
    FnOfdMessageTooOld,
    FnOutcomeUnknown,
    FnTlvTooLarge,
    FnUnknownCommand,
    FnWrongState,
)
from register.fiscal.fn_protocol import CurrentDoc, ReceiptRequest
from register.fiscal.tlv import iter_tlv, string_tlv
from register.lab.fn_server import FnServer

from .conftest import WHEN

FN_NUMBER = "9999078900004312"
STATUS_REQUEST = bytes.fromhex("04 01 00 30 FF CD")  # fn-protocol.md §2
ENQ = b"\x05"
TLV_1054 = bytes.fromhex("1E 04 01 00 01")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[FnServer]:
    """An FN in fiscal mode with a shift open: FD 1 registration, FD 2 shift open, both at WHEN."""
    srv = FnServer(tmp_path / "fn", pty=True, drift_check=False, fn_number=FN_NUMBER)
    srv.start()
    with FnDriver.open(f"serial:{srv.address}", timeout=0.5) as fn:
        kkt_documents.register(fn, WHEN)
        kkt_documents.open_shift(fn, WHEN)
    yield srv
    srv.stop()


def _driver(server: FnServer, wire: list[WireEvent], **kwargs: object) -> FnDriver:
    return FnDriver.open(f"serial:{server.address}", timeout=0.5, on_wire=wire.append, **kwargs)


def _inject(server: FnServer, *faults: str) -> None:
    assert server.link is not None
    for fault in faults:
        server.link.inject(fault)


def _sent(wire: list[WireEvent]) -> list[bytes]:
    return [e.raw for e in wire if e.direction == "out"]


def _sent_codes(wire: list[WireEvent]) -> list[int | str]:
    """Command codes as they went out, "ENQ" for an ENQ."""
    return ["ENQ" if raw == ENQ else raw[3] for raw in _sent(wire)]


class BeforeNextStatus:
    """An on_wire hook: records every event; once armed, runs ``action`` just before the next 30h goes out."""

    def __init__(self, wire: list[WireEvent], action: Callable[[], None]) -> None:
        self.wire = wire
        self.action = action
        self.armed = False
        self.fired = False

    def __call__(self, event: WireEvent) -> None:
        self.wire.append(event)
        if self.armed and not self.fired and event.direction == "out" and event.raw == STATUS_REQUEST:
            self.fired = True
            self.action()


def _receipt(minutes: int = 1):  # type: ignore[no-untyped-def]
    return sample_receipt(WHEN + timedelta(minutes=minutes), items=3)


# --- corrupt and lost answers ----------------------------------------------------------------------


def test_corrupt_answer_is_fetched_again_with_enq(server: FnServer) -> None:
    wire: list[WireEvent] = []
    _inject(server, "corrupt:30")
    with _driver(server, wire) as fn:
        assert fn.status().last_fd == 2
    assert _sent(wire) == [STATUS_REQUEST, ENQ]


def test_lost_receipt_answer_is_fetched_with_enq_and_signed_once(server: FnServer) -> None:
    wire: list[WireEvent] = []
    _inject(server, "drop-answer:16")
    with _driver(server, wire) as fn:
        signed = fn_documents.fiscalise(fn, _receipt())
        assert signed.fd == 3
        assert fn.status().last_fd == 3
    codes = _sent_codes(wire)
    assert codes.count(0x16) == 1
    assert codes[codes.index(0x16) + 1] == "ENQ"


def test_lost_answer_to_15h_is_fetched_with_enq_not_by_resending(server: FnServer) -> None:
    """15h is not a query: resending it would begin twice."""
    wire: list[WireEvent] = []
    _inject(server, "drop-answer:15")
    receipt = _receipt()
    with _driver(server, wire) as fn:
        signed = fn_documents.fiscalise(fn, receipt)
        assert fn.status().last_fd == signed.fd == 3
        assert fn.find_document(3).total == receipt.total
    codes = _sent_codes(wire)
    assert codes.count(0x15) == 1
    assert codes[codes.index(0x15) + 1] == "ENQ"
    assert codes.count("ENQ") == 1
    assert codes.count(0x06) == 0  # nothing had to be cancelled


def test_lost_07h_answer_is_not_taken_from_enq(server: FnServer) -> None:
    """ENQ could bring back the previous empty OK: the driver reports the 07h answer as lost instead."""
    wire: list[WireEvent] = []
    _inject(server, "drop-answer:07")
    with _driver(server, wire) as fn:
        fn.begin_receipt(WHEN + timedelta(minutes=1))
        with pytest.raises(FnNoAnswer, match="07h"):
            fn.send_tlv(TLV_1054)
    assert _sent_codes(wire)[-2:] == [0x15, 0x07]  # no ENQ, no resend


def _item_sums(tlv: bytes) -> list[int]:
    """Tag 1043 (item total, VLN kopecks) of every 1059 in a document's TLV, in order."""
    return [
        int.from_bytes(value, "little")
        for tag, item in iter_tlv(tlv)
        if tag == 1059
        for t, value in iter_tlv(item)
        if t == 1043
    ]


@pytest.mark.parametrize("fault", ["drop-answer", "drop-request"])
def test_a_07h_lost_either_way_makes_the_cycle_again_and_one_complete_receipt(
    server: FnServer, fault: str
) -> None:
    """The second data block's answer is lost, or the block itself never reaches the FN: the receipt is
    cancelled and made again from 15h, so the one signed document has every item exactly once."""
    receipt = sample_receipt(WHEN + timedelta(minutes=1), items=40)
    wire: list[WireEvent] = []
    blocks = 0

    def on_wire(event: WireEvent) -> None:
        nonlocal blocks
        wire.append(event)
        if event.direction == "out" and event.raw[3:4] == b"\x07":
            blocks += 1
            if blocks == 2:
                _inject(server, f"{fault}:07")

    with FnDriver.open(f"serial:{server.address}", timeout=0.5, on_wire=on_wire) as fn:
        signed = fn_documents.fiscalise(fn, receipt)
        assert fn.status().last_fd == signed.fd == 3  # one document
        assert fn.find_document(3).total == receipt.total
        _form, tlv = fn.document_tlv(3)
    assert _item_sums(tlv) == [line.total for line in receipt.lines]  # all 40 items, each once
    codes = _sent_codes(wire)
    assert codes.count(0x15) == 2 and codes.count(0x06) == 1 and codes.count(0x16) == 1
    second_begin = codes.index(0x15, codes.index(0x15) + 1)
    assert codes.index(0x06) < second_begin < codes.index(0x16)


def test_lost_answers_to_cancel_and_to_a_tlv_read_are_fetched_with_enq(server: FnServer) -> None:
    wire: list[WireEvent] = []
    with _driver(server, wire) as fn:
        fn.begin_receipt(WHEN + timedelta(minutes=1))
        _inject(server, "drop-answer:06")
        fn.cancel_document()
        assert fn.status().current_doc == CurrentDoc.NONE
        clean_form, clean = fn.document_tlv(2)
        _inject(server, "drop-answer:46", "drop-answer:46")  # the 46h answer and its first resend
        assert fn.document_tlv(2) == (clean_form, clean)
    codes = _sent_codes(wire)
    assert codes[codes.index(0x06) + 1] == "ENQ"
    first_46 = codes.index(0x46, codes.index(0x45, codes.index(0x46) + 1))  # the second reading
    assert codes[first_46 : first_46 + 4] == [0x46, "ENQ", "ENQ", 0x46]
    assert fn_number_tag(clean) == FN_NUMBER.encode()


def fn_number_tag(tlv: bytes) -> bytes:
    from register.fiscal.tlv import iter_tlv

    return dict(iter_tlv(tlv))[1041]


def test_01h_on_an_enq_makes_the_driver_send_the_command_again(server: FnServer) -> None:
    """The 15h frame arrives garbled (the FN answers 01h, executes nothing) and that 01h is lost."""
    wire: list[WireEvent] = []
    _inject(server, "garble:15", "drop-answer:15")
    with _driver(server, wire) as fn:
        signed = fn_documents.fiscalise(fn, _receipt())
        assert fn.status().last_fd == signed.fd == 3
    codes = _sent_codes(wire)
    first = codes.index(0x15)
    assert codes[first : first + 3] == [0x15, "ENQ", 0x15]


def test_01h_makes_the_driver_send_the_command_again(server: FnServer) -> None:
    wire: list[WireEvent] = []
    _inject(server, "garble:16")
    with _driver(server, wire) as fn:
        signed = fn_documents.fiscalise(fn, _receipt())
        assert fn.status().last_fd == signed.fd == 3
    codes = _sent_codes(wire)
    first = codes.index(0x16)
    assert codes[first : first + 2] == [0x16, 0x16]
    assert codes.count(0x16) == 2


def test_begin_with_a_lost_answer_leaves_no_document_open(server: FnServer) -> None:
    """15h opens the receipt but its answer and both ENQ resends are lost: the cycle cancels it."""
    wire: list[WireEvent] = []
    _inject(server, "drop-answer:15", "drop-answer:15", "drop-answer:15")
    with _driver(server, wire) as fn:
        with pytest.raises(FnNoAnswer, match="15h"):
            fn_documents.fiscalise(fn, _receipt(1))
        assert fn.status().current_doc == CurrentDoc.NONE
        assert 0x06 in _sent_codes(wire)
        signed = fn_documents.fiscalise(fn, _receipt(2))  # no 02h: nothing is left open
        assert fn.status().last_fd == signed.fd == 3


def test_refused_begin_cancels_nothing(server: FnServer) -> None:
    """A document left open by someone else stays: the refused 15h opened nothing."""
    wire: list[WireEvent] = []
    with _driver(server, wire) as fn:
        fn.begin_close_shift(WHEN + timedelta(minutes=1))
        with pytest.raises(FnWrongState):
            fn_documents.fiscalise(fn, _receipt(2))
        assert fn.status().current_doc == CurrentDoc.SHIFT_CLOSE
    assert 0x06 not in _sent_codes(wire)


# --- signing commands: 30h/40h before anything else -----------------------------------------------


def test_corrupt_answers_to_16h_are_resolved_with_30h_and_40h(server: FnServer) -> None:
    wire: list[WireEvent] = []
    _inject(server, "corrupt:16", "corrupt:16", "corrupt:16")  # the answer and both ENQ resends
    receipt = _receipt()
    with _driver(server, wire) as fn:
        signed = fn_documents.fiscalise(fn, receipt)
        doc = fn.find_document(3)
        assert (signed.fd, signed.fp, signed.receipt) == (3, doc.fp, 1)
        assert doc.total == receipt.total
        assert fn.status().last_fd == 3
    codes = _sent_codes(wire)
    after = codes[codes.index(0x16) :]
    assert after[:5] == [0x16, "ENQ", "ENQ", 0x30, 0x40]
    assert codes.count(0x16) == 1


def test_late_receipt_answer_is_recovered_from_30h_and_40h(server: FnServer) -> None:
    """The 16h answer comes after the timeout and after both ENQ waits: the driver asks 30h/40h."""
    wire: list[WireEvent] = []
    _inject(server, "delay:2300:16")
    receipt = _receipt()
    with _driver(server, wire) as fn:
        signed = fn_documents.fiscalise(fn, receipt)
        doc = fn.find_document(signed.fd)
        assert (signed.fd, doc.fp, doc.total) == (3, signed.fp, receipt.total)
        assert fn.status().last_fd == 3  # one document, not two
    codes = _sent_codes(wire)
    assert codes.count(0x16) == 1
    assert 0x40 in codes[codes.index(0x16) :]
    assert any(e.note.startswith("skipped a late answer") for e in wire)


def test_16h_is_sent_again_when_30h_shows_the_receipt_still_open(server: FnServer) -> None:
    """The FN hangs before executing 16h, then comes back: 30h shows the receipt open, so 16h goes again."""
    wire: list[WireEvent] = []
    assert server.link is not None
    receipt = _receipt()
    hook = BeforeNextStatus(wire, server.link.clear_faults)
    with FnDriver.open(f"serial:{server.address}", timeout=0.5, on_wire=hook) as fn:
        fn.begin_receipt(receipt.when)
        fn.send_tlv(TLV_1054)
        _inject(server, "silent")
        hook.armed = True
        signed = fn.make_receipt(ReceiptRequest(receipt.when, 1, 12345))
        doc = fn.find_document(signed.fd)
        assert (signed.fd, doc.fp, doc.total) == (3, signed.fp, 12345)
        assert fn.status().last_fd == 3
    codes = _sent_codes(wire)
    first = codes.index(0x16)
    assert codes[first : first + 5] == [0x16, "ENQ", "ENQ", 0x30, 0x16]
    assert hook.fired
    assert codes.count(0x16) == 2


def test_fn_restarted_while_16h_is_unanswered_gives_document_lost(server: FnServer) -> None:
    """The FN hangs on 16h and is power-cycled before the host's 30h: no open document, no new FD."""
    wire: list[WireEvent] = []

    def power_cycle() -> None:
        server.restart_fn()
        assert server.link is not None
        server.link.clear_faults()

    hook = BeforeNextStatus(wire, power_cycle)
    with FnDriver.open(f"serial:{server.address}", timeout=0.5, on_wire=hook) as fn:
        fn.begin_receipt(WHEN + timedelta(minutes=1))
        fn.send_tlv(TLV_1054)
        _inject(server, "silent")
        hook.armed = True
        with pytest.raises(FnDocumentLost, match="nothing was signed"):
            fn.make_receipt(ReceiptRequest(WHEN + timedelta(minutes=1), 1, 100))
        st = fn.status()
        assert (st.last_fd, st.current_doc) == (2, CurrentDoc.NONE)
        signed = fn_documents.fiscalise(fn, _receipt(2))
        assert signed.fd == 3
    assert _sent_codes(wire).count(0x16) == 2  # the lost one, then the next receipt's


def test_fn_restarted_between_07h_and_16h_refuses_16h_and_signs_nothing(server: FnServer) -> None:
    wire: list[WireEvent] = []
    with _driver(server, wire) as fn:
        fn.begin_receipt(WHEN + timedelta(minutes=1))
        fn.send_tlv(TLV_1054)
        server.restart_fn()  # the open receipt is lost with the FN's power
        with pytest.raises(FnWrongState, match=r"16h.*02h"):
            fn.make_receipt(ReceiptRequest(WHEN + timedelta(minutes=1), 1, 100))
        st = fn.status()
        assert (st.last_fd, st.current_doc) == (2, CurrentDoc.NONE)
        assert fn_documents.fiscalise(fn, _receipt(2)).fd == 3
    assert _sent_codes(wire).count(0x16) == 2


def test_hung_fn_gives_outcome_unknown_and_no_document(server: FnServer) -> None:
    wire: list[WireEvent] = []
    assert server.link is not None
    when = WHEN + timedelta(minutes=1)
    with _driver(server, wire) as fn:
        fn.begin_receipt(when)
        fn.send_tlv(TLV_1054)
        server.link.inject("silent")
        with pytest.raises(FnOutcomeUnknown, match="read 30h/40h"):
            fn.make_receipt(ReceiptRequest(when, 1, 100))
        server.link.clear_faults()
        st = fn.status()
        assert (st.last_fd, st.current_doc) == (2, CurrentDoc.RECEIPT)


# --- late answers ---------------------------------------------------------------------------------


def test_a_late_answer_of_another_command_is_skipped(server: FnServer) -> None:
    """The 30h answer comes only after the driver gave up on it, just before the 31h answer."""
    wire: list[WireEvent] = []
    _inject(server, "late:30")
    with _driver(server, wire, retries=0) as fn:
        with pytest.raises(FnNoAnswer, match="30h"):
            fn.status()
        assert fn.fn_number() == FN_NUMBER
        assert fn.status().last_fd == 2
    assert [e.note for e in wire if e.note.startswith("skipped")] == ["skipped a late answer of 30 bytes"]


def test_late_16h_answer_comes_with_the_enq_resend_and_one_document_is_made(server: FnServer) -> None:
    wire: list[WireEvent] = []
    _inject(server, "late:16")
    with _driver(server, wire) as fn:
        signed = fn_documents.fiscalise(fn, _receipt())
        assert fn.status().last_fd == signed.fd == 3  # the second copy of the 16h answer is not a 30h
        assert fn.fn_number() == FN_NUMBER
    assert _sent_codes(wire).count(0x16) == 1


# --- FN error codes as typed exceptions -------------------------------------------------------------


def _assert_error(
    exc: FnCommandError, cls: type[FnCommandError], command: int, code: int, ru: str, en: str
) -> None:
    assert type(exc) is cls
    assert (exc.command, exc.code) == (command, code)
    text = str(exc)
    assert f"FN error {code:02X}h" in text
    assert ru in text and en in text


def test_unknown_command_is_01h_after_one_resend(server: FnServer) -> None:
    wire: list[WireEvent] = []
    with _driver(server, wire) as fn, pytest.raises(FnUnknownCommand) as caught:
        fn.call(0x5A)
    _assert_error(
        caught.value,
        FnUnknownCommand,
        0x5A,
        0x01,
        "неизвестная команда, неверный формат или параметры",
        "unknown command, bad format or parameters",
    )
    assert _sent_codes(wire) == [0x5A, 0x5A]


def test_bad_operation_in_16h_is_09h(server: FnServer) -> None:
    with _driver(server, []) as fn:
        fn.begin_receipt(WHEN + timedelta(minutes=1))
        fn.send_tlv(TLV_1054)
        with pytest.raises(FnBadParameter) as caught:
            fn.make_receipt(ReceiptRequest(WHEN + timedelta(minutes=1), 5, 100))  # 1054 is 1..4
        assert fn.status().current_doc == CurrentDoc.RECEIPT  # refused, not signed
        fn.cancel_document()
    _assert_error(
        caught.value,
        FnBadParameter,
        0x16,
        0x09,
        "некорректное значение параметров команды",
        "incorrect parameter value",
    )


def test_shift_data_over_1_kb_is_10h(server: FnServer) -> None:
    tlv = string_tlv(1021, "К" * 60) * 18  # 18 x 64 = 1152 bytes: over the 1 KB limit of a shift report
    with _driver(server, []) as fn:
        with pytest.raises(FnTlvTooLarge) as caught:
            fn_documents.close_shift(fn, WHEN + timedelta(minutes=1), tlv)
        assert fn.status().current_doc == CurrentDoc.NONE  # the cycle cancelled it
    _assert_error(
        caught.value,
        FnTlvTooLarge,
        0x07,
        0x10,
        "превышение размеров TLV данных",
        "TLV data too large for the document",
    )


def test_unsent_message_over_30_days_is_15h(server: FnServer) -> None:
    with _driver(server, []) as fn, pytest.raises(FnOfdMessageTooOld) as caught:
        fn.begin_receipt(WHEN + timedelta(days=31))  # FD 1 of WHEN is still not sent to the OFD
    _assert_error(
        caught.value,
        FnOfdMessageTooOld,
        0x15,
        0x15,
        "превышено время ожидания передачи сообщения (30 дней)",
        "oldest unsent OFD message over 30 days",
    )
