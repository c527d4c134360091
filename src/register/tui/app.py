"""The cashier's register: a keyboard-first Textual app over `register.sale.Register`.

Attributes down, messages up: the app owns the cart and the Register; blocking device work runs in thread
workers (one group per device, exclusive) that post typed messages (tui/messages.py) back. The app never
speaks a device protocol: everything goes through the sale flow, exactly as the CLI and scenarios do.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import ClassVar

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer, Header, Input

from register.config import RegisterConfig
from register.domain.cart import Cart
from register.domain.catalogue import CatalogueError
from register.domain.decision import BuyerAnswer
from register.domain.receipt import PaymentKind
from register.sale import Identifier, LoyaltyAnswer, Register, SaleError, SaleEvent, SaleRequest
from register.tui.buyer_prompt import BuyerPrompt
from register.tui.cart_view import CartView
from register.tui.device_bar import DeviceBar
from register.tui.event_log import EventLog
from register.tui.member_panel import MemberPanel
from register.tui.messages import (
    DevicesReported,
    MemberFound,
    RegisterFailed,
    RegisterOpened,
    ReprintsDone,
    SaleFinished,
    SaleProgressed,
    SaleRefused,
)
from register.tui.outcome_panel import OutcomePanel
from register.tui.refund_prompt import RefundPrompt

DEVICE_POLL_SECONDS = 3.0
"""How often the status bar asks the FN and the printer (a sale in progress goes first: device locks)."""


class RegisterApp(App[None]):
    """One till. ``config`` names the devices; the app opens them when it starts and closes them on exit."""

    CSS_PATH = "register.tcss"
    TITLE = "Касса"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f2", "focus_card", "Карта"),
        Binding("f5", "pay('cash')", "Наличные"),
        Binding("f6", "pay('card')", "Безнал"),
        Binding("f4", "remove_line", "Удалить строку"),
        Binding("f8", "refund", "Возврат"),
        Binding("f9", "reprint", "Допечатать"),
        Binding("ctrl+n", "new_sale", "Новый чек"),
        Binding("ctrl+q", "quit", "Выход"),
    ]

    def __init__(
        self, config: RegisterConfig, *, clock: Callable[[], datetime] | None = None, poll: bool = True
    ) -> None:
        super().__init__()
        self.config = config
        self.clock = clock
        self.poll = poll
        self.cart = Cart()
        self.register: Register | None = None
        self.member: tuple[str, LoyaltyAnswer] | None = None
        self.busy = False
        self._devices = ExitStack()

    # --- layout --------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        yield DeviceBar(id="devices")
        with Horizontal(id="main"):
            with Vertical(id="left"):
                yield Input(placeholder="штрихкод или штрихкод x количество, Enter", id="scan")
                yield CartView(id="cart")
            with Vertical(id="right"):
                yield MemberPanel(id="member")
                yield OutcomePanel("Откройте чек: отсканируйте товар", id="outcome")
                yield EventLog(id="events")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#scan", Input).focus()
        self.open_register()

    def on_unmount(self) -> None:
        self._devices.close()

    # --- the register's life -------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="register")
    def open_register(self) -> None:
        try:
            kwargs = {"clock": self.clock} if self.clock else {}
            register = self._devices.enter_context(
                Register.open(self.config, observer=self._observe, **kwargs)
            )
            recovered = register.recover()
            register.ensure_shift()
        except Exception as exc:  # any device or journal failure is shown, the app stays up
            self.post_message(RegisterFailed(f"{type(exc).__name__}: {exc}"))
            return
        self.register = register
        self.post_message(RegisterOpened(len(recovered)))

    def _observe(self, event: SaleEvent) -> None:
        self.post_message(SaleProgressed(event))

    def on_register_opened(self, message: RegisterOpened) -> None:
        recovered = f"; после сбоя завершено чеков: {message.recovered}" if message.recovered else ""
        self.query_one(EventLog).note(f"касса готова{recovered}")
        self.refresh_devices()
        if self.poll:
            self.set_interval(DEVICE_POLL_SECONDS, self.refresh_devices)

    def on_register_failed(self, message: RegisterFailed) -> None:
        self.query_one(OutcomePanel).show_refusal(f"касса не запущена: {message.error}")
        self.notify(message.error, title="Касса не запущена", severity="error", timeout=30)

    @work(thread=True, exclusive=True, group="devices")
    def refresh_devices(self) -> None:
        register = self.register
        if register is None:
            return
        register.flush_outbox()  # what is owed to the backend goes up as soon as it answers again
        reports = (register.fn_report(), register.printer_report(), register.loyalty_report())
        self.post_message(DevicesReported(reports))

    def on_devices_reported(self, message: DevicesReported) -> None:
        bar = self.query_one(DeviceBar)
        for report in message.reports:
            bar.show(report)

    # --- scanning and the cart -----------------------------------------------------------------

    @on(Input.Submitted, "#scan")
    def scan(self, event: Input.Submitted) -> None:
        spec = event.value.strip()
        event.input.value = ""
        if not spec:
            return
        try:
            line = self.config.catalogue.scan(spec)
        except CatalogueError as exc:
            self.notify(str(exc), title="Товар не добавлен", severity="warning")
            return
        self.cart.add(line)
        self.query_one(CartView).refresh_from(self.cart)

    def action_remove_line(self) -> None:
        position = self.query_one(CartView).selected_position
        if position is None or self.busy:
            return
        self.cart.remove(position)
        self.query_one(CartView).refresh_from(self.cart)

    def action_new_sale(self) -> None:
        if self.busy:
            return
        self.cart.clear()
        self.member = None
        self.query_one(CartView).refresh_from(self.cart)
        self.query_one(MemberPanel).forget()
        self.query_one("#scan", Input).focus()

    # --- the member ----------------------------------------------------------------------------

    def action_focus_card(self) -> None:
        self.query_one("#card", Input).focus()

    @on(Input.Submitted, "#card")
    def card_entered(self, event: Input.Submitted) -> None:
        card = event.value.strip()
        self.query_one("#scan", Input).focus()
        if not card:
            self.member = None
            self.query_one(MemberPanel).forget()
            return
        self.look_up_member(card)

    @work(thread=True, exclusive=True, group="loyalty")
    def look_up_member(self, card: str) -> None:
        if self.register is None:
            return
        self.post_message(MemberFound(card, self.register.member_info(_identifier(card))))

    def on_member_found(self, message: MemberFound) -> None:
        self.member = (message.card, message.answer)
        self.query_one(MemberPanel).show(message.card, message.answer)

    # --- payment -------------------------------------------------------------------------------

    def action_pay(self, how: str) -> None:
        if self.busy or self.register is None:
            self.notify("касса занята или не готова", severity="warning")
            return
        if not self.cart.lines:
            self.notify("чек пуст: отсканируйте товар", severity="warning")
            return
        pay = PaymentKind.CASH if how == "cash" else PaymentKind.ELECTRONIC
        if self._member_gets_e_receipt():
            self._sell(pay, None)
            return
        suggested = None
        if self.member and self.member[1].notifier:
            suggested = self.member[1].notifier
        self.push_screen(BuyerPrompt(suggested), lambda answer: self._sell(pay, answer))

    def _member_gets_e_receipt(self) -> bool:
        """The member refused paper and has a confirmed contact: no question at the till."""
        return bool(self.member and self.member[1].paper_refused and self.member[1].notifier)

    def _sell(self, pay: PaymentKind, buyer: BuyerAnswer | None) -> None:
        request = SaleRequest(
            lines=self.cart.lines,
            pay=pay,
            identifier=_identifier(self.member[0]) if self.member else None,
            buyer=buyer,
        )
        self.busy = True
        self.run_sale(lambda register: register.sell(request))

    @work(thread=True, exclusive=True, group="sale")
    def run_sale(self, action: Callable[[Register], object]) -> None:
        register = self.register
        assert register is not None
        try:
            outcome = action(register)
        except (SaleError, ValueError, OSError) as exc:
            self.post_message(SaleRefused(str(exc)))
            return
        except Exception as exc:  # a driver error: the journal recovers it; the cashier must see it
            self.post_message(SaleRefused(f"{type(exc).__name__}: {exc}"))
            return
        self.post_message(SaleFinished(outcome))  # type: ignore[arg-type]
        register.drain_ofd()

    def on_sale_progressed(self, message: SaleProgressed) -> None:
        self.query_one(EventLog).add(message.event)

    def on_sale_finished(self, message: SaleFinished) -> None:
        self.busy = False
        self.query_one(OutcomePanel).show(message.outcome)
        self.cart.clear()
        self.member = None
        self.query_one(CartView).refresh_from(self.cart)
        self.query_one(MemberPanel).forget()
        self.query_one("#scan", Input).focus()
        self.refresh_devices()

    def on_sale_refused(self, message: SaleRefused) -> None:
        self.busy = False
        self.query_one(OutcomePanel).show_refusal(message.error)
        self.notify(message.error, title="Чек не пробит", severity="error", timeout=10)
        self.refresh_devices()

    # --- refund and reprint --------------------------------------------------------------------

    def action_refund(self) -> None:
        if self.busy or self.register is None:
            return

        def refund(original: str | None) -> None:
            if not original:
                return
            self.busy = True
            self.run_sale(lambda register: register.refund_by(original, buyer=BuyerAnswer(False, None)))

        self.push_screen(RefundPrompt(), refund)

    def action_reprint(self) -> None:
        if self.register is not None:
            self.reprint()

    @work(thread=True, exclusive=True, group="sale")
    def reprint(self) -> None:
        register = self.register
        assert register is not None
        owed = register.pending_reprints()
        results = register.reprint_pending()
        self.post_message(ReprintsDone(sum(results.values()), len(owed)))

    def on_reprints_done(self, message: ReprintsDone) -> None:
        if not message.owed:
            self.notify("допечатывать нечего")
        elif message.printed == message.owed:
            self.notify(f"допечатано чеков: {message.printed}")
        else:
            self.notify(
                f"допечатано {message.printed} из {message.owed}: проверьте принтер", severity="warning"
            )
        self.refresh_devices()


def _identifier(card: str) -> Identifier:
    if card.startswith("+") or (card.isdigit() and len(card) == 11 and card[0] in "78"):
        return Identifier("Phone", card)
    return Identifier("CardNumber", card)


def make_app(
    config: RegisterConfig | Path, *, clock: Callable[[], datetime] | None = None, poll: bool = True
) -> RegisterApp:
    """The one way the CLI and the tests build the app: from a config (or a config file)."""
    if isinstance(config, Path):
        config = RegisterConfig.load(config)
    return RegisterApp(config, clock=clock, poll=poll)
