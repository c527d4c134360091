"""What is plugged in: serial ports (a real FN reader shows up as /dev/ttyACM*) and USB receipt printers.

For ``register devices``. Nothing here opens a device; a missing libusb or a permission problem becomes a
note in the list, not an exception.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import serial.tools.list_ports
import usb.backend.libusb1
import usb.core
from serial.tools.list_ports_common import ListPortInfo

from register.profiles import profile_for_usb

USB_PRINTER_CLASS = 7
KIND_PRINTER = "printer"
KIND_FN = "fn"
KIND_SERIAL = "serial"
KIND_NOTE = "note"
_DEFAULT = object()


@dataclass(frozen=True, slots=True)
class FoundDevice:
    kind: str
    """printer, fn (a possible FN reader), serial (another port) or note (why something is not listed)."""
    description: str
    uri: str
    """Device URI to pass to --printer / --device; empty for a note."""


def list_devices(*, usb_backend: object = _DEFAULT) -> list[FoundDevice]:
    """Serial ports, then USB printers (interface class 7 or an id a printer profile knows).

    ``usb_backend``: a pyusb backend; by default libusb1's, None meaning "no backend available".
    """
    backend = _libusb1() if usb_backend is _DEFAULT else usb_backend
    ports = sorted(serial.tools.list_ports.comports(), key=lambda port: port.device)
    return [describe_serial_port(port) for port in ports] + usb_printers(backend)


def describe_serial_port(port: ListPortInfo) -> FoundDevice:
    profile = profile_for_usb(port.vid, port.pid) if port.vid is not None and port.pid is not None else None
    details = port.description if port.description and port.description != "n/a" else port.device
    if profile is not None:
        return FoundDevice(
            KIND_PRINTER,
            f"{profile.vendor} {profile.name} (serial over USB): {details}",
            f"serial:{port.device}?profile={profile.name}",
        )
    if port.name.startswith("ttyACM") or port.device.startswith("/dev/ttyACM"):
        return FoundDevice(KIND_FN, f"possible FN reader (USB CDC): {details}", f"serial:{port.device}")
    return FoundDevice(KIND_SERIAL, f"serial port: {details}", f"serial:{port.device}")


def describe_usb(
    vendor: int, product: int, interface_classes: Iterable[int], product_name: str | None = None
) -> FoundDevice | None:
    """A USB device as a printer entry, or None when it is no printer we know of."""
    profile = profile_for_usb(vendor, product)
    ids = f"{vendor:04x}:{product:04x}"
    if profile is None and USB_PRINTER_CLASS not in set(interface_classes):
        return None
    if profile is not None:
        name = f"{profile.vendor} {profile.name}"
        return FoundDevice(KIND_PRINTER, f"{name} ({ids})", f"usb:{ids}?profile={profile.name}")
    name = product_name or "USB printer (no profile: give ?profile=NAME)"
    return FoundDevice(KIND_PRINTER, f"{name} ({ids})", f"usb:{ids}")


def usb_printers(backend: object | None) -> list[FoundDevice]:
    if backend is None:
        return [_note("USB: libusb not found, USB printers not listed (apt install libusb-1.0-0)")]
    try:
        devices = list(usb.core.find(find_all=True, backend=backend))
    except usb.core.NoBackendError:
        return [_note("USB: libusb not found, USB printers not listed (apt install libusb-1.0-0)")]
    except usb.core.USBError as exc:
        return [_note(f"USB: cannot list devices: {exc} (permissions? see drivers/udev/)")]
    found: list[FoundDevice] = []
    unreadable = 0
    for device in devices:
        try:
            classes = _interface_classes(device)
        except (usb.core.USBError, NotImplementedError, ValueError):
            classes, unreadable = set(), unreadable + 1
        entry = describe_usb(device.idVendor, device.idProduct, classes, _product_name(device))
        if entry is not None:
            found.append(entry)
    if unreadable:
        found.append(_note(f"USB: {unreadable} device(s) could not be read (permissions? see drivers/udev/)"))
    return found


def _interface_classes(device: usb.core.Device) -> set[int]:
    classes = {device.bDeviceClass}
    for configuration in device:
        for interface in configuration:
            classes.add(interface.bInterfaceClass)
    return classes


def _product_name(device: usb.core.Device) -> str | None:
    try:
        return device.product  # a string descriptor: needs access rights to the device
    except (usb.core.USBError, NotImplementedError, ValueError):
        return None


def _libusb1() -> object | None:
    try:
        return usb.backend.libusb1.get_backend()
    except usb.core.USBError:
        return None


def _note(text: str) -> FoundDevice:
    return FoundDevice(KIND_NOTE, text, "")
