"""requestId idempotency: a repeat returns the first answer and changes nothing; another body is 409;
keys belong to one register; identical requests racing make one purchase."""

from __future__ import annotations

import hashlib
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from sqlalchemy import update

from register.backend.api.pos_models import CalculateRequest
from register.backend.auth import register_device
from register.backend.database import Database
from register.backend.schema import pos_requests
from tests.backend.support import CARD_ANNA, CARD_GLEB, TOTAL, LabClient, card, new_id


def _calculations(lab: LabClient, number: str) -> list[dict]:
    return [item for item in lab.staff_history(number) if item["kind"] == "purchase"]


def test_the_same_calculate_twice_gives_one_purchase_and_the_same_answer(lab: LabClient) -> None:
    body = lab.cheque(CARD_GLEB)

    first = lab.post("calculate", body)
    second = lab.post("calculate", body)

    assert first.status_code == second.status_code == 200
    assert second.json() == first.json()
    assert [item["id"] for item in _calculations(lab, CARD_GLEB)] == [first.json()["purchaseId"]]


def test_the_same_request_id_with_another_body_is_409_duplicate_conflict(lab: LabClient) -> None:
    body = lab.cheque(CARD_GLEB)
    lab.ok("calculate", body)

    answer = lab.post("calculate", {**body, "chequeNumber": "13"})

    assert answer.status_code == 409
    assert answer.json()["errorCode"] == "DUPLICATE_CONFLICT"
    assert len(_calculations(lab, CARD_GLEB)) == 1


def test_a_request_id_used_on_another_endpoint_is_409(lab: LabClient) -> None:
    body = lab.cheque(CARD_GLEB)
    lab.ok("calculate", body)

    answer = lab.post("balance", {"requestId": body["requestId"], "identifier": card(CARD_GLEB)})

    assert answer.status_code == 409
    assert answer.json()["errorCode"] == "DUPLICATE_CONFLICT"


def test_a_repeated_confirm_accrues_points_once(lab: LabClient) -> None:
    purchase_id = lab.calculate(CARD_ANNA)["purchaseId"]
    body = {"requestId": new_id(), "purchaseId": purchase_id, "fiscal": lab.fiscal()}

    first, second = lab.ok("confirm", body), lab.ok("confirm", body)

    assert first == second == {"purchaseId": purchase_id, "status": "CONFIRMED", "pointsEarned": 3}
    assert (
        lab.ok("balance", {"requestId": new_id(), "identifier": card(CARD_ANNA)})["member"]["balance"] == 123
    )


def test_a_refusal_is_replayed_too(lab: LabClient) -> None:
    body = lab.cheque(None, identifier=card("7000000000999"))

    first, second = lab.post("calculate", body), lab.post("calculate", body)

    assert first.status_code == second.status_code == 404
    assert first.json() == second.json()


def test_request_ids_are_keyed_per_register(lab: LabClient) -> None:
    db = Database(lab.db_url)
    with db.write() as conn:
        register_device(conn, "POS-2", "second")
    db.dispose()
    body = lab.cheque(CARD_GLEB)

    first = lab.post("calculate", body)
    other = httpx.post(f"{lab.base_url}/pos/v1/calculate", json=body, auth=("POS-2", "second"), timeout=30)

    assert other.status_code == 200
    assert other.json()["purchaseId"] != first.json()["purchaseId"]
    assert len(_calculations(lab, CARD_GLEB)) == 2


def test_identical_requests_racing_make_one_purchase(lab: LabClient) -> None:
    body = lab.cheque(CARD_GLEB)
    racers = 8
    start = threading.Barrier(racers)

    def send(_: int) -> httpx.Response:
        with httpx.Client(base_url=lab.base_url, auth=("POS-1", "lab"), timeout=30) as client:
            start.wait()
            return client.post("/pos/v1/calculate", json=body)

    with ThreadPoolExecutor(racers) as pool:
        answers = list(pool.map(send, range(racers)))

    assert {answer.status_code for answer in answers} == {200}
    assert len({answer.json()["purchaseId"] for answer in answers}) == 1
    assert len(_calculations(lab, CARD_GLEB)) == 1


def test_identical_confirms_racing_accrue_once(lab: LabClient) -> None:
    purchase_id = lab.calculate(CARD_ANNA)["purchaseId"]
    fiscal = lab.fiscal()
    racers = 6
    start = threading.Barrier(racers)

    def send(_: int) -> httpx.Response:
        # Different requestIds: only the purchase's own state keeps the points from doubling.
        body = {"requestId": new_id(), "purchaseId": purchase_id, "fiscal": fiscal}
        with httpx.Client(base_url=lab.base_url, auth=("POS-1", "lab"), timeout=30) as client:
            start.wait()
            return client.post("/pos/v1/confirm", json=body)

    with ThreadPoolExecutor(racers) as pool:
        answers = list(pool.map(send, range(racers)))

    assert all(answer.status_code in (200, 409) for answer in answers)
    assert any(answer.status_code == 200 for answer in answers)
    assert (
        lab.ok("balance", {"requestId": new_id(), "identifier": card(CARD_ANNA)})["member"]["balance"] == 123
    )


def test_many_registers_at_once(lab: LabClient) -> None:
    registers = 6
    db = Database(lab.db_url)
    with db.write() as conn:
        for n in range(registers):
            register_device(conn, f"POS-R{n}", f"secret-{n}")
    db.dispose()

    def shift(n: int) -> list[int]:
        statuses = []
        with httpx.Client(base_url=lab.base_url, auth=(f"POS-R{n}", f"secret-{n}"), timeout=30) as client:
            for sale in range(5):
                calculated = client.post("/pos/v1/calculate", json=lab.cheque(CARD_GLEB))
                statuses.append(calculated.status_code)
                fiscal = {
                    "fn": "9999078900004312",
                    "fd": 100_000 + n * 100 + sale,
                    "fp": 1,
                    "operation": 1,
                    "total": TOTAL,
                    "dateTime": "2026-01-15T14:32:00+03:00",
                }
                confirmed = client.post(
                    "/pos/v1/confirm",
                    json={
                        "requestId": new_id(),
                        "purchaseId": calculated.json()["purchaseId"],
                        "fiscal": fiscal,
                    },
                )
                statuses.append(confirmed.status_code)
        return statuses

    with ThreadPoolExecutor(registers) as pool:
        statuses = [status for result in pool.map(shift, range(registers)) for status in result]

    assert set(statuses) == {200}
    # 30 confirmed purchases of 355.81 ₽, 3 points each, on top of Глеб's seeded 300.
    assert (
        lab.ok("balance", {"requestId": new_id(), "identifier": card(CARD_GLEB)})["member"]["balance"] == 390
    )


def _legacy_digest(endpoint: str, body: dict[str, Any]) -> str:
    """How versions before 2026-12 keyed a request: its validated content as sorted JSON."""
    content = CalculateRequest.model_validate(body).model_dump(mode="json", exclude={"request_id"})
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(f"{endpoint}\n{text}".encode()).hexdigest()


def test_an_answer_stored_by_an_older_version_is_replayed_to_its_repeat(lab: LabClient) -> None:
    body = lab.cheque(CARD_ANNA)
    first = lab.ok("calculate", body)
    db = Database(lab.db_url)
    try:
        with db.write() as conn:  # as the older version stored it
            conn.execute(
                update(pos_requests)
                .where(pos_requests.c.request_id == body["requestId"])
                .values(body_digest=_legacy_digest("calculate", body))
            )
    finally:
        db.dispose()
    assert lab.ok("calculate", body) == first
    conflict = lab.post("calculate", dict(body, chequeNumber="99"))
    assert (conflict.status_code, conflict.json()["errorCode"]) == (409, "DUPLICATE_CONFLICT")
