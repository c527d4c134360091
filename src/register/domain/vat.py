"""VAT rates as coded in tag 1199 (ffd-receipt.md §4), their printed labels and the VAT they contain."""

from __future__ import annotations

from datetime import date
from enum import Enum

from register.domain.money import Kopecks, divide_half_up

STANDARD_RATE_22_FROM = date(2026, 1, 1)  # Federal Law of 28.11.2025 № 425-ФЗ


class VatCodeError(ValueError):
    """A tag 1199 value that names no VAT rate."""


class VatRate(Enum):
    """Member value = tag 1199 code. Never pass a gateway's or driver's own numbering through."""

    VAT22 = 11
    VAT22_122 = 12
    VAT10 = 2
    VAT10_110 = 4
    VAT5 = 7
    VAT7 = 8
    VAT5_105 = 9
    VAT7_107 = 10
    VAT0 = 5
    NO_VAT = 6
    VAT20 = 1
    VAT20_120 = 3

    @classmethod
    def from_code(cls, code: int) -> VatRate:
        if isinstance(code, int) and not isinstance(code, bool):
            for rate in cls:
                if rate.value == code:
                    return rate
        raise VatCodeError(f"tag 1199 value {code!r} is not a VAT rate code (known: 1–12)")

    @property
    def code(self) -> int:
        return self.value

    @property
    def percent(self) -> int:
        return _PERCENT[self]

    @property
    def calculated(self) -> bool:
        """True for the x/1xx rates (VAT computed from a VAT-inclusive amount, e.g. on advances)."""
        return self in _CALCULATED

    @property
    def label(self) -> str:
        if self is VatRate.NO_VAT:
            return "БЕЗ НДС"
        if self.calculated:
            return f"НДС {self.percent}/{100 + self.percent}"
        return f"НДС {self.percent}%"

    def vat_of(self, gross: Kopecks) -> Kopecks:
        """The VAT contained in a VAT-inclusive amount: gross × p / (100 + p), half-up to the kopeck."""
        return divide_half_up(gross * self.percent, 100 + self.percent)

    def valid_on(self, day: date) -> bool:
        """Whether a document dated `day` may carry this rate (20 % until 2025, 22 % from 2026)."""
        if self in (VatRate.VAT20, VatRate.VAT20_120):
            return day < STANDARD_RATE_22_FROM
        if self in (VatRate.VAT22, VatRate.VAT22_122):
            return day >= STANDARD_RATE_22_FROM
        return True


_PERCENT: dict[VatRate, int] = {
    VatRate.VAT22: 22,
    VatRate.VAT22_122: 22,
    VatRate.VAT10: 10,
    VatRate.VAT10_110: 10,
    VatRate.VAT5: 5,
    VatRate.VAT7: 7,
    VatRate.VAT5_105: 5,
    VatRate.VAT7_107: 7,
    VatRate.VAT0: 0,
    VatRate.NO_VAT: 0,
    VatRate.VAT20: 20,
    VatRate.VAT20_120: 20,
}

_CALCULATED = frozenset(
    {VatRate.VAT22_122, VatRate.VAT10_110, VatRate.VAT5_105, VatRate.VAT7_107, VatRate.VAT20_120}
)
