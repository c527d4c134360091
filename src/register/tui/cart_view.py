"""The cart as the cashier sees it: positions, names, price × quantity = sum, VAT, and the total."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from register.domain.cart import Cart
from register.domain.money import format_rub


class CartView(Vertical):
    """Shows a Cart; the app owns the Cart and calls ``refresh_from`` after each change."""

    def compose(self) -> ComposeResult:
        table: DataTable[str] = DataTable(id="cart-table", cursor_type="row", zebra_stripes=True)
        table.add_columns("№", "Товар", "Цена", "Кол-во", "Сумма", "НДС")
        yield table
        yield Static("Итого: 0.00 ₽", id="cart-total")

    def refresh_from(self, cart: Cart) -> None:
        table = self.query_one("#cart-table", DataTable)
        table.clear()
        for position, line in enumerate(cart.lines, start=1):
            table.add_row(
                str(position),
                line.name,
                format_rub(line.price),
                str(line.quantity),
                format_rub(line.total),
                line.vat.label.removeprefix("НДС ").replace("БЕЗ НДС", "без"),
                key=str(position),
            )
        if cart.lines:
            table.move_cursor(row=len(cart.lines) - 1)
        self.query_one("#cart-total", Static).update(f"Итого: {format_rub(cart.total)} ₽")

    @property
    def selected_position(self) -> int | None:
        table = self.query_one("#cart-table", DataTable)
        return table.cursor_row + 1 if table.row_count else None
