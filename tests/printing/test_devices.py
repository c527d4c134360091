"""list_devices: serial ports, possible FN readers, USB printers; no libusb is a note, not a crash."""

from __future__ import annotations

import re

from serial.tools.list_ports_common import ListPortInfo

from register.printing.devices import (
    KIND_FN,
    KIND_NOTE,
    KIND_PRINTER,
    KIND_SERIAL,
    describe_serial_port,
    describe_usb,
    list_devices,
)
from register.profiles import all_profiles, drivers_dir


def port(device: str, vid: int | None = None, pid: int | None = None) -> ListPortInfo:
    info = ListPortInfo(device)
    info.vid, info.pid = vid, pid
    return info


def test_ttyacm_is_a_possible_fn_reader() -> None:
    found = describe_serial_port(port("/dev/ttyACM0"))
    assert (found.kind, found.uri) == (KIND_FN, "serial:/dev/ttyACM0")
    assert "FN" in found.description


def test_plain_serial_port() -> None:
    found = describe_serial_port(port("/dev/ttyUSB0"))
    assert (found.kind, found.uri) == (KIND_SERIAL, "serial:/dev/ttyUSB0")


def test_serial_port_of_a_known_printer_gets_its_profile() -> None:
    found = describe_serial_port(port("/dev/ttyACM1", 0x04B8, 0x0E28))
    assert (found.kind, found.uri) == (KIND_PRINTER, "serial:/dev/ttyACM1?profile=TM-T20III")


def test_usb_printers() -> None:
    known = describe_usb(0x0416, 0x5011, [])
    assert known is not None and known.uri == "usb:0416:5011?profile=POS-5890"
    printer_class = describe_usb(0x1234, 0xABCD, [0, 7], "Thermal Printer")
    assert printer_class is not None and printer_class.uri == "usb:1234:abcd"
    assert printer_class.description.startswith("Thermal Printer")
    assert describe_usb(0x1234, 0xABCD, [3, 8]) is None  # a keyboard, a disk


def test_no_usb_backend_is_a_note() -> None:
    found = list_devices(usb_backend=None)
    notes = [device for device in found if device.kind == KIND_NOTE]
    assert len(notes) == 1 and "libusb" in notes[0].description and notes[0].uri == ""


def test_listing_this_machine_does_not_fail() -> None:
    for device in list_devices():
        assert device.kind in (KIND_PRINTER, KIND_FN, KIND_SERIAL, KIND_NOTE)


def test_udev_rules_cover_every_profile() -> None:
    rules = (drivers_dir() / "udev" / "99-register-printers.rules").read_text(encoding="utf-8")
    listed = set(
        re.findall(r'ATTRS\{idVendor\}=="([0-9a-f]{4})", ATTRS\{idProduct\}=="([0-9a-f]{4})"', rules)
    )
    expected = {(f"{usb.vendor:04x}", f"{usb.product:04x}") for p in all_profiles() for usb in p.usb}
    assert listed == expected
