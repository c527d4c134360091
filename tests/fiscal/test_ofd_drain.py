"""The whole FN -> OFD chain over real channels: the FN emulator on a pty, the real driver, drain_ofd, the
OFD emulator over TCP, its pages over HTTP and its e-receipts through the SMTP sink.

The FN after ``fn`` is set up holds four documents (fn-protocol.md §10: one FD counter from 1):
FD 1 registration, FD 2 shift open, FD 3 a receipt for an e-mail, FD 4 a receipt for a phone.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import socket
import socketserver
import struct
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from register.demo_receipts import sample_receipt
from register.fiscal import fn_documents, kkt_documents
from register.fiscal.fn_driver import FnDriver, WireEvent
from register.fiscal.fn_errors import FnOfdRejected
from register.fiscal.fn_protocol import ReceiptSigned
from register.fiscal.ofd_client import OfdClient, OfdUnavailable
from register.fiscal.ofd_drain import DrainResult, OfdDrainError, drain_ofd
from register.lab.fn_emulator import DEFAULT_KEY
from register.lab.fn_server import FnServer
from register.lab.ofd_pages import NOT_FOUND_TITLE
from register.lab.ofd_server import OfdServer
from register.lab.ofd_store import DocumentKey
from register.lab.smtp_sink import SmtpSink

WHEN = datetime(2026, 3, 2, 10, 0)
OFD_CLOCK = datetime(2026, 3, 2, 10, 30)
BUYER_EMAIL = "buyer@example.com"
BUYER_PHONE = "+79161234567"
SELLER_SENDER = "noreply@lab.example"  # LAB_SELLER.sender_email, sent as 1117 with 1008
DEADLINE = 10.0
# sample_receipt(…, 3): milk 89.90 × 2 = 179.80, apples 129.90 × 1.355 = 176.0145 -> 176.01 (half-up),
# coffee 459.00: total 814.81 RUB. sample_receipt(…, 2): 179.80 + 176.01 = 355.81 RUB.
EMAIL_RECEIPT_TOTAL = "814.81"
PHONE_RECEIPT_TOTAL = "355.81"


@dataclass
class Lab:
    fn: FnDriver
    ofd: OfdServer
    sink: SmtpSink
    email_receipt: ReceiptSigned
    phone_receipt: ReceiptSigned
    commands: list[int]

    @property
    def fn_number(self) -> str:
        return self.fn.fn_number()

    def client(self, timeout: float = DEADLINE) -> OfdClient:
        assert self.ofd.addresses is not None
        return OfdClient(self.ofd.addresses.client_uri, timeout=timeout)


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    commands: list[int] = []

    def record(event: WireEvent) -> None:
        if event.direction == "out" and len(event.raw) > 3:
            commands.append(event.raw[3])

    fn_server = FnServer(tmp_path / "fn", pty=True, drift_check=False)
    fn_server.start()
    sink = SmtpSink(tmp_path / "mail")
    ofd = OfdServer(tmp_path / "ofd", smtp=sink.start(), clock=lambda: OFD_CLOCK)
    ofd.start()
    try:
        with FnDriver.open(f"serial:{fn_server.address}", timeout=2.0, on_wire=record) as fn:
            kkt_documents.register(fn, WHEN)
            kkt_documents.open_shift(fn, WHEN)
            email_receipt = fn_documents.fiscalise(
                fn, sample_receipt(WHEN + timedelta(minutes=1), 3, customer_contact=BUYER_EMAIL)
            )
            phone_receipt = fn_documents.fiscalise(
                fn, sample_receipt(WHEN + timedelta(minutes=2), 2, customer_contact=BUYER_PHONE)
            )
            commands.clear()
            yield Lab(fn, ofd, sink, email_receipt, phone_receipt, commands)
    finally:
        ofd.stop()
        sink.stop()
        fn_server.stop()


class Proxy:
    """A TCP hop between the register and the OFD that can hold or rewrite the OFD's answer."""

    def __init__(
        self, upstream: OfdClient, rewrite: Callable[[bytes], bytes] = lambda answer: answer
    ) -> None:
        self.arrived = threading.Event()
        self.release = threading.Event()
        self.release.set()
        proxy = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                conn: socket.socket = self.request
                (length,) = struct.unpack("<I", _read(conn, 4))
                request = _read(conn, length)
                answer = upstream.exchange(request)
                proxy.arrived.set()
                proxy.release.wait(DEADLINE)
                answer = rewrite(answer)
                conn.sendall(struct.pack("<I", len(answer)) + answer)

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.uri = f"tcp:127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


def _read(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise ConnectionError("peer closed")
        data += chunk
    return data


def _flip_last_byte(answer: bytes) -> bytes:
    return answer[:-1] + bytes([answer[-1] ^ 0xFF])


def _expected_ofd_sign(fn_number: str, fd: int) -> bytes:
    """ofd_container: HMAC-SHA256(key, b"OFDR1" | FN | FD LE | DATE_TIME)[:18], OFD clock 2026-03-02 10:30."""
    signed = b"OFDR1" + fn_number.encode() + struct.pack("<I", fd) + bytes([0x1A, 0x03, 0x02, 0x0A, 0x1E])
    return hmac.new(DEFAULT_KEY, signed, hashlib.sha256).digest()[:18]


# --- the full chain --------------------------------------------------------------------------------


def test_drain_sends_everything_and_the_fn_holds_the_tickets(lab: Lab) -> None:
    assert (lab.email_receipt.fd, lab.phone_receipt.fd) == (3, 4)
    assert lab.fn.unconfirmed_count() == 4
    status = lab.fn.ofd_status()
    assert (status.queued, status.first_fd) == (4, 1)

    result = drain_ofd(lab.fn, lab.client())

    assert result == DrainResult(confirmed=(1, 2, 3, 4), remaining=0)
    assert lab.fn.unconfirmed_count() == 0
    ticket = lab.fn.ofd_ticket(3)
    assert (ticket.fd, ticket.when) == (3, OFD_CLOCK)
    assert ticket.ofd_sign == _expected_ofd_sign(lab.fn_number, 3)
    assert lab.fn.find_document(3).ofd_confirmed
    assert lab.fn.ofd_status().flags & 0x01 == 0  # transport set down again (21h(0))


def test_drain_speaks_to_the_fn_like_a_kkt(lab: Lab) -> None:
    drain_ofd(lab.fn, lab.client(), limit=1)
    # 20h, 21h(1), then per message 20h, 22h, 23h (one block: the message is under 1024 bytes), 25h, 26h;
    # 21h(0), 42h.
    assert lab.commands == [0x20, 0x21, 0x20, 0x22, 0x23, 0x25, 0x26, 0x21, 0x42]


def test_nothing_queued_means_no_transport_commands(lab: Lab) -> None:
    drain_ofd(lab.fn, lab.client())
    lab.commands.clear()
    assert drain_ofd(lab.fn, lab.client()) == DrainResult(confirmed=(), remaining=0)
    assert lab.commands == [0x20]


def test_a_limit_sends_the_oldest_first(lab: Lab) -> None:
    assert drain_ofd(lab.fn, lab.client(), limit=2) == DrainResult(confirmed=(1, 2), remaining=2)
    assert lab.fn.ofd_status().first_fd == 3
    assert drain_ofd(lab.fn, lab.client(), limit=0) == DrainResult(confirmed=(), remaining=2)
    with pytest.raises(ValueError, match="must not be negative"):
        drain_ofd(lab.fn, lab.client(), limit=-1)


def test_the_receipt_page_of_a_drained_receipt(lab: Lab) -> None:
    drain_ofd(lab.fn, lab.client())
    receipt = lab.email_receipt
    page = httpx.get(lab.ofd.receipt_url(lab.fn_number, receipt.fd, receipt.fp))
    assert page.status_code == 200
    for expected in ("Молоко 3,2% 1 л", "Яблоки Гала, вес", "ИТОГ", EMAIL_RECEIPT_TOTAL, str(receipt.fp)):
        assert expected in page.text, expected
    qr = f"t=20260302T1001&s={EMAIL_RECEIPT_TOTAL}&fn={lab.fn_number}&i=3&fp={receipt.fp}&n=1"
    assert html.escape(qr) in page.text

    unknown = httpx.get(lab.ofd.receipt_url(lab.fn_number, 99, receipt.fp))
    assert unknown.status_code == 404
    assert NOT_FOUND_TITLE in unknown.text
    assert httpx.get(lab.ofd.receipt_url(lab.fn_number, receipt.fd, receipt.fp ^ 1)).status_code == 404


def test_the_ofd_sends_one_email_and_one_sms(lab: Lab) -> None:
    drain_ofd(lab.fn, lab.client())
    assert lab.ofd.wait_notifications(DEADLINE)
    (mail,) = lab.sink.messages()
    assert (mail["From"], mail["To"]) == (SELLER_SENDER, BUYER_EMAIL)
    body = mail.get_body(("plain",))
    assert body is not None
    link = lab.ofd.receipt_url(lab.fn_number, lab.email_receipt.fd, lab.email_receipt.fp)
    assert link in body.get_content()
    assert f"ИТОГ: {EMAIL_RECEIPT_TOTAL}" in body.get_content()

    (line,) = lab.ofd.sms_outbox.read_text(encoding="utf-8").splitlines()
    sms = json.loads(line)
    assert (sms["to"], sms["fd"]) == (BUYER_PHONE, lab.phone_receipt.fd)
    assert lab.ofd.receipt_url(lab.fn_number, lab.phone_receipt.fd, lab.phone_receipt.fp) in sms["text"]
    assert PHONE_RECEIPT_TOTAL in sms["text"]


# --- failures lose nothing -------------------------------------------------------------------------


def test_an_ofd_that_is_down_stops_the_drain_and_the_message_stays_queued(lab: Lab) -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    down = OfdClient(f"tcp:127.0.0.1:{port}", timeout=DEADLINE)

    with pytest.raises(OfdDrainError) as caught:
        drain_ofd(lab.fn, down)

    error = caught.value
    assert isinstance(error.__cause__, OfdUnavailable)
    assert (error.fd, error.confirmed) == (1, ())
    assert "unreachable" in str(error) and "FD 1 stays in the FN queue" in str(error)
    assert lab.fn.unconfirmed_count() == 4
    status = lab.fn.ofd_status()
    assert (status.queued, status.first_fd, status.flags & 0x01) == (4, 1, 0)

    assert drain_ofd(lab.fn, lab.client()).confirmed == (1, 2, 3, 4)  # nothing was lost


def test_a_corrupted_answer_is_rejected_by_the_fn_and_the_resend_mails_nothing_new(lab: Lab) -> None:
    drain_ofd(lab.fn, lab.client(), limit=2)
    corrupting = Proxy(lab.client(), rewrite=_flip_last_byte)
    try:
        with pytest.raises(OfdDrainError) as caught:
            drain_ofd(lab.fn, OfdClient(corrupting.uri, timeout=DEADLINE))
    finally:
        corrupting.close()

    rejected = caught.value.__cause__
    assert isinstance(rejected, FnOfdRejected)
    assert (rejected.code, rejected.reason) == (0x20, 1)  # fn-protocol.md §9.5: 20h, reason 1 wrong sign
    assert caught.value.fd == 3
    assert lab.fn.unconfirmed_count() == 2
    assert lab.fn.ofd_status().first_fd == 3
    assert lab.ofd.wait_notifications(DEADLINE)
    assert len(lab.sink.messages()) == 1  # the OFD got FD 3 and mailed it once

    assert drain_ofd(lab.fn, lab.client()) == DrainResult(confirmed=(3, 4), remaining=0)
    assert lab.ofd.wait_notifications(DEADLINE)
    assert len(lab.sink.messages()) == 1
    stored = lab.ofd.store.document(DocumentKey(lab.fn_number, 3, lab.email_receipt.fp))
    assert stored is not None and stored.times_received == 2


def test_a_sale_goes_on_while_the_drain_waits_for_the_ofd(lab: Lab) -> None:
    holding = Proxy(lab.client())
    holding.release.clear()
    results: list[DrainResult | BaseException] = []

    def background() -> None:
        try:
            results.append(drain_ofd(lab.fn, OfdClient(holding.uri, timeout=DEADLINE), limit=1))
        except BaseException as exc:
            results.append(exc)

    sales: list[ReceiptSigned] = []
    worker = threading.Thread(target=background)
    worker.start()
    try:
        assert holding.arrived.wait(DEADLINE)  # FD 1 is at the OFD; the drain waits for the answer
        cashier = threading.Thread(
            target=lambda: sales.append(
                fn_documents.fiscalise(lab.fn, sample_receipt(WHEN + timedelta(minutes=3), 1))
            )
        )
        cashier.start()
        cashier.join(DEADLINE)
        assert not cashier.is_alive(), "the sale waited for the OFD: the drain held the FN lock"
    finally:
        holding.release.set()
        worker.join(DEADLINE)
        holding.close()
    assert [sale.fd for sale in sales] == [5]
    assert results == [DrainResult(confirmed=(1,), remaining=4)]  # FD 2, 3, 4 and the new FD 5
