"""Schemathesis against /openapi.json: generated requests, valid and invalid, to every operation; the
backend must answer without a 5xx and exactly as its OpenAPI document says (status, type, body)."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.backend.support import CARD_ANNA, LabClient, lab_backend

EXAMPLES_PER_OPERATION = 12
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance, content_type_conformance]


@pytest.fixture
def lab_for_fuzzing(seeded_db_url: str) -> Iterator[LabClient]:
    with lab_backend(seeded_db_url, None) as lab:
        yield lab


def _operations(lab: LabClient) -> list[Any]:
    schema = schemathesis.openapi.from_url(f"{lab.base_url}/openapi.json")
    return [result.ok() for result in schema.get_all_operations()]


def test_the_document_covers_every_endpoint_of_the_contract(lab_sqlite: LabClient) -> None:
    document = lab_sqlite.http.get("/openapi.json").json()

    operations = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    assert operations == {
        ("POST", "/pos/v1/balance"),
        ("POST", "/pos/v1/calculate"),
        ("POST", "/pos/v1/confirm"),
        ("POST", "/pos/v1/cancel"),
        ("POST", "/pos/v1/refund"),
        ("POST", "/pos/v1/cheque-link"),
        ("POST", "/pos/v1/offline-batch"),
        ("POST", "/member/v1/login"),
        ("GET", "/member/v1/profile"),
        ("PUT", "/member/v1/profile/paper-receipts"),
        ("PUT", "/member/v1/profile/contacts"),
        ("POST", "/member/v1/profile/contacts/confirm"),
        ("GET", "/member/v1/history"),
        ("POST", "/crm/v1/login"),
        ("GET", "/crm/v1/members"),
        ("GET", "/crm/v1/members/{member_id}/history"),
        ("GET", "/crm/v1/messages"),
        ("GET", "/crm/v1/offers"),
        ("POST", "/crm/v1/offers"),
        ("PUT", "/crm/v1/offers/{offer_id}"),
        ("GET", "/crm/v1/settings"),
        ("PUT", "/crm/v1/settings"),
    }
    assert set(document["components"]["securitySchemes"]) == {"HTTPBasic", "HTTPBearer"}
    assert {s["scheme"] for s in document["components"]["securitySchemes"].values()} == {"basic", "bearer"}
    assert not any("422" in op["responses"] for item in document["paths"].values() for op in item.values())


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
def test_generated_requests_get_no_5xx_and_documented_answers(
    lab_for_fuzzing: LabClient, mode: GenerationMode
) -> None:
    lab = lab_for_fuzzing
    headers_for = {
        "/pos/": {"Authorization": "Basic " + base64.b64encode(b"POS-1:lab").decode()},
        "/member/": lab.member_headers(CARD_ANNA),
        "/crm/": lab.staff_headers(),
    }

    for operation in _operations(lab):
        headers = next(h for prefix, h in headers_for.items() if operation.path.startswith(prefix))
        _conformance_test(operation, mode, headers)()


def _conformance_test(operation: Any, mode: GenerationMode, headers: dict[str, str]) -> Callable[[], None]:
    """A Hypothesis test sending generated requests to one operation and checking every answer."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def call(case: schemathesis.Case) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS)

    return call  # type: ignore[return-value]
