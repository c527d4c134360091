"""PrinterDriver: fail-closed status around every job, URIs, one lock per device."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from register.printing.escpos_out import encode_receipt
from register.printing.printer_driver import DriverSettings, PrinterDriver, device_lock, profile_for_uri
from register.printing.printer_errors import (
    CoverOpen,
    ErrorCause,
    PaperOut,
    PrinterError,
    PrinterState,
    PrinterUnavailable,
    ReceiptNotPrinted,
    StatusUnknown,
)
from register.profiles import load_profile
from register.uri import UriError
from tests.printing import fake_printer as fp
from tests.printing.conftest import make_receipt, make_stamp

FAST = DriverSettings(status_timeout=0.2, write_timeout_base=0.5)
JOB = b"\x1b@\x1bt\x11\x8f\xe0\xa8\xa2\xa5\xe2\n"  # ESC @, ESC t 17, "Привет"


def print_on_pty(fake: fp.FakePrinter, data: bytes = JOB, profile: str = "TM-T20III") -> object:
    with (
        fp.pty_printer(fake) as pty,
        PrinterDriver.open(f"serial:{pty.path}?profile={profile}", settings=FAST) as p,
    ):
        return p.print_bytes(data)


def test_ready_printer_prints_and_confirms() -> None:
    fake = fp.FakePrinter(fp.READY)
    result = print_on_pty(fake)
    assert result.printed and result.warnings == () and result.bytes_sent == len(JOB)
    assert result.status_before.state is result.status_after.state is PrinterState.READY
    # status before, the job, the GS r 1 marker, status after
    assert bytes(fake.received) == b"\x10\x04\x01\x10\x04\x04" + JOB + b"\x1dr\x01\x10\x04\x01\x10\x04\x04"


def test_near_end_prints_with_a_warning() -> None:
    result = print_on_pty(fp.FakePrinter(fp.NEAR_END))
    assert result.printed
    assert result.warnings == ("бумага заканчивается / paper near end",)


@pytest.mark.parametrize(
    ("row", "refusal", "words"),
    [
        (fp.PAPER_END, PaperOut, "нет бумаги / .*paper out"),
        (fp.COVER_OPEN, CoverOpen, "открыта крышка / .*cover open"),
        (fp.CUTTER_JAM, PrinterError, "ошибка отрезчика / .*autocutter error"),
        (fp.SILENT, StatusUnknown, "неизвестно / .*unknown .no reply to DLE EOT 1"),
        (fp.GARBAGE, StatusUnknown, "invalid reply 00 to DLE EOT 1"),
    ],
)
def test_refused_before_sending_anything(row: fp.Row, refusal: type[Exception], words: str) -> None:
    fake = fp.FakePrinter(row)
    with pytest.raises(refusal, match=words) as caught:
        print_on_pty(fake)
    assert JOB not in fake.received
    assert "serial:/dev/" in str(caught.value)  # the device is named


def test_cutter_error_carries_its_cause() -> None:
    with pytest.raises(PrinterError) as caught:
        print_on_pty(fp.FakePrinter(fp.CUTTER_JAM))
    assert caught.value.status is not None and caught.value.status.error is ErrorCause.AUTOCUTTER


@pytest.mark.parametrize(("row", "words"), [(fp.PAPER_END, "paper out"), (fp.COVER_OPEN, "cover open")])
def test_stopping_during_the_job_means_not_printed(row: fp.Row, words: str) -> None:
    fake = fp.FakePrinter(fp.READY, after_job=row)
    with pytest.raises(ReceiptNotPrinted, match=f"receipt not printed: {words}") as caught:
        print_on_pty(fake)
    assert JOB in fake.received
    assert caught.value.status is not None and caught.value.status.state is not PrinterState.READY


def test_silence_after_the_job_is_not_a_confirmation() -> None:
    result = print_on_pty(fp.FakePrinter(fp.READY, after_job=fp.SILENT))
    assert not result.printed
    assert result.status_after.state is PrinterState.UNKNOWN
    assert any("GS r" in warning for warning in result.warnings)


def test_a_model_without_gs_r_is_checked_by_dle_eot_only() -> None:
    fake = fp.FakePrinter(fp.READY)
    result = print_on_pty(fake, profile="POS-5890")
    assert result.printed
    assert b"\x1dr" not in fake.received


def test_a_whole_receipt_goes_out_in_one_piece() -> None:
    data = encode_receipt(make_receipt(), make_stamp(), load_profile("TM-T20III"))
    fake = fp.FakePrinter(fp.READY)
    assert print_on_pty(fake, data).printed
    assert data in fake.received


def test_tcp_printer() -> None:
    fake = fp.FakePrinter(fp.READY)
    with (
        fp.tcp_printer(fake) as (host, port),
        PrinterDriver.open(f"tcp:{host}:{port}", settings=FAST) as printer,
    ):
        assert printer.status().state is PrinterState.READY
        assert printer.print_bytes(JOB).printed
        assert printer.status().state is PrinterState.READY  # a new connection per job
    assert JOB in fake.received


def test_tcp_refused_is_unavailable_with_a_clean_message() -> None:
    with socket.create_server(("127.0.0.1", 0)) as closed:
        host, port = closed.getsockname()[:2]
    address = f"{host}:{port}"
    expected = (
        f"принтер tcp:{address}: нет связи с принтером {address}: соединение отклонено "
        "(принтер выключен или неверный адрес?) / "
        f"printer tcp:{address}: cannot connect to {address}: connection refused "
        "(printer switched off or wrong address?)"
    )
    with PrinterDriver.open(f"tcp:{address}", settings=FAST) as printer:
        with pytest.raises(PrinterUnavailable) as raised:
            printer.status()
        assert str(raised.value) == expected
        with pytest.raises(PrinterUnavailable) as raised:
            printer.print_bytes(JOB)
        assert str(raised.value) == expected


def test_tcp_peer_closing_is_unknown_not_ok() -> None:
    # escpos.md §2.1: python-escpos' Network._read() returns b"" when the peer closed: 3.1 reads it as OK.
    with (
        fp.tcp_printer(fp.FakePrinter(fp.READY), hang_up=True) as (host, port),
        PrinterDriver.open(f"tcp:{host}:{port}", settings=FAST) as printer,
    ):
        assert printer.status().state is PrinterState.UNKNOWN


def test_file_prints_without_status(tmp_path: Path) -> None:
    target = tmp_path / "receipt.bin"
    with PrinterDriver.open(f"file:{target}?profile=POS-5890") as printer:
        status = printer.status()
        assert (status.state, status.supported) == (PrinterState.UNKNOWN, False)
        result = printer.print_bytes(JOB)
    assert result.printed and result.bytes_sent == len(JOB)
    assert result.warnings and "status not checked" in result.warnings[0]
    assert target.read_bytes() == JOB


def test_serial_port_missing() -> None:
    with pytest.raises(PrinterUnavailable, match=r"serial:/nonexistent/tty.*cannot open the serial port"):
        PrinterDriver.open("serial:/nonexistent/tty")


@pytest.mark.parametrize(
    ("uri", "words"),
    [
        ("usb:04b8:0e28?backend=os.path", "only modules under usb.backend. or register.lab."),
        ("usb:04b8:0e28?backend=usb.backend.nothing_here", "cannot be imported"),
        ("serial:/dev/ttyS0?flow=dtr", "flow='dtr'"),
        ("lab:", "lab: is resolved by the launcher"),
    ],
)
def test_bad_uris(uri: str, words: str) -> None:
    with pytest.raises(UriError, match=words):
        PrinterDriver.open(uri)


def test_usb_without_a_backend_or_device_is_unavailable() -> None:
    # libusb missing (as in CI) or the printer absent: either way a clear PrinterUnavailable.
    with pytest.raises(PrinterUnavailable, match=r"usb:04b8:0e28: .*(libusb|not found)"):
        PrinterDriver.open("usb:04b8:0e28")


def test_profile_choice() -> None:
    assert profile_for_uri("usb:0fe6:811e").name == "RP-326"  # by USB id
    assert profile_for_uri("usb:0fe6:811e?profile=XP-80").name == "XP-80"
    assert profile_for_uri("serial:/dev/ttyUSB0").name == "TM-T20III"  # the default
    assert profile_for_uri("tcp:10.0.0.5:9100", "TM-T88V").name == "TM-T88V"


def test_one_lock_per_device() -> None:
    assert device_lock("serial:/dev/ttyUSB0?profile=XP-80") is device_lock("serial:/dev/ttyUSB0")
    assert device_lock("serial:/dev/ttyUSB0") is not device_lock("serial:/dev/ttyUSB1")
    assert device_lock("tcp:127.0.0.1:9100") is not device_lock("tcp:127.0.0.1:9101")
