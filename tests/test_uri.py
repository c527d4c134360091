from __future__ import annotations

import re

import pytest

from register.uri import UriError, parse_uri, require_scheme


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


@pytest.mark.parametrize(
    ("text", "schemes", "needle"),
    [
        ("usb:04b8:0e27", ("serial", "tcp"), "an FN is not reached over usb:; use serial: or tcp:"),
        ("file:/x", ("serial", "tcp"), "an FN is not reached over file:"),
        ("lab:", ("serial", "tcp"), "lab: means the embedded lab"),
        ("lab:", ("serial", "tcp", "usb", "file"), "use serial:, tcp:, usb: or file:"),
    ],
)
def test_a_scheme_the_device_is_not_reached_by_is_named(
    text: str, schemes: tuple[str, ...], needle: str
) -> None:
    with pytest.raises(UriError, match=re.escape(needle)) as caught:
        parse_uri(text, schemes, "an FN")
    assert repr(text) in str(caught.value)


def test_any_scheme_without_a_restriction() -> None:
    assert parse_uri("lab:").scheme == "lab"


@pytest.mark.parametrize("baud", ["abc", "0", "", "9600.5", "-1", "١٢"])
def test_baud_must_be_a_positive_whole_number_at_parse_time(baud: str) -> None:
    with pytest.raises(UriError, match=re.escape(f"baud={baud!r} is not a positive whole number")):
        parse_uri(f"serial:/dev/ttyACM0?baud={baud}")


def test_usb_ids_are_plain_hex() -> None:
    with pytest.raises(UriError, match="usb:VID:PID"):
        parse_uri("usb:0x4b:0e27")


def test_require_scheme_on_a_parsed_uri() -> None:
    uri = parse_uri("serial:/dev/ttyACM0?baud=9600")
    assert require_scheme(uri, ("serial", "tcp")) is uri
    with pytest.raises(UriError, match="'file:/x'"):
        require_scheme(parse_uri("file:/x"), ("serial", "tcp"), "an FN")
