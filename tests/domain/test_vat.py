from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from register.domain import VatCodeError, VatRate

# Tag 1199 codes, ffd-receipt.md §4.
CODES = [
    (VatRate.VAT20, 1),
    (VatRate.VAT10, 2),
    (VatRate.VAT20_120, 3),
    (VatRate.VAT10_110, 4),
    (VatRate.VAT0, 5),
    (VatRate.NO_VAT, 6),
    (VatRate.VAT5, 7),
    (VatRate.VAT7, 8),
    (VatRate.VAT5_105, 9),
    (VatRate.VAT7_107, 10),
    (VatRate.VAT22, 11),
    (VatRate.VAT22_122, 12),
]
LAST_DAY_OF_20 = date(2025, 12, 31)
FIRST_DAY_OF_22 = date(2026, 1, 1)


@pytest.mark.parametrize(("rate", "code"), CODES)
def test_code_is_the_tag_1199_value(rate: VatRate, code: int) -> None:
    assert rate.code == code
    assert VatRate.from_code(code) is rate


def test_every_rate_has_a_code_in_the_table() -> None:
    assert {rate for rate, _ in CODES} == set(VatRate)


@pytest.mark.parametrize("code", [0, 13, 255, -1])
def test_from_code_rejects_unknown_codes_and_names_them(code: int) -> None:
    with pytest.raises(VatCodeError, match=str(code)):
        VatRate.from_code(code)
    assert issubclass(VatCodeError, ValueError)


@pytest.mark.parametrize(
    ("rate", "label", "percent", "calculated"),
    [
        (VatRate.VAT22, "НДС 22%", 22, False),
        (VatRate.VAT22_122, "НДС 22/122", 22, True),
        (VatRate.VAT10, "НДС 10%", 10, False),
        (VatRate.VAT10_110, "НДС 10/110", 10, True),
        (VatRate.VAT5, "НДС 5%", 5, False),
        (VatRate.VAT7, "НДС 7%", 7, False),
        (VatRate.VAT5_105, "НДС 5/105", 5, True),
        (VatRate.VAT7_107, "НДС 7/107", 7, True),
        (VatRate.VAT0, "НДС 0%", 0, False),
        (VatRate.NO_VAT, "БЕЗ НДС", 0, False),
        (VatRate.VAT20, "НДС 20%", 20, False),
        (VatRate.VAT20_120, "НДС 20/120", 20, True),
    ],
)
def test_label_percent_and_calculated(rate: VatRate, label: str, percent: int, calculated: bool) -> None:
    assert rate.label == label
    assert rate.percent == percent
    assert rate.calculated is calculated


@pytest.mark.parametrize(
    ("rate", "gross", "vat"),
    [
        (VatRate.VAT22, 17980, 3242),  # 179.80 × 22 / 122 = 32.4229… (ffd-receipt.md §4)
        (VatRate.VAT22_122, 17980, 3242),
        (VatRate.VAT10, 17980, 1635),  # 1634.545… rounds up
        (VatRate.VAT10_110, 11000, 1000),
        (VatRate.VAT20, 12000, 2000),
        (VatRate.VAT20, 3, 1),  # exactly 0.5 kopeck: half-up gives 1, half-even 0
        (VatRate.VAT20, 9, 2),  # exactly 1.5
        (VatRate.VAT20_120, 100, 17),  # 16.67
        (VatRate.VAT5, 10500, 500),
        (VatRate.VAT5_105, 100, 5),  # 4.76
        (VatRate.VAT7, 10700, 700),
        (VatRate.VAT7_107, 100, 7),  # 6.54
        (VatRate.VAT0, 17980, 0),
        (VatRate.NO_VAT, 17980, 0),
        (VatRate.VAT22, 0, 0),
    ],
)
def test_vat_of_a_vat_inclusive_amount(rate: VatRate, gross: int, vat: int) -> None:
    assert rate.vat_of(gross) == vat


@pytest.mark.parametrize(
    ("rate", "on_last_day_of_20", "on_first_day_of_22"),
    [
        (VatRate.VAT20, True, False),
        (VatRate.VAT20_120, True, False),
        (VatRate.VAT22, False, True),
        (VatRate.VAT22_122, False, True),
        (VatRate.VAT10, True, True),
        (VatRate.VAT10_110, True, True),
        (VatRate.VAT5, True, True),
        (VatRate.VAT7_107, True, True),
        (VatRate.VAT0, True, True),
        (VatRate.NO_VAT, True, True),
    ],
)
def test_valid_on_switches_from_20_to_22_percent_on_1_january_2026(
    rate: VatRate, on_last_day_of_20: bool, on_first_day_of_22: bool
) -> None:
    assert rate.valid_on(LAST_DAY_OF_20) is on_last_day_of_20
    assert rate.valid_on(FIRST_DAY_OF_22) is on_first_day_of_22


AMOUNTS = st.integers(min_value=0, max_value=10**14)


@settings(deadline=None)
@given(st.sampled_from(VatRate), AMOUNTS)
def test_vat_of_never_exceeds_the_gross_amount(rate: VatRate, gross: int) -> None:
    assert 0 <= rate.vat_of(gross) <= gross


@settings(deadline=None)
@given(st.sampled_from(VatRate), AMOUNTS, AMOUNTS)
def test_vat_of_is_monotonic_in_the_gross_amount(rate: VatRate, gross: int, increase: int) -> None:
    assert rate.vat_of(gross) <= rate.vat_of(gross + increase)
