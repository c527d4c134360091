"""The cart the cashier fills while scanning, turned into a Receipt at payment.

Positions are what the cashier sees: 1 for the first line, renumbered when a line is removed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime

from register.domain.money import Kopecks
from register.domain.quantity import Quantity
from register.domain.receipt import Operation, Payment, Receipt, ReceiptLine, Seller


class CartError(ValueError):
    """A cart operation on a position that does not exist, or with a value of the wrong kind."""


class Cart:
    def __init__(self) -> None:
        self._lines: list[ReceiptLine] = []

    def add(self, line: ReceiptLine) -> int:
        """Append a line; return its position (1-based)."""
        if not isinstance(line, ReceiptLine):
            raise CartError(f"only a ReceiptLine can be added to the cart, got {line!r}")
        self._lines.append(line)
        return len(self._lines)

    def set_quantity(self, position: int, quantity: Quantity) -> None:
        if not isinstance(quantity, Quantity):
            raise CartError(f"quantity for position {position} must be a Quantity, got {quantity!r}")
        index = self._index(position)
        self._lines[index] = replace(self._lines[index], quantity=quantity)

    def remove(self, position: int) -> None:
        """Remove a line; the lines after it move up one position."""
        del self._lines[self._index(position)]

    def clear(self) -> None:
        self._lines.clear()

    @property
    def lines(self) -> tuple[ReceiptLine, ...]:
        return tuple(self._lines)

    @property
    def total(self) -> Kopecks:
        return sum(line.total for line in self._lines)

    def __len__(self) -> int:
        return len(self._lines)

    def to_receipt(
        self,
        operation: Operation,
        payments: Iterable[Payment],
        seller: Seller,
        when: datetime,
        cashier: str | None = None,
        customer_contact: str | None = None,
    ) -> Receipt:
        """Freeze the cart into a Receipt; the Receipt's own checks apply (ReceiptError)."""
        return Receipt(
            operation=operation,
            lines=tuple(self._lines),
            payments=tuple(payments),
            seller=seller,
            when=when,
            cashier=cashier,
            customer_contact=customer_contact,
        )

    def _index(self, position: int) -> int:
        if (
            isinstance(position, bool)
            or not isinstance(position, int)
            or not 1 <= position <= len(self._lines)
        ):
            held = f"positions 1..{len(self._lines)}" if self._lines else "the cart is empty"
            raise CartError(f"no position {position!r} in the cart ({held})")
        return position - 1
