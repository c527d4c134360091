"""Which receipt is returned: its QR string (scanned) or its FD number."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label


class RefundPrompt(ModalScreen[str | None]):
    """Returns the QR string or FD number; Esc cancels (None)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Отмена")]

    def compose(self) -> ComposeResult:
        with Vertical(id="refund-dialog"):
            yield Label("Возврат: отсканируйте QR-код чека или введите номер ФД")
            yield Input(placeholder="t=…&s=…&fn=…&i=…&fp=…&n=1  или  42", id="original")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        value = event.value.strip()
        if value:
            self.dismiss(value)

    def action_cancel(self) -> None:
        self.dismiss(None)
