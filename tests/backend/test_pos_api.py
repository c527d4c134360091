"""The register endpoints over real HTTP: happy paths and every refusal, on SQLite and PostgreSQL."""

from __future__ import annotations

import httpx
import pytest

from tests.backend.support import (
    CARD_ANNA,
    CARD_BORIS,
    CARD_DARIA,
    CARD_GLEB,
    CARD_VERA,
    LINES,
    TOTAL,
    LabClient,
    card,
    new_id,
)


def test_balance_names_the_member_and_the_e_receipt_choice(lab: LabClient) -> None:
    answer = lab.ok("balance", {"requestId": new_id(), "identifier": card(CARD_ANNA)})

    assert answer["member"]["name"] == "Анна Смирнова"
    assert answer["member"]["balance"] == 120
    assert answer["electronicCheque"] == {
        "paperRefused": True,
        "mode": "LOYALTY",
        "notifier": {"kind": "email", "value": "anna@example.ru"},
        "needLink": True,
    }


@pytest.mark.parametrize(
    ("number", "status", "code"),
    [(CARD_DARIA, 403, "CARD_BLOCKED"), ("7000000000999", 404, "MEMBER_NOT_FOUND")],
)
def test_balance_refuses_blocked_and_unknown_cards(
    lab: LabClient, number: str, status: int, code: str
) -> None:
    answer = lab.post("balance", {"requestId": new_id(), "identifier": card(number)})

    assert answer.status_code == status
    assert answer.json()["errorCode"] == code


@pytest.mark.parametrize(
    ("number", "notifier"),
    [
        (CARD_ANNA, {"kind": "email", "value": "anna@example.ru"}),
        (CARD_BORIS, {"kind": "phone", "value": "+79001234502"}),
        (CARD_VERA, None),  # refused paper without a confirmed contact: the register must print
    ],
)
def test_calculate_tells_the_refusal_and_the_confirmed_notifier(
    lab: LabClient, number: str, notifier: dict[str, str] | None
) -> None:
    answer = lab.calculate(number)

    assert answer["electronicCheque"]["paperRefused"] is True
    assert answer["electronicCheque"]["notifier"] == notifier
    assert answer["chequeMessages"] == []  # nothing is printed for a member who refused paper
    assert answer["cashierMessages"]


def test_calculate_prices_the_cheque_without_discounts(lab: LabClient) -> None:
    answer = lab.calculate(CARD_GLEB)

    assert answer["discount"] == 0
    assert answer["total"] == TOTAL
    assert answer["lines"] == [
        {"position": 1, "discount": 0, "amount": 17980},
        {"position": 2, "discount": 0, "amount": 17601},
    ]
    assert answer["electronicCheque"]["paperRefused"] is False
    assert answer["chequeMessages"], "a member who keeps paper gets the offer texts on the receipt"


def test_calculate_without_member_has_no_electronic_cheque(lab: LabClient) -> None:
    answer = lab.calculate(None)

    assert answer["member"] is None
    assert answer["electronicCheque"] is None
    assert answer["chequeMessages"] == []
    assert answer["cashierMessages"] == []


@pytest.mark.parametrize(
    ("identifier", "status", "code"),
    [
        (card("7000000000999"), 404, "MEMBER_NOT_FOUND"),
        (card(CARD_DARIA), 403, "CARD_BLOCKED"),
        ({"type": "Phone", "value": "+79001234599"}, 404, "MEMBER_NOT_FOUND"),
    ],
)
def test_calculate_refuses_unknown_and_blocked_cards(
    lab: LabClient, identifier: dict[str, str], status: int, code: str
) -> None:
    answer = lab.post("calculate", lab.cheque(None, identifier=identifier))

    assert answer.status_code == status
    assert answer.json()["errorCode"] == code
    if code == "CARD_BLOCKED":
        assert answer.json()["message"] == "Карта заблокирована"


@pytest.mark.parametrize(
    ("identifier", "name"),
    [
        ({"type": "Phone", "value": "8 (900) 123-45-02"}, "Борис Петров"),
        ({"type": "Email", "value": "Anna@Example.ru"}, "Анна Смирнова"),
        ({"type": "CardBarCode", "value": CARD_GLEB}, "Глеб Иванов"),
        ({"type": "QrCode", "value": CARD_BORIS}, "Борис Петров"),
    ],
)
def test_members_are_found_by_confirmed_phone_email_barcode_and_qr(
    lab: LabClient, identifier: dict[str, str], name: str
) -> None:
    assert lab.calculate(None, identifier=identifier)["member"]["name"] == name


def test_an_unconfirmed_email_does_not_identify(lab: LabClient) -> None:
    answer = lab.post("calculate", lab.cheque(None, identifier={"type": "Email", "value": "vera@example.ru"}))

    assert answer.status_code == 404


@pytest.mark.parametrize(
    "change",
    [
        {"total": TOTAL + 1},  # not the sum of the lines
        {"lines": []},
        {"lines": [dict(LINES[0], quantity="0")]},
        {"lines": [dict(LINES[0], quantity="1.2345")]},
        {"lines": [dict(LINES[0], price=-1)]},
        {"lines": [dict(LINES[0], price=89.9)]},  # money is never a float
        {"lines": [LINES[0], dict(LINES[1], position=1)], "total": TOTAL},
        {"chequeDateTime": "2026-01-15T14:32:00"},  # no offset
        {"requestId": "not-a-uuid"},
        {"identifier": {"type": "Passport", "value": "1"}},
        {"chequeNumber": "12\x00"},
    ],
)
def test_malformed_cheques_are_400_validation_never_422(
    lab_sqlite: LabClient, change: dict[str, object]
) -> None:
    answer = lab_sqlite.post("calculate", lab_sqlite.cheque(CARD_ANNA, **change))

    assert answer.status_code == 400
    assert set(answer.json()) == {"errorCode", "message"}
    assert answer.json()["errorCode"] == "VALIDATION"


def test_a_body_that_is_not_json_is_400_validation(lab_sqlite: LabClient) -> None:
    answer = lab_sqlite.pos.post(
        "/pos/v1/calculate", content=b"{", headers={"content-type": "application/json"}
    )

    assert answer.status_code == 400
    assert answer.json()["errorCode"] == "VALIDATION"


@pytest.mark.parametrize("auth", [None, ("POS-1", "wrong"), ("POS-9", "lab")])
def test_registers_must_authenticate(lab_sqlite: LabClient, auth: tuple[str, str] | None) -> None:
    answer = httpx.post(
        f"{lab_sqlite.base_url}/pos/v1/calculate", json=lab_sqlite.cheque(CARD_ANNA), auth=auth
    )

    assert answer.status_code == 401
    assert answer.json()["errorCode"] == "UNAUTHORIZED"
    assert answer.headers["www-authenticate"].startswith("Basic")


def test_confirm_accrues_one_point_per_full_100_roubles(lab: LabClient) -> None:
    purchase_id = lab.calculate(CARD_ANNA)["purchaseId"]

    answer = lab.confirm(purchase_id, lab.fiscal())

    # 355.81 ₽ holds three full hundreds: 3 points on top of the seeded 120.
    assert answer == {"purchaseId": purchase_id, "status": "CONFIRMED", "pointsEarned": 3}
    assert (
        lab.ok("balance", {"requestId": new_id(), "identifier": card(CARD_ANNA)})["member"]["balance"] == 123
    )


def test_confirm_without_member_earns_nothing(lab: LabClient) -> None:
    purchase_id = lab.calculate(None)["purchaseId"]

    assert lab.confirm(purchase_id, lab.fiscal())["pointsEarned"] == 0


def test_confirm_again_with_the_same_document_changes_nothing(lab: LabClient) -> None:
    purchase_id, fiscal = lab.sale(CARD_ANNA)

    again = lab.confirm(purchase_id, fiscal)

    assert again["pointsEarned"] == 3
    assert (
        lab.ok("balance", {"requestId": new_id(), "identifier": card(CARD_ANNA)})["member"]["balance"] == 123
    )


def test_confirm_with_another_document_is_wrong_state(lab: LabClient) -> None:
    purchase_id, _ = lab.sale(CARD_ANNA)

    answer = lab.post("confirm", {"requestId": new_id(), "purchaseId": purchase_id, "fiscal": lab.fiscal()})

    assert answer.status_code == 409
    assert answer.json()["errorCode"] == "WRONG_STATE"


@pytest.mark.parametrize(
    ("fiscal_change", "code"),
    [({"operation": 2}, "VALIDATION"), ({"total": TOTAL - 1}, "VALIDATION"), ({"fn": "123"}, "VALIDATION")],
)
def test_confirm_checks_the_fiscal_document(
    lab: LabClient, fiscal_change: dict[str, object], code: str
) -> None:
    purchase_id = lab.calculate(CARD_ANNA)["purchaseId"]

    answer = lab.post(
        "confirm",
        {"requestId": new_id(), "purchaseId": purchase_id, "fiscal": {**lab.fiscal(), **fiscal_change}},
    )

    assert answer.status_code == 400
    assert answer.json()["errorCode"] == code


def test_confirm_of_an_unknown_purchase_is_404(lab: LabClient) -> None:
    answer = lab.post("confirm", {"requestId": new_id(), "purchaseId": new_id(), "fiscal": lab.fiscal()})

    assert answer.status_code == 404
    assert answer.json()["errorCode"] == "PURCHASE_NOT_FOUND"


def test_one_fiscal_document_cannot_confirm_two_purchases(lab: LabClient) -> None:
    _, fiscal = lab.sale(CARD_ANNA)
    other = lab.calculate(CARD_GLEB)["purchaseId"]

    answer = lab.post("confirm", {"requestId": new_id(), "purchaseId": other, "fiscal": fiscal})

    assert answer.status_code == 409
    assert answer.json()["errorCode"] == "WRONG_STATE"


def test_cancel_then_confirm_is_wrong_state(lab: LabClient) -> None:
    purchase_id = lab.calculate(CARD_ANNA)["purchaseId"]

    cancelled = lab.ok("cancel", {"requestId": new_id(), "purchaseId": purchase_id})
    confirm = lab.post("confirm", {"requestId": new_id(), "purchaseId": purchase_id, "fiscal": lab.fiscal()})

    assert cancelled == {"purchaseId": purchase_id, "status": "CANCELLED"}
    assert confirm.status_code == 409
    assert confirm.json()["errorCode"] == "WRONG_STATE"


def test_cancel_of_a_confirmed_purchase_is_wrong_state(lab: LabClient) -> None:
    purchase_id, _ = lab.sale(CARD_ANNA)

    answer = lab.post("cancel", {"requestId": new_id(), "purchaseId": purchase_id})

    assert answer.status_code == 409
    assert answer.json()["errorCode"] == "WRONG_STATE"


def test_cancel_of_an_unknown_purchase_is_404(lab: LabClient) -> None:
    answer = lab.post("cancel", {"requestId": new_id(), "purchaseId": "nope"})

    assert answer.status_code == 404
    assert answer.json()["errorCode"] == "PURCHASE_NOT_FOUND"


def _refund_body(
    lab: LabClient, original: dict[str, object], lines: list[dict], total: int
) -> dict[str, object]:
    return {
        "requestId": new_id(),
        **original,
        "lines": lines,
        "total": total,
        "fiscal": lab.fiscal(total=total, operation=2),
    }


def test_refund_by_purchase_id_reverses_the_points_of_the_returned_part(lab: LabClient) -> None:
    purchase_id, _ = lab.sale(CARD_ANNA)  # 355.81 ₽: 3 points, balance 123

    # Return the apples (176.01 ₽): 179.80 ₽ stays bought, which earns 1 point, so 2 are reversed.
    answer = lab.ok("refund", _refund_body(lab, {"originalPurchaseId": purchase_id}, [LINES[1]], 17601))

    assert answer["purchaseId"] == purchase_id
    assert answer["status"] == "REFUNDED"
    assert answer["electronicCheque"]["notifier"] == {"kind": "email", "value": "anna@example.ru"}
    assert (
        lab.ok("balance", {"requestId": new_id(), "identifier": card(CARD_ANNA)})["member"]["balance"] == 121
    )


def test_refund_by_original_fiscal_document_attaches_to_the_purchase(lab: LabClient) -> None:
    purchase_id, fiscal = lab.sale(CARD_ANNA)
    original = {"originalFiscal": {"fn": fiscal["fn"], "fd": fiscal["fd"], "fp": fiscal["fp"]}}

    answer = lab.ok("refund", _refund_body(lab, original, LINES, TOTAL))

    history = lab.staff_history(CARD_ANNA)
    purchase = next(item for item in history if item["id"] == purchase_id)
    assert purchase["refunds"] == [answer["refundId"]]
    assert any(item["id"] == answer["refundId"] and item["kind"] == "refund" for item in history)
    # The whole purchase came back: all 3 points are reversed.
    assert (
        lab.ok("balance", {"requestId": new_id(), "identifier": card(CARD_ANNA)})["member"]["balance"] == 120
    )


def test_refund_cannot_exceed_what_is_left_of_the_purchase(lab: LabClient) -> None:
    purchase_id, _ = lab.sale(CARD_ANNA)
    lab.ok("refund", _refund_body(lab, {"originalPurchaseId": purchase_id}, [LINES[1]], 17601))

    answer = lab.post("refund", _refund_body(lab, {"originalPurchaseId": purchase_id}, LINES, TOTAL))

    assert answer.status_code == 409
    assert answer.json()["errorCode"] == "WRONG_STATE"


def test_refund_of_an_unconfirmed_purchase_is_wrong_state(lab: LabClient) -> None:
    purchase_id = lab.calculate(CARD_ANNA)["purchaseId"]

    answer = lab.post("refund", _refund_body(lab, {"originalPurchaseId": purchase_id}, LINES, TOTAL))

    assert answer.status_code == 409


@pytest.mark.parametrize(
    "original",
    [
        {"originalPurchaseId": "00000000-0000-0000-0000-000000000000"},
        {"originalFiscal": {"fn": "9" * 16, "fd": 1, "fp": 1}},
    ],
)
def test_refund_of_an_unknown_purchase_is_404(lab: LabClient, original: dict[str, object]) -> None:
    answer = lab.post("refund", _refund_body(lab, original, LINES, TOTAL))

    assert answer.status_code == 404
    assert answer.json()["errorCode"] == "PURCHASE_NOT_FOUND"


def test_refund_needs_exactly_one_original(lab: LabClient) -> None:
    purchase_id, fiscal = lab.sale(CARD_ANNA)
    both = {
        "originalPurchaseId": purchase_id,
        "originalFiscal": {"fn": fiscal["fn"], "fd": fiscal["fd"], "fp": 1},
    }

    assert lab.post("refund", _refund_body(lab, both, LINES, TOTAL)).status_code == 400
    assert lab.post("refund", _refund_body(lab, {}, LINES, TOTAL)).status_code == 400


def test_refund_of_a_purchase_without_member_has_no_electronic_cheque(lab: LabClient) -> None:
    purchase_id, _ = lab.sale(None)

    answer = lab.ok("refund", _refund_body(lab, {"originalPurchaseId": purchase_id}, LINES, TOTAL))

    assert answer["electronicCheque"] is None


def test_cheque_link_is_stored_in_the_purchase_history(lab: LabClient) -> None:
    purchase_id, fiscal = lab.sale(CARD_GLEB)

    answer = lab.link(purchase_id, fiscal, url="https://check.ofd.lab/r/abc")

    assert answer["stored"] is True
    item = next(item for item in lab.staff_history(CARD_GLEB) if item["id"] == purchase_id)
    assert item["links"][0]["url"] == "https://check.ofd.lab/r/abc"
    assert item["fiscal"]["fd"] == fiscal["fd"]
    assert item["status"] == "CONFIRMED"


def test_cheque_link_of_a_cancelled_purchase_is_wrong_state(lab: LabClient) -> None:
    purchase_id = lab.calculate(CARD_ANNA)["purchaseId"]
    lab.ok("cancel", {"requestId": new_id(), "purchaseId": purchase_id})

    answer = lab.post(
        "cheque-link",
        {
            "requestId": new_id(),
            "purchaseId": purchase_id,
            "fiscal": lab.fiscal(),
            "url": "https://x.lab/1",
            "qr": "t",
        },
    )

    assert answer.status_code == 409
    assert answer.json()["errorCode"] == "WRONG_STATE"


def test_cheque_link_of_an_unknown_purchase_is_404(lab: LabClient) -> None:
    answer = lab.post(
        "cheque-link",
        {
            "requestId": new_id(),
            "purchaseId": new_id(),
            "fiscal": lab.fiscal(),
            "url": "https://x.lab/1",
            "qr": "t",
        },
    )

    assert answer.status_code == 404


def test_cheque_link_needs_an_http_url(lab: LabClient) -> None:
    purchase_id, fiscal = lab.sale(CARD_ANNA)

    answer = lab.post(
        "cheque-link",
        {
            "requestId": new_id(),
            "purchaseId": purchase_id,
            "fiscal": fiscal,
            "url": "javascript:alert(1)",
            "qr": "t",
        },
    )

    assert answer.status_code == 400


def test_delivery_mode_is_fixed_when_the_purchase_is_calculated(lab: LabClient) -> None:
    lab.set_mode("OFD")

    answer = lab.calculate(CARD_ANNA)

    assert answer["electronicCheque"]["mode"] == "OFD"
    assert answer["electronicCheque"]["needLink"] is False
    assert answer["electronicCheque"]["notifier"] == {"kind": "email", "value": "anna@example.ru"}
