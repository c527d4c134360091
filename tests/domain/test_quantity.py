import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from register.domain import Quantity, QuantityError


@pytest.mark.parametrize(
    ("text", "milli"),
    [("2", 2000), ("1.5", 1500), ("0.355", 355), ("1,5", 1500), ("2.000", 2000), ("10", 10000), ("0.001", 1)],
)
def test_parse_reads_thousandths(text: str, milli: int) -> None:
    assert Quantity.parse(text) == Quantity(milli)


@pytest.mark.parametrize("text", ["1.0005", "0", "0.000", "-1", "", "abc", "1.", ".5", "+1", "1e3", "1 000"])
def test_parse_rejects_bad_quantities_and_names_them(text: str) -> None:
    with pytest.raises(QuantityError) as error:
        Quantity.parse(text)
    assert repr(text) in str(error.value)


def test_quantity_error_is_a_value_error() -> None:
    assert issubclass(QuantityError, ValueError)


@pytest.mark.parametrize("milli", [0, -5])
def test_quantity_must_be_positive(milli: int) -> None:
    with pytest.raises(QuantityError, match="positive"):
        Quantity(milli)


def test_of_counts_whole_units() -> None:
    assert Quantity.of(2) == Quantity(2000)
    assert Quantity.of(1) == Quantity.parse("1")


@pytest.mark.parametrize("n", [0, -1])
def test_of_refuses_non_positive_counts(n: int) -> None:
    with pytest.raises(QuantityError):
        Quantity.of(n)


@pytest.mark.parametrize(
    ("milli", "text"),
    [
        (2000, "2"),
        (1500, "1.5"),
        (355, "0.355"),
        (10000, "10"),
        (1010, "1.01"),
        (1, "0.001"),
        (100500, "100.5"),
    ],
)
def test_str_is_the_shortest_form(milli: int, text: str) -> None:
    assert str(Quantity(milli)) == text


@pytest.mark.parametrize(
    ("milli", "digits_and_scale"),
    [(2000, (2, 0)), (1500, (15, 1)), (355, (355, 3)), (10000, (10, 0)), (1050, (105, 2)), (1, (1, 3))],
)
def test_digits_and_scale_is_the_shortest_fvln_form(milli: int, digits_and_scale: tuple[int, int]) -> None:
    assert Quantity(milli).digits_and_scale() == digits_and_scale


@pytest.mark.parametrize(
    ("text", "price", "total"),
    [
        ("2", 8990, 17980),  # 89.90 × 2 = 179.80
        ("1.5", 12345, 18518),  # 123.45 × 1.5 = 185.175 -> 185.18
        ("0.5", 1, 1),  # 0.005 rounds up (half-even would give 0)
        ("0.355", 54990, 19521),  # 549.90 × 0.355 = 195.2145 -> 195.21
        ("0.333", 3, 1),  # 0.00999 -> 0.01
        ("1", 0, 0),
    ],
)
def test_times_rounds_half_up_to_the_kopeck(text: str, price: int, total: int) -> None:
    assert Quantity.parse(text).times(price) == total


def test_quantities_order_by_amount() -> None:
    assert Quantity.parse("1.5") < Quantity.of(2) < Quantity.parse("2.001")


@settings(deadline=None)
@given(st.integers(min_value=1, max_value=10**15))
def test_parse_reads_back_what_str_prints(milli: int) -> None:
    assert Quantity.parse(str(Quantity(milli))) == Quantity(milli)


@settings(deadline=None)
@given(st.integers(min_value=1, max_value=10**15))
def test_digits_and_scale_denote_the_same_number_without_trailing_zeros(milli: int) -> None:
    digits, scale = Quantity(milli).digits_and_scale()
    assert digits * 10 ** (3 - scale) == milli
    assert scale == 0 or digits % 10 != 0
