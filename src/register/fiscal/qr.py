"""The receipt QR string (ffd-receipt.md §7) and the fiscal sign in tag 1077 (§6).

`t=YYYYMMDDTHHMM&s=1234.56&fn=<16 digits>&i=<FD>&fp=<FP>&n=<1054>`; shift reports carry no s and n.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from register.domain.money import format_rub

U32_MAX = 0xFFFF_FFFF  # FD number and printed FP are Uint32
_OPERATIONS = range(1, 5)  # tag 1054: 1 приход … 4 возврат расхода
_TIME_PATTERN = re.compile(r"([0-9]{8})T([0-9]{4})([0-9]{2})?")
_TOTAL_PATTERN = re.compile(r"([0-9]{1,15})(?:\.([0-9]{1,2}))?")
_FN_PATTERN = re.compile(r"[0-9]{16}")
_NUMBER_PATTERN = re.compile(r"[0-9]{1,10}")  # FD and FP are Uint32


class QrError(ValueError):
    """A QR string that is not a receipt QR; the message names the field."""


@dataclass(frozen=True)
class QrData:
    when: datetime  # local wall-clock, naive
    total: int | None  # kopecks; None on shift reports
    fn: str
    fd: int
    fp: int
    operation: int | None  # tag 1054; None on shift reports
    has_seconds: bool


def build_qr(when: datetime, total: int | None, fn: str, fd: int, fp: int, operation: int | None) -> str:
    """The QR string in the HHMM form; total and operation are both None for a shift report."""
    if (total is None) != (operation is None):
        raise ValueError("total (s) and operation (n) go together: both for a receipt, neither for a report")
    if _FN_PATTERN.fullmatch(fn) is None:
        raise ValueError(f"FN number (fn) must be 16 digits, got {fn!r}")
    if not 1 <= fd <= U32_MAX:
        raise ValueError(f"FD number (i) must be a positive Uint32, got {fd}")
    if not 0 <= fp <= U32_MAX:
        raise ValueError(f"fiscal sign (fp) must be a Uint32, got {fp}")
    fields = [f"t={when:%Y%m%dT%H%M}"]
    if total is not None:
        if total < 0:
            raise ValueError(f"total (s) must not be negative, got {total} kopecks")
        fields.append(f"s={format_rub(total)}")
    fields += [f"fn={fn}", f"i={fd}", f"fp={fp}"]
    if operation is not None:
        if operation not in _OPERATIONS:
            raise ValueError(f"operation (n) must be 1..4 (tag 1054), got {operation}")
        fields.append(f"n={int(operation)}")
    return "&".join(fields)


def parse_qr(text: str) -> QrData:
    """Parse a receipt or shift-report QR string: fields in any order, time with or without seconds.

    A receipt carries both s and n, a shift report neither; one without the other is refused. Fields other
    than t, s, fn, i, fp, n are ignored.
    """
    fields = _split_fields(text.strip())
    for required in ("t", "fn", "i", "fp"):
        if required not in fields:
            raise QrError(f"QR field {required!r} is missing in {text!r}")
    if ("s" in fields) != ("n" in fields):
        has, lacks = ("s", "n") if "s" in fields else ("n", "s")
        raise QrError(
            f"QR string {text!r} has {has!r} but no {lacks!r}: a receipt's QR carries both the total (s) "
            "and the operation (n), a shift report's neither"
        )
    when, has_seconds = _parse_time(fields["t"])
    fn = fields["fn"]
    if _FN_PATTERN.fullmatch(fn) is None:
        raise QrError(f"QR field 'fn' must be a 16-digit FN number, got {fn!r}")
    fd = _parse_number("i", fields["i"])
    if not 1 <= fd <= U32_MAX:
        raise QrError(f"QR field 'i' (FD number) must be a positive Uint32, got {fd}")
    fp = _parse_number("fp", fields["fp"])
    if fp > U32_MAX:
        raise QrError(f"QR field 'fp' must be the 4-byte FP (at most {U32_MAX}), got {fp}")
    total = _parse_total(fields["s"]) if "s" in fields else None
    operation = _parse_operation(fields["n"]) if "n" in fields else None
    return QrData(when, total, fn, fd, fp, operation, has_seconds)


def fp_to_1077(fp: int) -> bytes:
    """Tag 1077 value of an emulated FN: 00 00 then the FP as 4 bytes big-endian."""
    if not 0 <= fp <= U32_MAX:
        raise ValueError(f"fiscal sign {fp} is not a Uint32")
    return b"\x00\x00" + fp.to_bytes(4, "big")


def fp_from_1077(raw6: bytes) -> int:
    """The printed FP: bytes 2..5 of the 6-byte tag 1077 value, big-endian."""
    if len(raw6) != 6:
        raise ValueError(f"tag 1077 value must be 6 bytes, got {len(raw6)}")
    return int.from_bytes(raw6[2:6], "big")


def _split_fields(text: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for part in text.split("&"):
        key, sep, value = part.partition("=")
        if not sep:
            raise QrError(f"QR part {part!r} is not key=value")
        if key in fields:
            raise QrError(f"QR field {key!r} appears twice")
        fields[key] = value
    return fields


def _parse_time(value: str) -> tuple[datetime, bool]:
    match = _TIME_PATTERN.fullmatch(value)
    if match is None:
        raise QrError(f"QR field 't' must be YYYYMMDDTHHMM or YYYYMMDDTHHMMSS, got {value!r}")
    day, hhmm, seconds = match.groups()
    try:
        when = datetime.strptime(day + hhmm + (seconds or "00"), "%Y%m%d%H%M%S")
    except ValueError:
        raise QrError(f"QR field 't' is not a valid date and time: {value!r}") from None
    return when, seconds is not None


def _parse_total(value: str) -> int:
    match = _TOTAL_PATTERN.fullmatch(value)
    if match is None:
        raise QrError(f"QR field 's' must be rubles with up to 2 decimals after '.', got {value!r}")
    rubles, kopecks = match.groups()
    return int(rubles) * 100 + int((kopecks or "").ljust(2, "0"))


def _parse_operation(value: str) -> int:
    if value not in {str(n) for n in _OPERATIONS}:
        raise QrError(f"QR field 'n' must be 1..4 (tag 1054), got {value!r}")
    return int(value)


def _parse_number(name: str, value: str) -> int:
    if _NUMBER_PATTERN.fullmatch(value) is None:
        raise QrError(f"QR field {name!r} must be a decimal number of 1..10 digits, got {value!r}")
    return int(value)
