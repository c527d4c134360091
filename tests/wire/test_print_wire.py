"""A receipt signed by the FN emulator printed by the real printer driver on the printer emulator.

Over a pty, TCP and the fake USB device; every profile; the status faults of escpos.md §1.6.
"""

from __future__ import annotations

import io
import re
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import zxingcpp
from click.testing import CliRunner
from PIL import Image

from register.cli import main
from register.demo_receipts import sample_receipt
from register.domain.fiscal_stamp import FiscalStamp
from register.domain.receipt import Receipt
from register.fiscal import fn_documents, kkt_documents
from register.fiscal.fn_driver import FnDriver
from register.lab.escpos_device import DeviceReceipt
from register.lab.printer_server import PrinterServer
from register.printing.printer_driver import DriverSettings, PrinterDriver
from register.printing.printer_errors import (
    CoverOpen,
    PaperOut,
    PrinterState,
    PrinterUnavailable,
    ReceiptNotPrinted,
    StatusUnknown,
)
from register.profiles import all_profiles

from .conftest import WHEN


@pytest.fixture
def signed(fn: FnDriver) -> tuple[Receipt, FiscalStamp]:
    kkt_documents.register(fn, WHEN)
    kkt_documents.open_shift(fn, WHEN)
    receipt = sample_receipt(WHEN + timedelta(minutes=1), items=10)
    result = fn_documents.fiscalise(fn, receipt)
    return receipt, kkt_documents.receipt_stamp(fn, receipt, result)


def _uri(server: PrinterServer, address: str, profile: str) -> str:
    if address.startswith("usb:"):
        return address
    scheme = "serial" if address.startswith("/dev/") else "tcp"
    return f"{scheme}:{address}?profile={profile}"


@pytest.fixture
def printer(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[PrinterServer, str]]:
    transport, profile = request.param
    server = PrinterServer(
        tmp_path / "printer",
        profile=profile,
        **{transport: True} if transport != "tcp" else {"tcp": "127.0.0.1:0"},
    )
    address = server.start()
    yield server, _uri(server, address, profile)
    server.stop()


def _printed(server: PrinterServer, count: int = 1) -> list[DeviceReceipt]:
    deadline = time.monotonic() + 10
    while len(server.device.receipts) < count and time.monotonic() < deadline:
        time.sleep(0.02)
    return server.device.receipts


def _qr_in(png: bytes) -> list[str]:
    return [r.text for r in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))]


def _print(uri: str, receipt: Receipt, stamp: FiscalStamp) -> None:
    with PrinterDriver.open(uri) as driver:
        result = driver.print_receipt(receipt, stamp)
    assert result.printed


def test_same_receipt_on_every_transport(signed: tuple[Receipt, FiscalStamp], tmp_path: Path) -> None:
    receipt, stamp = signed
    texts = {}
    for transport in ({"pty": True}, {"tcp": "127.0.0.1:0"}, {"usb": True}):
        name = next(iter(transport))
        server = PrinterServer(tmp_path / name, profile="TM-T20III", **transport)
        try:
            _print(_uri(server, server.start(), "TM-T20III"), receipt, stamp)
            (printed,) = _printed(server)
        finally:
            server.stop()
        assert printed.complete and printed.cut == "full"
        assert _qr_in(printed.png or b"") == [stamp.qr]
        assert (tmp_path / name / "0001.txt").read_text(encoding="utf-8") == printed.text
        texts[name] = printed.text
    assert texts["pty"] == texts["tcp"] == texts["usb"]
    text = texts["pty"]
    for needle in ("КАССОВЫЙ ЧЕК", "Молоко 3,2% 1 л", "ИТОГ", "ТЕСТОВЫЙ"):
        assert needle in text
    assert re.search(rf"^ФД +{stamp.fd}$", text, re.M)
    assert re.search(rf"^ФП +{stamp.fp}$", text, re.M)


@pytest.mark.parametrize(
    "printer", [("tcp", p.name) for p in all_profiles()], indirect=True, ids=[p.name for p in all_profiles()]
)
def test_cyrillic_and_qr_on_every_profile(
    printer: tuple[PrinterServer, str], signed: tuple[Receipt, FiscalStamp]
) -> None:
    server, uri = printer
    receipt, stamp = signed
    _print(uri, receipt, stamp)
    (printed,) = _printed(server)
    for line in receipt.lines:
        first_word = line.name.split()[0]
        assert first_word in printed.text
    assert 'Кофе зерновой "Арабика"' in printed.text  # « » folded, never '?'
    assert "?" not in printed.text
    assert _qr_in(printed.png or b"") == [stamp.qr]


@pytest.mark.parametrize("printer", [("tcp", "TM-T20III")], indirect=True)
@pytest.mark.parametrize(("fault", "error"), [("paper-out", PaperOut), ("cover-open", CoverOpen)])
def test_fault_refused_before_printing(
    printer: tuple[PrinterServer, str], signed: tuple[Receipt, FiscalStamp], fault: str, error: type
) -> None:
    server, uri = printer
    server.set_fault(fault)
    receipt, stamp = signed
    with PrinterDriver.open(uri) as driver, pytest.raises(error):
        driver.print_receipt(receipt, stamp)
    assert server.device.receipts == []


@pytest.mark.parametrize("printer", [("pty", "TM-T20III")], indirect=True)
def test_paper_out_mid_receipt_is_not_printed(
    printer: tuple[PrinterServer, str], signed: tuple[Receipt, FiscalStamp]
) -> None:
    server, uri = printer
    server.set_fault("paper-out", after_bytes=300)
    receipt, stamp = signed
    with PrinterDriver.open(uri) as driver, pytest.raises(ReceiptNotPrinted):
        driver.print_receipt(receipt, stamp)
    (partial,) = _printed(server)
    assert not partial.complete


def test_paper_out_after_receipts_confirms_the_last_full_receipt_and_refuses_the_next(
    signed: tuple[Receipt, FiscalStamp], tmp_path: Path
) -> None:
    receipt, stamp = signed
    server = PrinterServer(tmp_path / "printer", pty=True, faults=["paper-out:after-receipts=1"])
    uri = _uri(server, server.start(), "TM-T20III")
    # The GS r marker goes unanswered once the paper is out: a short wait for it keeps the test quick.
    settings = DriverSettings(write_timeout_base=1.0, slowest_bytes_per_second=1e6)
    try:
        with PrinterDriver.open(uri, settings=settings) as driver:
            first = driver.print_receipt(receipt, stamp)  # the paper ends right at this receipt's cut
            assert first.printed
            assert first.status_after.state is PrinterState.READY
            with pytest.raises(ReceiptNotPrinted) as raised:
                driver.print_receipt(receipt, stamp)
            assert raised.value.status is not None
            assert raised.value.status.state is PrinterState.PAPER_OUT
            with pytest.raises(PaperOut):  # and the one after is refused before anything is sent
                driver.print_receipt(receipt, stamp)
    finally:
        server.stop()
    assert [(r.number, r.complete, r.cut) for r in server.device.receipts] == [(1, True, "full")]


@pytest.mark.parametrize("printer", [("pty", "TM-T20III")], indirect=True)
def test_near_end_prints_with_a_warning(
    printer: tuple[PrinterServer, str], signed: tuple[Receipt, FiscalStamp]
) -> None:
    server, uri = printer
    server.set_fault("paper-near-end")
    receipt, stamp = signed
    with PrinterDriver.open(uri) as driver:
        result = driver.print_receipt(receipt, stamp)
    assert result.printed
    assert result.warnings
    assert _printed(server)[0].complete


@pytest.mark.parametrize("printer", [("pty", "TM-T20III")], indirect=True)
def test_silent_printer_is_unknown_never_ok(
    printer: tuple[PrinterServer, str], signed: tuple[Receipt, FiscalStamp]
) -> None:
    server, uri = printer
    server.set_fault("no-answer")
    receipt, stamp = signed
    with PrinterDriver.open(uri) as driver:
        status = driver.status()
        assert status.state is PrinterState.UNKNOWN
        with pytest.raises(StatusUnknown):
            driver.print_receipt(receipt, stamp)


@pytest.mark.parametrize("printer", [("tcp", "TM-T20III")], indirect=True)
def test_switched_off_network_printer(
    printer: tuple[PrinterServer, str], signed: tuple[Receipt, FiscalStamp]
) -> None:
    server, uri = printer
    server.set_fault("offline")
    receipt, stamp = signed
    with PrinterDriver.open(uri) as driver, pytest.raises(PrinterUnavailable) as raised:
        driver.print_receipt(receipt, stamp)
    assert str(raised.value).endswith(
        f"cannot connect to {server.address}: connection refused (printer switched off or wrong address?)"
    )
    assert server.device.receipts == []


@pytest.mark.parametrize(
    ("faults", "exit_code", "first_line"),
    [
        ((), 0, "готов / ready"),
        (("paper-near-end",), 0, "бумага заканчивается / paper near end"),
        (("paper-out",), 1, "нет бумаги / paper out"),
        (("cover-open",), 1, "открыта крышка / cover open"),
        (("no-answer",), 1, "состояние принтера неизвестно / printer status unknown (no reply to DLE EOT 1)"),
    ],
)
def test_printer_status_command_exit_code(
    tmp_path: Path, faults: tuple[str, ...], exit_code: int, first_line: str
) -> None:
    with PrinterServer(tmp_path / "out", tcp="127.0.0.1:0", faults=faults) as server:
        result = CliRunner().invoke(main, ["printer-status", "--printer", f"tcp:{server.address}"])
    assert result.exit_code == exit_code, result.output
    assert result.output.splitlines()[0] == first_line


def test_printer_status_command_of_a_switched_off_printer(tmp_path: Path) -> None:
    with PrinterServer(tmp_path / "out", tcp="127.0.0.1:0", faults=["offline"]) as server:
        result = CliRunner().invoke(main, ["printer-status", "--printer", f"tcp:{server.address}"])
    assert result.exit_code == 1
    assert "cannot connect to" in result.output and "))" not in result.output


def test_register_devices_finds_the_usb_printer_through_pyusb(tmp_path: Path) -> None:
    from urllib.parse import parse_qs, urlsplit

    from register.lab.usb_backend import get_backend
    from register.printing.devices import KIND_PRINTER, list_devices

    server = PrinterServer(tmp_path / "usb", profile="TM-T88V", usb=True)
    address = server.start()
    try:
        bridge = parse_qs(urlsplit(address.replace("usb:", "usb://", 1)).query)["bridge"][0]
        found = [d for d in list_devices(usb_backend=get_backend(bridge=bridge)) if d.uri.startswith("usb:")]
    finally:
        server.stop()
    assert [(d.kind, d.uri) for d in found] == [(KIND_PRINTER, "usb:04b8:0202?profile=TM-T88V")]
