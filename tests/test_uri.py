from __future__ import annotations

import pytest

from register.uri import UriError, parse_uri


def test_serial_with_baud() -> None:
    uri = parse_uri("serial:/dev/ttyUSB0?baud=115200")
    assert (uri.scheme, uri.target, uri.int_param("baud", 9600)) == ("serial", "/dev/ttyUSB0", 115200)


def test_tcp_host_port() -> None:
    assert parse_uri("tcp:127.0.0.1:9100").host_port == ("127.0.0.1", 9100)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("com1", "expected one of"),
        ("tcp:127.0.0.1", "tcp:HOST:PORT"),
        ("tcp:127.0.0.1:70000", "tcp:HOST:PORT"),
        ("usb:4b8:0e27", "usb:VID:PID"),
        ("serial:", "needs a path"),
    ],
)
def test_bad_uris_are_named(text: str, needle: str) -> None:
    with pytest.raises(UriError, match=needle):
        parse_uri(text)


def test_bad_number_parameter() -> None:
    with pytest.raises(UriError, match="baud='fast'"):
        parse_uri("serial:/dev/ttyS0?baud=fast").int_param("baud", 115200)
