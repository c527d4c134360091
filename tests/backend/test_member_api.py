"""The personal account: login, profile, the refusal of paper, contacts; a member sees only their own."""

from __future__ import annotations

import pytest

from tests.backend.support import CARD_ANNA, CARD_BORIS, CARD_GLEB, LINES, LabClient, new_id


def test_login_by_card_and_by_confirmed_phone(lab: LabClient) -> None:
    by_card = lab.http.post("/member/v1/login", json={"card": CARD_BORIS, "code": "0000"})
    by_phone = lab.http.post("/member/v1/login", json={"phone": "+7 900 123-45-02", "code": "0000"})

    assert by_card.status_code == by_phone.status_code == 200
    assert by_card.json()["memberId"] == by_phone.json()["memberId"] == lab.member_id(CARD_BORIS)
    assert by_card.json()["token"] != by_phone.json()["token"]


@pytest.mark.parametrize(
    "body",
    [
        {"card": CARD_ANNA, "code": "1234"},
        {"card": "7000000000999", "code": "0000"},
        {"phone": "+79009999999", "code": "0000"},
    ],
)
def test_login_refusals_are_401(lab: LabClient, body: dict[str, str]) -> None:
    answer = lab.http.post("/member/v1/login", json=body)

    assert answer.status_code == 401
    assert answer.json()["errorCode"] == "UNAUTHORIZED"


def test_login_needs_exactly_one_of_card_and_phone(lab_sqlite: LabClient) -> None:
    both = lab_sqlite.http.post(
        "/member/v1/login", json={"card": CARD_ANNA, "phone": "+79001234502", "code": "0000"}
    )
    neither = lab_sqlite.http.post("/member/v1/login", json={"code": "0000"})

    assert both.status_code == neither.status_code == 400


def test_profile_shows_contacts_with_their_confirmation(lab: LabClient) -> None:
    profile = lab.http.get("/member/v1/profile", headers=lab.member_headers(CARD_ANNA)).json()

    assert profile["name"] == "Анна Смирнова"
    assert profile["cards"] == [CARD_ANNA]
    assert profile["contacts"] == {"email": {"value": "anna@example.ru", "confirmed": True}, "phone": None}
    assert profile["preferred"] == "email"
    assert profile["paperRefused"] is True
    assert profile["balance"] == 120


def test_refusing_paper_shows_in_the_next_calculate_with_the_notifier(lab: LabClient) -> None:
    assert lab.calculate(CARD_GLEB)["electronicCheque"]["paperRefused"] is False

    answer = lab.http.put(
        "/member/v1/profile/paper-receipts", json={"refused": True}, headers=lab.member_headers(CARD_GLEB)
    )

    assert answer.status_code == 200
    assert answer.json()["paperRefused"] is True
    cheque = lab.calculate(CARD_GLEB)["electronicCheque"]
    assert cheque["paperRefused"] is True
    assert cheque["notifier"] == {"kind": "email", "value": "gleb@example.ru"}


def test_a_new_contact_is_unconfirmed_until_confirmed(lab: LabClient) -> None:
    headers = lab.member_headers(CARD_ANNA)

    changed = lab.http.put("/member/v1/profile/contacts", json={"phone": "8 900 555-00-01"}, headers=headers)

    assert changed.json()["contacts"]["phone"] == {"value": "+79005550001", "confirmed": False}
    assert changed.json()["contacts"]["email"] == {"value": "anna@example.ru", "confirmed": True}
    confirmed = lab.http.post(
        "/member/v1/profile/contacts/confirm", json={"kind": "phone", "code": "0000"}, headers=headers
    )
    assert confirmed.json()["contacts"]["phone"]["confirmed"] is True


def test_the_preferred_contact_goes_into_the_notifier(lab: LabClient) -> None:
    headers = lab.member_headers(CARD_ANNA)
    lab.http.put(
        "/member/v1/profile/contacts", json={"phone": "+79005550001", "preferred": "phone"}, headers=headers
    )

    # The preferred phone is not confirmed yet: the confirmed e-mail stays the notifier.
    assert lab.calculate(CARD_ANNA)["electronicCheque"]["notifier"]["kind"] == "email"
    lab.http.post(
        "/member/v1/profile/contacts/confirm", json={"kind": "phone", "code": "0000"}, headers=headers
    )
    assert lab.calculate(CARD_ANNA)["electronicCheque"]["notifier"] == {
        "kind": "phone",
        "value": "+79005550001",
    }


def test_a_changed_email_loses_its_confirmation_and_the_notifier(lab: LabClient) -> None:
    headers = lab.member_headers(CARD_ANNA)

    lab.http.put("/member/v1/profile/contacts", json={"email": "anna.new@example.ru"}, headers=headers)

    assert lab.calculate(CARD_ANNA)["electronicCheque"]["notifier"] is None


def test_removing_a_contact_with_null(lab: LabClient) -> None:
    headers = lab.member_headers(CARD_ANNA)

    answer = lab.http.put("/member/v1/profile/contacts", json={"email": None}, headers=headers)

    assert answer.json()["contacts"]["email"] is None


@pytest.mark.parametrize(
    "body",
    [
        {"email": "not-an-email"},
        {"email": "a" * 60 + "@example.ru"},  # longer than tag 1008's 64 characters
        {"phone": "12345"},
        {"phone": "+1 202 555 0100"},
        {"preferred": "fax"},
    ],
)
def test_bad_contact_formats_are_400_validation(lab_sqlite: LabClient, body: dict[str, str]) -> None:
    answer = lab_sqlite.http.put(
        "/member/v1/profile/contacts", json=body, headers=lab_sqlite.member_headers(CARD_ANNA)
    )

    assert answer.status_code == 400
    assert answer.json()["errorCode"] == "VALIDATION"


def test_another_members_contact_cannot_be_taken(lab: LabClient) -> None:
    answer = lab.http.put(
        "/member/v1/profile/contacts", json={"phone": "+79001234502"}, headers=lab.member_headers(CARD_ANNA)
    )

    assert answer.status_code == 400
    assert answer.json()["errorCode"] == "VALIDATION"


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "email", "code": "1111"},  # wrong code
        {"kind": "phone", "code": "0000"},  # Анна has no phone to confirm
    ],
)
def test_confirmation_needs_the_code_and_a_contact(lab: LabClient, body: dict[str, str]) -> None:
    headers = lab.member_headers(CARD_ANNA)
    lab.http.put("/member/v1/profile/contacts", json={"email": "anna.new@example.ru"}, headers=headers)

    answer = lab.http.post("/member/v1/profile/contacts/confirm", json=body, headers=headers)

    assert answer.status_code == 400
    assert answer.json()["errorCode"] == "VALIDATION"
    profile = lab.http.get("/member/v1/profile", headers=headers).json()
    assert profile["contacts"]["email"] == {"value": "anna.new@example.ru", "confirmed": False}


def test_history_lists_own_purchases_newest_first_with_links(lab: LabClient) -> None:
    older_id = lab.calculate(CARD_ANNA, chequeDateTime="2026-01-10T10:00:00+03:00")["purchaseId"]
    older_fiscal = lab.fiscal(date_time="2026-01-10T10:00:00+03:00")
    lab.confirm(older_id, older_fiscal)
    newer_id, newer_fiscal = lab.sale(CARD_ANNA)
    lab.link(newer_id, newer_fiscal, url="https://check.ofd.lab/r/newer")
    cancelled = lab.calculate(CARD_ANNA)["purchaseId"]
    lab.ok("cancel", {"requestId": "8d0f3f7e-0d55-4a5a-9d7e-3f3c3d2d1e01", "purchaseId": cancelled})

    items = lab.http.get("/member/v1/history", headers=lab.member_headers(CARD_ANNA)).json()["items"]

    assert [item["id"] for item in items] == [newer_id, older_id]  # the cancelled one is not the member's
    assert items[0]["links"] == [
        {"url": "https://check.ofd.lab/r/newer", "qr": items[0]["links"][0]["qr"]},
    ]
    assert items[0]["total"] == 35581
    assert items[1]["links"] == []


def _refund(lab: LabClient, purchase_id: str, lines: list[dict], total: int) -> str:
    fiscal = lab.fiscal(total=total, operation=2)
    body = {"requestId": new_id(), "originalPurchaseId": purchase_id, "lines": lines, "total": total}
    return lab.ok("refund", {**body, "fiscal": fiscal})["refundId"]


def test_refunded_purchases_show_refunded_with_the_amount_to_the_member_and_the_crm(lab: LabClient) -> None:
    whole_id, _ = lab.sale(CARD_ANNA)
    part_id, _ = lab.sale(CARD_ANNA)
    kept_id, _ = lab.sale(CARD_ANNA)
    whole_refund = _refund(lab, whole_id, LINES, 35581)
    apples = _refund(lab, part_id, [LINES[1]], 17601)  # the apples back, the milk kept: 179.80 ₽ stays

    member_items = lab.http.get("/member/v1/history", headers=lab.member_headers(CARD_ANNA)).json()["items"]
    for items in (member_items, lab.staff_history(CARD_ANNA)):
        by_id = {item["id"]: item for item in items}
        assert {
            i: (by_id[i]["status"], by_id[i]["refundedAmount"]) for i in (whole_id, part_id, kept_id)
        } == {
            whole_id: ("REFUNDED", 35581),
            part_id: ("PARTIALLY_REFUNDED", 17601),
            kept_id: ("CONFIRMED", 0),
        }
        assert by_id[whole_id]["refunds"] == [whole_refund]
        assert by_id[part_id]["refunds"] == [apples]
        assert (by_id[apples]["kind"], by_id[apples]["status"], by_id[apples]["total"]) == (
            "refund",
            "REFUNDED",
            17601,
        )


def test_the_rest_of_a_partly_refunded_purchase_can_still_be_refunded(lab: LabClient) -> None:
    purchase_id, _ = lab.sale(CARD_ANNA)
    _refund(lab, purchase_id, [LINES[1]], 17601)
    _refund(lab, purchase_id, [LINES[0]], 17980)

    (item,) = [i for i in lab.staff_history(CARD_ANNA) if i["id"] == purchase_id]

    assert (item["status"], item["refundedAmount"], len(item["refunds"])) == ("REFUNDED", 35581, 2)


def test_a_member_token_reaches_only_its_own_member(lab: LabClient) -> None:
    lab.sale(CARD_ANNA)
    boris = lab.member_headers(CARD_BORIS)

    profile = lab.http.get("/member/v1/profile", headers=boris).json()
    history = lab.http.get("/member/v1/history", headers=boris).json()
    lab.http.put("/member/v1/profile/paper-receipts", json={"refused": False}, headers=boris)

    assert profile["name"] == "Борис Петров"
    assert history["items"] == []  # Анна's purchase is not Борис's
    anna = lab.http.get("/member/v1/profile", headers=lab.member_headers(CARD_ANNA)).json()
    assert anna["paperRefused"] is True  # Борис's change touched only Борис


@pytest.mark.parametrize("path", ["/member/v1/profile", "/member/v1/history"])
def test_member_endpoints_need_a_member_token(lab_sqlite: LabClient, path: str) -> None:
    missing = lab_sqlite.http.get(path)
    forged = lab_sqlite.http.get(path, headers={"Authorization": "Bearer forged"})
    staff = lab_sqlite.http.get(path, headers=lab_sqlite.staff_headers())

    assert missing.status_code == forged.status_code == 401
    assert staff.status_code == 403
    assert staff.json()["errorCode"] == "FORBIDDEN"
