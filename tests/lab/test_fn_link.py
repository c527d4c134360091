"""The FN link layer: frames over a byte stream, ENQ, bad frames, injected faults, the wire log."""

from __future__ import annotations

import struct
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from register.fiscal.fn_protocol import Cmd, ReceiptRequest, RegistrationRequest, pack_datetime
from register.fiscal.frame import Frame, FrameCrcError, FrameReader, decode_frame, encode_frame
from register.lab.fn_emulator import FnConfig, FnEmulator
from register.lab.fn_link import Fault, FaultKind, FaultSpecError, FnLink, WireLog
from register.lab.fn_store import FnStore

T0 = datetime(2026, 1, 15, 9, 0)
FN_NUMBER = "9999078900004312"
STATUS_REQUEST = bytes.fromhex("04 01 00 30 FF CD")
NUMBER_REQUEST = bytes.fromhex("04 01 00 31 DE DD")
NUMBER_ANSWER = bytes.fromhex("04 11 00 00 39 39 39 39 30 37 38 39 30 30 30 30 34 33 31 32 03 5D")
OK_EMPTY = bytes.fromhex("04 01 00 00 AC FB")
CANCEL_REQUEST = bytes.fromhex("04 01 00 06 6A 9B")
TLV_1054 = bytes.fromhex("1E 04 01 00 01")


def make_link(*, fiscal: bool = False, drift_check: bool = True, **kwargs: object) -> FnLink:
    """A link to a fresh FN (phase 1), or with ``fiscal`` to one in phase 3 with a shift open."""
    store = FnStore.in_memory(fn_number=FN_NUMBER, today=T0.date())
    emulator = FnEmulator(store, config=FnConfig(drift_check=drift_check), clock=lambda: T0)
    if fiscal:
        for code, data in [
            (0x02, b""),
            (0x07, TLV_1054),
            (0x03, RegistrationRequest(T0, "7700000000", "0000000001058781", 1, 0).pack()),
            (0x11, pack_datetime(T0)),
            (0x07, TLV_1054),
            (0x12, b""),
        ]:
            assert emulator.handle(Frame(code, data)).code == 0, f"{code:02X}h"
        assert emulator.store.state.phase == 3 and emulator.store.state.shift_open
    return FnLink(emulator, **kwargs)  # type: ignore[arg-type]


def frames_in(raw: bytes) -> list[tuple[int, bytes]]:
    reader = FrameReader()
    items = list(reader.feed(raw))
    assert reader.pending == 0
    return [(item.code, item.data) for item in items]  # type: ignore[union-attr]


@pytest.fixture
def link() -> FnLink:
    return make_link()


def test_whole_frame_gets_its_answer(link: FnLink) -> None:
    assert link.feed(NUMBER_REQUEST) == NUMBER_ANSWER


def test_frame_split_byte_by_byte(link: FnLink) -> None:
    answers = b"".join(link.feed(bytes([byte])) for byte in NUMBER_REQUEST)
    assert answers == NUMBER_ANSWER


def test_two_frames_in_one_chunk(link: FnLink) -> None:
    assert link.feed(NUMBER_REQUEST + CANCEL_REQUEST) == NUMBER_ANSWER + OK_EMPTY


def test_enq_resends_the_last_answer(link: FnLink) -> None:
    assert link.feed(b"\x05") == b""  # nothing answered yet
    link.feed(NUMBER_REQUEST)
    assert link.feed(b"\x05") == NUMBER_ANSWER
    assert link.feed(b"\x05\x05") == NUMBER_ANSWER * 2


def test_enq_inside_a_frame_is_data(link: FnLink) -> None:
    # 40h for FD 5: the 05h byte is part of the frame, not an ENQ
    request = encode_frame(0x40, struct.pack("<I", 5))
    assert request[4] == 0x05
    assert frames_in(link.feed(request)) == [(0x02, b"")]  # phase 1: no archive yet


def test_bad_crc_answers_01h_which_enq_then_repeats(link: FnLink) -> None:
    link.feed(NUMBER_REQUEST)
    answer = link.feed(STATUS_REQUEST[:-1] + b"\x00")
    assert answer == encode_frame(0x01)
    assert link.feed(b"\x05") == encode_frame(0x01)


def test_garbage_before_a_frame_is_skipped(link: FnLink) -> None:
    assert link.feed(b"\xff\x00garbage" + NUMBER_REQUEST) == NUMBER_ANSWER
    notes = [entry.note for entry in link.wire_log.entries if entry.direction == "in"]
    assert notes[0].startswith("skipped")


def test_bad_length_field_is_skipped(link: FnLink) -> None:
    assert link.feed(b"\x04\xff\xff" + NUMBER_REQUEST) == NUMBER_ANSWER


def test_reset_partial_drops_a_truncated_frame(link: FnLink) -> None:
    assert link.feed(STATUS_REQUEST[:4]) == b""
    assert link.mid_frame
    assert link.reset_partial() == STATUS_REQUEST[:4]
    assert not link.mid_frame
    assert link.feed(NUMBER_REQUEST) == NUMBER_ANSWER


def test_warning_bit_is_set_while_the_fn_warns(link: FnLink) -> None:
    link.emulator.extra_warnings = 0x08  # type: ignore[attr-defined]
    assert link.feed(CANCEL_REQUEST) == bytes.fromhex("04 01 00 80 24 6A")  # the §2 example
    status = frames_in(link.feed(STATUS_REQUEST))
    assert status[0][0] == 0x80 and status[0][1][4] == 0x08
    assert link.feed(STATUS_REQUEST[:-1] + b"\x00") == encode_frame(0x81)


class TestFaults:
    def test_dropped_answer_still_executes_the_command(self, link: FnLink) -> None:
        link.inject("drop-answer:02")
        assert link.feed(encode_frame(0x02)) == b""
        assert link.feed(encode_frame(0x02)) == encode_frame(0x02)  # the first one did begin a document
        assert link.feed(b"\x05") == encode_frame(0x02)

    def test_enq_recovers_a_dropped_answer(self, link: FnLink) -> None:
        link.inject(Fault(FaultKind.DROP_ANSWER, 0x31))
        assert link.feed(NUMBER_REQUEST) == b""
        assert link.feed(b"\x05") == NUMBER_ANSWER

    def test_drop_waits_for_its_command_code(self, link: FnLink) -> None:
        link.inject("drop-answer:31")
        assert link.feed(CANCEL_REQUEST) == OK_EMPTY
        assert link.feed(NUMBER_REQUEST) == b""
        assert link.feed(NUMBER_REQUEST) == NUMBER_ANSWER  # one-shot

    def test_corrupt_crc(self, link: FnLink) -> None:
        link.inject("corrupt:31")
        corrupted = link.feed(NUMBER_REQUEST)
        assert corrupted[:-2] == NUMBER_ANSWER[:-2]
        with pytest.raises(FrameCrcError):
            decode_frame(corrupted)
        assert link.feed(b"\x05") == NUMBER_ANSWER  # the remembered answer is the good one

    def test_delay(self) -> None:
        slept: list[float] = []
        link = make_link(sleep=slept.append)
        link.inject("delay:250")
        assert link.feed(NUMBER_REQUEST) == NUMBER_ANSWER
        link.feed(NUMBER_REQUEST)
        assert slept == [0.25]

    def test_silent_until_cleared(self, link: FnLink) -> None:
        link.feed(NUMBER_REQUEST)
        link.inject("silent")
        assert link.feed(encode_frame(0x02)) == b""
        assert link.feed(b"\x05") == b""
        link.clear_faults()
        assert link.feed(b"\x05") == NUMBER_ANSWER
        assert link.feed(encode_frame(0x30))[5] == 0  # no current document: the 02h was not executed

    def test_new_connection_shares_faults_and_the_last_answer(self, link: FnLink) -> None:
        link.feed(NUMBER_REQUEST)
        fresh = link.fresh()
        assert fresh.feed(b"\x05") == NUMBER_ANSWER  # the FN remembers it, not the connection
        link.inject("drop-answer:31")
        assert fresh.feed(NUMBER_REQUEST) == b""
        fresh.feed(CANCEL_REQUEST)
        assert link.feed(b"\x05") == OK_EMPTY

    def test_faults_act_on_enq_resends_too(self, link: FnLink) -> None:
        link.inject("drop-answer:31")
        link.inject("drop-answer:31")
        assert link.feed(NUMBER_REQUEST) == b""
        assert link.feed(b"\x05") == b""  # the first resend is lost as well
        assert link.feed(b"\x05") == NUMBER_ANSWER

    def test_late_answer_comes_before_the_next_one(self, link: FnLink) -> None:
        link.inject("late:31")
        assert link.feed(NUMBER_REQUEST) == b""
        assert link.feed(CANCEL_REQUEST) == NUMBER_ANSWER + OK_EMPTY
        assert link.feed(b"\x05") == OK_EMPTY

    def test_late_answer_is_flushed_by_an_enq(self, link: FnLink) -> None:
        link.inject("late:31")
        assert link.feed(NUMBER_REQUEST) == b""
        assert link.feed(b"\x05") == NUMBER_ANSWER * 2

    def test_garbled_request_is_answered_01h_and_not_executed(self, link: FnLink) -> None:
        link.inject("garble:02")
        assert link.feed(encode_frame(0x02)) == bytes.fromhex("04 01 00 01 8D EB")  # 01h
        assert frames_in(link.feed(STATUS_REQUEST))[0][1][1] == 0  # 30h: no document was begun
        assert link.feed(encode_frame(0x02)) == OK_EMPTY  # one-shot: now it is executed

    @pytest.mark.parametrize(
        ("text", "fault"),
        [
            ("drop-answer:16", Fault(FaultKind.DROP_ANSWER, 0x16)),
            ("drop-answer", Fault(FaultKind.DROP_ANSWER)),
            ("corrupt:30", Fault(FaultKind.CORRUPT, 0x30)),
            ("corrupt", Fault(FaultKind.CORRUPT)),
            ("delay:1500", Fault(FaultKind.DELAY, None, 1500)),
            ("delay:100:3A", Fault(FaultKind.DELAY, 0x3A, 100)),
            ("late:16", Fault(FaultKind.LATE, 0x16)),
            ("garble", Fault(FaultKind.GARBLE)),
            ("garble:15", Fault(FaultKind.GARBLE, 0x15)),
            ("silent", Fault(FaultKind.SILENT)),
        ],
    )
    def test_parse(self, text: str, fault: Fault) -> None:
        assert Fault.parse(text) == fault

    @pytest.mark.parametrize(
        "text",
        ["explode", "drop-answer:1FF", "drop-answer:xyz", "delay", "delay:-5", "silent:1", "corrupt:1:2"],
    )
    def test_parse_errors(self, text: str) -> None:
        with pytest.raises(FaultSpecError, match="fault"):
            Fault.parse(text)


def test_wire_log_records_both_directions(tmp_path: Path) -> None:
    path = tmp_path / "wire.log"
    log = WireLog(size=3, path=path)
    link = make_link(wire_log=log)
    link.feed(NUMBER_REQUEST)
    link.feed(b"\x05")
    log.close()
    entries = log.entries
    assert [(e.direction, e.code) for e in entries] == [("out", 0x00), ("in", None), ("out", 0x00)]  # bounded
    lines = path.read_text().splitlines()
    assert len(lines) == 4
    assert lines[0].split()[1:4] == ["in", "31h", NUMBER_REQUEST.hex()]
    assert lines[1].split()[1:4] == ["out", "00h", NUMBER_ANSWER.hex()]
    assert lines[2].split()[1:3] == ["in", "--"]


def test_an_emulator_fault_is_answered_03h_and_recorded(
    link: FnLink, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the Hypothesis tests below rely on: an exception inside a command is counted, not hidden."""

    def broken(data: bytes) -> bytes:
        raise ZeroDivisionError("emulator bug")

    emulator = link.emulator
    assert isinstance(emulator, FnEmulator)
    monkeypatch.setitem(emulator._handlers, 0x31, broken)  # its table of command handlers
    assert link.feed(NUMBER_REQUEST) == bytes.fromhex("04 01 00 03 CF CB")  # 03h: FN failure
    assert emulator.internal_error_count == 1
    assert "ZeroDivisionError: emulator bug" in emulator.internal_errors[0]
    assert link.feed(STATUS_REQUEST)[3] == 0  # and the FN goes on answering


# frames of real commands with payloads near the valid ones, so the state machine is exercised (not only
# its format checks); plus arbitrary frames, arbitrary bytes and the frames of the §2 examples
_TIMES = st.one_of(st.integers(0, 4), st.integers(-120, 3000)).map(
    lambda minutes: pack_datetime(T0 + timedelta(minutes=minutes))
)
_TLVS = st.one_of(
    st.just(TLV_1054),
    st.binary(min_size=1, max_size=200).map(lambda value: struct.pack("<HH", 1059, len(value)) + value),
    st.binary(max_size=12),
)
_PAYLOADS = st.one_of(
    st.binary(max_size=60),
    _TIMES,
    st.just(b""),
    st.just(TLV_1054),
    st.integers(0, 8).map(lambda fd: struct.pack("<I", fd)),
    st.builds(
        lambda when, op, total: when + bytes([op]) + total.to_bytes(5, "little"),
        _TIMES,
        st.integers(0, 6),
        st.integers(0, (1 << 40) - 1),
    ),
    st.builds(lambda when: ReceiptRequest(T0 + timedelta(minutes=when), 1, 100).pack(), st.integers(0, 60)),
    st.builds(lambda n: bytes([n]), st.integers(0, 0x20)),
    st.builds(
        lambda offset, size: struct.pack("<HH", offset, size), st.integers(0, 300), st.integers(0, 1100)
    ),
)
_COMMANDS = st.builds(encode_frame, st.sampled_from(sorted(int(c) for c in Cmd)), _PAYLOADS)
_FINISH = st.builds(
    lambda when, op, total: when + bytes([op]) + total.to_bytes(5, "little"),
    _TIMES,
    st.integers(0, 5),
    st.one_of(st.integers(0, 10**6), st.integers(0, (1 << 40) - 1)),
)
# whole document cycles with random times, data and totals: they reach the signing code
_CYCLES = st.one_of(
    st.builds(  # a receipt (15h) or a correction receipt (17h), both closed by 16h
        lambda code, begin, tlv, finish: (
            encode_frame(code, begin) + encode_frame(0x07, tlv) + encode_frame(0x16, finish)
        ),
        st.sampled_from([0x15, 0x17]),
        _TIMES,
        _TLVS,
        _FINISH,
    ),
    st.builds(
        lambda close, tlv, open_: (
            encode_frame(0x13, close)
            + encode_frame(0x07, tlv)
            + encode_frame(0x14)
            + encode_frame(0x18, close)
            + encode_frame(0x19)
            + encode_frame(0x11, open_)
            + encode_frame(0x07, tlv)
            + encode_frame(0x12)
        ),
        _TIMES,
        _TLVS,
        _TIMES,
    ),
    st.builds(
        lambda block, ticket: (
            encode_frame(0x21, b"\x01")
            + encode_frame(0x22)
            + encode_frame(0x23, block)
            + encode_frame(0x25)
            + encode_frame(0x26, ticket)
        ),
        st.builds(lambda o, n: struct.pack("<HH", o, n), st.integers(0, 200), st.integers(0, 1024)),
        st.binary(max_size=80),
    ),
    st.builds(
        lambda fd: encode_frame(0x45, struct.pack("<I", fd)) + encode_frame(0x46) * 12,
        st.integers(0, 6),
    ),
)
_PIECES = st.lists(
    st.one_of(
        st.binary(max_size=40),
        st.sampled_from([STATUS_REQUEST, NUMBER_REQUEST, CANCEL_REQUEST, b"\x05", b"\x04\x01\x00"]),
        st.builds(lambda code, data: encode_frame(code, data), st.integers(0, 255), st.binary(max_size=60)),
        _COMMANDS,
        _CYCLES,
        _CYCLES,
    ),
    max_size=25,
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(_PIECES, st.lists(st.integers(1, 64), min_size=1, max_size=10), st.booleans(), st.booleans())
def test_arbitrary_bytes_in_arbitrary_chunks_never_break_the_link(
    pieces: list[bytes], cuts: list[int], fiscal: bool, drift_check: bool
) -> None:
    """In phase 1 and in phase 3 with a shift open: no emulator exception, only whole answer frames."""
    link = make_link(fiscal=fiscal, drift_check=drift_check)
    emulator = link.emulator
    assert isinstance(emulator, FnEmulator)
    stream = b"".join(pieces)
    out = b""
    position = 0
    turn = 0
    while position < len(stream):
        size = cuts[turn % len(cuts)]
        out += link.feed(stream[position : position + size])
        position += size
        turn += 1
        if turn % 7 == 0:
            link.reset_partial()
    assert emulator.internal_error_count == 0, list(emulator.internal_errors)
    # whatever came in, what goes out is whole, valid answer frames, none of them 03h (FN failure)
    reader = FrameReader()
    for item in reader.feed(out):
        assert isinstance(item, Frame), item
        assert item.code & 0x7F != 0x03, item
    assert reader.pending == 0
