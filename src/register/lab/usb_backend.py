"""A pyusb backend presenting one USB printer whose endpoints are bridged over TCP to the printer emulator.

``usb.core.find(idVendor=…, backend=get_backend(bridge="127.0.0.1:PORT"))`` and python-escpos's
``Usb(vid, pid, usb_args={"backend": …})`` work unchanged: the device is printer class (interface class 7,
subclass 1, protocol 2 bidirectional), bulk OUT 0x01 and bulk IN 0x82, 64-byte packets, with the ids of
the emulator's profile. Each opened handle is one TCP connection to the bridge; bulk writes send the
bytes, bulk reads return what the printer answered. The bridge greets every connection with one line,
``HELLO_PREFIX`` + JSON (ids, model, manufacturer), so a switched-off printer (bridge refusing
connections) is simply not enumerated, like an unplugged one.
"""

from __future__ import annotations

import array
import errno
import json
import logging
import os
import socket
import struct
from dataclasses import dataclass, field

import usb.backend
import usb.core

from register.profiles import PrinterProfile

log = logging.getLogger(__name__)

BRIDGE_ENV = "REGISTER_USB_BRIDGE"
HELLO_PREFIX = b"register-usb-printer "
HELLO_MAX = 1024
CONNECT_TIMEOUT = 2.0  # seconds for the bridge to accept and greet

OUT_ENDPOINT = 0x01
IN_ENDPOINT = 0x82
PACKET_SIZE = 64
CONFIGURATION_VALUE = 1
PRINTER_CLASS, PRINTER_SUBCLASS, BIDIRECTIONAL = 7, 1, 2
FULL_SPEED = 2  # libusb_speed LIBUSB_SPEED_FULL
LANGID_EN_US = 0x0409

LIBUSB_ERROR_NO_DEVICE = -4
LIBUSB_ERROR_NOT_FOUND = -5
LIBUSB_ERROR_TIMEOUT = -7
LIBUSB_ERROR_PIPE = -9

GET_DESCRIPTOR = 0x06
GET_DEVICE_ID = 0x00  # printer class request (IEEE 1284 device id)
DESCRIPTOR_DEVICE, DESCRIPTOR_CONFIGURATION, DESCRIPTOR_STRING = 1, 2, 3


class BridgeAddressError(ValueError):
    """A bridge address that is not HOST:PORT."""


# --- the greeting on the bridge -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BridgeHello:
    """What the bridge says about the printer behind it."""

    vendor: int
    product: int
    model: str
    manufacturer: str

    @classmethod
    def of(cls, profile: PrinterProfile) -> BridgeHello:
        if not profile.usb:
            raise ValueError(f"printer profile {profile.name} has no USB id")
        return cls(profile.usb[0].vendor, profile.usb[0].product, profile.name, profile.vendor)

    def encode(self) -> bytes:
        body = {
            "vendor": self.vendor,
            "product": self.product,
            "model": self.model,
            "manufacturer": self.manufacturer,
        }
        return HELLO_PREFIX + json.dumps(body, ensure_ascii=True).encode("ascii") + b"\n"

    @classmethod
    def decode(cls, line: bytes) -> BridgeHello:
        if not line.startswith(HELLO_PREFIX):
            raise ValueError(f"not a printer bridge greeting: {line[:40]!r}")
        body = json.loads(line[len(HELLO_PREFIX) :])
        return cls(int(body["vendor"]), int(body["product"]), str(body["model"]), str(body["manufacturer"]))


def parse_bridge(text: str) -> tuple[str, int]:
    host, sep, port = text.strip().rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) <= 0xFFFF:
        raise BridgeAddressError(f"USB bridge address {text!r} is not HOST:PORT")
    return host.strip("[]") or "127.0.0.1", int(port)


def _connect(address: tuple[str, int], timeout: float) -> tuple[socket.socket, BridgeHello]:
    """Connect and read the greeting; OSError or ValueError if the printer is not there."""
    sock = socket.create_connection(address, timeout=timeout)
    try:
        line = bytearray()
        while not line.endswith(b"\n"):
            chunk = sock.recv(1)
            if not chunk:
                raise ConnectionResetError("the bridge closed the connection")
            line += chunk
            if len(line) > HELLO_MAX:
                raise ValueError("printer bridge greeting too long")
        return sock, BridgeHello.decode(bytes(line))
    except BaseException:
        sock.close()
        raise


# --- descriptors ----------------------------------------------------------------------------------------


@dataclass(slots=True)
class DeviceDescriptor:
    idVendor: int
    idProduct: int
    bLength: int = 18
    bDescriptorType: int = DESCRIPTOR_DEVICE
    bcdUSB: int = 0x0200
    bDeviceClass: int = 0  # class given per interface
    bDeviceSubClass: int = 0
    bDeviceProtocol: int = 0
    bMaxPacketSize0: int = PACKET_SIZE
    bcdDevice: int = 0x0100
    iManufacturer: int = 1
    iProduct: int = 2
    iSerialNumber: int = 3
    bNumConfigurations: int = 1
    address: int = 1
    bus: int = 1
    port_number: int = 1
    port_numbers: tuple[int, ...] = (1,)
    speed: int = FULL_SPEED

    def encode(self) -> bytes:
        return struct.pack(
            "<BBHBBBBHHHBBBB",
            *(self.bLength, self.bDescriptorType, self.bcdUSB, self.bDeviceClass, self.bDeviceSubClass),
            *(self.bDeviceProtocol, self.bMaxPacketSize0, self.idVendor, self.idProduct, self.bcdDevice),
            *(self.iManufacturer, self.iProduct, self.iSerialNumber, self.bNumConfigurations),
        )


@dataclass(slots=True)
class ConfigurationDescriptor:
    bLength: int = 9
    bDescriptorType: int = DESCRIPTOR_CONFIGURATION
    wTotalLength: int = 9 + 9 + 7 + 7
    bNumInterfaces: int = 1
    bConfigurationValue: int = CONFIGURATION_VALUE
    iConfiguration: int = 0
    bmAttributes: int = 0xC0  # self-powered
    bMaxPower: int = 1  # 2 mA
    extra_descriptors: list[int] = field(default_factory=list)

    def encode(self) -> bytes:
        return struct.pack(
            "<BBHBBBBB",
            *(self.bLength, self.bDescriptorType, self.wTotalLength, self.bNumInterfaces),
            *(self.bConfigurationValue, self.iConfiguration, self.bmAttributes, self.bMaxPower),
        )


@dataclass(slots=True)
class InterfaceDescriptor:
    bLength: int = 9
    bDescriptorType: int = 4
    bInterfaceNumber: int = 0
    bAlternateSetting: int = 0
    bNumEndpoints: int = 2
    bInterfaceClass: int = PRINTER_CLASS
    bInterfaceSubClass: int = PRINTER_SUBCLASS
    bInterfaceProtocol: int = BIDIRECTIONAL
    iInterface: int = 0
    extra_descriptors: list[int] = field(default_factory=list)

    def encode(self) -> bytes:
        return struct.pack(
            "<BBBBBBBBB",
            *(self.bLength, self.bDescriptorType, self.bInterfaceNumber, self.bAlternateSetting),
            *(self.bNumEndpoints, self.bInterfaceClass, self.bInterfaceSubClass, self.bInterfaceProtocol),
            self.iInterface,
        )


@dataclass(slots=True)
class EndpointDescriptor:
    bEndpointAddress: int
    bLength: int = 7
    bDescriptorType: int = 5
    bmAttributes: int = 0x02  # bulk
    wMaxPacketSize: int = PACKET_SIZE
    bInterval: int = 0
    bRefresh: int = 0
    bSynchAddress: int = 0
    extra_descriptors: list[int] = field(default_factory=list)

    def encode(self) -> bytes:
        return struct.pack(
            "<BBBBHB",
            *(self.bLength, self.bDescriptorType, self.bEndpointAddress, self.bmAttributes),
            *(self.wMaxPacketSize, self.bInterval),
        )


ENDPOINTS = (EndpointDescriptor(OUT_ENDPOINT), EndpointDescriptor(IN_ENDPOINT))


@dataclass(frozen=True, slots=True)
class BridgedPrinter:
    """The device identification ``enumerate_devices`` yields."""

    hello: BridgeHello
    bridge: tuple[str, int]

    @property
    def descriptor(self) -> DeviceDescriptor:
        return DeviceDescriptor(self.hello.vendor, self.hello.product)

    @property
    def strings(self) -> dict[int, str]:
        return {1: self.hello.manufacturer, 2: self.hello.model, 3: f"EMU{self.bridge[1]:05d}"}

    @property
    def device_id(self) -> str:
        """IEEE 1284 device id, as printer-class GET_DEVICE_ID returns it."""
        maker = self.hello.manufacturer.split()[0].upper()
        return (
            f"MFG:{maker};CMD:ESC/POS;MDL:{self.hello.model};CLS:PRINTER;DES:{self.hello.model} (emulated);"
        )


@dataclass(slots=True)
class Handle:
    """One opened device: one TCP connection to the bridge."""

    device: BridgedPrinter
    sock: socket.socket | None
    configuration: int = CONFIGURATION_VALUE
    claimed: set[int] = field(default_factory=set)


# --- the backend ----------------------------------------------------------------------------------------


def _no_device(detail: str) -> usb.core.USBError:
    return usb.core.USBError(
        f"No such device (it may have been disconnected): {detail}", LIBUSB_ERROR_NO_DEVICE, errno.ENODEV
    )


def _timeout() -> usb.core.USBTimeoutError:
    return usb.core.USBTimeoutError("Operation timed out", LIBUSB_ERROR_TIMEOUT, errno.ETIMEDOUT)


def _stall() -> usb.core.USBError:
    return usb.core.USBError("Pipe error", LIBUSB_ERROR_PIPE, errno.EPIPE)


def _seconds(timeout_ms: int) -> float | None:
    """libusb timeouts: milliseconds, 0 = wait forever."""
    return None if not timeout_ms else timeout_ms / 1000


class BridgedPrinterBackend(usb.backend.IBackend):
    """One emulated USB printer behind a TCP bridge; ``vendor``/``product`` override the bridge's ids."""

    def __init__(
        self, bridge: tuple[str, int], *, vendor: int | None = None, product: int | None = None
    ) -> None:
        self.bridge = bridge
        self.vendor = vendor
        self.product = product

    def __repr__(self) -> str:
        return f"<BridgedPrinterBackend bridge={self.bridge[0]}:{self.bridge[1]}>"

    def _identify(self, hello: BridgeHello) -> BridgedPrinter:
        ids = BridgeHello(
            self.vendor if self.vendor is not None else hello.vendor,
            self.product if self.product is not None else hello.product,
            hello.model,
            hello.manufacturer,
        )
        return BridgedPrinter(ids, self.bridge)

    # --- enumeration and descriptors -----------------------------------------------------------------

    def enumerate_devices(self) -> list[BridgedPrinter]:
        try:
            sock, hello = _connect(self.bridge, CONNECT_TIMEOUT)
        except (OSError, ValueError) as exc:
            log.debug("USB bridge %s: no printer (%s)", self.bridge, exc)
            return []
        sock.close()
        return [self._identify(hello)]

    def get_parent(self, dev: BridgedPrinter) -> None:
        return None

    def get_device_descriptor(self, dev: BridgedPrinter) -> DeviceDescriptor:
        return dev.descriptor

    def get_configuration_descriptor(self, dev: BridgedPrinter, config: int) -> ConfigurationDescriptor:
        if config != 0:
            raise IndexError(f"configuration {config}: the printer has one")
        return ConfigurationDescriptor()

    def get_interface_descriptor(
        self, dev: BridgedPrinter, intf: int, alt: int, config: int
    ) -> InterfaceDescriptor:
        if (intf, alt, config) != (0, 0, 0):
            raise IndexError(f"interface {intf} alternate setting {alt}: the printer has interface 0 only")
        return InterfaceDescriptor()

    def get_endpoint_descriptor(
        self, dev: BridgedPrinter, ep: int, intf: int, alt: int, config: int
    ) -> EndpointDescriptor:
        if (intf, alt, config) != (0, 0, 0) or not 0 <= ep < len(ENDPOINTS):
            raise IndexError(f"endpoint {ep}: the printer has endpoints 0 (OUT 0x01) and 1 (IN 0x82)")
        return ENDPOINTS[ep]

    # --- handles -------------------------------------------------------------------------------------

    def open_device(self, dev: BridgedPrinter) -> Handle:
        try:
            sock, _ = _connect(dev.bridge, CONNECT_TIMEOUT)
        except (OSError, ValueError) as exc:
            raise _no_device(f"printer bridge {dev.bridge[0]}:{dev.bridge[1]}: {exc}") from None
        return Handle(dev, sock)

    def close_device(self, dev_handle: Handle) -> None:
        if dev_handle.sock is not None:
            dev_handle.sock.close()
            dev_handle.sock = None

    def set_configuration(self, dev_handle: Handle, config_value: int) -> None:
        if config_value not in (0, CONFIGURATION_VALUE):
            raise usb.core.USBError("Entity not found", LIBUSB_ERROR_NOT_FOUND, errno.ENOENT)
        dev_handle.configuration = config_value

    def get_configuration(self, dev_handle: Handle) -> int:
        return dev_handle.configuration

    def set_interface_altsetting(self, dev_handle: Handle, intf: int, altsetting: int) -> None:
        if (intf, altsetting) != (0, 0):
            raise usb.core.USBError("Entity not found", LIBUSB_ERROR_NOT_FOUND, errno.ENOENT)

    def claim_interface(self, dev_handle: Handle, intf: int) -> None:
        if intf != 0:
            raise usb.core.USBError("Entity not found", LIBUSB_ERROR_NOT_FOUND, errno.ENOENT)
        dev_handle.claimed.add(intf)

    def release_interface(self, dev_handle: Handle, intf: int) -> None:
        dev_handle.claimed.discard(intf)

    def reset_device(self, dev_handle: Handle) -> None:
        self._socket(dev_handle)  # a reset of an unplugged device fails like libusb's

    def clear_halt(self, dev_handle: Handle, ep: int) -> None:
        return None

    def is_kernel_driver_active(self, dev_handle: Handle, intf: int) -> bool:
        return False

    def detach_kernel_driver(self, dev_handle: Handle, intf: int) -> None:
        return None

    def attach_kernel_driver(self, dev_handle: Handle, intf: int) -> None:
        return None

    # --- transfers -----------------------------------------------------------------------------------

    def _socket(self, dev_handle: Handle) -> socket.socket:
        if dev_handle.sock is None:
            raise _no_device("the handle is closed")
        return dev_handle.sock

    def bulk_write(self, dev_handle: Handle, ep: int, intf: int, data: array.array, timeout: int) -> int:
        if ep != OUT_ENDPOINT:
            raise _stall()
        sock = self._socket(dev_handle)
        payload = data.tobytes()
        try:
            sock.settimeout(_seconds(timeout))
            sock.sendall(payload)
        except TimeoutError:
            raise _timeout() from None
        except OSError as exc:
            self.close_device(dev_handle)
            raise _no_device(str(exc)) from None
        return len(payload)

    def bulk_read(self, dev_handle: Handle, ep: int, intf: int, buff: array.array, timeout: int) -> int:
        if ep != IN_ENDPOINT:
            raise _stall()
        sock = self._socket(dev_handle)
        try:
            sock.settimeout(_seconds(timeout))
            data = sock.recv(len(buff))
        except TimeoutError:
            raise _timeout() from None
        except OSError as exc:
            self.close_device(dev_handle)
            raise _no_device(str(exc)) from None
        if not data:
            self.close_device(dev_handle)
            raise _no_device("the printer went away")
        buff[: len(data)] = array.array("B", data)
        return len(data)

    def ctrl_transfer(
        self,
        dev_handle: Handle,
        bmRequestType: int,
        bRequest: int,
        wValue: int,
        wIndex: int,
        data: array.array,
        timeout: int,
    ) -> int:
        """Standard GET_DESCRIPTOR and printer-class GET_DEVICE_ID; anything else stalls."""
        reply: bytes | None = None
        if bmRequestType == 0x80 and bRequest == GET_DESCRIPTOR:
            reply = self._descriptor(dev_handle.device, wValue >> 8, wValue & 0xFF)
        elif bmRequestType == 0xA1 and bRequest == GET_DEVICE_ID:
            text = dev_handle.device.device_id.encode("ascii")
            reply = (len(text) + 2).to_bytes(2, "big") + text
        if reply is None:
            raise _stall()
        reply = reply[: len(data)]
        data[: len(reply)] = array.array("B", reply)
        return len(reply)

    def _descriptor(self, dev: BridgedPrinter, kind: int, index: int) -> bytes | None:
        if kind == DESCRIPTOR_DEVICE:
            return dev.descriptor.encode()
        if kind == DESCRIPTOR_CONFIGURATION and index == 0:
            parts = [ConfigurationDescriptor(), InterfaceDescriptor(), *ENDPOINTS]
            return b"".join(part.encode() for part in parts)
        if kind == DESCRIPTOR_STRING and index == 0:
            return struct.pack("<BBH", 4, DESCRIPTOR_STRING, LANGID_EN_US)
        if kind == DESCRIPTOR_STRING and index in dev.strings:
            text = dev.strings[index].encode("utf-16-le")
            return bytes((2 + len(text), DESCRIPTOR_STRING)) + text
        return None


def _usb_id(value: int | str | None, name: str) -> int | None:
    if value is None or isinstance(value, int):
        return value
    try:
        number = int(value, 16)
    except ValueError:
        raise ValueError(f"USB {name} id {value!r} is not hexadecimal") from None
    if not 0 <= number <= 0xFFFF:
        raise ValueError(f"USB {name} id {value!r} is out of range")
    return number


def get_backend(
    bridge: str | None = None,
    vendor: int | str | None = None,
    product: int | str | None = None,
    profile: str | None = None,
    **other: str,
) -> BridgedPrinterBackend | None:
    """The backend for the printer bridged at ``bridge`` ("HOST:PORT"; default: $REGISTER_USB_BRIDGE).

    Like pyusb's own ``get_backend``, None when there is nothing to talk to (no bridge address). The ids
    default to what the bridge announces; ``profile`` and other device-URI parameters are accepted and
    ignored, so a host may pass every query parameter of ``usb:VID:PID?backend=…&bridge=…``.
    """
    if other:
        log.debug("USB bridge backend: ignoring parameters %s", ", ".join(sorted(other)))
    address = bridge or os.environ.get(BRIDGE_ENV)
    if not address:
        return None
    return BridgedPrinterBackend(
        parse_bridge(address), vendor=_usb_id(vendor, "vendor"), product=_usb_id(product, "product")
    )
