"""Offers fire on cheque-link: once per purchase, e-mail over real SMTP, SMS and push to the outbox. A
member who refused paper gets the e-receipt even when no active offer of the notifier's channel carries
it (the built-in e-receipt message), and cheque-link's answer says which message carries the receipt."""

from __future__ import annotations

from sqlalchemy import select

from register.backend.database import Database
from register.backend.schema import outbox
from tests.backend.support import (
    CARD_ANNA,
    CARD_BORIS,
    CARD_GLEB,
    CARD_VERA,
    LabClient,
    SmtpSink,
    free_port,
    lab_backend,
    serving,
)

FAST_RETRIES = {"smtp_retry_seconds": 0.05, "smtp_retry_max_seconds": 0.2}


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
    # Анна has a confirmed e-mail and no phone: the e-mail offer carries her receipt, the SMS one fails.
    by_channel = {m["channel"]: m for m in first["messages"]}
    assert {c: (m["kind"], m["carriesReceipt"]) for c, m in by_channel.items()} == {
        "email": ("offer", True),
        "sms": ("offer", False),
    }
    assert by_channel["sms"]["status"] == "failed"
    assert first["eReceipt"] == {
        "owed": True,
        "status": by_channel["email"]["status"],
        "channel": "email",
        "recipient": "anna@example.ru",
        "messageIds": [by_channel["email"]["id"]],
    }
    assert by_channel["email"]["status"] in ("queued", "sent")
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

    assert answer == {
        "stored": True,
        "messages": [],
        "eReceipt": {
            "owed": False,  # the OFD sends it
            "status": "none",
            "channel": "email",
            "recipient": "anna@example.ru",
            "messageIds": [],
        },
    }
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
    assert (email["status"], email["attempts"]) == ("failed", 1)  # permanent: not retried
    assert "550" in email["error"]
    assert lab.sink is not None and lab.sink.messages == []


def test_an_unreachable_smtp_server_fails_the_message_after_the_last_attempt(seeded_db_url: str) -> None:
    with lab_backend(
        seeded_db_url, None, smtp_host="127.0.0.1", smtp_port=1, smtp_max_attempts=3, **FAST_RETRIES
    ) as lab:
        purchase_id, fiscal = lab.sale(CARD_ANNA)
        lab.link(purchase_id, fiscal)

        email = next(m for m in lab.settled_messages(lab.member_id(CARD_ANNA)) if m["channel"] == "email")

    assert (email["status"], email["attempts"]) == ("failed", 3)
    assert "127.0.0.1:1" in email["error"]
    assert "попыток: 3" in email["error"]


def test_an_email_waits_for_a_stopped_smtp_server_and_goes_once_it_is_back(seeded_db_url: str) -> None:
    sink = SmtpSink(port=free_port())  # not serving yet: connections are refused
    with lab_backend(seeded_db_url, sink, smtp_max_attempts=1000, **FAST_RETRIES) as lab:
        member_id = lab.member_id(CARD_ANNA)
        purchase_id, fiscal = lab.sale(CARD_ANNA)
        url = "https://check.ofd.lab/r/anna-retried"
        lab.link(purchase_id, fiscal, url=url)

        def email_of(items: list[dict]) -> dict:
            return next(m for m in items if m["channel"] == "email")

        waiting = email_of(lab.messages_when(lambda items: email_of(items)["attempts"] >= 2, member_id))
        assert waiting["status"] == "retrying"
        assert "недоступен" in waiting["error"]  # the last attempt's reason, kept while retrying
        assert lab.sink is sink and sink.messages == []
        assert lab.link(purchase_id, fiscal, url=url)["eReceipt"]["status"] == "retrying"

        with serving(sink):
            sent = email_of(lab.messages_when(lambda items: email_of(items)["status"] == "sent", member_id))
            (mail,) = sink.wait_for(1)

    assert sent["attempts"] >= 3 and sent["error"] is None and sent["sentAt"] is not None
    assert mail["To"] == "anna@example.ru" and url in mail.get_content()
    assert len(sink.messages) == 1


def test_a_temporary_refusal_is_retried_and_the_email_sent_once(
    seeded_db_url: str, smtp_sink: SmtpSink
) -> None:
    smtp_sink.temporary_refusals = 1
    with lab_backend(seeded_db_url, smtp_sink, **FAST_RETRIES) as lab:
        purchase_id, fiscal = lab.sale(CARD_ANNA)
        lab.link(purchase_id, fiscal)
        email = next(m for m in lab.settled_messages(lab.member_id(CARD_ANNA)) if m["channel"] == "email")

    assert (email["status"], email["attempts"], email["error"]) == ("sent", 2, None)
    assert [m["To"] for m in smtp_sink.wait_for(1)] == ["anna@example.ru"]


def test_a_refund_link_sends_the_return_receipt(lab: LabClient) -> None:
    assert lab.sink is not None
    purchase_id, _ = lab.sale(CARD_ANNA)
    refund, refund_fiscal = lab.refund_all(purchase_id)

    lab.link(refund["refundId"], refund_fiscal, url="https://check.ofd.lab/r/return-1")

    mails = lab.sink.wait_for(1)
    assert "https://check.ofd.lab/r/return-1" in mails[0].get_content()


def test_offers_out_of_their_lifetime_or_inactive_do_not_fire(lab: LabClient) -> None:
    """Глеб has not refused paper: no e-receipt is owed, so no offer means no message at all."""
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
    purchase_id, fiscal = lab.sale(CARD_GLEB)

    answer = lab.link(purchase_id, fiscal)

    assert answer["messages"] == []
    assert answer["eReceipt"] == {
        "owed": False,  # his paper receipt was printed
        "status": "none",
        "channel": "email",
        "recipient": "gleb@example.ru",
        "messageIds": [],
    }


def test_without_an_active_email_offer_the_built_in_e_receipt_is_sent_once(lab: LabClient) -> None:
    """The audit's case: the e-mail offer switched off in the CRM, then a sale to Анна (refused paper,
    confirmed e-mail). The register suppressed paper on the backend's word: the receipt must still go."""
    assert lab.sink is not None
    lab.set_offer_active("email", False)
    purchase_id, fiscal = lab.sale(CARD_ANNA)
    url = "https://check.ofd.lab/r/anna-built-in"

    first = lab.link(purchase_id, fiscal, url=url)
    repeat = lab.link(purchase_id, fiscal, url=url)

    receipt = next(m for m in first["messages"] if m["kind"] == "receipt")
    assert (receipt["channel"], receipt["carriesReceipt"]) == ("email", True)
    assert [(m["channel"], m["kind"], m["status"]) for m in first["messages"] if m is not receipt] == [
        ("sms", "offer", "failed")  # the SMS offer is still on; Анна has no phone
    ]
    assert first["eReceipt"]["owed"] is True
    assert first["eReceipt"]["messageIds"] == [receipt["id"]]
    assert first["eReceipt"]["status"] in ("queued", "sent")
    assert [m["id"] for m in repeat["messages"]] == [m["id"] for m in first["messages"]]
    messages = lab.settled_messages(lab.member_id(CARD_ANNA))
    built_in = next(m for m in messages if m["id"] == receipt["id"])
    assert (built_in["kind"], built_in["offerId"], built_in["status"]) == ("receipt", None, "sent")
    assert (built_in["recipient"], built_in["link"]) == ("anna@example.ru", url)
    (mail,) = lab.sink.wait_for(1)
    assert mail["To"] == "anna@example.ru"
    assert mail["Subject"] == "Электронный чек: Магазин №1"
    text = mail.get_content()
    for part in (url, "Магазин №1", "Сумма: 355.81 ₽", "Дата: 15.01.2026 14:32"):
        assert part in text
    assert lab.link(purchase_id, fiscal, url=url)["eReceipt"]["status"] == "sent"
    assert len(lab.sink.messages) == 1


def test_without_an_active_sms_offer_the_built_in_e_receipt_goes_by_sms(lab: LabClient) -> None:
    lab.set_offer_active("sms", False)
    purchase_id, fiscal = lab.sale(CARD_BORIS)
    url = "https://check.ofd.lab/r/boris-built-in"

    answer = lab.link(purchase_id, fiscal, url=url)

    carrying = [m for m in answer["messages"] if m["carriesReceipt"]]
    assert [(m["channel"], m["kind"]) for m in carrying] == [("sms", "receipt")]
    assert answer["eReceipt"]["recipient"] == "+79001234502"
    lab.settled_messages(lab.member_id(CARD_BORIS))
    texts = _outbox(lab.db_url)
    assert [(t["recipient"], t["text"]) for t in texts] == [
        ("+79001234502", f"Чек Магазин №1 на 355.81 ₽ от 15.01.2026 14:32: {url}")
    ]


def test_an_active_offer_on_another_channel_does_not_count_as_the_e_receipt(lab: LabClient) -> None:
    """Борис's notifier is his phone: an e-mail offer cannot carry his receipt (he has no e-mail)."""
    lab.set_offer_active("sms", False)
    purchase_id, fiscal = lab.sale(CARD_BORIS)

    answer = lab.link(purchase_id, fiscal)

    assert sorted((m["channel"], m["kind"], m["status"]) for m in answer["messages"]) == [
        ("email", "offer", "failed"),
        ("sms", "receipt", answer["eReceipt"]["status"]),
    ]


def test_a_refund_of_a_refused_paper_purchase_gets_the_built_in_e_receipt(lab: LabClient) -> None:
    assert lab.sink is not None
    lab.set_offer_active("email", False)
    purchase_id, _ = lab.sale(CARD_ANNA)
    refund, refund_fiscal = lab.refund_all(purchase_id)

    answer = lab.link(refund["refundId"], refund_fiscal, url="https://check.ofd.lab/r/return-built-in")

    assert [m["kind"] for m in answer["messages"] if m["carriesReceipt"]] == ["receipt"]
    (mail,) = lab.sink.wait_for(1)
    assert "https://check.ofd.lab/r/return-built-in" in mail.get_content()


def test_the_built_in_messages_are_not_staff_offers(lab: LabClient) -> None:
    offers = lab.staff_get("offers")["items"]
    assert sorted(o["name"] for o in offers) == ["Электронный чек в SMS", "Электронный чек на e-mail"]
    answer = lab.staff_put(
        "offers/083b785b-51b5-56f4-b82f-ff4c98e210cd",  # the built-in e-mail message (migration 2)
        {"name": "x", "event": "purchase_completed", "channel": "email", "template": "{receipt_url}"},
    )
    assert answer.status_code == 404
    assert answer.json()["errorCode"] == "OFFER_NOT_FOUND"
