"""Byte channels to an FN reader: a serial port (a pty, /dev/ttyACM0 of a real FN reader) or TCP."""

from __future__ import annotations

import serial

from register.uri import FN_SCHEMES, DeviceUri, UriError, parse_uri, require_scheme

FN_BAUD = 115200  # fn-protocol.md §1: 115200 8N1


def open_fn_port(uri: str | DeviceUri) -> serial.SerialBase:
    """Open the byte channel for an FN URI (``serial:PATH?baud=N`` or ``tcp:HOST:PORT``)."""
    if isinstance(uri, str):
        dev = parse_uri(uri, FN_SCHEMES, "an FN")
    else:
        dev = require_scheme(uri, FN_SCHEMES, "an FN")
    if dev.scheme == "serial":
        try:
            return serial.Serial(
                dev.target,
                baudrate=dev.int_param("baud", FN_BAUD),
                bytesize=serial.EIGHTBITS,
                parity=serial.PARITY_NONE,
                stopbits=serial.STOPBITS_ONE,
                timeout=0,
                exclusive=True,
            )
        except serial.SerialException as exc:
            raise ConnectionError(f"FN at {dev}: cannot open the serial port: {exc}") from None
    if dev.scheme == "tcp":
        host, port = dev.host_port
        try:
            return serial.serial_for_url(f"socket://{host}:{port}", timeout=0)
        except serial.SerialException as exc:
            raise ConnectionError(f"FN at {dev}: cannot connect: {exc}") from None
    raise UriError(f"FN at {dev}: an FN is reached over serial: or tcp:")  # parse_uri refused it already
