from datetime import datetime

import pytest

from register.domain import (
    Cart,
    CartError,
    Operation,
    Payment,
    PaymentKind,
    Quantity,
    ReceiptError,
    ReceiptLine,
    Seller,
    TaxSystem,
    VatRate,
)

SELLER = Seller("ООО «Ромашка»", "7701234567", "г. Москва, ул. Тверская, д. 1", "Магазин", TaxSystem.OSN)
WHEN = datetime(2026, 1, 15, 14, 32)
MILK = ReceiptLine("Молоко", 8990, Quantity.of(1), VatRate.VAT22)
BREAD = ReceiptLine("Хлеб", 4550, Quantity.of(1), VatRate.VAT10)
CHEESE = ReceiptLine("Сыр", 12345, Quantity.of(1), VatRate.VAT22)


def filled_cart() -> Cart:
    cart = Cart()
    for line in (MILK, BREAD, CHEESE):
        cart.add(line)
    return cart


def test_add_returns_positions_from_one() -> None:
    cart = Cart()
    assert cart.add(MILK) == 1
    assert cart.add(BREAD) == 2
    assert cart.lines == (MILK, BREAD)
    assert len(cart) == 2


def test_total_follows_the_lines() -> None:
    cart = filled_cart()
    assert cart.total == 8990 + 4550 + 12345
    cart.set_quantity(3, Quantity.parse("1.5"))
    assert cart.total == 8990 + 4550 + 18518  # 123.45 × 1.5 = 185.175 -> 185.18


def test_set_quantity_changes_only_that_line() -> None:
    cart = filled_cart()
    cart.set_quantity(1, Quantity.of(2))
    assert cart.lines[0].quantity == Quantity.of(2)
    assert cart.lines[0].total == 17980
    assert cart.lines[1:] == (BREAD, CHEESE)


def test_remove_moves_later_lines_up() -> None:
    cart = filled_cart()
    cart.remove(2)
    assert cart.lines == (MILK, CHEESE)
    cart.remove(2)
    assert cart.lines == (MILK,)


def test_clear_empties_the_cart() -> None:
    cart = filled_cart()
    cart.clear()
    assert cart.lines == ()
    assert cart.total == 0


@pytest.mark.parametrize("position", [0, 4, -1])
def test_a_missing_position_is_named(position: int) -> None:
    cart = filled_cart()
    with pytest.raises(CartError, match=rf"no position {position} in the cart \(positions 1\.\.3\)"):
        cart.remove(position)
    with pytest.raises(CartError, match=rf"no position {position}"):
        cart.set_quantity(position, Quantity.of(1))
    assert cart.lines == (MILK, BREAD, CHEESE)


def test_an_empty_cart_says_so() -> None:
    with pytest.raises(CartError, match=r"no position 1 in the cart \(the cart is empty\)"):
        Cart().remove(1)


def test_set_quantity_needs_a_quantity() -> None:
    with pytest.raises(CartError, match="position 1"):
        filled_cart().set_quantity(1, 2)  # type: ignore[arg-type]


def test_only_receipt_lines_can_be_added() -> None:
    with pytest.raises(CartError):
        Cart().add("Молоко")  # type: ignore[arg-type]
    assert issubclass(CartError, ValueError)


def test_to_receipt_freezes_the_cart() -> None:
    cart = filled_cart()
    receipt = cart.to_receipt(
        Operation.SALE,
        [Payment(PaymentKind.CASH, 30000)],
        SELLER,
        WHEN,
        cashier="Иванова",
        customer_contact="+79161234567",
    )
    cart.remove(1)
    assert receipt.lines == (MILK, BREAD, CHEESE)
    assert receipt.total == 25885
    assert receipt.change == 30000 - 25885
    assert (receipt.cashier, receipt.customer_contact) == ("Иванова", "+79161234567")


def test_an_empty_cart_makes_no_receipt() -> None:
    with pytest.raises(ReceiptError, match="at least one line"):
        Cart().to_receipt(Operation.SALE, [Payment(PaymentKind.CASH, 100)], SELLER, WHEN)
