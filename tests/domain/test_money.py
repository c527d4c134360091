import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from register.domain import MoneyFormatError, divide_half_up, format_rub, parse_rub


@pytest.mark.parametrize(
    ("text", "kopecks"),
    [
        ("89.90", 8990),
        ("89", 8900),
        ("89,9", 8990),
        ("0.05", 5),
        ("-0.05", -5),
        ("-12", -1200),
        ("1234.56", 123456),
        ("007.5", 750),
        (" 89.90 ", 8990),
    ],
)
def test_parse_rub_reads_roubles_into_kopecks(text: str, kopecks: int) -> None:
    assert parse_rub(text) == kopecks


@pytest.mark.parametrize(
    "text",
    [
        "89.999",
        "",
        "   ",
        "+5",
        "8a",
        "1 000",
        "--5",
        "5-",
        "- 5",
        "89.",
        ".5",
        "1.2.3",
        "89,90,1",
        "١٢",
        "1e3",
    ],
)
def test_parse_rub_rejects_text_that_is_not_an_amount_and_names_it(text: str) -> None:
    with pytest.raises(MoneyFormatError) as error:
        parse_rub(text)
    assert repr(text) in str(error.value)


def test_money_format_error_is_a_value_error() -> None:
    assert issubclass(MoneyFormatError, ValueError)


@pytest.mark.parametrize(
    ("kopecks", "text"),
    [
        (8990, "89.90"),
        (5, "0.05"),
        (-5, "-0.05"),
        (123456, "1234.56"),
        (0, "0.00"),
        (100, "1.00"),
        (-123456789, "-1234567.89"),
    ],
)
def test_format_rub_prints_two_decimals_without_separators(kopecks: int, text: str) -> None:
    assert format_rub(kopecks) == text


@pytest.mark.parametrize("not_kopecks", [89.9, "8990", True])
def test_format_rub_refuses_anything_but_int_kopecks(not_kopecks: object) -> None:
    with pytest.raises(TypeError):
        format_rub(not_kopecks)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("numerator", "denominator", "quotient"),
    [
        (14, 10, 1),
        (5, 10, 1),  # a tie goes up (half-even would give 0)
        (25, 10, 3),  # half-even would give 2
        (-25, 10, -3),  # ties away from zero on both sides
        (-14, 10, -1),
        (0, 7, 0),
        (395560, 122, 3242),  # 17980 × 22 / 122 = 3242.29…
    ],
)
def test_divide_half_up(numerator: int, denominator: int, quotient: int) -> None:
    assert divide_half_up(numerator, denominator) == quotient


def test_divide_half_up_refuses_a_non_positive_denominator() -> None:
    with pytest.raises(ValueError, match="denominator"):
        divide_half_up(10, 0)


@settings(deadline=None)
@given(st.integers())
def test_parse_rub_reads_back_what_format_rub_prints(kopecks: int) -> None:
    text = format_rub(kopecks)
    assert re.fullmatch(r"-?[0-9]+\.[0-9]{2}", text)
    assert parse_rub(text) == kopecks
