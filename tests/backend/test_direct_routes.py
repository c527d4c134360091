"""The register endpoints answer the same whichever way a request takes: ``DirectRoutes`` for a
well-formed JSON body of stated length, FastAPI for everything else (here: a chunked body)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import APIRouter

from register.backend.api.direct import direct_routes
from register.backend.api.pos_routes import DIRECT_PATHS
from register.backend.api.pos_routes import router as pos_router
from tests.backend.support import CARD_ANNA, LabClient, new_id


def _chunked(body: dict[str, Any]) -> Iterator[bytes]:
    """The body as a stream: sent with Transfer-Encoding: chunked, so FastAPI takes the request."""
    yield json.dumps(body, ensure_ascii=False).encode()


def _via_fastapi(lab: LabClient, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    answer = lab.pos.post(
        f"/pos/v1/{path}", content=_chunked(body), headers={"Content-Type": "application/json"}
    )
    assert answer.request.headers.get("transfer-encoding") == "chunked"
    return answer.status_code, answer.json()


def _via_direct(lab: LabClient, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    answer = lab.post(path, body)
    assert "content-length" in answer.request.headers
    return answer.status_code, answer.json()


def test_a_sale_answers_the_same_either_way(lab: LabClient) -> None:
    ways = (_via_direct, _via_fastapi)
    calculated = [send(lab, "calculate", lab.cheque(CARD_ANNA)) for send in ways]  # same balance
    assert [status for status, _ in calculated] == [200, 200], calculated
    purchases = [answer.pop("purchaseId") for _, answer in calculated]
    fiscals = [lab.fiscal(), lab.fiscal()]
    confirmed = [
        send(lab, "confirm", {"requestId": new_id(), "purchaseId": purchase, "fiscal": fiscal})
        for send, purchase, fiscal in zip(ways, purchases, fiscals, strict=True)
    ]
    linked = []
    for send, purchase, fiscal in zip(ways, purchases, fiscals, strict=True):
        body = {"requestId": new_id(), "purchaseId": purchase, "fiscal": fiscal}
        status, answer = send(lab, "cheque-link", dict(body, url="https://check.ofd.lab/r/1", qr="t=1"))
        assert status == 200, answer
        for message in answer["messages"]:
            message.pop("id")
        answer["eReceipt"].pop("messageIds")
        linked.append(answer)
    assert calculated[0] == calculated[1]
    for (status, answer), purchase in zip(confirmed, purchases, strict=True):
        assert (status, answer) == (200, {"purchaseId": purchase, "status": "CONFIRMED", "pointsEarned": 3})
    assert linked[0] == linked[1] and linked[0]["eReceipt"]["status"] == "queued"
    assert calculated[0][1]["electronicCheque"]["paperRefused"] is True


@pytest.mark.parametrize("first, repeat", [(_via_direct, _via_fastapi), (_via_fastapi, _via_direct)])
def test_a_repeat_gets_the_stored_answer_whichever_way_either_came(
    lab_sqlite: LabClient, first: Any, repeat: Any
) -> None:
    body = lab_sqlite.cheque(CARD_ANNA)
    assert first(lab_sqlite, "calculate", body) == repeat(lab_sqlite, "calculate", body)
    status, refusal = repeat(lab_sqlite, "calculate", dict(body, chequeNumber="13"))
    assert (status, refusal["errorCode"]) == (409, "DUPLICATE_CONFLICT")


def test_a_body_that_does_not_validate_gets_fastapis_answer_naming_the_field(lab_sqlite: LabClient) -> None:
    body = lab_sqlite.cheque(CARD_ANNA)
    body["lines"] = [dict(body["lines"][0], price="много")]  # a copy: the lines are shared
    direct = _via_direct(lab_sqlite, "calculate", body)
    assert direct == _via_fastapi(lab_sqlite, "calculate", body)
    assert direct[0] == 400 and direct[1]["errorCode"] == "VALIDATION"
    assert "lines.0.price" in direct[1]["message"]


def test_a_refusal_out_of_the_endpoint_is_the_apps_error_answer(lab_sqlite: LabClient) -> None:
    body = {"requestId": new_id(), "purchaseId": new_id(), "fiscal": lab_sqlite.fiscal()}
    direct = _via_direct(lab_sqlite, "confirm", body)
    assert direct[0] == 404 and direct[1]["errorCode"] == "PURCHASE_NOT_FOUND"
    assert _via_fastapi(lab_sqlite, "confirm", dict(body, requestId=new_id())) == direct


def test_a_route_that_cannot_be_taken_directly_is_refused_at_start_up() -> None:
    router = APIRouter()

    @router.post("/pos/v1/odd")
    def odd(request: dict[str, Any]) -> dict[str, Any]:
        return request

    with pytest.raises(TypeError, match="/pos/v1/odd"):
        direct_routes(router.routes, ["/pos/v1/odd"])
    with pytest.raises(TypeError, match="/pos/v1/missing"):
        direct_routes(pos_router.routes, ["/pos/v1/missing"])
    assert set(direct_routes(pos_router.routes, DIRECT_PATHS)) == set(DIRECT_PATHS)
