"""Device URIs: one syntax everywhere (config, CLI, scenarios).

``serial:/dev/ttyUSB0?baud=115200``, ``tcp:127.0.0.1:9100``, ``usb:04b8:0e27``, ``file:out.bin``, ``lab:``;
``?profile=TM-T20III`` names a device profile.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl

SCHEMES = ("serial", "tcp", "usb", "file", "lab")


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
        if not raw.isdigit():
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


def parse_uri(text: str) -> DeviceUri:
    scheme, sep, rest = text.partition(":")
    if not sep or scheme not in SCHEMES:
        raise UriError(f"device URI {text!r}: expected one of {', '.join(s + ':' for s in SCHEMES)}")
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
    return uri


def _is_hex(text: str) -> bool:
    try:
        int(text, 16)
    except ValueError:
        return False
    return True
