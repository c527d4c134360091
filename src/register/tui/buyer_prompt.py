"""The cashier's question at the till: paper, or an electronic receipt (and to which contact)?"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label

from register.domain.decision import BuyerAnswer
from register.domain.receipt import is_customer_contact


class BuyerPrompt(ModalScreen[BuyerAnswer]):
    """Returns the buyer's answer; Esc is "paper only" (declined the e-receipt)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "paper", "Только бумага")]

    def __init__(self, suggested_contact: str | None = None) -> None:
        super().__init__()
        self.suggested_contact = suggested_contact

    def compose(self) -> ComposeResult:
        with Vertical(id="buyer-dialog"):
            yield Label("Электронный чек? Телефон (+7…) или e-mail покупателя:")
            yield Input(
                value=self.suggested_contact or "", placeholder="+79001234567 или name@mail.ru", id="contact"
            )
            yield Checkbox("И бумажный чек тоже", id="also-paper")
            yield Label("", id="contact-error")
            with Horizontal():
                yield Button("Эл. чек (Enter)", variant="primary", id="electronic")
                yield Button("Только бумага (Esc)", id="paper")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self._electronic()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "electronic":
            self._electronic()
        else:
            self.action_paper()

    def action_paper(self) -> None:
        self.dismiss(BuyerAnswer(wants_electronic=False, contact=None))

    def _electronic(self) -> None:
        contact = self.query_one("#contact", Input).value.strip()
        if not is_customer_contact(contact):
            self.query_one("#contact-error", Label).update(
                f"[b]{contact or 'пусто'}[/b]: нужен телефон +7XXXXXXXXXX или e-mail"
            )
            return
        also_paper = self.query_one("#also-paper", Checkbox).value
        self.dismiss(BuyerAnswer(wants_electronic=True, contact=contact, also_paper=also_paper))
