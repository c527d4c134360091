"""offline-batch: purchases, refunds and cancellations kept while the backend was away, in order."""

from __future__ import annotations

from typing import Any

from tests.backend.support import CARD_ANNA, CARD_DARIA, CARD_GLEB, LINES, TOTAL, LabClient, card, new_id


def _purchase_item(
    lab: LabClient, number: str | None, fiscal: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    item = {"type": "purchase", **lab.cheque(number), "fiscal": fiscal}
    item.update(extra)
    return item


def _batch(lab: LabClient, *items: dict[str, Any], request_id: str | None = None) -> dict[str, Any]:
    return lab.ok("offline-batch", {"requestId": request_id or new_id(), "requests": list(items)})


def test_an_offline_purchase_is_recorded_confirmed_with_points(lab: LabClient) -> None:
    fiscal = lab.fiscal()

    (result,) = _batch(lab, _purchase_item(lab, CARD_GLEB, fiscal))["results"]

    assert result["status"] == 200
    assert result["body"]["status"] == "CONFIRMED"
    assert result["body"]["pointsEarned"] == 3
    assert (
        lab.ok("balance", {"requestId": new_id(), "identifier": card(CARD_GLEB)})["member"]["balance"] == 303
    )
    (item,) = lab.staff_history(CARD_GLEB)
    assert item["id"] == result["body"]["purchaseId"]
    assert item["fiscal"]["fd"] == fiscal["fd"]


def test_an_offline_purchase_with_a_link_fires_the_offers(lab: LabClient) -> None:
    assert lab.sink is not None
    fiscal = lab.fiscal()
    item = _purchase_item(lab, CARD_ANNA, fiscal, url="https://check.ofd.lab/r/offline", qr="t=1")

    (result,) = _batch(lab, item)["results"]

    assert {m["channel"] for m in result["body"]["messages"]} == {"email", "sms"}
    assert "https://check.ofd.lab/r/offline" in lab.sink.wait_for(1)[0].get_content()


def test_results_come_in_order_each_with_its_own_status(lab: LabClient) -> None:
    calculated = lab.calculate(CARD_GLEB)["purchaseId"]
    sold_online, _ = lab.sale(CARD_ANNA)
    items = [
        _purchase_item(lab, CARD_GLEB, lab.fiscal()),
        _purchase_item(lab, CARD_DARIA, lab.fiscal()),  # blocked card
        {"type": "cancel", "requestId": new_id(), "purchaseId": calculated},
        {
            "type": "refund",
            "requestId": new_id(),
            "originalPurchaseId": sold_online,
            "lines": LINES,
            "total": TOTAL,
            "fiscal": lab.fiscal(operation=2),
        },
        {"type": "cancel", "requestId": new_id(), "purchaseId": "unknown"},
    ]

    results = _batch(lab, *items)["results"]

    assert [r["requestId"] for r in results] == [item["requestId"] for item in items]
    assert [r["status"] for r in results] == [200, 403, 200, 200, 404]
    assert results[1]["body"]["errorCode"] == "CARD_BLOCKED"
    assert results[2]["body"] == {"purchaseId": calculated, "status": "CANCELLED"}
    assert results[3]["body"]["status"] == "REFUNDED"
    assert results[4]["body"]["errorCode"] == "PURCHASE_NOT_FOUND"


def test_uploading_the_same_items_again_changes_nothing(lab: LabClient) -> None:
    item = _purchase_item(lab, CARD_GLEB, lab.fiscal())

    first = _batch(lab, item)
    again = _batch(lab, item)  # a new batch requestId, the same item requestId

    assert again["results"] == first["results"]
    assert len(lab.staff_history(CARD_GLEB)) == 1
    assert (
        lab.ok("balance", {"requestId": new_id(), "identifier": card(CARD_GLEB)})["member"]["balance"] == 303
    )


def test_the_same_batch_request_id_replays_the_batch(lab: LabClient) -> None:
    batch_id = new_id()
    item = _purchase_item(lab, CARD_GLEB, lab.fiscal())

    first = _batch(lab, item, request_id=batch_id)
    again = _batch(lab, item, request_id=batch_id)

    assert again == first


def test_an_item_request_id_reused_with_another_body_is_409_in_its_result(lab: LabClient) -> None:
    item = _purchase_item(lab, CARD_GLEB, lab.fiscal())
    _batch(lab, item)

    (result,) = _batch(lab, {**item, "chequeNumber": "99"})["results"]

    assert result["status"] == 409
    assert result["body"]["errorCode"] == "DUPLICATE_CONFLICT"


def test_a_purchase_confirmed_online_and_uploaded_again_is_not_doubled(lab: LabClient) -> None:
    # The register's confirm reached the backend but the answer was lost: it uploads the purchase offline.
    purchase_id, fiscal = lab.sale(CARD_GLEB)

    (result,) = _batch(lab, _purchase_item(lab, CARD_GLEB, fiscal))["results"]

    assert result["status"] == 200
    assert result["body"]["purchaseId"] == purchase_id
    assert (
        lab.ok("balance", {"requestId": new_id(), "identifier": card(CARD_GLEB)})["member"]["balance"] == 303
    )


def test_an_offline_refund_replays_the_online_one_with_the_same_request_id(lab: LabClient) -> None:
    purchase_id, _ = lab.sale(CARD_GLEB)
    refund = {
        "requestId": new_id(),
        "originalPurchaseId": purchase_id,
        "lines": LINES,
        "total": TOTAL,
        "fiscal": lab.fiscal(operation=2),
    }
    online = lab.ok("refund", refund)

    (result,) = _batch(lab, {"type": "refund", **refund})["results"]

    assert result["body"] == online


def test_a_malformed_item_is_400_for_the_batch(lab_sqlite: LabClient) -> None:
    answer = lab_sqlite.post("offline-batch", {"requestId": new_id(), "requests": [{"type": "teleport"}]})

    assert answer.status_code == 400
    assert answer.json()["errorCode"] == "VALIDATION"


def test_a_link_needs_both_url_and_qr(lab_sqlite: LabClient) -> None:
    item = _purchase_item(lab_sqlite, CARD_GLEB, lab_sqlite.fiscal(), url="https://check.ofd.lab/r/1")

    answer = lab_sqlite.post("offline-batch", {"requestId": new_id(), "requests": [item]})

    assert answer.status_code == 400
