"""Quantity of an item (tag 1023) in thousandths: pieces, kilograms, litres … up to 3 decimals."""

from __future__ import annotations

import re
from dataclasses import dataclass

from register.domain.money import Kopecks, divide_half_up

MILLI_PER_UNIT = 1000
_QUANTITY_PATTERN = re.compile(r"([0-9]+)(?:[.,]([0-9]{1,3}))?")


class QuantityError(ValueError):
    """A quantity that is not positive or has more than 3 decimals."""


@dataclass(frozen=True, order=True)
class Quantity:
    milli: int

    def __post_init__(self) -> None:
        if not isinstance(self.milli, int) or isinstance(self.milli, bool):
            raise QuantityError(f"quantity in thousandths must be an int, got {self.milli!r}")
        if self.milli <= 0:
            raise QuantityError(f"quantity must be positive, got {self.milli} thousandths")

    @classmethod
    def of(cls, n: int) -> Quantity:
        """A whole number of units: Quantity.of(2) is 2."""
        if not isinstance(n, int) or isinstance(n, bool) or n <= 0:
            raise QuantityError(f"quantity must be a positive whole number, got {n!r}")
        return cls(n * MILLI_PER_UNIT)

    @classmethod
    def parse(cls, text: str) -> Quantity:
        """Parse "2", "1.5", "0.355" or "1,5"; surrounding whitespace is ignored."""
        match = _QUANTITY_PATTERN.fullmatch(text.strip())
        if match is None:
            raise QuantityError(
                f"{text!r} is not a quantity (digits, at most 3 decimals after '.' or ',', no sign)"
            )
        units, fraction = match.groups()
        milli = int(units) * MILLI_PER_UNIT + int((fraction or "").ljust(3, "0"))
        if milli == 0:
            raise QuantityError(f"quantity {text!r} must be greater than zero")
        return cls(milli)

    def digits_and_scale(self) -> tuple[int, int]:
        """The shortest FVLN form (digits, decimals after the point): 1.5 -> (15, 1), 2 -> (2, 0)."""
        digits, scale = self.milli, 3
        while scale > 0 and digits % 10 == 0:
            digits //= 10
            scale -= 1
        return digits, scale

    def times(self, price: Kopecks) -> Kopecks:
        """price × quantity in kopecks, rounded half-up: 1.5 × 123.45 = 185.175 -> 185.18."""
        return divide_half_up(price * self.milli, MILLI_PER_UNIT)

    def __str__(self) -> str:
        digits, scale = self.digits_and_scale()
        if scale == 0:
            return str(digits)
        units, fraction = divmod(digits, 10**scale)
        return f"{units}.{fraction:0{scale}d}"
