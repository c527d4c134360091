"""Who sends the e-receipt in the lab, counted in the SMTP sink: exactly one e-mail per receipt.

The lab's OFD decides at drain time whether the loyalty backend sends a document's receipt
(``backend_sends_receipt``): by the delivery the backend fixed for the purchase at calculate, found by
its fiscal document, and by the receipt link it holds. In mode LOYALTY a member who refused paper gets
the backend's e-mail only, even with the e-mail offer switched off (the built-in e-receipt), and a
contact given at the till gets the OFD's only. Real lab: FN and printer over ptys, the backend over
HTTP, the OFD over TCP, mail in the sink's directory.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from email.message import EmailMessage

import httpx
import pytest

from register.backend.database import Database
from register.config import RegisterConfig
from register.domain.decision import BuyerAnswer
from register.lab.launcher import Lab, backend_sends_receipt
from register.lab.ofd_store import DocumentKey
from register.sale import Identifier, Register, SaleOutcome, SaleRequest
from tests.lab_client import LabClient

ANNA = "7000000000001"  # refused paper, confirmed e-mail
ANNA_EMAIL = "anna@example.ru"
GLEB = "7000000000004"  # has not refused paper
BACKEND_SENDER = "noreply@loyalty.lab"  # BackendSettings.smtp_sender
DEADLINE = 20.0


class LabView(LabClient):
    """The lab client, with what these tests need besides: settling, switching the e-mail offer."""

    def settle(self) -> None:
        """Wait until neither the backend nor the OFD has anything left to send (all sent or failed)."""
        assert self.lab.ofd is not None
        assert self.lab.ofd.wait_notifications(DEADLINE)
        stop_at = time.monotonic() + DEADLINE
        while True:
            items = self.http.get("/crm/v1/messages", headers=self.staff).json()["items"]
            if all(item["status"] in ("sent", "failed") for item in items):
                return
            assert time.monotonic() < stop_at, f"backend messages not settled: {items}"
            time.sleep(0.05)

    def set_email_offer(self, active: bool) -> None:
        offers = self.http.get("/crm/v1/offers", headers=self.staff).json()["items"]
        (offer,) = [o for o in offers if o["channel"] == "email"]
        fields = ("name", "event", "channel", "subject", "template", "validFrom", "validTo")
        body = {**{k: offer[k] for k in fields}, "active": active}
        self.http.put(f"/crm/v1/offers/{offer['id']}", json=body, headers=self.staff).raise_for_status()


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabView]:
    lab = Lab(tmp_path_factory.mktemp("lab"))
    view = LabView(lab, lab.start())
    try:
        yield view
    finally:
        view.http.close()
        lab.stop()


@pytest.fixture(scope="module")
def register(lab: LabView) -> Iterator[Register]:
    with Register.open(RegisterConfig.load(lab.addresses.config)) as reg:
        reg.ensure_shift()
        yield reg


def sell(register: Register, card: str | None = None, buyer: BuyerAnswer | None = None) -> SaleOutcome:
    lines = (register.config.catalogue.scan("4600000000011x2"),)
    identifier = Identifier("CardNumber", card) if card else None
    outcome = register.sell(SaleRequest(lines=lines, identifier=identifier, buyer=buyer))
    register.drain_ofd()
    return outcome


def new_mails(lab: LabView, before: int, expect: int) -> list[EmailMessage]:
    """The mails that arrived since ``before`` were counted, once both senders are done."""
    stop_at = time.monotonic() + DEADLINE
    while len(lab.mails()) < before + expect and time.monotonic() < stop_at:
        time.sleep(0.05)
    lab.settle()
    return lab.mails()[before:]


def test_refused_paper_in_mode_loyalty_gets_one_email_in_all_the_backends(
    lab: LabView, register: Register
) -> None:
    before = len(lab.mails())

    outcome = sell(register, ANNA)

    assert not outcome.printed and outcome.decision.reason == "refused-paper-loyalty"
    assert outcome.stamp is not None and outcome.link is not None
    (mail,) = new_mails(lab, before, 1)
    assert (mail["To"], mail["X-Envelope-From"]) == (ANNA_EMAIL, BACKEND_SENDER)
    assert outcome.link in _text(mail)
    assert lab.lab.ofd is not None
    key = DocumentKey(outcome.stamp.fn, outcome.stamp.fd, outcome.stamp.fp)
    assert lab.lab.ofd.store.document(key) is not None  # the OFD has the document …
    assert lab.lab.ofd.store.notice(key) is None  # … and left the e-receipt to the backend


def test_with_the_email_offer_off_the_refused_paper_receipt_still_comes_once(
    lab: LabView, register: Register
) -> None:
    """The audit's live case: the CRM switches the e-mail offer off; the sale to Анна is still not
    printed, and her receipt arrives in the backend's built-in e-receipt, once."""
    before = len(lab.mails())
    lab.set_email_offer(False)
    try:
        outcome = sell(register, ANNA)
    finally:
        lab.set_email_offer(True)

    assert not outcome.printed and outcome.decision.reason == "refused-paper-loyalty"
    assert outcome.link is not None
    (mail,) = new_mails(lab, before, 1)
    assert (mail["To"], mail["X-Envelope-From"]) == (ANNA_EMAIL, BACKEND_SENDER)
    assert mail["Subject"] == "Электронный чек: Магазин №1"
    assert outcome.link in _text(mail)


@pytest.mark.parametrize(
    ("card", "printed"),
    [(GLEB, False), (None, True)],  # without a member the receipt is printed too (no-member row)
    ids=["member", "no-member"],
)
def test_a_till_contact_in_mode_loyalty_gets_one_email_in_all_the_ofds(
    lab: LabView, register: Register, card: str | None, printed: bool
) -> None:
    contact = f"till-{card or 'guest'}@example.ru"
    before = len(lab.mails())

    outcome = sell(register, card, BuyerAnswer(True, contact))

    assert outcome.printed is printed
    (mail,) = new_mails(lab, before, 1)
    assert (mail["To"], mail["X-Envelope-From"]) == (contact, register.config.seller.sender_email)
    assert mail["X-OFD-FD"] == str(outcome.stamp.fd if outcome.stamp else None)


def test_the_backend_takes_a_document_only_with_its_link_and_for_its_notifier(lab: LabView) -> None:
    """backend_sends_receipt over the lab's database, the purchase made through the POS API by hand."""
    pos = httpx.Client(base_url=lab.addresses.loyalty, auth=("POS-1", "lab"), timeout=10)
    line = {"position": 1, "sku": "MILK", "name": "Молоко", "price": 8990, "quantity": "1", "amount": 8990}
    when = "2026-01-15T14:32:00+03:00"
    fiscal = {
        "fn": "9999078900009999",
        "fd": 77,
        "fp": 1234567,
        "operation": 1,
        "total": 8990,
        "dateTime": when,
    }
    key = DocumentKey("9999078900009999", 77, 1234567)
    db = Database(f"sqlite:///{lab.lab.data_dir / 'loyalty.sqlite3'}")
    try:
        calculated = pos.post(
            "/pos/v1/calculate",
            json={
                "requestId": str(uuid.uuid4()),
                "chequeNumber": "1",
                "chequeDateTime": when,
                "identifier": {"type": "CardNumber", "value": ANNA},
                "lines": [line],
                "total": 8990,
            },
        ).json()
        purchase = calculated["purchaseId"]
        confirm = {"requestId": str(uuid.uuid4()), "purchaseId": purchase, "fiscal": fiscal}
        pos.post("/pos/v1/confirm", json=confirm).raise_for_status()

        assert backend_sends_receipt(db, key, ANNA_EMAIL) is False  # confirmed, but no link: not taken

        link = {
            "requestId": str(uuid.uuid4()),
            "purchaseId": purchase,
            "fiscal": fiscal,
            "url": "http://ofd.lab/rec/9999078900009999/77/1234567",
            "qr": "t=20260115T1432&s=89.90&fn=9999078900009999&i=77&fp=1234567&n=1",
        }
        pos.post("/pos/v1/cheque-link", json=link).raise_for_status()

        assert backend_sends_receipt(db, key, ANNA_EMAIL) is True
        assert backend_sends_receipt(db, key, " Anna@Example.RU ") is True
        assert backend_sends_receipt(db, key, "someone.else@example.ru") is False  # 1008 is not hers
        assert backend_sends_receipt(db, DocumentKey(key.fn, key.fd, key.fp + 1), ANNA_EMAIL) is False
        assert backend_sends_receipt(db, DocumentKey(key.fn, 78, key.fp), ANNA_EMAIL) is False
    finally:
        db.dispose()
        pos.close()
    lab.settle()


def _text(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    return body.get_content()
