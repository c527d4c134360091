"""The backend down or too slow: the receipt is printed, the purchase is uploaded later."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import replace

import pytest

from register.config import LoyaltySettings, RegisterConfig
from register.domain.decision import BuyerAnswer
from register.sale import Identifier, Register, SaleRequest

from .conftest import LabClient


@pytest.fixture
def silent_server() -> Iterator[str]:
    """An HTTP port that accepts connections and never answers (a hung backend)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    listener.close()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("backend", ["down", "slow"])
def test_offline_sale_is_printed_and_uploaded_later(
    lab: LabClient, backend: str, request: pytest.FixtureRequest
) -> None:
    config = RegisterConfig.load(lab.addresses.config)
    url = (
        f"http://127.0.0.1:{_closed_port()}"
        if backend == "down"
        else request.getfixturevalue("silent_server")
    )
    offline = replace(config, loyalty=LoyaltySettings(url=url, timeout=0.5))
    before = len(lab.printed())
    with Register.open(offline) as register:
        register.ensure_shift()
        lines = (config.catalogue.scan("4600000000028"),)
        outcome = register.sell(
            SaleRequest(
                lines=lines,
                identifier=Identifier("CardNumber", "7000000000004"),
                buyer=BuyerAnswer(False, None),
            )
        )
        assert outcome.loyalty == "offline" and outcome.printed
        assert outcome.decision.reason == "loyalty-offline"
        assert [c.call for c in register.journal.pending_calls()] == ["offline-purchase"]
    assert len(lab.printed()) == before + 1
    assert outcome.stamp is not None
    fds = [item["fiscal"]["fd"] for item in lab.crm_history("7000000000004") if item["fiscal"]]
    assert outcome.stamp.fd not in fds

    with Register.open(config) as register:  # the backend is back
        register.flush_outbox()
        assert register.journal.pending_calls() == []
    fds = [item["fiscal"]["fd"] for item in lab.crm_history("7000000000004") if item["fiscal"]]
    assert outcome.stamp.fd in fds
