"""The protocol's JSON: requests from the typed values, typed answers from JSON (strictly checked)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from register.loyalty.errors import LoyaltyProtocolError, rejection
from register.loyalty.models import (
    BalanceAnswer,
    CalculateAnswer,
    CancelAnswer,
    Cheque,
    ChequeLine,
    ChequeLinkAnswer,
    ConfirmAnswer,
    DeliveryMode,
    ElectronicCheque,
    Fiscal,
    Identifier,
    LineResult,
    Member,
    Notifier,
    NotifierKind,
    OfflineCancel,
    OfflineItem,
    OfflinePurchase,
    OfflinePurchaseAnswer,
    OfflineRefund,
    OfflineResult,
    Refund,
    RefundAnswer,
    SentMessage,
)

Json = dict[str, Any]
T = TypeVar("T")

# --- requests ----------------------------------------------------------------------------------------


def identifier_json(identifier: Identifier) -> Json:
    return {"type": identifier.type.value, "value": identifier.value}


def line_json(line: ChequeLine) -> Json:
    return {
        "position": line.position,
        "sku": line.sku,
        "name": line.name,
        "price": line.price,
        "quantity": str(line.quantity),
        "amount": line.amount,
    }


def cheque_json(cheque: Cheque) -> Json:
    return {
        "chequeNumber": cheque.cheque_number,
        "chequeDateTime": cheque.cheque_datetime.isoformat(),
        "identifier": identifier_json(cheque.identifier) if cheque.identifier else None,
        "lines": [line_json(line) for line in cheque.lines],
        "total": cheque.total,
    }


def fiscal_json(fiscal: Fiscal) -> Json:
    return {
        "fn": fiscal.fn,
        "fd": fiscal.fd,
        "fp": fiscal.fp,
        "operation": fiscal.operation,
        "total": fiscal.total,
        "dateTime": fiscal.date_time.isoformat(),
    }


def refund_json(refund: Refund) -> Json:
    body: Json = {
        "lines": [line_json(line) for line in refund.lines],
        "total": refund.total,
        "fiscal": fiscal_json(refund.fiscal),
    }
    if refund.original_purchase_id is not None:
        body["originalPurchaseId"] = refund.original_purchase_id
    if refund.original_fiscal is not None:
        ref = refund.original_fiscal
        body["originalFiscal"] = {"fn": ref.fn, "fd": ref.fd, "fp": ref.fp}
    return body


def offline_item_json(item: OfflineItem) -> Json:
    if isinstance(item, OfflinePurchase):
        body = {"type": "purchase", "requestId": item.request_id, **cheque_json(item.cheque)}
        body["fiscal"] = fiscal_json(item.fiscal)
        if item.url is not None:
            body.update(url=item.url, qr=item.qr)
        return body
    if isinstance(item, OfflineRefund):
        return {"type": "refund", "requestId": item.request_id, **refund_json(item.refund)}
    if isinstance(item, OfflineCancel):
        return {"type": "cancel", "requestId": item.request_id, "purchaseId": item.purchase_id}
    raise TypeError(f"not an offline item: {item!r}")


# --- answers -----------------------------------------------------------------------------------------


def _field(body: Mapping[str, Any], name: str, kind: type[T] | tuple[type, ...], where: str) -> T:
    if not isinstance(body, Mapping) or name not in body:
        raise LoyaltyProtocolError(f"{where}: the answer lacks {name!r}")
    value = body[name]
    wanted = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(value, wanted) or (isinstance(value, bool) and bool not in wanted):
        raise LoyaltyProtocolError(
            f"{where}: {name!r} should be {'/'.join(k.__name__ for k in wanted)}, got {value!r}"
        )
    return value  # type: ignore[return-value]


def _optional(body: Mapping[str, Any], name: str, parse: Callable[[Any, str], T], where: str) -> T | None:
    value = body.get(name) if isinstance(body, Mapping) else None
    return None if value is None else parse(value, f"{where}.{name}")


def _strings(body: Mapping[str, Any], name: str, where: str) -> tuple[str, ...]:
    values = _field(body, name, list, where)
    if not all(isinstance(v, str) for v in values):
        raise LoyaltyProtocolError(f"{where}: {name!r} should be a list of strings")
    return tuple(values)


def parse_member(body: Any, where: str = "member") -> Member:
    return Member(
        _field(body, "id", str, where), _field(body, "name", str, where), _field(body, "balance", int, where)
    )


def parse_notifier(body: Any, where: str = "notifier") -> Notifier:
    kind = _field(body, "kind", str, where)
    try:
        return Notifier(NotifierKind(kind), _field(body, "value", str, where))
    except ValueError:
        raise LoyaltyProtocolError(f"{where}: unknown notifier kind {kind!r}") from None


def parse_electronic_cheque(body: Any, where: str = "electronicCheque") -> ElectronicCheque:
    mode = _field(body, "mode", str, where)
    try:
        delivery = DeliveryMode(mode)
    except ValueError:
        raise LoyaltyProtocolError(f"{where}: unknown delivery mode {mode!r}") from None
    return ElectronicCheque(
        paper_refused=_field(body, "paperRefused", bool, where),
        mode=delivery,
        notifier=_optional(body, "notifier", parse_notifier, where),
        need_link=_field(body, "needLink", bool, where),
    )


def parse_balance(body: Any) -> BalanceAnswer:
    return BalanceAnswer(
        member=parse_member(_field(body, "member", dict, "balance")),
        electronic_cheque=parse_electronic_cheque(_field(body, "electronicCheque", dict, "balance")),
    )


def parse_calculate(body: Any) -> CalculateAnswer:
    where = "calculate"
    lines = tuple(
        LineResult(
            _field(line, "position", int, f"{where}.lines"),
            _field(line, "discount", int, f"{where}.lines"),
            _field(line, "amount", int, f"{where}.lines"),
        )
        for line in _field(body, "lines", list, where)
    )
    return CalculateAnswer(
        purchase_id=_field(body, "purchaseId", str, where),
        member=_optional(body, "member", parse_member, where),
        lines=lines,
        discount=_field(body, "discount", int, where),
        total=_field(body, "total", int, where),
        electronic_cheque=_optional(body, "electronicCheque", parse_electronic_cheque, where),
        cheque_messages=_strings(body, "chequeMessages", where),
        cashier_messages=_strings(body, "cashierMessages", where),
    )


def parse_confirm(body: Any) -> ConfirmAnswer:
    return ConfirmAnswer(
        purchase_id=_field(body, "purchaseId", str, "confirm"),
        status=_field(body, "status", str, "confirm"),
        points_earned=_field(body, "pointsEarned", int, "confirm"),
    )


def parse_cancel(body: Any) -> CancelAnswer:
    return CancelAnswer(_field(body, "purchaseId", str, "cancel"), _field(body, "status", str, "cancel"))


def parse_refund(body: Any) -> RefundAnswer:
    return RefundAnswer(
        refund_id=_field(body, "refundId", str, "refund"),
        purchase_id=_field(body, "purchaseId", str, "refund"),
        status=_field(body, "status", str, "refund"),
        electronic_cheque=_optional(body, "electronicCheque", parse_electronic_cheque, "refund"),
    )


def _messages(body: Any, where: str) -> tuple[SentMessage, ...]:
    return tuple(
        SentMessage(
            _field(m, "id", str, f"{where}.messages"),
            _field(m, "channel", str, f"{where}.messages"),
            _field(m, "status", str, f"{where}.messages"),
            _carries_receipt(m, f"{where}.messages"),
        )
        for m in _field(body, "messages", list, where)
    )


def _carries_receipt(message: Any, where: str) -> bool | None:
    value = message.get("carriesReceipt") if isinstance(message, dict) else None
    if value is not None and not isinstance(value, bool):
        raise LoyaltyProtocolError(f"{where}.carriesReceipt: expected true/false, got {value!r}")
    return value


def parse_cheque_link(body: Any) -> ChequeLinkAnswer:
    return ChequeLinkAnswer(
        stored=_field(body, "stored", bool, "cheque-link"), messages=_messages(body, "cheque-link")
    )


def parse_offline_purchase(body: Any) -> OfflinePurchaseAnswer:
    where = "offline purchase"
    return OfflinePurchaseAnswer(
        purchase_id=_field(body, "purchaseId", str, where),
        status=_field(body, "status", str, where),
        points_earned=_field(body, "pointsEarned", int, where),
        electronic_cheque=_optional(body, "electronicCheque", parse_electronic_cheque, where),
        messages=_messages(body, where),
    )


_OFFLINE_PARSERS: dict[type, Callable[[Any], OfflinePurchaseAnswer | RefundAnswer | CancelAnswer]] = {
    OfflinePurchase: parse_offline_purchase,
    OfflineRefund: parse_refund,
    OfflineCancel: parse_cancel,
}


def parse_offline_batch(body: Any, items: list[OfflineItem]) -> list[OfflineResult]:
    results = _field(body, "results", list, "offline-batch")
    if len(results) != len(items):
        raise LoyaltyProtocolError(
            f"offline-batch: {len(items)} requests sent, {len(results)} results received"
        )
    parsed = []
    for item, result in zip(items, results, strict=True):
        request_id = _field(result, "requestId", str, "offline-batch.results")
        if request_id != item.request_id:
            raise LoyaltyProtocolError(
                f"offline-batch: result for {request_id} where {item.request_id} was expected"
            )
        status = _field(result, "status", int, "offline-batch.results")
        answer_body = _field(result, "body", dict, "offline-batch.results")
        if status >= 400:
            error = rejection(
                _field(answer_body, "errorCode", str, "offline-batch.body"),
                _field(answer_body, "message", str, "offline-batch.body"),
                status,
            )
            parsed.append(OfflineResult(request_id, status, None, error))
        else:
            parsed.append(OfflineResult(request_id, status, _OFFLINE_PARSERS[type(item)](answer_body)))
    return parsed
