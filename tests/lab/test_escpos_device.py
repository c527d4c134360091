"""The emulated printer as a device: status bytes per condition, faults, real-time commands, receipts out.

Expected status bytes come from escpos.md §1.6 (the bit tables and the "Replies the emulator should give"
table) and the task's list for the default profile (TM-T20III).
"""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from register.lab.escpos_device import (
    Condition,
    DrawerPulse,
    EscposDevice,
    Fault,
    FaultKind,
    FaultSpecError,
    RealTime,
    RealTimeScanner,
    WireLog,
    asb_status,
    dle_eot_reply,
    parse_fault,
)
from register.profiles import load_profile

INIT = b"\x1b\x40"
PC866 = b"\x1b\x74\x11"  # ESC t 17 on Epson
CUT = b"\x1d\x56\x00"
PARTIAL_CUT = b"\x1d\x56\x01"
EOT = {n: bytes((0x10, 0x04, n)) for n in (1, 2, 3, 4)}
ALL_EOT = EOT[1] + EOT[2] + EOT[3] + EOT[4]
GS_R_PAPER = b"\x1d\x72\x01"
GS_R_DRAWER = b"\x1d\x72\x02"
ASB_ALL = b"\x1d\x61\x0f"
ENQ_RESUME = b"\x10\x05\x01"
ENQ_DROP = b"\x10\x05\x02"


def line(text: str) -> bytes:
    return text.encode("cp866") + b"\n"


def receipt_bytes(*lines: str, cut: bytes = CUT) -> bytes:
    return INIT + PC866 + b"".join(line(text) for text in lines) + cut


def device(*faults: str, profile: str = "TM-T20III", out_dir: Path | None = None, **kw: bool) -> EscposDevice:
    return EscposDevice(load_profile(profile), out_dir, render_png=False, faults=faults, **kw)


# --- status bytes --------------------------------------------------------------------------------------

# (faults, DLE EOT 1..4 answers) from the task's list and escpos.md §1.6.
EOT_TABLE = [
    ((), "12 12 12 12"),
    (("paper-near-end",), "12 12 12 1E"),
    (("paper-out",), "1A 32 12 72"),
    (("paper-out", "paper-near-end"), "1A 32 12 7E"),
    (("cover-open",), "1A 16 12 12"),
    (("cutter-jam",), "1A 52 1A 12"),
    (("drawer-open",), "16 12 12 12"),
]


@pytest.mark.parametrize(("faults", "answers"), EOT_TABLE)
def test_dle_eot_answers_per_condition(faults: tuple[str, ...], answers: str) -> None:
    printer = device(*faults)
    assert printer.receive(ALL_EOT) == bytes.fromhex(answers)


@pytest.mark.parametrize(("faults", "answers"), EOT_TABLE)
def test_faults_set_at_run_time_change_the_next_answer(faults: tuple[str, ...], answers: str) -> None:
    printer = device()
    assert printer.receive(ALL_EOT) == bytes.fromhex("12 12 12 12")
    for fault in faults:
        printer.set_fault(fault)
    assert printer.receive(ALL_EOT) == bytes.fromhex(answers)
    printer.clear_fault()
    assert printer.receive(ALL_EOT) == bytes.fromhex("12 12 12 12")


def test_every_dle_eot_answer_has_the_fixed_bits() -> None:
    # 0xx1xx10: bits 1 and 4 on, bits 0 and 7 off, for any combination of sensors.
    for mask in range(32):
        condition = Condition(*(bool(mask & (1 << bit)) for bit in range(5)))
        for n in (1, 2, 3, 4):
            assert dle_eot_reply(condition, n) & 0x93 == 0x12  # type: ignore[operator]


def test_dle_eot_with_an_unknown_n_is_not_answered() -> None:
    assert device().receive(b"\x10\x04\x05\x10\x04\x00") == b""


def test_dle_eot_split_across_chunks_is_answered_when_complete() -> None:
    printer = device("paper-near-end")
    assert printer.receive(b"\x10") == b""
    assert printer.receive(b"\x04") == b""
    assert printer.receive(b"\x04") == b"\x1e"


def test_status_is_answered_inside_image_data_and_the_image_is_intact() -> None:
    # GS v 0, 2 bytes x 2 rows; the data 10 04 01 FF holds a DLE EOT 1 (escpos.md §1.6 pitfall 1).
    image = b"\x1d\x76\x30\x00\x02\x00\x02\x00" + b"\x10\x04\x01\xff"
    printer = device()
    assert printer.receive(INIT + image + CUT) == b"\x12"
    assert printer.receipts[0].printed.images[0].rows == (b"\x10\x04", b"\x01\xff")


def test_with_react_inside_data_off_only_a_command_boundary_counts() -> None:
    image = b"\x1d\x76\x30\x00\x02\x00\x02\x00" + b"\x10\x04\x01\xff"
    printer = device(react_inside_data=False)
    assert printer.receive(INIT + image + EOT[4] + CUT) == b"\x12"  # the one after the image only
    assert printer.receipts[0].printed.images[0].rows == (b"\x10\x04", b"\x01\xff")


def test_gs_r_is_answered_after_the_data_before_it_in_order() -> None:
    printer = device("paper-near-end", "drawer-open")
    reply = printer.receive(line("Строка") + GS_R_PAPER + EOT[4] + GS_R_DRAWER + b"\x1b\x76")
    assert reply == bytes.fromhex("03 1E 01 03")  # GS r 1, DLE EOT 4, GS r 2, ESC v (= GS r 1)


def test_gs_r_is_not_answered_while_paper_is_out() -> None:
    printer = device("paper-out")
    assert printer.receive(GS_R_PAPER + EOT[1]) == b"\x1a"


def test_gs_r_on_a_printer_without_it() -> None:
    assert device(profile="POS-5890").receive(GS_R_PAPER + EOT[1]) == b"\x12"


def test_no_answer_fault_prints_but_never_answers() -> None:
    printer = device("no-answer")
    assert printer.receive(ALL_EOT + ASB_ALL + receipt_bytes("Строка") + GS_R_PAPER) == b""
    assert printer.receipts[0].printed.text_lines == ["Строка"]


def test_offline_fault_neither_prints_nor_answers() -> None:
    printer = device("offline")
    assert printer.offline
    assert printer.receive(ALL_EOT + receipt_bytes("Строка")) == b""
    assert printer.receipts == []
    printer.clear_fault("offline")
    assert printer.receive(EOT[1]) == b"\x12"


# --- automatic status back -----------------------------------------------------------------------------


def test_asb_sends_four_bytes_at_once_and_on_every_change() -> None:
    printer = device()
    assert printer.receive(ASB_ALL) == bytes.fromhex("10 00 00 00")
    printer.set_fault("paper-near-end")
    assert printer.take_output() == bytes.fromhex("10 00 03 00")
    printer.set_fault("cover-open")  # offline (byte 1 bit 3) and cover open (bit 5)
    assert printer.take_output() == bytes.fromhex("38 00 03 00")
    printer.clear_fault("cover-open")
    printer.set_fault("cutter-jam")  # offline and autocutter error (byte 2 bit 3)
    assert printer.take_output() == bytes.fromhex("10 00 03 00 18 08 03 00")
    assert printer.take_output() == b""


def test_asb_for_paper_out_sets_the_paper_end_bits() -> None:
    printer = device()
    printer.receive(ASB_ALL)
    printer.set_fault("paper-out")
    assert printer.take_output() == bytes.fromhex("18 00 0C 00")  # offline; bits 2-3 of byte 3


def test_asb_watches_only_the_enabled_groups() -> None:
    printer = device()
    assert printer.receive(b"\x1d\x61\x08") == bytes.fromhex("10 00 00 00")  # roll paper only
    printer.set_fault("cover-open")
    assert printer.take_output() == b""
    printer.set_fault("paper-near-end")
    assert printer.take_output() == bytes.fromhex("38 00 03 00")
    printer.clear_fault("cover-open")
    assert printer.take_output() == b""
    assert printer.receive(b"\x1d\x61\x00") == b""  # off
    printer.clear_fault()
    assert printer.take_output() == b""


def test_asb_change_inside_a_chunk_is_in_the_reply() -> None:
    printer = device("paper-out:after-bytes=3")
    assert printer.receive(ASB_ALL + b"abcdef") == bytes.fromhex("10 00 00 00 18 00 0C 00")


def test_asb_is_ignored_by_a_profile_without_it() -> None:
    assert device(profile="XP-80").receive(ASB_ALL) == b""


def test_notifier_is_called_when_status_goes_out_unasked() -> None:
    printer = device()
    calls: list[int] = []
    printer.set_notifier(lambda: calls.append(1))
    printer.set_fault("paper-near-end")
    assert calls == []  # ASB off: nothing to send
    printer.receive(ASB_ALL)
    printer.set_fault("paper-out")
    assert calls == [1]


def test_asb_status_layout() -> None:
    assert asb_status(Condition()) == bytes.fromhex("10 00 00 00")
    assert asb_status(Condition(drawer_pin3_high=True)) == bytes.fromhex("14 00 00 00")
    assert asb_status(Condition(paper_out=True, near_end=True)) == bytes.fromhex("18 00 0F 00")


# --- printing, paper out, cover, jam -------------------------------------------------------------------


def test_receipts_are_kept_and_written(tmp_path: Path) -> None:
    printer = EscposDevice(load_profile("TM-T20III"), tmp_path)
    printer.receive(receipt_bytes("ЧЕК №42", "ИТОГО: 1.00") + receipt_bytes("Второй", cut=PARTIAL_CUT))
    first, second = printer.receipts
    assert first.printed.text_lines == ["ЧЕК №42", "ИТОГО: 1.00"]
    assert (first.number, first.cut, first.complete) == (1, "full", True)
    assert (second.number, second.cut) == (2, "partial")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0001.png", "0001.txt", "0002.png", "0002.txt"]
    assert "ЧЕК №42" in (tmp_path / "0001.txt").read_text(encoding="utf-8")
    assert (tmp_path / "0001.png").read_bytes().startswith(b"\x89PNG")


def test_text_only_when_png_is_off(tmp_path: Path) -> None:
    printer = EscposDevice(load_profile("TM-T20III"), tmp_path, render_png=False)
    printer.receive(receipt_bytes("Строка"))
    assert [p.name for p in tmp_path.iterdir()] == ["0001.txt"]


def test_connection_closed_flushes_an_unfinished_receipt() -> None:
    printer = device(profile="POS-5890")  # no cutter: python-escpos sends no cut
    printer.receive(INIT + PC866 + line("Без отреза") + b"\x1b\x64\x06")
    assert printer.receipts == []
    assert printer.printing
    printer.connection_closed()
    (receipt,) = printer.receipts
    assert receipt.printed.text_lines[0] == "Без отреза"
    assert (receipt.cut, receipt.complete) == ("none", True)
    assert not printer.printing
    printer.connection_closed()
    assert len(printer.receipts) == 1


def test_paper_out_after_bytes_stops_the_receipt_and_marks_it(tmp_path: Path) -> None:
    head = INIT + PC866 + line("Строка 1") + line("Строка 2")
    printer = EscposDevice(load_profile("TM-T20III"), tmp_path, render_png=False)
    printer.set_fault("paper-out", after_bytes=len(head))
    reply = printer.receive(head + line("Строка 3") + CUT + EOT[4])
    assert reply == b"\x72"
    (receipt,) = printer.receipts
    assert receipt.printed.text_lines == ["Строка 1", "Строка 2"]
    assert not receipt.complete
    text = (tmp_path / "0001.txt").read_text(encoding="utf-8")
    assert text.rstrip("\n").splitlines()[-1] == "[paper out: receipt not finished]"
    assert "Строка 3" not in text
    assert printer.faults == [Fault(FaultKind.PAPER_OUT)]


def test_paper_out_after_bytes_counts_across_chunks() -> None:
    printer = device("paper-out:after-bytes=10")
    assert printer.receive(b"12345678" + EOT[4]) == b"\x72"  # 8 + 3 bytes: out after the EOT's 2nd byte
    printer = device("paper-out:after-bytes=12")
    assert printer.receive(b"12345678" + EOT[4]) == b"\x12"
    assert printer.receive(b"9" + EOT[4]) == b"\x72"


def test_paper_out_after_receipts_lets_n_receipts_through() -> None:
    printer = device("paper-out:after-receipts=2")
    reply = printer.receive(receipt_bytes("Один") + receipt_bytes("Два") + receipt_bytes("Три") + EOT[4])
    assert reply == b"\x72"
    assert [r.printed.text_lines for r in printer.receipts] == [["Один"], ["Два"]]
    assert all(r.complete for r in printer.receipts)


def test_paper_out_after_receipts_ends_the_paper_as_the_next_receipt_starts() -> None:
    printer = device("paper-out:after-receipts=1")
    # Receipt 1 in full, then the driver's post-print checks: GS r 1 answered 00, DLE EOT 4 "paper OK" 12.
    assert printer.receive(receipt_bytes("Один") + GS_R_PAPER + EOT[4]) == b"\x00\x12"
    assert printer.faults == [Fault(FaultKind.PAPER_OUT, after_receipts=0)]
    # Receipt 2: ESC @ and ESC t need no paper; its first character does: paper end (DLE EOT 4 = 72),
    # nothing of it printed, and GS r goes unanswered (offline).
    assert printer.receive(INIT + PC866 + EOT[4]) == b"\x12"
    assert printer.receive(line("Два") + CUT + GS_R_PAPER + EOT[4]) == b"\x72"
    assert [(r.printed.text_lines, r.complete) for r in printer.receipts] == [(["Один"], True)]
    assert printer.faults == [Fault(FaultKind.PAPER_OUT)]


def test_paper_out_after_receipts_in_one_chunk_and_a_feed_counts_as_printing() -> None:
    printer = device("paper-out:after-receipts=1")
    reply = printer.receive(receipt_bytes("Один") + GS_R_PAPER + INIT + b"\x1b\x64\x03" + EOT[4])
    assert reply == b"\x00\x72"  # ESC d 3 feeds paper: the roll is found empty there
    assert [r.printed.text_lines for r in printer.receipts] == [["Один"]]


def test_data_sent_while_paper_is_out_is_discarded() -> None:
    printer = device("paper-out")
    printer.receive(receipt_bytes("Потеряно"))
    printer.clear_fault("paper-out")
    printer.receive(receipt_bytes("После замены"))
    assert [r.printed.text_lines for r in printer.receipts] == [["После замены"]]


def test_cover_open_mid_receipt_marks_it() -> None:
    printer = device()
    printer.receive(INIT + PC866 + line("Начало"))
    printer.set_fault("cover-open")
    printer.receive(line("Конец") + CUT)
    (receipt,) = printer.receipts
    assert receipt.printed.text_lines == ["Начало"]
    assert receipt.text.rstrip("\n").endswith("[cover open: receipt not finished]")


def test_paper_near_end_still_prints() -> None:
    printer = device("paper-near-end")
    printer.receive(receipt_bytes("Печатается"))
    assert printer.receipts[0].complete


def test_cutter_jam_holds_data_until_dle_enq_1() -> None:
    printer = device("cutter-jam")
    assert printer.receive(receipt_bytes("Задержан") + GS_R_PAPER) == b""  # held: GS r not yet answered
    assert printer.receipts == []
    assert printer.receive(ENQ_RESUME + EOT[3]) == b"\x00\x12"  # resumed: GS r answered, jam gone
    assert printer.receipts[0].printed.text_lines == ["Задержан"]


def test_cutter_jam_dle_enq_2_drops_the_held_data() -> None:
    printer = device()
    printer.receive(INIT + PC866 + line("Напечатано"))
    printer.set_fault("cutter-jam")
    printer.receive(line("Задержано") + CUT)
    assert printer.receive(ENQ_DROP + EOT[1]) == b"\x12"
    (receipt,) = printer.receipts
    assert receipt.printed.text_lines == ["Напечатано"]
    assert not receipt.complete


def test_clearing_a_cutter_jam_resumes() -> None:
    printer = device("cutter-jam")
    printer.receive(receipt_bytes("Задержан"))
    printer.clear_fault("cutter-jam")
    assert printer.receipts[0].printed.text_lines == ["Задержан"]


def test_dle_enq_without_a_jam_changes_nothing() -> None:
    printer = device("paper-out")
    assert printer.receive(ENQ_RESUME + ENQ_DROP + EOT[1]) == b"\x1a"


def test_drawer_kicks_are_counted() -> None:
    printer = device()
    printer.receive(b"\x1b\x70\x00\x32\x32" + b"\x10\x14\x01\x01\x03" + b"\x10\x14\x01\x00\x09")
    assert printer.drawer_pulses == [DrawerPulse(2, 100, 100, False), DrawerPulse(5, 300, 300, True)]
    assert printer.drawer_kicks == 2  # t = 9 is out of range 1-8


def test_drawer_kicks_on_a_printer_without_a_drawer_port() -> None:
    printer = device(profile="POS-5890")
    printer.receive(b"\x1b\x70\x00\x32\x32")
    assert printer.drawer_kicks == 0


def test_unknown_commands_are_logged_counted_and_noted_on_their_receipt(tmp_path: Path) -> None:
    calls: list[tuple[bytes, int, int]] = []
    log_path = tmp_path / "wire.log"
    printer = EscposDevice(
        load_profile("TM-T20III"),
        tmp_path / "out",
        render_png=False,
        wire_log=WireLog(path=log_path),
        on_unknown=lambda command, offset, receipt: calls.append((command, offset, receipt)),
    )
    # 0 ESC @ | 2 ESC t 59 (no Epson table: skipped) | 5 "one" LF | 9 ESC 0x99 (no such command) | GS V 0
    # | "two" LF | GS V 0
    stream = INIT + b"\x1bt\x3b" + b"one\n" + b"\x1b\x99" + CUT + b"two\n" + CUT
    printer.receive(stream)
    assert printer.unknown_commands == 2
    assert calls == [(b"\x1bt\x3b", 2, 1), (b"\x1b\x99", 9, 1)]
    assert [r.skipped for r in printer.receipts] == [(b"\x1bt\x3b", b"\x1b\x99"), ()]
    out = tmp_path / "out"
    assert (out / "0001.txt").read_text(encoding="utf-8") == (
        "one\n[2 unknown ESC/POS commands skipped: 1b 74 3b, 1b 99]\n"
    )
    assert (out / "0002.txt").read_text(encoding="utf-8") == "two\n"
    notes = [e.note for e in printer.wire_log.entries if e.note]
    assert notes == [
        "skipped unknown command at offset 2 (receipt 1): 1b 74 3b",
        "skipped unknown command at offset 9 (receipt 1): 1b 99",
    ]
    assert b"".join(e.data for e in printer.wire_log.entries if e.direction == "in") == stream
    printer.wire_log.close()
    assert "skipped unknown command at offset 9 (receipt 1): 1b 99" in log_path.read_text(encoding="ascii")


def test_unknown_commands_before_a_blank_cut_go_with_the_next_receipt() -> None:
    printer = device()
    printer.receive(b"\x1b\x99" + CUT + b"text\n" + CUT)
    (receipt,) = printer.receipts
    assert receipt.skipped == (b"\x1b\x99",)
    assert receipt.text == "text\n[1 unknown ESC/POS command skipped: 1b 99]\n"


def test_wire_log_records_chunks_in_and_out(tmp_path: Path) -> None:
    log_path = tmp_path / "wire.log"
    printer = EscposDevice(load_profile("TM-T20III"), None, wire_log=WireLog(size=3, path=log_path))
    printer.receive(EOT[1])
    printer.receive(b"abc")
    entries = printer.wire_log.entries
    assert [(e.direction, e.data) for e in entries] == [("in", EOT[1]), ("out", b"\x12"), ("in", b"abc")]
    printer.receive(EOT[2])
    assert len(printer.wire_log.entries) == 3
    printer.wire_log.close()
    lines = log_path.read_text(encoding="ascii").splitlines()
    assert len(lines) == 5
    assert lines[0].split()[1:] == ["in", "3", "10", "04", "01"]


# --- fault strings -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fault"),
    [
        ("paper-near-end", Fault(FaultKind.PAPER_NEAR_END)),
        ("paper-out", Fault(FaultKind.PAPER_OUT)),
        ("paper-out:after-bytes=200", Fault(FaultKind.PAPER_OUT, after_bytes=200)),
        ("paper-out:after-receipts=3", Fault(FaultKind.PAPER_OUT, after_receipts=3)),
        ("cover-open", Fault(FaultKind.COVER_OPEN)),
        ("cutter-jam", Fault(FaultKind.CUTTER_JAM)),
        ("offline", Fault(FaultKind.OFFLINE)),
        ("no-answer", Fault(FaultKind.NO_ANSWER)),
    ],
)
def test_parse_fault(text: str, fault: Fault) -> None:
    assert parse_fault(text) == fault
    assert str(fault) == text


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("paper-gone", "unknown printer fault 'paper-gone'"),
        ("paper-out:after-bytes", "unknown parameter 'after-bytes'"),
        ("paper-out:after-bytes=-1", "after-bytes must be a whole number"),
        ("paper-out:after-lines=3", "unknown parameter 'after-lines=3'"),
        ("cover-open:after-bytes=3", "applies to paper-out only"),
        ("paper-out:after-bytes=1,after-receipts=1", "not both"),
        ("paper-out:", "empty parameter"),
    ],
)
def test_parse_fault_rejects_bad_strings(text: str, complaint: str) -> None:
    with pytest.raises(FaultSpecError, match=complaint):
        parse_fault(text)


def test_set_fault_rejects_unknown_parameters() -> None:
    with pytest.raises(FaultSpecError, match="unknown parameter"):
        device().set_fault("paper-out", after_lines=3)


# --- the real-time scanner and arbitrary input ---------------------------------------------------------


def test_scanner_finds_commands_and_skips_lookalikes() -> None:
    scanner = RealTimeScanner()
    data = b"\x10\x10\x04\x02" + b"\x10\x14\x02\x01\x08" + b"\x10\x14\x01\x00\x01" + b"\x10\x05\x02"
    found = list(scanner.scan(data))
    assert found == [
        (4, RealTime(0x04, b"\x02")),
        (14, RealTime(0x14, b"\x01\x00\x01")),
        (17, RealTime(0x05, b"\x02")),
    ]


FRAGMENTS = [
    *EOT.values(),
    ENQ_RESUME,
    ENQ_DROP,
    b"\x10\x14\x01\x00\x02",
    b"\x10",
    INIT,
    PC866,
    CUT,
    GS_R_PAPER,
    ASB_ALL,
    b"\x1d\x76\x30\x00\x02\x00\x03\x00",  # GS v 0 header: 6 data bytes follow
    b"\x1b\x70\x00\x32\x32",
    line("Строка"),
]
streams = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.binary(max_size=12)), max_size=40).map(b"".join)
chunked = st.one_of(st.binary(max_size=400), streams).flatmap(
    lambda data: st.tuples(st.just(data), st.lists(st.integers(0, len(data)), max_size=8))
)


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = [0, *sorted(cuts), len(data)]
    return [data[a:b] for a, b in pairwise(points)]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chunked, st.sampled_from(["TM-T20III", "POS-5890", "RP-326"]))
def test_arbitrary_bytes_in_arbitrary_chunks_never_crash(case: tuple[bytes, list[int]], profile: str) -> None:
    data, cuts = case
    printer = device(profile=profile)
    replies = b"".join(printer.receive(chunk) for chunk in _split(data, cuts))
    printer.connection_closed()
    # A ready printer with the drawer closed only ever says 12 (DLE EOT), 00 (GS r) or 10 00 00 00 (ASB).
    assert set(replies) <= {0x12, 0x00, 0x10}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chunked)
def test_chunking_does_not_change_answers_or_receipts(case: tuple[bytes, list[int]]) -> None:
    data, cuts = case
    whole, pieces = device(), device()
    assert b"".join(pieces.receive(chunk) for chunk in _split(data, cuts)) == whole.receive(data)
    assert [r.printed for r in pieces.receipts] == [r.printed for r in whole.receipts]


fault_ops = st.one_of(
    st.builds(lambda kind: ("set", kind), st.sampled_from([k.value for k in FaultKind])),
    st.builds(lambda kind: ("clear", kind), st.sampled_from([k.value for k in FaultKind])),
    st.builds(lambda n: ("set", f"paper-out:after-bytes={n}"), st.integers(0, 50)),
    st.builds(lambda n: ("set", f"paper-out:after-receipts={n}"), st.integers(0, 3)),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(streams, fault_ops), max_size=12))
def test_faults_between_chunks_never_crash(steps: list[bytes | tuple[str, str]]) -> None:
    printer = device()
    for step in steps:
        if isinstance(step, bytes):
            printer.receive(step)
            continue
        action, text = step
        if action == "set":
            fault = parse_fault(text)
            printer.set_fault(fault.kind, after_bytes=fault.after_bytes, after_receipts=fault.after_receipts)
        else:
            printer.clear_fault(text)
        printer.take_output()
    printer.connection_closed()
    assert [r.number for r in printer.receipts] == list(range(1, len(printer.receipts) + 1))
    for receipt in printer.receipts:
        assert receipt.complete == (not receipt.text.rstrip("\n").endswith("not finished]"))
