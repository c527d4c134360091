"""The staff endpoints: login, member search, history, messages, offers, settings."""

from __future__ import annotations

import pytest

from tests.backend.support import CARD_ANNA, CARD_BORIS, CARD_DARIA, LabClient

OFFER = {
    "name": "Скидка на следующую покупку",
    "event": "purchase_completed",
    "channel": "push",
    "subject": "",
    "template": "Спасибо за покупку в {shop} на {total}! Чек: {receipt_url}",
    "active": True,
    "validFrom": None,
    "validTo": None,
}


def test_staff_login_refuses_a_wrong_password(lab: LabClient) -> None:
    answer = lab.http.post("/crm/v1/login", json={"login": "crm", "password": "wrong"})

    assert answer.status_code == 401
    assert answer.json()["errorCode"] == "UNAUTHORIZED"


@pytest.mark.parametrize(
    ("query", "cards"),
    [
        (CARD_BORIS, [CARD_BORIS]),
        ("anna@EXAMPLE", [CARD_ANNA]),
        ("8 900 123-45-02", [CARD_BORIS]),
        ("смирн", [CARD_ANNA]),  # case-insensitive Cyrillic: "Анна Смирнова"
        ("ДАРЬЯ", [CARD_DARIA]),
        ("70000000000", [f"700000000000{n}" for n in range(1, 6)]),
        ("nobody-like-this", []),
        ("100%_", []),  # LIKE wildcards are literal
    ],
)
def test_member_search(lab: LabClient, query: str, cards: list[str]) -> None:
    items = lab.staff_get("members", query=query)["items"]

    assert sorted(card for item in items for card in item["cards"]) == cards


def test_member_search_shows_the_flags(lab: LabClient) -> None:
    (daria,) = lab.staff_get("members", query=CARD_DARIA)["items"]
    (anna,) = lab.staff_get("members", query=CARD_ANNA)["items"]

    assert daria["blocked"] is True
    assert anna == {
        "id": anna["id"],
        "name": "Анна Смирнова",
        "cards": [CARD_ANNA],
        "email": "anna@example.ru",
        "phone": None,
        "paperRefused": True,
        "blocked": False,
    }


def test_without_a_query_every_member_is_listed(lab: LabClient) -> None:
    assert len(lab.staff_get("members")["items"]) == 5


def test_staff_history_shows_cancelled_purchases_too(lab: LabClient) -> None:
    purchase_id = lab.calculate(CARD_ANNA)["purchaseId"]
    lab.ok("cancel", {"requestId": "5b7c2c84-8f0b-4f5e-a2c4-0b6a1d1e2f30", "purchaseId": purchase_id})

    items = lab.staff_history(CARD_ANNA)

    assert [(item["id"], item["status"]) for item in items] == [(purchase_id, "CANCELLED")]


def test_history_of_an_unknown_member_is_404(lab: LabClient) -> None:
    answer = lab.http.get("/crm/v1/members/nobody/history", headers=lab.staff_headers())

    assert answer.status_code == 404
    assert answer.json()["errorCode"] == "MEMBER_NOT_FOUND"


def test_messages_are_filtered_by_member(lab: LabClient) -> None:
    anna_purchase, anna_fiscal = lab.sale(CARD_ANNA)
    boris_purchase, boris_fiscal = lab.sale(CARD_BORIS)
    lab.link(anna_purchase, anna_fiscal)
    lab.link(boris_purchase, boris_fiscal)

    anna = lab.settled_messages(lab.member_id(CARD_ANNA))

    assert {m["purchaseId"] for m in anna} == {anna_purchase}
    assert len(lab.settled_messages()) == 4  # two offers for each of the two purchases


def test_offers_are_created_listed_and_updated(lab: LabClient) -> None:
    created = lab.http.post("/crm/v1/offers", json=OFFER, headers=lab.staff_headers())

    assert created.status_code == 201
    offer = created.json()
    assert {k: offer[k] for k in OFFER} == OFFER
    assert offer["id"] in {o["id"] for o in lab.staff_get("offers")["items"]}
    updated = lab.staff_put(f"offers/{offer['id']}", {**OFFER, "active": False})
    assert updated.status_code == 200
    assert updated.json()["active"] is False


def test_a_push_offer_lands_in_the_outbox_for_the_members_app(lab: LabClient) -> None:
    lab.http.post("/crm/v1/offers", json=OFFER, headers=lab.staff_headers())
    purchase_id, fiscal = lab.sale(CARD_ANNA)
    lab.link(purchase_id, fiscal)

    push = next(m for m in lab.settled_messages(lab.member_id(CARD_ANNA)) if m["channel"] == "push")

    assert push["status"] == "sent"
    assert push["recipient"] == lab.member_id(CARD_ANNA)


@pytest.mark.parametrize(
    "change",
    [
        {"template": "Чек: {receipt}"},  # unknown placeholder
        {"event": "birthday"},
        {"channel": "fax"},
        {"validFrom": "2026-02-01T00:00:00+03:00", "validTo": "2026-01-01T00:00:00+03:00"},
        {"name": ""},
    ],
)
def test_bad_offers_are_400_validation(lab_sqlite: LabClient, change: dict[str, object]) -> None:
    answer = lab_sqlite.http.post(
        "/crm/v1/offers", json={**OFFER, **change}, headers=lab_sqlite.staff_headers()
    )

    assert answer.status_code == 400
    assert answer.json()["errorCode"] == "VALIDATION"


def test_updating_an_unknown_offer_is_404(lab: LabClient) -> None:
    answer = lab.staff_put("offers/nope", OFFER)

    assert answer.status_code == 404
    assert answer.json()["errorCode"] == "OFFER_NOT_FOUND"


def test_settings_round_trip(lab: LabClient) -> None:
    assert lab.staff_get("settings") == {"deliveryMode": "LOYALTY", "shopName": "Магазин №1"}

    answer = lab.staff_put("settings", {"deliveryMode": "OFD", "shopName": "Магазин №2"})

    assert answer.status_code == 200
    assert lab.staff_get("settings") == {"deliveryMode": "OFD", "shopName": "Магазин №2"}


def test_settings_refuse_an_unknown_mode(lab_sqlite: LabClient) -> None:
    answer = lab_sqlite.staff_put("settings", {"deliveryMode": "PIGEON", "shopName": "Магазин"})

    assert answer.status_code == 400


@pytest.mark.parametrize("path", ["members", "messages", "offers", "settings", "members/x/history"])
def test_staff_endpoints_refuse_member_tokens_and_strangers(lab_sqlite: LabClient, path: str) -> None:
    member = lab_sqlite.http.get(f"/crm/v1/{path}", headers=lab_sqlite.member_headers(CARD_ANNA))
    stranger = lab_sqlite.http.get(f"/crm/v1/{path}")

    assert member.status_code == 403
    assert member.json()["errorCode"] == "FORBIDDEN"
    assert stranger.status_code == 401
