"""Offers fire on cheque-link: once per purchase, e-mail over real SMTP, SMS and push to the outbox."""

from __future__ import annotations

from sqlalchemy import select

from register.backend.database import Database
from register.backend.schema import outbox
from tests.backend.support import (
    CARD_ANNA,
    CARD_BORIS,
    CARD_VERA,
    LINES,
    TOTAL,
    LabClient,
    lab_backend,
    new_id,
)


def _outbox(db_url: str) -> list[dict]:
    db = Database(db_url)
    try:
        with db.read() as conn:
            return [dict(row) for row in conn.execute(select(outbox).order_by(outbox.c.id)).mappings()]
    finally:
        db.dispose()


def test_the_offer_e_mail_goes_out_once_per_purchase(lab: LabClient) -> None:
    assert lab.sink is not None
    purchase_id, fiscal = lab.sale(CARD_ANNA)
    url = "https://check.ofd.lab/r/anna-1"

    first = lab.link(purchase_id, fiscal, url=url)
    repeat = lab.link(purchase_id, fiscal, url=url)  # another requestId: still nothing new

    assert [m["id"] for m in repeat["messages"]] == [m["id"] for m in first["messages"]]
    messages = lab.settled_messages(lab.member_id(CARD_ANNA))
    email = next(m for m in messages if m["channel"] == "email")
    assert email["status"] == "sent"
    assert email["recipient"] == "anna@example.ru"
    assert email["link"] == url
    assert email["sentAt"] is not None
    mails = lab.sink.wait_for(1)
    assert len(mails) == 1
    assert mails[0]["To"] == "anna@example.ru"
    assert url in mails[0].get_content()
    assert "355.81 ₽" in mails[0].get_content()  # {total}
    assert "15.01.2026 14:32" in mails[0].get_content()  # {datetime}
    assert "Магазин №1" in mails[0]["Subject"]  # {shop}


def test_the_sms_offer_goes_to_the_outbox(lab: LabClient) -> None:
    purchase_id, fiscal = lab.sale(CARD_BORIS)
    url = "https://check.ofd.lab/r/boris-1"

    lab.link(purchase_id, fiscal, url=url)

    messages = lab.settled_messages(lab.member_id(CARD_BORIS))
    sms = next(m for m in messages if m["channel"] == "sms")
    assert sms["status"] == "sent"
    assert sms["recipient"] == "+79001234502"
    texts = _outbox(lab.db_url)
    assert len(texts) == 1
    assert texts[0]["recipient"] == "+79001234502"
    assert texts[0]["text"] == f"Ваш чек: {url} на 355.81 ₽, Магазин №1"


def test_a_channel_without_a_confirmed_contact_fails_with_the_reason(lab: LabClient) -> None:
    purchase_id, fiscal = lab.sale(CARD_VERA)

    answer = lab.link(purchase_id, fiscal)

    assert {m["channel"]: m["status"] for m in answer["messages"]} == {"email": "failed", "sms": "failed"}
    messages = lab.settled_messages(lab.member_id(CARD_VERA))
    assert {m["error"] for m in messages} == {
        "нет подтверждённого e-mail у участника",
        "нет подтверждённого телефона у участника",
    }


def test_in_ofd_mode_nothing_is_sent(lab: LabClient) -> None:
    assert lab.sink is not None
    lab.set_mode("OFD")
    purchase_id, fiscal = lab.sale(CARD_ANNA)

    answer = lab.link(purchase_id, fiscal)

    assert answer == {"stored": True, "messages": []}
    assert lab.settled_messages() == []
    assert lab.sink.messages == []
    assert _outbox(lab.db_url) == []
    assert next(i for i in lab.staff_history(CARD_ANNA) if i["id"] == purchase_id)["links"]


def test_the_mode_of_the_calculation_decides_not_the_current_one(lab: LabClient) -> None:
    purchase_id = lab.calculate(CARD_ANNA)["purchaseId"]  # calculated in LOYALTY
    fiscal = lab.fiscal()
    lab.confirm(purchase_id, fiscal)
    lab.set_mode("OFD")

    answer = lab.link(purchase_id, fiscal)

    assert {m["channel"] for m in answer["messages"]} == {"email", "sms"}


def test_a_refused_recipient_is_marked_failed_with_the_smtp_reason(lab: LabClient) -> None:
    headers = lab.member_headers(CARD_ANNA)
    lab.http.put("/member/v1/profile/contacts", json={"email": "refuse@example.ru"}, headers=headers)
    lab.http.post(
        "/member/v1/profile/contacts/confirm", json={"kind": "email", "code": "0000"}, headers=headers
    )
    purchase_id, fiscal = lab.sale(CARD_ANNA)

    lab.link(purchase_id, fiscal)

    email = next(m for m in lab.settled_messages(lab.member_id(CARD_ANNA)) if m["channel"] == "email")
    assert email["status"] == "failed"
    assert "550" in email["error"]


def test_an_unreachable_smtp_server_fails_the_message_with_the_reason(seeded_db_url: str) -> None:
    with lab_backend(seeded_db_url, None, smtp_host="127.0.0.1", smtp_port=1) as lab:
        purchase_id, fiscal = lab.sale(CARD_ANNA)
        lab.link(purchase_id, fiscal)

        email = next(m for m in lab.settled_messages(lab.member_id(CARD_ANNA)) if m["channel"] == "email")

    assert email["status"] == "failed"
    assert "127.0.0.1:1" in email["error"]


def test_a_refund_link_sends_the_return_receipt(lab: LabClient) -> None:
    assert lab.sink is not None
    purchase_id, _ = lab.sale(CARD_ANNA)
    refund_fiscal = lab.fiscal(total=TOTAL, operation=2)
    refund = lab.ok(
        "refund",
        {
            "requestId": new_id(),
            "originalPurchaseId": purchase_id,
            "lines": LINES,
            "total": TOTAL,
            "fiscal": refund_fiscal,
        },
    )

    lab.link(refund["refundId"], refund_fiscal, url="https://check.ofd.lab/r/return-1")

    mails = lab.sink.wait_for(1)
    assert "https://check.ofd.lab/r/return-1" in mails[0].get_content()


def test_offers_out_of_their_lifetime_or_inactive_do_not_fire(lab: LabClient) -> None:
    for offer in lab.staff_get("offers")["items"]:
        body = {k: offer[k] for k in ("name", "event", "channel", "subject", "template", "active")}
        lab.staff_put(f"offers/{offer['id']}", {**body, "active": False})
    lab.http.post(
        "/crm/v1/offers",
        json={
            "name": "Прошлогодняя акция",
            "event": "purchase_completed",
            "channel": "email",
            "template": "Ваш чек: {receipt_url}",
            "validFrom": "2020-01-01T00:00:00+03:00",
            "validTo": "2020-12-31T23:59:59+03:00",
        },
        headers=lab.staff_headers(),
    )
    purchase_id, fiscal = lab.sale(CARD_ANNA)

    assert lab.link(purchase_id, fiscal)["messages"] == []
