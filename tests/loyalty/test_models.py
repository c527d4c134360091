"""The client's typed values refuse bad input by name, and its JSON is what the backend accepts."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from register.backend.api.pos_models import CalculateRequest, RefundRequest
from register.domain import Quantity
from register.loyalty import (
    Cheque,
    ChequeLine,
    Fiscal,
    HttpLoyaltyAdapter,
    Identifier,
    LoyaltyInputError,
    OfflinePurchase,
    Refund,
    derive_request_id,
    new_request_id,
)
from register.loyalty.codec import cheque_json, refund_json

MSK = timezone(timedelta(hours=3))
WHEN = datetime(2026, 1, 15, 14, 32, tzinfo=MSK)
LINE = ChequeLine(1, "4601234567890", "Молоко", 8990, Quantity.of(2), 17980)


@pytest.mark.parametrize(
    ("make", "named"),
    [
        (lambda: ChequeLine(1, "s", "n", 89.9, Quantity.of(1), 90), "price"),  # type: ignore[arg-type]
        (lambda: ChequeLine(0, "s", "n", 100, Quantity.of(1), 100), "position"),
        (lambda: ChequeLine(1, "s", "n", 100, "1", 100), "quantity"),  # type: ignore[arg-type]
        (lambda: Cheque("1", WHEN, (LINE,), 17981), "total"),
        (lambda: Cheque("1", WHEN, (), 0), "at least one line"),
        (lambda: Cheque("1", WHEN.replace(tzinfo=None), (LINE,), 17980), "cheque_datetime"),
        (lambda: Cheque("1", WHEN, (LINE, LINE), 35960), "unique"),
        (lambda: Fiscal("123", 1, 1, 1, 100, WHEN), "fn"),
        (lambda: Refund((LINE,), 17980, Fiscal("9" * 16, 1, 1, 2, 17980, WHEN)), "exactly one"),
        (lambda: Identifier.card(" "), "identifier"),
        (
            lambda: OfflinePurchase(
                "not-a-uuid", Cheque("1", WHEN, (LINE,), 17980), Fiscal("9" * 16, 1, 1, 1, 17980, WHEN)
            ),
            "requestId",
        ),
    ],
)
def test_bad_values_are_refused_naming_the_field(make: object, named: str) -> None:
    with pytest.raises(LoyaltyInputError, match=named):
        make()  # type: ignore[operator]


def test_loyalty_input_errors_are_value_errors() -> None:
    assert issubclass(LoyaltyInputError, ValueError)


@pytest.mark.parametrize(
    ("args", "named"),
    [(("ftp://x", "d", "s"), "base_url"), (("http://x", "d", "s", 0), "timeout")],
)
def test_adapter_settings_are_checked(args: tuple, named: str) -> None:
    with pytest.raises(LoyaltyInputError, match=named):
        HttpLoyaltyAdapter(*args)


def test_a_request_id_that_is_not_a_uuid_is_not_sent() -> None:
    with (
        HttpLoyaltyAdapter("http://127.0.0.1:9", "POS-1", "lab") as adapter,
        pytest.raises(LoyaltyInputError, match="requestId"),
    ):
        adapter.cancel("retry-1", "p-1")


lines = st.lists(
    st.tuples(
        st.integers(0, 10**7), st.integers(1, 10**6), st.text(min_size=1, max_size=20).filter(str.isprintable)
    ),
    min_size=1,
    max_size=5,
).map(
    lambda specs: tuple(
        ChequeLine(
            n + 1, f"sku{n}", name.strip() or "x", price, Quantity(milli), Quantity(milli).times(price)
        )
        for n, (price, milli, name) in enumerate(specs)
    )
)


@given(lines)
def test_the_backend_accepts_every_cheque_the_client_builds(cheque_lines: tuple[ChequeLine, ...]) -> None:
    total = sum(line.amount for line in cheque_lines)
    cheque = Cheque("12", WHEN, cheque_lines, total, Identifier.card("7000000000001"))

    request = CalculateRequest.model_validate({"requestId": new_request_id(), **cheque_json(cheque)})

    assert request.total == total
    assert [(line.price, line.quantity, line.amount) for line in request.lines] == [
        (line.price, str(line.quantity), line.amount) for line in cheque_lines
    ]
    assert request.cheque_date_time == WHEN


def test_the_backend_accepts_the_clients_refund() -> None:
    refund = Refund((LINE,), 17980, Fiscal("9" * 16, 7, 1, 2, 17980, WHEN), original_purchase_id="p-1")

    request = RefundRequest.model_validate({"requestId": new_request_id(), **refund_json(refund)})

    assert request.original_purchase_id == "p-1"
    assert request.original_fiscal is None
    assert request.fiscal.operation == 2


def test_derived_request_ids_are_stable_uuids_per_purpose() -> None:
    parent = new_request_id()

    link = derive_request_id(parent, "cheque-link")

    assert link == derive_request_id(parent, "cheque-link")  # a retry derives the same one
    assert link != derive_request_id(parent, "confirm")
    assert str(uuid.UUID(link)) == link
