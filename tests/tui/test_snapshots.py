"""The cashier's screens at a fixed size (100 × 32), on a fresh lab with a fixed FN number."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from register.config import RegisterConfig
from register.lab.launcher import Lab
from register.tui.app import RegisterApp, make_app
from register.tui.buyer_prompt import BuyerPrompt
from register.tui.device_bar import DeviceBar

from .snapshot import assert_snapshot

SIZE = (100, 32)
pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def config(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegisterConfig]:
    with Lab(tmp_path_factory.mktemp("lab"), fn_number="9999078900004312") as addresses:
        yield RegisterConfig.load(addresses.config)


async def _until(pilot: Pilot, condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 15
    while not condition():
        assert time.monotonic() < deadline
        await pilot.pause(0.05)


async def _cart_with_member(pilot: Pilot) -> RegisterApp:
    app = pilot.app
    assert isinstance(app, RegisterApp)
    await _until(pilot, lambda: app.register is not None)
    for spec in ("4600000000011x2", "2000000000015x0.734", "4600000000073"):
        app.query_one("#scan", Input).value = spec
        await pilot.press("enter")
    await pilot.press("f2")
    app.query_one("#card", Input).value = "7000000000004"
    await pilot.press("enter")
    await _until(pilot, lambda: app.member is not None)
    app.refresh_devices()
    bar = app.query_one(DeviceBar)
    await _until(pilot, lambda: all(bar.state_of(d) == "ready" for d in ("fn", "printer", "loyalty")))
    await pilot.pause(0.1)
    return app


async def test_cart_with_a_member_who_keeps_paper(config: RegisterConfig) -> None:
    async with make_app(config, poll=False).run_test(size=SIZE) as pilot:
        app = await _cart_with_member(pilot)
        assert_snapshot(app, "cart-member-keeps-paper")


async def test_the_till_question(config: RegisterConfig) -> None:
    async with make_app(config, poll=False).run_test(size=SIZE) as pilot:
        app = await _cart_with_member(pilot)
        await pilot.press("f5")
        await _until(pilot, lambda: isinstance(app.screen, BuyerPrompt))
        await pilot.pause(0.1)
        assert_snapshot(app, "till-question")
