"""Helpers for talking to a running loyalty backend in tests: a lab client and an SMTP sink."""

from __future__ import annotations

import email
import email.policy
import itertools
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import httpx
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from register.backend import BackendServer, BackendSettings
from register.domain import format_rub

FN = "9999078900004312"
WHEN = "2026-01-15T14:32:00+03:00"
# Молоко 89.90 × 2 = 179.80 and Яблоки 129.90 × 1.355 кг = 176.01 (half-up): total 355.81 ₽.
LINES = [
    {
        "position": 1,
        "sku": "4601234567890",
        "name": "Молоко",
        "price": 8990,
        "quantity": "2",
        "amount": 17980,
    },
    {
        "position": 2,
        "sku": "2000000000015",
        "name": "Яблоки",
        "price": 12990,
        "quantity": "1.355",
        "amount": 17601,
    },
]
TOTAL = 35581
CARD_ANNA = "7000000000001"  # refused paper, confirmed e-mail
CARD_BORIS = "7000000000002"  # refused paper, confirmed phone
CARD_VERA = "7000000000003"  # refused paper, no confirmed contact
CARD_GLEB = "7000000000004"  # has not refused, confirmed e-mail
CARD_DARIA = "7000000000005"  # blocked
SETTLE_DEADLINE = 20.0


def wait_until(condition: Callable[[], bool], what: str, deadline: float = SETTLE_DEADLINE) -> None:
    """Return once ``condition()`` holds; AssertionError naming ``what`` if it does not within the
    deadline (a bound on a hang, not a timing assertion)."""
    stop_at = time.monotonic() + deadline
    while not condition():
        if time.monotonic() > stop_at:
            raise AssertionError(f"still not so after {deadline} s: {what}")
        time.sleep(0.05)


def new_id() -> str:
    return str(uuid.uuid4())


def card(number: str) -> dict[str, str]:
    return {"type": "CardNumber", "value": number}


@dataclass
class SmtpSink:
    """An aiosmtpd server on 127.0.0.1 keeping every message; recipients containing "refuse" are refused."""

    port: int = 0
    messages: list[EmailMessage] = field(default_factory=list)
    temporary_refusals: int = 0
    """Answer this many RCPTs (any address) with 451, a refusal for now, before accepting."""
    _arrived: threading.Condition = field(default_factory=threading.Condition)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if "refuse" in address:
            return "550 5.1.1 mailbox unavailable"
        if self.temporary_refusals > 0:
            self.temporary_refusals -= 1
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._arrived:
            self.messages.append(message)  # type: ignore[arg-type]
            self._arrived.notify_all()
        return "250 Message accepted"

    def wait_for(self, count: int, deadline: float = SETTLE_DEADLINE) -> list[EmailMessage]:
        """The messages once at least ``count`` arrived (AssertionError if not within the deadline)."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self.messages) >= count, timeout=deadline):
                raise AssertionError(f"expected {count} e-mails, the sink has {len(self.messages)}")
            return list(self.messages)


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on (free when asked)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def serving(sink: SmtpSink) -> Iterator[SmtpSink]:
    """``sink`` listening on its port until the block ends (it may be served again later)."""
    controller = Controller(sink, hostname="127.0.0.1", port=sink.port)
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()


@contextmanager
def running_smtp_sink() -> Iterator[SmtpSink]:
    with serving(SmtpSink(port=free_port())) as sink:
        yield sink


class LabClient:
    """The lab-seeded backend as the tests use it: the register POS-1, staff "crm", the members."""

    def __init__(self, base_url: str, db_url: str, sink: SmtpSink | None = None) -> None:
        self.base_url = base_url
        self.db_url = db_url
        self.sink = sink
        self.http = httpx.Client(base_url=base_url, timeout=30)
        self.pos = httpx.Client(base_url=base_url, auth=("POS-1", "lab"), timeout=30)
        self._fd = itertools.count(1000)
        self._staff_token: str | None = None

    def close(self) -> None:
        self.http.close()
        self.pos.close()

    # --- register -------------------------------------------------------------------------------------

    def post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        return self.pos.post(f"/pos/v1/{path}", json=body)

    def ok(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        answer = self.post(path, body)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def cheque(self, number: str | None = None, **changes: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "requestId": new_id(),
            "chequeNumber": "12",
            "chequeDateTime": WHEN,
            "identifier": card(number) if number else None,
            "lines": LINES,
            "total": TOTAL,
        }
        body.update(changes)
        return body

    def fiscal(self, total: int = TOTAL, operation: int = 1, date_time: str = WHEN) -> dict[str, Any]:
        fd = next(self._fd)
        return {
            "fn": FN,
            "fd": fd,
            "fp": 3_000_000_000 + fd,
            "operation": operation,
            "total": total,
            "dateTime": date_time,
        }

    def calculate(self, number: str | None = None, **changes: Any) -> dict[str, Any]:
        return self.ok("calculate", self.cheque(number, **changes))

    def confirm(self, purchase_id: str, fiscal: dict[str, Any]) -> dict[str, Any]:
        return self.ok("confirm", {"requestId": new_id(), "purchaseId": purchase_id, "fiscal": fiscal})

    def link(self, purchase_id: str, fiscal: dict[str, Any], url: str | None = None) -> dict[str, Any]:
        body = {
            "requestId": new_id(),
            "purchaseId": purchase_id,
            "fiscal": fiscal,
            "url": url or f"https://check.ofd.lab/r/{fiscal['fd']}",
            "qr": f"t=20260115T1432&s={format_rub(fiscal['total'])}&fn={FN}&i={fiscal['fd']}&n=1",
        }
        return self.ok("cheque-link", body)

    def sale(self, number: str | None = None) -> tuple[str, dict[str, Any]]:
        """A calculated and confirmed purchase: (purchaseId, its fiscal document)."""
        purchase_id = self.calculate(number)["purchaseId"]
        fiscal = self.fiscal()
        self.confirm(purchase_id, fiscal)
        return purchase_id, fiscal

    def refund_all(self, purchase_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """A whole refund of the purchase (1054 = 2): (the refund answer, its fiscal document)."""
        fiscal = self.fiscal(total=TOTAL, operation=2)
        body = {"requestId": new_id(), "originalPurchaseId": purchase_id, "lines": LINES, "total": TOTAL}
        return self.ok("refund", {**body, "fiscal": fiscal}), fiscal

    # --- staff and members ----------------------------------------------------------------------------

    def staff_headers(self) -> dict[str, str]:
        if self._staff_token is None:
            answer = self.http.post("/crm/v1/login", json={"login": "crm", "password": "lab"})
            assert answer.status_code == 200, answer.text
            self._staff_token = answer.json()["token"]
        return {"Authorization": f"Bearer {self._staff_token}"}

    def staff_get(self, path: str, **params: str) -> dict[str, Any]:
        answer = self.http.get(f"/crm/v1/{path}", params=params, headers=self.staff_headers())
        assert answer.status_code == 200, answer.text
        return answer.json()

    def staff_put(self, path: str, body: dict[str, Any]) -> httpx.Response:
        return self.http.put(f"/crm/v1/{path}", json=body, headers=self.staff_headers())

    def set_offer_active(self, channel: str, active: bool) -> None:
        """Switch the lab's offer of ``channel`` on or off through PUT /crm/v1/offers/{id}."""
        (offer,) = [o for o in self.staff_get("offers")["items"] if o["channel"] == channel]
        body = {
            k: offer[k] for k in ("name", "event", "channel", "subject", "template", "validFrom", "validTo")
        }
        answer = self.staff_put(f"offers/{offer['id']}", {**body, "active": active})
        assert answer.status_code == 200, answer.text
        assert answer.json()["active"] is active

    def set_mode(self, mode: str) -> None:
        shop = self.staff_get("settings")
        answer = self.staff_put("settings", {"deliveryMode": mode, "shopName": shop["shopName"]})
        assert answer.status_code == 200, answer.text

    def member_headers(self, number: str) -> dict[str, str]:
        answer = self.http.post("/member/v1/login", json={"card": number, "code": "0000"})
        assert answer.status_code == 200, answer.text
        return {"Authorization": f"Bearer {answer.json()['token']}"}

    def member_id(self, number: str) -> str:
        items = self.staff_get("members", query=number)["items"]
        assert len(items) == 1, items
        return items[0]["id"]

    def staff_history(self, number: str) -> list[dict[str, Any]]:
        return self.staff_get(f"members/{self.member_id(number)}/history")["items"]

    def settled_messages(self, member_id: str | None = None) -> list[dict[str, Any]]:
        """The messages once each is sent or failed for good (the sender is done with every one)."""
        return self.messages_when(
            lambda items: all(i["status"] in ("sent", "failed") for i in items), member_id
        )

    def messages_when(
        self, condition: Callable[[list[dict[str, Any]]], bool], member_id: str | None = None
    ) -> list[dict[str, Any]]:
        """The messages (CRM view) once ``condition`` holds for them; AssertionError after the deadline."""
        params = {"memberId": member_id} if member_id else {}
        stop_at = time.monotonic() + SETTLE_DEADLINE
        while True:
            items = self.staff_get("messages", **params)["items"]
            if condition(items):
                return items
            if time.monotonic() > stop_at:
                raise AssertionError(f"messages not settled as expected: {items}")
            time.sleep(0.05)


@contextmanager
def lab_backend(db_url: str, sink: SmtpSink | None, **settings: Any) -> Iterator[LabClient]:
    """A lab-seeded backend on 127.0.0.1 (any free port) over ``db_url``, e-mail to ``sink``."""
    options: dict[str, Any] = {"db_url": db_url, "port": 0, "seed": "lab", "sender_poll_seconds": 0.2}
    if sink is not None:
        options.update(smtp_host="127.0.0.1", smtp_port=sink.port)
    else:
        options.update(smtp_host=None)
    options.update(settings)
    with BackendServer(BackendSettings(**options)) as server:
        assert server.base_url is not None
        client = LabClient(server.base_url, db_url, sink)
        try:
            yield client
        finally:
            client.close()
