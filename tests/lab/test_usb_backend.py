"""The fake USB printer: pyusb and python-escpos's Usb work unchanged through the bridged backend."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs

import escpos.printer
import PIL.Image
import pytest
import usb.core
import usb.util
import zxingcpp

from register.lab.printer_server import PrinterServer
from register.lab.usb_backend import BridgeAddressError, get_backend

EOT_1 = b"\x10\x04\x01"
EOT_4 = b"\x10\x04\x04"
TM_T20III = (0x04B8, 0x0E28)  # drivers/printers/TM-T20III.toml
QR_PAYLOAD = "t=20260115T1432&s=1234.56&fn=9999078900004312&i=42&fp=3098173039&n=1"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[PrinterServer]:
    with PrinterServer(tmp_path / "out", usb=True) as running:
        yield running


def backend_of(address: str) -> object:
    """Load the backend the way a host does: by the module and parameters named in the device URI."""
    _, _, query = address.partition("?")
    params = {key: values[0] for key, values in parse_qs(query).items()}
    module = importlib.import_module(params.pop("backend"))
    return module.get_backend(**params)


def find(server: PrinterServer, ids: tuple[int, int] = TM_T20III) -> usb.core.Device | None:
    assert server.address is not None
    return usb.core.find(idVendor=ids[0], idProduct=ids[1], backend=backend_of(server.address))


def test_address_is_a_usb_device_uri(server: PrinterServer) -> None:
    assert server.address is not None
    assert server.address.startswith("usb:04b8:0e28?backend=register.lab.usb_backend&bridge=127.0.0.1:")


def test_one_printer_class_device_with_bulk_endpoints(server: PrinterServer) -> None:
    device = find(server)
    assert device is not None
    assert (device.bDeviceClass, device.bNumConfigurations) == (0, 1)
    interface = device.get_active_configuration()[(0, 0)]
    class_triple = (interface.bInterfaceClass, interface.bInterfaceSubClass, interface.bInterfaceProtocol)
    assert class_triple == (7, 1, 2)
    endpoints = {ep.bEndpointAddress: ep for ep in interface}
    assert sorted(endpoints) == [0x01, 0x82]
    for ep in endpoints.values():
        assert usb.util.endpoint_type(ep.bmAttributes) == usb.util.ENDPOINT_TYPE_BULK
        assert ep.wMaxPacketSize == 64
    assert usb.util.endpoint_direction(0x82) == usb.util.ENDPOINT_IN
    usb.util.dispose_resources(device)


def test_only_the_profiles_ids_are_found(server: PrinterServer) -> None:
    assert find(server, (0x04B8, 0x0202)) is None
    found = list(usb.core.find(find_all=True, backend=backend_of(server.address or ""), bInterfaceClass=7))
    assert found == []  # bInterfaceClass is not a device field: the class is per interface (class 0)
    assert len(list(usb.core.find(find_all=True, backend=backend_of(server.address or "")))) == 1


def test_other_profile_ids(tmp_path: Path) -> None:
    with PrinterServer(tmp_path, usb=True, profile="POS-5890") as server:
        assert server.address is not None
        assert server.address.startswith("usb:0416:5011?")
        assert find(server, (0x0416, 0x5011)) is not None


def test_strings_and_ieee1284_device_id(server: PrinterServer) -> None:
    device = find(server)
    assert device is not None
    assert (device.manufacturer, device.product) == ("Epson", "TM-T20III")
    reply = device.ctrl_transfer(0xA1, 0x00, 0, 0, 256)  # printer class GET_DEVICE_ID
    length = int.from_bytes(reply[:2], "big")
    assert length == len(reply)
    assert bytes(reply[2:]).decode("ascii").startswith("MFG:EPSON;CMD:ESC/POS;MDL:TM-T20III;")
    usb.util.dispose_resources(device)


def test_bulk_write_and_read_status(server: PrinterServer) -> None:
    device = find(server)
    assert device is not None
    device.set_configuration()
    assert device.write(0x01, EOT_1) == 3
    assert bytes(device.read(0x82, 16, timeout=5000)) == b"\x12"
    server.set_fault("paper-near-end")
    device.write(0x01, EOT_4)
    assert bytes(device.read(0x82, 16, timeout=5000)) == b"\x1e"
    usb.util.dispose_resources(device)


def test_silence_is_a_usb_timeout(server: PrinterServer) -> None:
    device = find(server)
    assert device is not None
    with pytest.raises(usb.core.USBTimeoutError):
        device.read(0x82, 16, timeout=50)
    usb.util.dispose_resources(device)


def test_switched_off_printer_is_not_enumerated_and_open_handles_fail(server: PrinterServer) -> None:
    device = find(server)
    assert device is not None
    device.write(0x01, EOT_1)
    assert bytes(device.read(0x82, 16, timeout=5000)) == b"\x12"
    server.set_fault("offline")
    assert find(server) is None
    with pytest.raises(usb.core.USBError, match="No such device") as raised:
        device.read(0x82, 16, timeout=5000)
    assert not isinstance(raised.value, usb.core.USBTimeoutError)
    usb.util.dispose_resources(device)
    server.clear_fault("offline")
    device = find(server)
    assert device is not None
    device.write(0x01, EOT_1)
    assert bytes(device.read(0x82, 16, timeout=5000)) == b"\x12"
    usb.util.dispose_resources(device)


def test_python_escpos_usb_receipt_prints_the_hand_written_text(tmp_path: Path) -> None:
    dummy = escpos.printer.Dummy(profile="TM-T20II")
    dummy.hw("INIT")
    dummy.charcode("CP866")
    dummy.set(align="center", bold=True)
    dummy.text("ЧЕК №42\n")
    dummy.set_with_default()
    dummy.text("ИТОГО: 179.80\n")
    dummy.qr(QR_PAYLOAD, native=True, size=6)
    dummy.cut()
    stream = bytes(dummy.output)
    # What the paper shows, by hand: "ЧЕК №42" centred in 48 columns of font A ((48 - 7) // 2 = 20 spaces);
    # the total at the left (set_with_default); the QR at the left; cut() feeds 6 lines (ESC d 6), then cuts.
    expected = " " * 20 + "ЧЕК №42\n" + "ИТОГО: 179.80\n" + f"[QR {QR_PAYLOAD}]\n" + "\n" * 6
    out = tmp_path / "out"
    with PrinterServer(out, usb=True) as server:
        assert server.address is not None
        printer = escpos.printer.Usb(*TM_T20III, usb_args={"backend": backend_of(server.address)})
        printer.open()
        printer._raw(stream)
        assert printer.is_online()  # DLE EOT 1 answered after the receipt's bytes were taken
        printer._raw(b"\x1d\x72\x01")
        assert bytes(printer._read()) == b"\x00"  # GS r: everything before it is processed
        printer.close()
        (receipt,) = server.device.receipts
    assert (receipt.cut, receipt.complete) == ("full", True)
    assert (out / "0001.txt").read_text(encoding="utf-8") == expected
    assert [code.text for code in zxingcpp.read_barcodes(PIL.Image.open(out / "0001.png"))] == [QR_PAYLOAD]


def test_get_backend_needs_a_bridge(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REGISTER_USB_BRIDGE", raising=False)
    assert get_backend() is None
    monkeypatch.setenv("REGISTER_USB_BRIDGE", "127.0.0.1:9")
    backend = get_backend()
    assert backend is not None
    assert backend.bridge == ("127.0.0.1", 9)
    with pytest.raises(BridgeAddressError, match="not HOST:PORT"):
        get_backend(bridge="localhost")


def test_nothing_listening_means_no_device() -> None:
    backend = get_backend(bridge="127.0.0.1:9")  # discard port: nothing listens on loopback
    assert usb.core.find(backend=backend) is None


def test_ids_can_be_overridden(server: PrinterServer) -> None:
    assert server.address is not None
    bridge = server.address.partition("bridge=")[2]
    backend = get_backend(bridge=bridge, vendor="04b8", product="0202")
    assert usb.core.find(idVendor=0x04B8, idProduct=0x0202, backend=backend) is not None
