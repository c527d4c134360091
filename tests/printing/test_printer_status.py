"""Status decoding: every row of escpos.md §1.6, decoded and then asked over a pty; silence is never OK."""

from __future__ import annotations

import os
import time

import pytest

from register.printing.printer_driver import DriverSettings, PrinterDriver
from register.printing.printer_errors import ErrorCause, Paper, PrinterState, decode_status, is_status_byte
from tests.printing import fake_printer as fp

FAST = DriverSettings(status_timeout=0.2, write_timeout_base=0.5)

# (row, state, error cause, DLE EOT n asked in order): escpos.md §1.6 "Replies the emulator should give".
ROWS = [
    pytest.param(fp.READY, PrinterState.READY, None, [1, 4], id="ready"),
    pytest.param(fp.DRAWER_HIGH, PrinterState.READY, None, [1, 4], id="drawer-pin3-high"),
    pytest.param(fp.NEAR_END, PrinterState.NEAR_END, None, [1, 4], id="paper-near-end"),
    pytest.param(fp.PAPER_END, PrinterState.PAPER_OUT, None, [1, 2, 4], id="paper-end"),
    pytest.param(fp.PAPER_END_BOTH_SENSORS, PrinterState.PAPER_OUT, None, [1, 2, 4], id="paper-end-7E"),
    pytest.param(fp.COVER_OPEN, PrinterState.COVER_OPEN, None, [1, 2, 4], id="cover-open"),
    pytest.param(fp.CUTTER_JAM, PrinterState.ERROR, ErrorCause.AUTOCUTTER, [1, 2, 3, 4], id="autocutter-jam"),
    pytest.param(
        fp.HEAD_OVERHEAT, PrinterState.ERROR, ErrorCause.AUTO_RECOVERABLE, [1, 2, 3, 4], id="head-overheat"
    ),
    pytest.param(fp.SILENT, PrinterState.UNKNOWN, None, [1], id="unreachable"),
    pytest.param(fp.GARBAGE, PrinterState.UNKNOWN, None, [1], id="invalid-byte"),
]


@pytest.mark.parametrize(("row", "state", "cause", "asked"), ROWS)
def test_decode_each_row(
    row: fp.Row, state: PrinterState, cause: ErrorCause | None, asked: list[int]
) -> None:
    status = decode_status(*(row.eot.get(n) if n in asked else None for n in (1, 2, 3, 4)))
    assert (status.state, status.error) == (state, cause)


@pytest.mark.parametrize(("row", "state", "cause", "asked"), ROWS)
def test_each_row_over_a_pty(
    row: fp.Row, state: PrinterState, cause: ErrorCause | None, asked: list[int]
) -> None:
    fake = fp.FakePrinter(row)
    with fp.pty_printer(fake) as pty, PrinterDriver.open(f"serial:{pty.path}", settings=FAST) as printer:
        status = printer.status()
    assert (status.state, status.error) == (state, cause)
    assert fake.asked == asked
    assert status.printable == (state in (PrinterState.READY, PrinterState.NEAR_END))


def test_status_details() -> None:
    assert decode_status(0x16, eot4=0x12).drawer_pin3_high is True
    assert decode_status(0x12, eot4=0x12).drawer_pin3_high is False
    paper_end = decode_status(0x1A, 0x32, None, 0x72)
    assert (paper_end.online, paper_end.paper, paper_end.cover_open) == (False, Paper.OUT, False)
    assert decode_status(0x1A, 0x16, None, 0x12).cover_open is True


@pytest.mark.parametrize(
    ("replies", "detail"),
    [
        ((None,), "no reply to DLE EOT 1"),
        ((0x00,), "invalid reply 00 to DLE EOT 1"),
        ((0x13,), "invalid reply 13 to DLE EOT 1"),  # bit 0 must be 0
        ((0x92,), "invalid reply 92 to DLE EOT 1"),  # bit 7 must be 0
        ((0x12, None, None, None), "no reply to DLE EOT 4"),  # online, paper unknown: not OK either
        ((0x12, None, None, 0x00), "invalid reply 00 to DLE EOT 4"),
    ],
)
def test_silence_and_garbage_are_unknown_never_ok(replies: tuple[int | None, ...], detail: str) -> None:
    status = decode_status(*replies)
    assert status.state is PrinterState.UNKNOWN
    assert not status.printable
    assert status.detail == detail


def test_offline_without_a_cause_is_offline() -> None:
    assert decode_status(0x1A, 0x12, None, 0x12).state is PrinterState.OFFLINE
    assert decode_status(0x1A, None, None, 0x12).state is PrinterState.OFFLINE
    assert decode_status(0x1A, None, None, 0x72).state is PrinterState.PAPER_OUT


def test_fixed_bits() -> None:
    assert [b for b in range(256) if is_status_byte(b)][:4] == [0x12, 0x16, 0x1A, 0x1E]
    assert not is_status_byte(0x10)  # first byte of an ASB message
    assert not is_status_byte(0x00)  # a GS r reply


def test_a_stale_byte_is_drained_before_asking() -> None:
    # escpos.md §2.5: python-escpos' _read() returns the oldest byte, so a late reply answers the next query.
    fake = fp.FakePrinter(fp.READY)
    with fp.pty_printer(fake) as pty, PrinterDriver.open(f"serial:{pty.path}", settings=FAST) as printer:
        os.write(pty.master, b"\x00")  # a stray reply that would read as "invalid" (or worse, as OK)
        port = printer._link._port  # type: ignore[attr-defined]
        while port.in_waiting == 0:  # wait until the stray byte is queued at the driver's side
            time.sleep(0.01)
        assert printer.status().state is PrinterState.READY
