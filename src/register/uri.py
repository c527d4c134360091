"""Device URIs: one syntax everywhere (config, CLI, scenarios).

``serial:/dev/ttyUSB0?baud=115200``, ``tcp:127.0.0.1:9100``, ``usb:04b8:0e27``, ``file:out.bin``, ``lab:``;
``?profile=TM-T20III`` names a device profile.

``parse_uri(text, schemes, what)`` also checks that the scheme is one a device of that kind is reached by
(an FN: serial or tcp; a printer: serial, tcp, usb or file) and that ``baud`` is a whole number, so a bad
URI is one clear UriError naming the URI, never a failure later at open time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

SCHEMES = ("serial", "tcp", "usb", "file", "lab")
FN_SCHEMES = ("serial", "tcp")
PRINTER_SCHEMES = ("serial", "tcp", "usb", "file")


class UriError(ValueError):
    """A device URI that cannot be used."""


@dataclass(frozen=True, slots=True)
class DeviceUri:
    scheme: str
    target: str
    params: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        query = "&".join(f"{k}={v}" for k, v in self.params.items())
        return f"{self.scheme}:{self.target}" + (f"?{query}" if query else "")

    @property
    def host_port(self) -> tuple[str, int]:
        """tcp: the host and port."""
        host, sep, port = self.target.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise UriError(f"{self}: expected tcp:HOST:PORT with a port 1..65535")
        return host, int(port)

    def int_param(self, name: str, default: int) -> int:
        raw = self.params.get(name)
        if raw is None:
            return default
        if not (raw.isascii() and raw.isdigit()):
            raise UriError(f"{self}: parameter {name}={raw!r} is not a whole number")
        return int(raw)

    def float_param(self, name: str, default: float) -> float:
        raw = self.params.get(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise UriError(f"{self}: parameter {name}={raw!r} is not a number") from None
        if value <= 0:
            raise UriError(f"{self}: parameter {name}={raw!r} must be positive")
        return value


def parse_uri(text: str, schemes: Iterable[str] | None = None, what: str = "a device") -> DeviceUri:
    """Parse a device URI; ``schemes``: the ones allowed for this kind of device (``what``, for messages)."""
    scheme, sep, rest = text.partition(":")
    if not sep or scheme not in SCHEMES:
        raise UriError(f"device URI {text!r}: expected one of {', '.join(s + ':' for s in SCHEMES)}")
    _check_scheme(text, scheme, schemes, what)
    target, _, query = rest.partition("?")
    try:
        params = dict(parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query)))
    except ValueError:
        raise UriError(f"device URI {text!r}: malformed parameters {query!r}") from None
    uri = DeviceUri(scheme, target, params)
    if scheme == "tcp":
        uri.host_port  # noqa: B018 - validates
    elif scheme in ("serial", "file") and not target:
        raise UriError(f"device URI {text!r}: {scheme}: needs a path")
    elif scheme == "usb":
        parts = target.split(":")
        if len(parts) != 2 or not all(len(p) == 4 and _is_hex(p) for p in parts):
            raise UriError(f"device URI {text!r}: expected usb:VID:PID with 4 hex digits each")
    baud = params.get("baud")
    if baud is not None and not (baud.isascii() and baud.isdigit() and int(baud) > 0):
        raise UriError(f"device URI {text!r}: parameter baud={baud!r} is not a positive whole number")
    return uri


def require_scheme(uri: DeviceUri, schemes: Iterable[str], what: str = "a device") -> DeviceUri:
    """``uri`` itself if its scheme is one of ``schemes``; UriError naming the URI otherwise."""
    _check_scheme(str(uri), uri.scheme, schemes, what)
    return uri


def _check_scheme(text: str, scheme: str, schemes: Iterable[str] | None, what: str) -> None:
    allowed = tuple(schemes) if schemes is not None else SCHEMES
    if scheme in allowed:
        return
    hint = (
        " (lab: means the embedded lab, which `register lab` or a config starts; it is not a device to open)"
        if scheme == "lab"
        else ""
    )
    names = [s + ":" for s in allowed]
    choices = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
    raise UriError(f"device URI {text!r}: {what} is not reached over {scheme}:; use {choices}{hint}")


def _is_hex(text: str) -> bool:
    return text.isascii() and all(c in "0123456789abcdefABCDEF" for c in text)
