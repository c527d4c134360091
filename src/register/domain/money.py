"""Money as integer kopecks: parsing and printing rouble amounts, half-up division."""

from __future__ import annotations

import re
from typing import TypeAlias

Kopecks: TypeAlias = int

# ASCII digits only: `\d` would also accept Arabic-Indic and other Unicode digits.
_RUB_PATTERN = re.compile(r"(-?)([0-9]+)(?:[.,]([0-9]{1,2}))?")


class MoneyFormatError(ValueError):
    """Text that is not a rouble amount with at most two decimals."""


def parse_rub(text: str) -> Kopecks:
    """Parse "89.90", "89", "89,9" or "-0.05" into kopecks; surrounding whitespace is ignored."""
    match = _RUB_PATTERN.fullmatch(text.strip())
    if match is None:
        raise MoneyFormatError(
            f"{text!r} is not a rouble amount "
            "(digits, optional leading '-', at most 2 decimals after '.' or ',')"
        )
    sign, roubles, fraction = match.groups()
    kopecks = int(roubles) * 100 + int((fraction or "").ljust(2, "0"))
    return -kopecks if sign else kopecks


def format_rub(kop: Kopecks) -> str:
    """Format kopecks as roubles with exactly two decimals and no thousands separator: 8990 -> "89.90"."""
    _require_int(kop, "amount in kopecks")
    sign = "-" if kop < 0 else ""
    roubles, kopecks = divmod(abs(kop), 100)
    return f"{sign}{roubles}.{kopecks:02d}"


def divide_half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded to the nearest integer, ties away from zero (exact, no floats)."""
    _require_int(numerator, "numerator")
    _require_int(denominator, "denominator")
    if denominator <= 0:
        raise ValueError(f"denominator must be positive, got {denominator}")
    quotient, remainder = divmod(abs(numerator), denominator)
    if 2 * remainder >= denominator:
        quotient += 1
    return -quotient if numerator < 0 else quotient


def _require_int(value: object, what: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{what} must be an int (kopecks, never a float), got {value!r}")
