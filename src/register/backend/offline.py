"""Offline upload: purchases, refunds and cancellations the register kept while the backend was away.

Each item is idempotent on its own requestId, exactly like the single call (a refund or cancel item
replays the answer of an online call with the same requestId and body). A purchase item whose fiscal
document is already recorded answers with that purchase instead of recording it twice.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from register.backend import errors
from register.backend.api.pos_models import (
    OfflineBatchRequest,
    OfflineCancel,
    OfflineItem,
    OfflinePurchase,
    OfflinePurchaseAnswer,
    OfflineRefund,
)
from register.backend.cheque_links import LinkMessages, link_messages, store_link
from register.backend.database import Database
from register.backend.errors import ApiError
from register.backend.idempotency import Answer, RequestKey, request_key, run_once
from register.backend.purchases import (
    Kind,
    Status,
    calculate,
    cancel,
    confirm,
    lock_record,
    record_by_document,
    record_delivery,
    refund,
)


def run_batch(db: Database, device_id: int, batch: OfflineBatchRequest) -> list[dict[str, Any]]:
    """Every item in order, each in its own transaction: one refused item does not undo the others."""
    results = []
    for item in batch.requests:
        try:
            answer = run_once(
                db, item_key(device_id, item), lambda conn, item=item: _work(conn, device_id, item)
            )
        except ApiError as refusal:  # DUPLICATE_CONFLICT, or a lost race: not stored, told as is
            answer = Answer.of(refusal.status, refusal.body())
        results.append({"requestId": str(item.request_id), "status": answer.status, "body": answer.body})
    return results


def item_key(device_id: int, item: OfflineItem) -> RequestKey:
    endpoint = "offline-purchase" if isinstance(item, OfflinePurchase) else item.type
    return request_key(device_id, str(item.request_id), endpoint, item, {"request_id", "type"})


def _work(conn: Connection, device_id: int, item: OfflineItem) -> dict[str, Any]:
    if isinstance(item, OfflinePurchase):
        answer: Any = record_offline_purchase(conn, device_id, item)
    elif isinstance(item, OfflineRefund):
        answer = refund(conn, device_id, item)
    else:
        assert isinstance(item, OfflineCancel)
        answer = cancel(conn, item.purchase_id)
    return answer.model_dump(mode="json", by_alias=True)


def record_offline_purchase(conn: Connection, device_id: int, item: OfflinePurchase) -> OfflinePurchaseAnswer:
    existing = record_by_document(conn, item.fiscal.fn, item.fiscal.fd)
    if existing is None:
        purchase_id = calculate(conn, device_id, item).purchase_id
        points = confirm(conn, purchase_id, item.fiscal).points_earned
    elif (
        existing["kind"] == Kind.PURCHASE
        and existing["status"] == Status.CONFIRMED
        and existing["total"] == item.total
    ):
        purchase_id, points = existing["id"], existing["points"]
    else:
        raise errors.wrong_state(
            f"Фискальный документ ФН {item.fiscal.fn} ФД {item.fiscal.fd} "
            f"уже учтён в другой записи ({existing['id']})"
        )
    record = lock_record(conn, purchase_id)
    assert record is not None
    found: LinkMessages
    if item.url is not None and item.qr is not None:
        found = store_link(conn, purchase_id, item.fiscal, item.url, item.qr)
    else:
        found = link_messages(conn, record)
    return OfflinePurchaseAnswer(
        purchase_id=purchase_id,
        status="CONFIRMED",
        points_earned=points,
        electronic_cheque=record_delivery(record) if record["member_id"] else None,
        messages=found.messages,
        e_receipt=found.e_receipt,
    )
