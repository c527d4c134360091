"""The cashier's TUI driven by Textual's Pilot against the real embedded lab (FN and printer on ptys,
backend over HTTP, SMTP sink). What is checked is what happened on the devices, not only on screen."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from textual.pilot import Pilot
from textual.widgets import Checkbox, DataTable, Input, Label, Static

from register.config import RegisterConfig
from register.tui.app import RegisterApp, make_app
from register.tui.buyer_prompt import BuyerPrompt
from register.tui.device_bar import DeviceBar
from tests.lab_client import LabClient, running_lab

SIZE = (120, 36)
DEADLINE = 15.0
pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabClient]:
    with running_lab(tmp_path_factory.mktemp("lab")) as client:
        yield client


def _app(lab: LabClient) -> RegisterApp:
    return make_app(RegisterConfig.load(lab.addresses.config), poll=False)


async def _until(pilot: Pilot, condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {DEADLINE} s: {what}")
        await pilot.pause(0.05)


async def _ready(pilot: Pilot) -> RegisterApp:
    app = pilot.app
    assert isinstance(app, RegisterApp)
    await _until(pilot, lambda: app.register is not None, "the register opened")
    return app


async def _type(pilot: Pilot, selector: str, text: str) -> None:
    """Into an input of the screen on top (a dialog's, when one is open), then Enter."""
    field = pilot.app.screen.query_one(selector, Input)
    field.value = text
    field.focus()
    await pilot.press("enter")


async def _scan(pilot: Pilot, *specs: str) -> None:
    for spec in specs:
        await _type(pilot, "#scan", spec)


def _text(app: RegisterApp, selector: str) -> str:
    return str(app.query_one(selector, Static).render())


async def _paid(pilot: Pilot, app: RegisterApp) -> str:
    await _until(pilot, lambda: not app.busy, "the sale finished")
    return _text(app, "#outcome")


async def _pay_paper(pilot: Pilot, app: RegisterApp, key: str = "f5") -> str:
    """Pay; the buyer is asked about an e-receipt and takes paper (Esc); the outcome panel's text."""
    await pilot.press(key)
    await _until(pilot, lambda: isinstance(app.screen, BuyerPrompt), "the buyer is asked")
    await pilot.press("escape")
    return await _paid(pilot, app)


async def _member(pilot: Pilot, app: RegisterApp, card: str) -> None:
    await pilot.press("f2")
    await _type(pilot, "#card", card)
    await _until(pilot, lambda: app.member is not None, "the member was looked up")


async def test_scanning_fills_the_cart_and_a_bad_barcode_changes_nothing(lab: LabClient) -> None:
    async with _app(lab).run_test(size=SIZE) as pilot:
        app = await _ready(pilot)
        await _scan(pilot, "4600000000011x2", "2000000000015x0.734")
        table = app.query_one("#cart-table", DataTable)
        assert table.row_count == 2
        assert table.get_row_at(0)[1:5] == ["Молоко 3,2% 1 л", "89.90", "2", "179.80"]
        assert table.get_row_at(1)[4] == "95.35"  # 129.90 × 0.734 = 95.3466 → 95.35
        assert "275.15" in _text(app, "#cart-total")

        await _scan(pilot, "0000000000000")
        assert table.row_count == 2 and len(app.cart) == 2

        await pilot.press("f4")  # removes the selected (last) line
        assert [line.name for line in app.cart.lines] == ["Молоко 3,2% 1 л"]
        assert "179.80" in _text(app, "#cart-total")


async def test_member_who_refused_paper_pays_without_a_question_and_nothing_is_printed(
    lab: LabClient,
) -> None:
    printed = len(lab.printed())
    async with _app(lab).run_test(size=SIZE) as pilot:
        app = await _ready(pilot)
        await _scan(pilot, "4600000000028")
        await _member(pilot, app, "7000000000001")
        assert "anna@example.ru" in _text(app, "#member-info")

        await pilot.press("f5")
        assert not isinstance(app.screen, BuyerPrompt)  # no question: the member chose in the app
        outcome = await _paid(pilot, app)
    assert "не печатается" in outcome and "refused-paper-loyalty" in outcome
    assert len(lab.printed()) == printed
    link = next(line.removeprefix("ссылка: ") for line in outcome.splitlines() if line.startswith("ссылка"))
    assert len(lab.mails_with(link, expect=1)) == 1
    assert len(app.cart) == 0  # a new receipt is open


async def test_member_keeping_paper_is_asked_and_escape_prints_paper(lab: LabClient) -> None:
    printed = len(lab.printed())
    async with _app(lab).run_test(size=SIZE) as pilot:
        app = await _ready(pilot)
        await _scan(pilot, "4600000000035")
        await _member(pilot, app, "7000000000004")
        outcome = await _pay_paper(pilot, app, "f6")
    assert "чек напечатан" in outcome and "buyer-declined" in outcome
    assert len(lab.printed()) == printed + 1
    assert "Кофе зерновой" in lab.printed()[-1].read_text(encoding="utf-8")


async def test_buyer_without_card_gets_an_e_receipt_only_after_a_valid_contact(lab: LabClient) -> None:
    async with _app(lab).run_test(size=SIZE) as pilot:
        app = await _ready(pilot)
        await _scan(pilot, "4600000000042x3")
        await pilot.press("f5")
        await _until(pilot, lambda: isinstance(app.screen, BuyerPrompt), "the buyer is asked")
        prompt = app.screen
        await _type(pilot, "#contact", "not-a-contact")
        assert isinstance(app.screen, BuyerPrompt)  # refused: still asking
        assert "not-a-contact" in str(prompt.query_one("#contact-error", Label).render())

        prompt.query_one("#also-paper", Checkbox).value = False
        await _type(pilot, "#contact", "ivan@example.ru")
        outcome = await _paid(pilot, app)
    assert "ivan@example.ru" in outcome and "no-member" in outcome
    fd = int(outcome.split("ФД ")[1].split()[0])
    assert len(lab.mails_with(f"/{fd}/", expect=1)) == 1  # the OFD mailed it (no member: OFD sends)


async def test_printer_out_of_paper_refuses_the_sale_and_keeps_the_cart(lab: LabClient) -> None:
    printer = lab.lab.printer
    assert printer is not None
    async with _app(lab).run_test(size=SIZE) as pilot:
        app = await _ready(pilot)
        assert app.register is not None
        last_fd = app.register.fn.status().last_fd
        await _scan(pilot, "4600000000059")
        printer.set_fault("paper-out")
        try:
            app.refresh_devices()
            bar = app.query_one(DeviceBar)
            await _until(pilot, lambda: bar.state_of("printer") == "error", "the bar shows the printer")
            await _member(pilot, app, "7000000000004")
            outcome = await _pay_paper(pilot, app)
        finally:
            printer.clear_fault()
        assert "Чек не пробит" in outcome and "printer not ready" in outcome
        assert len(app.cart) == 1  # nothing lost: the cashier can pay again once paper is in
        assert app.register.fn.status().last_fd == last_fd  # no fiscal document

        app.refresh_devices()
        await _until(pilot, lambda: bar.state_of("printer") == "ready", "the printer is back")
        assert "чек напечатан" in await _pay_paper(pilot, app)


async def test_refund_by_fd_number_from_the_refund_dialog(lab: LabClient) -> None:
    async with _app(lab).run_test(size=SIZE) as pilot:
        app = await _ready(pilot)
        await _scan(pilot, "4600000000066x4")
        await _member(pilot, app, "7000000000004")
        sale = await _pay_paper(pilot, app)
        fd = sale.split("ФД ")[1].split()[0]

        await pilot.press("f8")
        await _type(pilot, "#original", fd)
        refund = await _paid(pilot, app)
        assert "Возврат на 20.00" in refund

        await pilot.press("f8")
        await _type(pilot, "#original", fd)
        again = await _paid(pilot, app)
    assert "already refunded" in again


async def test_paper_out_after_the_fiscal_document_is_reprinted_with_f9(lab: LabClient) -> None:
    printer = lab.lab.printer
    assert printer is not None
    async with _app(lab).run_test(size=SIZE) as pilot:
        app = await _ready(pilot)
        assert app.register is not None
        await _scan(pilot, "4600000000035x2")
        await _member(pilot, app, "7000000000004")
        printer.set_fault("paper-out", after_bytes=200)
        try:
            outcome = await _pay_paper(pilot, app)
        finally:
            printer.clear_fault()
        assert "НЕ напечатан" in outcome and "F9" in outcome
        owed = app.register.pending_reprints()
        assert len(owed) == 1
        printed = len(lab.printed())

        await pilot.press("f9")
        await _until(pilot, lambda: not app.register.pending_reprints(), "the reprint is done")
    assert len(lab.printed()) == printed + 1
    assert "Кофе зерновой" in lab.printed()[-1].read_text(encoding="utf-8")
