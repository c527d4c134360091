"""HttpLoyaltyAdapter against the real backend on loopback, and against servers that fail."""

from __future__ import annotations

import socket
from datetime import datetime, timedelta, timezone

import pytest

from register.domain import Quantity
from register.loyalty import (
    CardBlocked,
    Cheque,
    ChequeLine,
    DeliveryMode,
    Fiscal,
    FiscalRef,
    HttpLoyaltyAdapter,
    Identifier,
    IdentifierType,
    LoyaltyInputError,
    LoyaltyProtocolError,
    LoyaltyRejected,
    LoyaltyUnavailable,
    MemberNotFound,
    Notifier,
    NotifierKind,
    OfflineCancel,
    OfflinePurchase,
    OfflineRefund,
    Refund,
    new_request_id,
)
from tests.loyalty.tiny_servers import tiny_server

MSK = timezone(timedelta(hours=3))
WHEN = datetime(2026, 1, 15, 14, 32, tzinfo=MSK)
FN = "9999078900004312"
# Молоко 89.90 × 2 = 179.80; Яблоки 129.90 × 1.355 = 176.01 (half-up): 355.81 ₽.
LINES = (
    ChequeLine(1, "4601234567890", "Молоко", 8990, Quantity.of(2), 17980),
    ChequeLine(2, "2000000000015", "Яблоки", 12990, Quantity.parse("1.355"), 17601),
)
TOTAL = 35581


def cheque(number: str | None = "7000000000001") -> Cheque:
    return Cheque("12", WHEN, LINES, TOTAL, Identifier.card(number) if number else None)


def fiscal(fd: int, *, operation: int = 1, total: int = TOTAL) -> Fiscal:
    return Fiscal(FN, fd, 3_000_000_000 + fd, operation, total, WHEN)


def test_balance(adapter: HttpLoyaltyAdapter) -> None:
    answer = adapter.balance(new_request_id(), Identifier(IdentifierType.PHONE, "+79001234502"))

    assert answer.member.name == "Борис Петров"
    assert answer.electronic_cheque.notifier == Notifier(NotifierKind.PHONE, "+79001234502")


def test_calculate_gives_the_typed_electronic_cheque(adapter: HttpLoyaltyAdapter) -> None:
    answer = adapter.calculate(new_request_id(), cheque())

    assert answer.member is not None and answer.member.name == "Анна Смирнова"
    assert answer.total == TOTAL
    assert answer.discount == 0
    assert [line.amount for line in answer.lines] == [17980, 17601]
    assert answer.electronic_cheque is not None
    assert answer.electronic_cheque.paper_refused is True
    assert answer.electronic_cheque.mode is DeliveryMode.LOYALTY
    assert answer.electronic_cheque.notifier == Notifier(NotifierKind.EMAIL, "anna@example.ru")
    assert answer.electronic_cheque.need_link is True
    assert answer.cheque_messages == ()


def test_calculate_without_member(adapter: HttpLoyaltyAdapter) -> None:
    answer = adapter.calculate(new_request_id(), cheque(None))

    assert answer.member is None
    assert answer.electronic_cheque is None


def test_a_blocked_card_is_card_blocked(adapter: HttpLoyaltyAdapter) -> None:
    with pytest.raises(CardBlocked) as refused:
        adapter.calculate(new_request_id(), cheque("7000000000005"))

    assert refused.value.error_code == "CARD_BLOCKED"
    assert refused.value.message == "Карта заблокирована"
    assert refused.value.status == 403


def test_an_unknown_card_is_member_not_found(adapter: HttpLoyaltyAdapter) -> None:
    with pytest.raises(MemberNotFound):
        adapter.balance(new_request_id(), Identifier.card("7000000000999"))


def test_confirm_link_and_refund(adapter: HttpLoyaltyAdapter) -> None:
    purchase = adapter.calculate(new_request_id(), cheque())
    sale = fiscal(1)

    confirmed = adapter.confirm(new_request_id(), purchase.purchase_id, sale)
    linked = adapter.cheque_link(
        new_request_id(), purchase.purchase_id, sale, "https://check.ofd.lab/r/1", "t=1"
    )
    refunded = adapter.refund(
        new_request_id(),
        Refund(
            LINES[1:], 17601, fiscal(2, operation=2, total=17601), original_fiscal=FiscalRef(FN, 1, sale.fp)
        ),
    )

    assert (confirmed.status, confirmed.points_earned) == ("CONFIRMED", 3)
    assert linked.stored is True
    assert {m.channel for m in linked.messages} == {"email", "sms"}
    assert refunded.purchase_id == purchase.purchase_id
    assert refunded.status == "REFUNDED"


def test_cancel_then_confirm_is_rejected_wrong_state(adapter: HttpLoyaltyAdapter) -> None:
    purchase = adapter.calculate(new_request_id(), cheque())

    assert adapter.cancel(new_request_id(), purchase.purchase_id).status == "CANCELLED"
    with pytest.raises(LoyaltyRejected) as refused:
        adapter.confirm(new_request_id(), purchase.purchase_id, fiscal(3))
    assert refused.value.error_code == "WRONG_STATE"


def test_a_reused_request_id_with_another_cheque_is_duplicate_conflict(adapter: HttpLoyaltyAdapter) -> None:
    request_id = new_request_id()
    first = adapter.calculate(request_id, cheque())

    assert adapter.calculate(request_id, cheque()) == first
    with pytest.raises(LoyaltyRejected) as refused:
        adapter.calculate(request_id, cheque(None))
    assert refused.value.error_code == "DUPLICATE_CONFLICT"


def test_offline_batch_gives_a_typed_result_per_item(adapter: HttpLoyaltyAdapter) -> None:
    online = adapter.calculate(new_request_id(), cheque("7000000000004"))
    sold = adapter.calculate(new_request_id(), cheque("7000000000004"))
    adapter.confirm(new_request_id(), sold.purchase_id, fiscal(10))
    items = [
        OfflinePurchase(
            new_request_id(), cheque("7000000000004"), fiscal(11), "https://check.ofd.lab/r/11", "t=11"
        ),
        OfflinePurchase(new_request_id(), cheque("7000000000005"), fiscal(12)),
        OfflineCancel(new_request_id(), online.purchase_id),
        OfflineRefund(
            new_request_id(),
            Refund(LINES, TOTAL, fiscal(13, operation=2), original_purchase_id=sold.purchase_id),
        ),
    ]

    results = adapter.offline_batch(new_request_id(), items)

    assert [r.request_id for r in results] == [item.request_id for item in items]
    assert [r.status for r in results] == [200, 403, 200, 200]
    assert results[0].ok and results[0].answer is not None
    assert results[0].answer.points_earned == 3  # type: ignore[union-attr]
    assert isinstance(results[1].error, CardBlocked)
    assert results[2].answer is not None and results[2].answer.status == "CANCELLED"  # type: ignore[union-attr]
    assert results[3].answer is not None and results[3].answer.status == "REFUNDED"  # type: ignore[union-attr]


def test_a_backend_that_is_down_is_unavailable() -> None:
    with socket.socket() as probe:  # a port nobody listens on: connection refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    with (
        HttpLoyaltyAdapter(f"http://127.0.0.1:{port}", "POS-1", "lab") as adapter,
        pytest.raises(LoyaltyUnavailable, match="unreachable"),
    ):
        adapter.calculate(new_request_id(), cheque())


def test_a_backend_slower_than_the_timeout_is_unavailable() -> None:
    with (
        tiny_server(None) as slow,
        HttpLoyaltyAdapter(slow.base_url, "POS-1", "lab", timeout=0.2) as adapter,
        pytest.raises(LoyaltyUnavailable, match=r"within 0\.2 s"),
    ):
        adapter.calculate(new_request_id(), cheque())


def test_retries_after_a_timeout_reuse_the_request_id() -> None:
    request_id = new_request_id()
    with (
        tiny_server(None) as slow,
        HttpLoyaltyAdapter(slow.base_url, "POS-1", "lab", timeout=0.2, retries=2) as adapter,
    ):
        with pytest.raises(LoyaltyUnavailable):
            adapter.confirm(request_id, "p-1", fiscal(1))
        received = list(slow.received)

    assert len(received) == 3
    assert {body["requestId"] for body in received} == {request_id}
    assert received[0] == received[1] == received[2]


def test_a_5xx_is_unavailable() -> None:
    with (
        tiny_server(503, b'{"errorCode": "INTERNAL", "message": "x"}') as failing,
        HttpLoyaltyAdapter(failing.base_url, "POS-1", "lab") as adapter,
        pytest.raises(LoyaltyUnavailable, match="HTTP 503"),
    ):
        adapter.cancel(new_request_id(), "p-1")


def test_a_2xx_that_is_not_the_protocol_is_a_protocol_error() -> None:
    with (
        tiny_server(200, b'{"hello": "world"}') as odd,
        HttpLoyaltyAdapter(odd.base_url, "POS-1", "lab") as adapter,
        pytest.raises(LoyaltyProtocolError, match="purchaseId"),
    ):
        adapter.cancel(new_request_id(), "p-1")


def test_a_4xx_without_the_error_shape_is_still_rejected() -> None:
    with (
        tiny_server(418, b"teapot") as odd,
        HttpLoyaltyAdapter(odd.base_url, "POS-1", "lab") as adapter,
        pytest.raises(LoyaltyRejected) as refused,
    ):
        adapter.cancel(new_request_id(), "p-1")

    assert refused.value.error_code == "HTTP_418"


def test_wrong_register_credentials_are_rejected_unauthorized(backend_url: str) -> None:
    with (
        HttpLoyaltyAdapter(backend_url, "POS-1", "wrong") as adapter,
        pytest.raises(LoyaltyRejected) as refused,
    ):
        adapter.calculate(new_request_id(), cheque())

    assert refused.value.error_code == "UNAUTHORIZED"


def test_an_offline_item_sharing_the_batch_request_id_is_not_sent() -> None:
    request_id = new_request_id()
    item = OfflineCancel(request_id, "p-1")

    with (
        HttpLoyaltyAdapter("http://127.0.0.1:9", "POS-1", "lab") as adapter,
        pytest.raises(LoyaltyInputError, match="its own requestId"),
    ):
        adapter.offline_batch(request_id, [item])
