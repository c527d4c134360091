"""The receipt-printer driver: a device URI -> python-escpos transport, a fail-closed status check around
every print, one lock per device.

URIs (register/uri.py): ``serial:PATH[?baud=N&flow=none|rtscts|xonxoff]``, ``tcp:HOST:PORT``,
``usb:VID:PID[?backend=MODULE&<backend parameters>]``, ``file:PATH``; ``?profile=NAME`` on any of them.
Status follows escpos.md §2.5 "Our driver": drain input, ``DLE EOT 1``, one byte by a deadline, fixed bits
checked; when offline ``DLE EOT 2`` (and 3 for an error), then ``DLE EOT 4``; no or invalid reply = UNKNOWN.
Printing: status before (refuse unless ready or near end), write, wait for the ``GS r 1`` marker where the
model answers it (answered only once the data before it is processed, escpos.md §1.6), status after.
"""

from __future__ import annotations

import importlib
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol, Self

import serial
import usb.core
import usb.util
from escpos.exceptions import DeviceNotFoundError
from escpos.printer import File, Network, Serial, Usb

from register.domain import Receipt
from register.domain.fiscal_stamp import FiscalStamp
from register.printing.escpos_out import encode_receipt
from register.printing.printer_errors import (
    PrinterDriverError,
    PrinterState,
    PrinterStatus,
    PrinterUnavailable,
    ReceiptNotPrinted,
    decode_status,
    is_status_byte,
    refusal,
)
from register.profiles import DEFAULT_PRINTER, PrinterProfile, load_profile, profile_for_usb
from register.uri import DeviceUri, UriError, parse_uri

DLE_EOT = b"\x10\x04"
GS_R_PAPER = b"\x1dr\x01"
USB_BACKEND_DEFAULT = "usb.backend.libusb1"
USB_BACKEND_PREFIXES = ("usb.backend.", "register.lab.")
_DRIVER_PARAMS = frozenset({"profile", "backend"})
_FLOWS = ("none", "rtscts", "xonxoff")


@dataclass(frozen=True, slots=True)
class DriverSettings:
    status_timeout: float = 1.0
    """Seconds to wait for each DLE EOT reply."""
    connect_timeout: float = 3.0
    """Seconds to connect to a tcp: printer."""
    write_timeout_base: float = 5.0
    """Seconds added to the time the bytes take on the line (and for the GS r marker to come back)."""
    slowest_bytes_per_second: float = 1000.0
    """Worst rate a printer is assumed to take data at once its buffer is full (then: at print speed)."""
    usb_drain_timeout: float = 0.02
    """Seconds a USB read may take while discarding stale input."""

    def write_timeout(self, size: int, line_bytes_per_second: float | None) -> float:
        rate = self.slowest_bytes_per_second
        if line_bytes_per_second is not None:
            rate = min(rate, line_bytes_per_second)
        return self.write_timeout_base + 2 * size / rate


@dataclass(frozen=True, slots=True)
class PrintResult:
    printed: bool
    """True when the status after the job confirms it (or the device is a file); False when unconfirmed."""
    warnings: tuple[str, ...]
    status_before: PrinterStatus
    status_after: PrinterStatus
    bytes_sent: int


class LinkError(OSError):
    """The byte channel failed (write timeout, connection lost, device gone)."""


class _Link(Protocol):
    can_read: bool
    line_bytes_per_second: float | None

    def session(self) -> Iterator[None]: ...
    def write(self, data: bytes, timeout: float) -> None: ...
    def drain(self) -> None: ...
    def read_byte(self, timeout: float) -> int | None: ...
    def close(self) -> None: ...


_registry_lock = threading.Lock()
_device_locks: dict[str, threading.RLock] = {}


def device_lock(uri: str | DeviceUri) -> threading.RLock:
    """The one lock of a device (scheme and target; parameters such as ``?profile=`` do not matter)."""
    dev = parse_uri(uri) if isinstance(uri, str) else uri
    key = f"{dev.scheme}:{dev.target}"
    with _registry_lock:
        return _device_locks.setdefault(key, threading.RLock())


class PrinterDriver:
    """One ESC/POS printer. Every exchange holds the device's lock."""

    def __init__(
        self, uri: DeviceUri, profile: PrinterProfile, link: _Link, settings: DriverSettings
    ) -> None:
        self.uri = uri
        self.profile = profile
        self.settings = settings
        self._link = link
        self._lock = device_lock(uri)

    @classmethod
    def open(
        cls,
        uri: str | DeviceUri,
        profile: PrinterProfile | str | None = None,
        settings: DriverSettings | None = None,
    ) -> Self:
        """Open a printer; profile: the argument, else ``?profile=``, else the USB id's, else the default."""
        dev = parse_uri(uri) if isinstance(uri, str) else uri
        chosen = profile_for_uri(dev, profile)
        settings = settings or DriverSettings()
        with device_lock(dev):
            link = _open_link(dev, chosen, settings)
        return cls(dev, chosen, link, settings)

    @property
    def name(self) -> str:
        return str(self.uri)

    def close(self) -> None:
        with self._lock:
            self._link.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def status(self) -> PrinterStatus:
        with self._lock, self._link.session():
            return self._status()

    def print_bytes(self, data: bytes) -> PrintResult:
        """Send one job. Raises a PrinterNotReady subclass (nothing sent) when the printer cannot print,
        ReceiptNotPrinted when it stopped during or after the job (queue a reprint)."""
        with self._lock, self._link.session():
            before = self._status()
            warnings: list[str] = []
            if before.supported:
                refused = refusal(self.name, before)
                if refused is not None:
                    raise refused
                if before.state is PrinterState.NEAR_END:
                    warnings.append(_warning(before))
            else:
                warnings.append(f"статус не проверен / status not checked: {before.detail}")
            timeout = self.settings.write_timeout(len(data), self._link.line_bytes_per_second)
            try:
                self._link.write(data, timeout)
            except LinkError as exc:
                raise ReceiptNotPrinted(self.name, "сбой передачи данных", f"write failed: {exc}") from exc
            if not before.supported:
                return PrintResult(True, tuple(warnings), before, before, len(data))
            processed = self._wait_processed(timeout) if self.profile.gs_r else True
            after = self._status()
            if after.state in (PrinterState.PAPER_OUT, PrinterState.COVER_OPEN, PrinterState.ERROR):
                ru, en = after.describe()
                raise ReceiptNotPrinted(
                    self.name, f"чек не напечатан: {ru}", f"receipt not printed: {en}", after
                )
            if after.state is PrinterState.OFFLINE:
                raise ReceiptNotPrinted(
                    self.name, "чек не напечатан: принтер не в сети", "receipt not printed: offline", after
                )
            printed = processed and after.printable
            if not processed:
                warnings.append(
                    "печать не подтверждена (нет ответа на GS r) / printing not confirmed (no reply to GS r)"
                )
            if after.state is PrinterState.UNKNOWN:
                warnings.append(
                    f"статус после печати неизвестен / status after printing unknown: {after.detail}"
                )
            elif after.state is PrinterState.NEAR_END and _warning(after) not in warnings:
                warnings.append(_warning(after))
            return PrintResult(printed, tuple(warnings), before, after, len(data))

    def print_receipt(
        self,
        receipt: Receipt,
        stamp: FiscalStamp,
        cheque_messages: Iterable[str] = (),
        *,
        repeat: bool = False,
    ) -> PrintResult:
        """``repeat``: marked as printed again (``layout.REPEAT_MARK``)."""
        return self.print_bytes(encode_receipt(receipt, stamp, self.profile, cheque_messages, repeat=repeat))

    def _status(self) -> PrinterStatus:
        if not self._link.can_read:
            return PrinterStatus(
                PrinterState.UNKNOWN, supported=False, detail=f"{self.uri.scheme}: cannot report"
            )
        if not self.profile.dle_eot:
            return PrinterStatus(
                PrinterState.UNKNOWN, supported=False, detail=f"profile {self.profile.name} has no DLE EOT"
            )
        try:
            eot1 = self._ask(1)
            if eot1 is None or not is_status_byte(eot1):
                return decode_status(eot1)
            eot2 = eot3 = None
            if eot1 & 0x08:  # offline: ask why
                eot2 = self._ask(2)
                if eot2 is not None and is_status_byte(eot2) and eot2 & 0x40:
                    eot3 = self._ask(3)
            return decode_status(eot1, eot2, eot3, self._ask(4))
        except LinkError as exc:
            return PrinterStatus(PrinterState.UNKNOWN, detail=f"link failed: {exc}")

    def _ask(self, n: int) -> int | None:
        self._link.drain()
        self._link.write(DLE_EOT + bytes((n,)), self.settings.status_timeout)
        return self._link.read_byte(self.settings.status_timeout)

    def _wait_processed(self, timeout: float) -> bool:
        """Send ``GS r 1`` and wait for its reply, which comes once the job before it is processed."""
        try:
            self._link.drain()
            self._link.write(GS_R_PAPER, timeout)
            deadline = time.monotonic() + timeout
            while (left := deadline - time.monotonic()) > 0:
                reply = self._link.read_byte(left)
                if reply is None:
                    return False
                if reply & 0x90 == 0x00:  # GS r reply; DLE EOT bytes (bit 4 set) are stray replies
                    return True
        except LinkError:
            return False
        return False


def _warning(status: PrinterStatus) -> str:
    ru, en = status.describe()
    return f"{ru} / {en}"


def profile_for_uri(uri: str | DeviceUri, profile: PrinterProfile | str | None = None) -> PrinterProfile:
    """The printer profile: ``profile``, else the URI's ``?profile=``, else its USB id's, else the default."""
    dev = parse_uri(uri) if isinstance(uri, str) else uri
    if isinstance(profile, PrinterProfile):
        return profile
    name = profile or dev.params.get("profile")
    if name:
        return load_profile(name)
    if dev.scheme == "usb":
        vendor, product = _usb_ids(dev)
        known = profile_for_usb(vendor, product)
        if known is not None:
            return known
    return load_profile(DEFAULT_PRINTER)


def _open_link(dev: DeviceUri, profile: PrinterProfile, settings: DriverSettings) -> _Link:
    if dev.scheme == "serial":
        return _SerialLink.open(dev, profile)
    if dev.scheme == "tcp":
        return _NetworkLink(dev, profile, settings)
    if dev.scheme == "usb":
        return _UsbLink.open(dev, profile, settings)
    if dev.scheme == "file":
        return _FileLink.open(dev, profile)
    raise UriError(f"printer at {dev}: use serial:, tcp:, usb: or file: (lab: is resolved by the launcher)")


class _SerialLink:
    can_read = True

    def __init__(self, printer: Serial, baud: int) -> None:
        self._printer = printer
        self._port: serial.Serial = printer.device
        self.line_bytes_per_second: float | None = baud / 10  # 8N1: 10 bits a byte

    @classmethod
    def open(cls, dev: DeviceUri, profile: PrinterProfile) -> _SerialLink:
        baud = dev.int_param("baud", profile.serial_baud)
        flow = dev.params.get("flow", profile.serial_flow)
        if flow not in _FLOWS:
            raise UriError(f"{dev}: flow={flow!r}, expected one of {', '.join(_FLOWS)}")
        printer = Serial(
            devfile=dev.target,
            baudrate=baud,
            timeout=1,
            xonxoff=flow == "xonxoff",
            dsrdtr=False,
            profile=profile.escpos_profile,
        )
        try:
            printer.open()
        except DeviceNotFoundError as exc:
            raise PrinterUnavailable(
                str(dev), "не удалось открыть порт", f"cannot open the serial port: {_first_line(exc)}"
            ) from None
        if flow == "rtscts":
            printer.device.rtscts = True  # python-escpos swallows rtscts= (escpos.md §2.1)
        return cls(printer, baud)

    @contextmanager
    def session(self) -> Iterator[None]:
        yield

    def write(self, data: bytes, timeout: float) -> None:
        try:
            if self._port.write_timeout != timeout:  # each change reconfigures the port
                self._port.write_timeout = timeout
            self._printer._raw(data)
            self._port.flush()
        except (serial.SerialException, OSError) as exc:
            raise LinkError(str(exc)) from exc

    def drain(self) -> None:
        try:
            self._port.reset_input_buffer()
        except (serial.SerialException, OSError) as exc:
            raise LinkError(str(exc)) from exc

    def read_byte(self, timeout: float) -> int | None:
        try:
            if self._port.timeout != timeout:
                self._port.timeout = timeout
            reply = self._port.read(1)
        except (serial.SerialException, OSError) as exc:
            raise LinkError(str(exc)) from exc
        return reply[0] if reply else None

    def close(self) -> None:
        self._printer.close()


class _NetworkLink:
    """One TCP connection per job (escpos.md §2.6: port 9100 serves one client at a time)."""

    can_read = True
    line_bytes_per_second: float | None = None

    def __init__(self, dev: DeviceUri, profile: PrinterProfile, settings: DriverSettings) -> None:
        host, port = dev.host_port
        self._device = str(dev)
        self._address = f"{host}:{port}"
        self._printer = Network(host, port, timeout=settings.connect_timeout, profile=profile.escpos_profile)
        self._socket: socket.socket | None = None

    @contextmanager
    def session(self) -> Iterator[None]:
        """One connection per job. A printer that cannot be reached (connection refused: switched off or
        the wrong address; no answer to the connect) raises PrinterUnavailable before anything is sent."""
        try:
            self._printer.open()
        except DeviceNotFoundError as exc:
            self._socket = None
            reason = _connect_failure(exc)
            raise PrinterUnavailable(
                self._device,
                f"нет связи с принтером {self._address}: {reason.ru}",
                f"cannot connect to {self._address}: {reason.en}",
            ) from None
        self._socket = self._printer.device
        try:
            yield
        finally:
            if self._socket is not None:
                self._printer.close()
                self._socket = None

    def _connected(self) -> socket.socket:
        if self._socket is None:
            raise LinkError("not connected")
        return self._socket

    def write(self, data: bytes, timeout: float) -> None:
        sock = self._connected()
        try:
            sock.settimeout(timeout)
            self._printer._raw(data)
        except OSError as exc:
            raise LinkError(str(exc) or type(exc).__name__) from exc

    def drain(self) -> None:
        sock = self._connected()
        try:
            sock.setblocking(False)
            while sock.recv(4096):
                pass
            raise LinkError("connection closed by the printer")
        except BlockingIOError:
            pass
        except OSError as exc:
            raise LinkError(str(exc)) from exc

    def read_byte(self, timeout: float) -> int | None:
        sock = self._connected()
        try:
            sock.settimeout(timeout)
            reply = sock.recv(1)
        except TimeoutError:
            return None
        except OSError as exc:
            raise LinkError(str(exc)) from exc
        if not reply:
            raise LinkError("connection closed by the printer")
        return reply[0]

    def close(self) -> None:
        self._printer.close()


class _UsbLink:
    can_read = True
    line_bytes_per_second: float | None = None

    def __init__(self, printer: Usb, settings: DriverSettings) -> None:
        self._printer = printer
        self._settings = settings
        self._pending = bytearray()

    @classmethod
    def open(cls, dev: DeviceUri, profile: PrinterProfile, settings: DriverSettings) -> _UsbLink:
        vendor, product = _usb_ids(dev)
        backend = _usb_backend(dev)
        try:
            found = usb.core.find(idVendor=vendor, idProduct=product, backend=backend)
        except usb.core.NoBackendError:
            found = None
            backend = None
        if backend is None:
            raise PrinterUnavailable(
                str(dev),
                "не найдена библиотека libusb",
                "no USB backend: install libusb-1.0 (Debian/Ubuntu: apt install libusb-1.0-0)",
            )
        if found is None:
            raise PrinterUnavailable(
                str(dev), "устройство USB не найдено", "USB device not found (unplugged?)"
            )
        printer = Usb(
            vendor, product, usb_args={"backend": backend}, timeout=0, profile=profile.escpos_profile
        )
        try:
            printer.open()
        except DeviceNotFoundError as exc:
            text = str(exc)
            if "Access denied" in text or "Errno 13" in text or "insufficient permissions" in text:
                raise PrinterUnavailable(
                    str(dev),
                    "нет прав доступа к устройству USB",
                    "permission denied: install drivers/udev/99-register-printers.rules and re-plug",
                ) from None
            raise PrinterUnavailable(
                str(dev), "не удалось открыть USB", _first_line(exc, last=True)
            ) from None
        _pick_endpoints(printer)
        return cls(printer, settings)

    @contextmanager
    def session(self) -> Iterator[None]:
        yield

    def write(self, data: bytes, timeout: float) -> None:
        self._printer.timeout = max(1, int(timeout * 1000))
        try:
            self._printer._raw(data)
        except usb.core.USBError as exc:
            raise LinkError(_usb_error_text(exc)) from exc

    def drain(self) -> None:
        self._pending.clear()
        while self._read_packet(self._settings.usb_drain_timeout):
            pass

    def read_byte(self, timeout: float) -> int | None:
        if not self._pending:
            self._pending += self._read_packet(timeout)
        if not self._pending:
            return None
        return self._pending.pop(0)

    def _read_packet(self, timeout: float) -> bytes:
        try:
            return bytes(self._printer.device.read(self._printer.in_ep, 64, max(1, int(timeout * 1000))))
        except usb.core.USBTimeoutError:
            return b""
        except usb.core.USBError as exc:
            raise LinkError(_usb_error_text(exc)) from exc

    def close(self) -> None:
        self._printer.close()


class _FileLink:
    can_read = False
    line_bytes_per_second: float | None = None

    def __init__(self, printer: File) -> None:
        self._printer = printer

    @classmethod
    def open(cls, dev: DeviceUri, profile: PrinterProfile) -> _FileLink:
        printer = File(dev.target, profile=profile.escpos_profile)
        try:
            printer.open()
        except DeviceNotFoundError as exc:
            raise PrinterUnavailable(
                str(dev), "не удалось открыть файл", f"cannot open the file: {_first_line(exc, last=True)}"
            ) from None
        return cls(printer)

    @contextmanager
    def session(self) -> Iterator[None]:
        yield

    def write(self, data: bytes, timeout: float) -> None:
        try:
            self._printer._raw(data)
        except OSError as exc:
            raise LinkError(str(exc)) from exc

    def drain(self) -> None:
        pass

    def read_byte(self, timeout: float) -> int | None:
        return None

    def close(self) -> None:
        self._printer.close()


def _usb_ids(dev: DeviceUri) -> tuple[int, int]:
    vendor, product = dev.target.split(":")
    return int(vendor, 16), int(product, 16)


def _usb_backend(dev: DeviceUri) -> object | None:
    """The pyusb backend named by ``?backend=`` (a module with ``get_backend``), libusb1 by default.

    Only modules under ``usb.backend.`` and ``register.lab.`` may be named; every URI parameter other than
    profile and backend goes to ``get_backend`` as a string keyword.
    """
    name = dev.params.get("backend", USB_BACKEND_DEFAULT)
    if not name.startswith(USB_BACKEND_PREFIXES):
        raise UriError(f"{dev}: backend={name!r}: only modules under {' or '.join(USB_BACKEND_PREFIXES)}")
    try:
        module = importlib.import_module(name)
    except ImportError as exc:
        raise UriError(f"{dev}: backend module {name!r} cannot be imported: {exc}") from None
    get_backend = getattr(module, "get_backend", None)
    if not callable(get_backend):
        raise UriError(f"{dev}: backend module {name!r} has no get_backend()")
    params = {key: value for key, value in dev.params.items() if key not in _DRIVER_PARAMS}
    return get_backend(**params)


def _pick_endpoints(printer: Usb) -> None:
    """Use the interface's own bulk endpoints; python-escpos assumes OUT 0x01 / IN 0x82."""
    try:
        interface = printer.device.get_active_configuration()[(0, 0)]
        for endpoint in interface:
            if usb.util.endpoint_type(endpoint.bmAttributes) != usb.util.ENDPOINT_TYPE_BULK:
                continue
            if usb.util.endpoint_direction(endpoint.bEndpointAddress) == usb.util.ENDPOINT_OUT:
                printer.out_ep = endpoint.bEndpointAddress
            else:
                printer.in_ep = endpoint.bEndpointAddress
    except (usb.core.USBError, NotImplementedError, KeyError, IndexError, AttributeError):
        pass


def _usb_error_text(exc: usb.core.USBError) -> str:
    if getattr(exc, "errno", None) == 13:
        return "permission denied (see drivers/udev/99-register-printers.rules)"
    if getattr(exc, "errno", None) == 19:
        return "device unplugged"
    return str(exc)


@dataclass(frozen=True, slots=True)
class _Reason:
    ru: str
    en: str


def _connect_failure(exc: DeviceNotFoundError) -> _Reason:
    """Why python-escpos' Network.open failed, from the OSError it wraps (its own text ends in ")")."""
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, ConnectionRefusedError):
        return _Reason(
            "соединение отклонено (принтер выключен или неверный адрес?)",
            "connection refused (printer switched off or wrong address?)",
        )
    if isinstance(cause, TimeoutError):
        return _Reason(
            "нет ответа (принтер выключен или недоступен?)",
            "no answer (printer switched off or unreachable?)",
        )
    if isinstance(cause, OSError):
        text = cause.strerror or str(cause) or type(cause).__name__
        return _Reason(text, text[:1].lower() + text[1:])
    text = _first_line(exc, last=True).rstrip(")")
    return _Reason(text, text)


def _first_line(exc: Exception, *, last: bool = False) -> str:
    lines = [line for line in str(exc).splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    return lines[-1] if last else " ".join(lines)


__all__ = [
    "DriverSettings",
    "LinkError",
    "PrintResult",
    "PrinterDriver",
    "PrinterDriverError",
    "device_lock",
    "profile_for_uri",
]
