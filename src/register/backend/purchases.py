"""Purchases and returns: calculate, confirm, cancel, refund (the register's two-phase protocol).

A purchase is CALCULATED by ``calculate`` (delivery mode and the member's e-receipt choice fixed then),
CONFIRMED by ``confirm`` with its fiscal document (points accrued) or CANCELLED by ``cancel``. A
calculation left without either for longer than its lifetime (a register whose calculate timed out
never cancels) is EXPIRED by the periodic sweep, and refused as expired by confirm even before the sweep
gets to it. A refund is a record of kind "refund" attached to a confirmed purchase; its points reverse
what the refunded part of the purchase earned (the purchase stays CONFIRMED; its history shows it
REFUNDED or PARTIALLY_REFUNDED).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from sqlalchemy import Connection, and_, bindparam, func, insert, select, update
from sqlalchemy.engine import RowMapping

from register.backend import errors
from register.backend.api.pos_models import (
    CalculateAnswer,
    CancelAnswer,
    ChequeFields,
    ChequeLine,
    ConfirmAnswer,
    LineResult,
    MemberBrief,
    RefundAnswer,
    RefundFields,
)
from register.backend.api.wire import ElectronicCheque, Fiscal
from register.backend.members import (
    Member,
    electronic_cheque,
    identified_member,
    identifier_query,
    load_member,
    stored_electronic_cheque,
)
from register.backend.prepared import Prepared, read_together
from register.backend.schema import members, purchase_lines, purchases
from register.backend.shop import SHOP_QUERY, load_shop, shop_state
from register.backend.timeutil import parse_stored, utc_now, utc_now_text, utc_text
from register.domain import format_rub

KOPECKS_PER_POINT = 100_00  # 1 point per full 100 roubles
OPERATION_SALE = 1
OPERATION_SALE_RETURN = 2


# Built once: SQLAlchemy then reuses their cache keys and compiled forms on every request.
_LOCK_RECORD = select(purchases).where(purchases.c.id == bindparam("record_id")).with_for_update()
_RECORD_BY_DOCUMENT = (
    select(purchases)
    .where(
        purchases.c.fiscal_fn == bindparam("fn"),
        purchases.c.fiscal_fd == bindparam("fd"),
    )
    .with_for_update()
)
# The purchase to confirm, and any record its fiscal document is attached to: two statements in one round
# trip (one with an OR of the two keys was planned as a bitmap OR of both indexes, five times as slow).
_LOCK_PURCHASE = Prepared(_LOCK_RECORD)
_LOCK_DOCUMENT = Prepared(_RECORD_BY_DOCUMENT)
_INSERT_RECORD = Prepared(insert(purchases))
_INSERT_LINES = Prepared(insert(purchase_lines))
_UPDATE_RECORD = Prepared(update(purchases).where(purchases.c.id == bindparam("record_id")))
_ADD_POINTS = Prepared(
    update(members)
    .where(members.c.id == bindparam("member_id_"))
    .values(balance=members.c.balance + bindparam("points_", type_=members.c.balance.type))
)


class Status(StrEnum):
    CALCULATED = "CALCULATED"
    CONFIRMED = "CONFIRMED"
    CANCELLED = "CANCELLED"
    REFUNDED = "REFUNDED"
    EXPIRED = "EXPIRED"


class Kind(StrEnum):
    PURCHASE = "purchase"
    REFUND = "refund"


# After the enums: the sweep's statement, built once.
_EXPIRE = (
    update(purchases)
    .where(
        purchases.c.status == Status.CALCULATED.value,
        purchases.c.kind == Kind.PURCHASE.value,
        purchases.c.created_at < bindparam("cutoff"),
    )
    .values(status=Status.EXPIRED.value)
)


def points_for(total: int) -> int:
    """Points a purchase earns: one per full 100 roubles of its total."""
    return total // KOPECKS_PER_POINT


@dataclass(frozen=True, slots=True)
class Delivery:
    """The e-receipt choice fixed on a purchase or refund when it was recorded."""

    mode: str
    paper_refused: bool
    notifier_kind: str | None
    notifier_value: str | None

    @classmethod
    def of(cls, member: Member | None, mode: str) -> Delivery:
        notifier = member.notifier if member else None
        return cls(
            mode=mode,
            paper_refused=bool(member and member.paper_refused),
            notifier_kind=notifier.kind.value if notifier else None,
            notifier_value=notifier.value if notifier else None,
        )


def calculate(conn: Connection, device_id: int, cheque: ChequeFields) -> CalculateAnswer:
    member: Member | None = None
    if cheque.identifier:  # the member and the shop's settings in one round trip
        found, shop = read_together(
            conn, identifier_query(cheque.identifier.type, cheque.identifier.value), SHOP_QUERY
        )
        member = identified_member(found.one_or_none())
        mode = shop_state(shop.one()).delivery_mode
    else:
        mode = load_shop(conn).delivery_mode
    purchase_id = str(uuid.uuid4())
    _insert_record(
        conn,
        purchase_id=purchase_id,
        kind=Kind.PURCHASE,
        device_id=device_id,
        member_id=member.id if member else None,
        original_id=None,
        cheque_number=cheque.cheque_number,
        cheque_datetime=cheque.cheque_date_time.isoformat(),
        occurred_at=utc_text(cheque.cheque_date_time),
        total=cheque.total,
        status=Status.CALCULATED,
        delivery=Delivery.of(member, mode.value),
        fiscal=None,
        points=0,
    )
    _insert_lines(conn, purchase_id, cheque.lines)
    cheque_view = electronic_cheque(member, mode) if member else None
    return CalculateAnswer(
        purchase_id=purchase_id,
        member=_brief(member),
        lines=[LineResult(position=line.position, discount=0, amount=line.amount) for line in cheque.lines],
        discount=0,
        total=cheque.total,
        electronic_cheque=cheque_view,
        cheque_messages=_cheque_messages(member, cheque.total),
        cashier_messages=_cashier_messages(member, cheque_view),
    )


def confirm(
    conn: Connection,
    purchase_id: str,
    fiscal: Fiscal,
    *,
    lifetime_seconds: float | None = None,
) -> ConfirmAnswer:
    """Settle a calculated purchase with its fiscal document. ``lifetime_seconds``: a calculation older
    than this has expired (PURCHASE_EXPIRED), whether or not the sweep has marked it yet."""
    by_id, by_document = read_together(
        conn,
        (_LOCK_PURCHASE, {"record_id": purchase_id}),
        (_LOCK_DOCUMENT, {"fn": fiscal.fn, "fd": fiscal.fd}),
    )
    record = by_id.first()
    other = next((row for row in by_document if row["id"] != purchase_id), None)  # (fn, fd) is unique
    if record is None or record["kind"] != Kind.PURCHASE:
        raise errors.purchase_not_found(purchase_id)
    _require_operation(fiscal, OPERATION_SALE, "подтверждения покупки")
    _require_fiscal_total(fiscal, record["total"])
    if record["status"] == Status.CONFIRMED:
        if same_document(record, fiscal):
            return ConfirmAnswer(
                purchase_id=purchase_id,
                status="CONFIRMED",
                points_earned=record["points"],
            )
        raise errors.wrong_state(f"Покупка {purchase_id} уже подтверждена другим фискальным документом")
    if record["status"] == Status.EXPIRED or calculation_expired(record, lifetime_seconds):
        raise errors.purchase_expired(purchase_id)
    if record["status"] != Status.CALCULATED:
        raise errors.wrong_state(f"Покупка {purchase_id} отменена: подтвердить её нельзя")
    if other is not None:
        raise _document_used(fiscal, other["id"])
    points = points_for(record["total"]) if record["member_id"] else 0
    _UPDATE_RECORD.defer(
        conn,
        {
            "record_id": purchase_id,
            "status": Status.CONFIRMED,
            "points": points,
            **_fiscal_columns(fiscal),
        },
    )
    if points:
        _ADD_POINTS.defer(conn, {"member_id_": record["member_id"], "points_": points})
    return ConfirmAnswer(purchase_id=purchase_id, status="CONFIRMED", points_earned=points)


def cancel(conn: Connection, purchase_id: str) -> CancelAnswer:
    record = lock_record(conn, purchase_id)
    if record is None or record["kind"] != Kind.PURCHASE:
        raise errors.purchase_not_found(purchase_id)
    if record["status"] == Status.CONFIRMED:
        raise errors.wrong_state(
            f"Покупка {purchase_id} уже подтверждена: отмена невозможна, оформите возврат"
        )
    if record["status"] == Status.EXPIRED:
        return CancelAnswer(purchase_id=purchase_id, status="EXPIRED")  # released already
    if record["status"] == Status.CALCULATED:
        _UPDATE_RECORD.defer(conn, {"record_id": purchase_id, "status": Status.CANCELLED})
    return CancelAnswer(purchase_id=purchase_id, status="CANCELLED")


def calculation_expired(record: RowMapping, lifetime_seconds: float | None) -> bool:
    """A purchase still CALCULATED longer than ``lifetime_seconds`` after it was calculated."""
    if lifetime_seconds is None or record["status"] != Status.CALCULATED or record["kind"] != Kind.PURCHASE:
        return False
    return parse_stored(record["created_at"]) < utc_now() - timedelta(seconds=lifetime_seconds)


def expire_calculations(conn: Connection, lifetime_seconds: float) -> int:
    """Mark every purchase CALCULATED longer than ``lifetime_seconds`` EXPIRED; return how many.

    Nothing is deducted at calculate (points accrue at confirm), so expiring is the status change alone.
    On PostgreSQL a confirm holding the row's lock wins: the UPDATE re-reads the row after the lock and
    skips it once it is CONFIRMED."""
    cutoff = utc_text(utc_now() - timedelta(seconds=lifetime_seconds))
    return conn.execute(_EXPIRE, {"cutoff": cutoff}).rowcount


def refund(conn: Connection, device_id: int, fields: RefundFields) -> RefundAnswer:
    original = _find_original(conn, fields)
    if original["status"] != Status.CONFIRMED:
        raise errors.wrong_state(f"Покупка {original['id']} не подтверждена: возврат по ней невозможен")
    _require_operation(fields.fiscal, OPERATION_SALE_RETURN, "возврата")
    _require_fiscal_total(fields.fiscal, fields.total)
    refunded_before, points_reversed_before = _refunded_so_far(conn, original["id"])
    remaining = original["total"] - refunded_before
    if fields.total > remaining:
        raise errors.wrong_state(
            f"Сумма возврата {format_rub(fields.total)} ₽ больше остатка покупки {format_rub(remaining)} ₽"
        )
    _require_document_unused(conn, fields.fiscal, None)
    # Points left on the purchase are those its unreturned part earns: reverse the rest.
    points_kept = points_for(remaining - fields.total) if original["member_id"] else 0
    reversal = max(0, original["points"] + points_reversed_before - points_kept)
    member = load_member(conn, original["member_id"]) if original["member_id"] else None
    mode = load_shop(conn).delivery_mode
    refund_id = str(uuid.uuid4())
    _insert_record(
        conn,
        purchase_id=refund_id,
        kind=Kind.REFUND,
        device_id=device_id,
        member_id=original["member_id"],
        original_id=original["id"],
        cheque_number=None,
        cheque_datetime=fields.fiscal.date_time.isoformat(),
        occurred_at=utc_text(fields.fiscal.date_time),
        total=fields.total,
        status=Status.REFUNDED,
        delivery=Delivery.of(member, mode.value),
        fiscal=fields.fiscal,
        points=-reversal,
    )
    _insert_lines(conn, refund_id, fields.lines)
    if reversal:
        _ADD_POINTS.defer(conn, {"member_id_": original["member_id"], "points_": -reversal})
    return RefundAnswer(
        refund_id=refund_id,
        purchase_id=original["id"],
        status="REFUNDED",
        electronic_cheque=electronic_cheque(member, mode) if member else None,
    )


def lock_record(conn: Connection, record_id: str) -> RowMapping | None:
    """A purchase or refund row, locked for the rest of the transaction (PostgreSQL; SQLite is serial)."""
    return conn.execute(_LOCK_RECORD, {"record_id": record_id}).mappings().one_or_none()


def record_by_document(conn: Connection, fn: str, fd: int) -> RowMapping | None:
    return conn.execute(_RECORD_BY_DOCUMENT, {"fn": fn, "fd": fd}).mappings().one_or_none()


def record_delivery(record: RowMapping) -> ElectronicCheque:
    return stored_electronic_cheque(
        paper_refused=bool(record["paper_refused"]),
        mode=record["delivery_mode"],
        notifier_kind=record["notifier_kind"],
        notifier_value=record["notifier_value"],
    )


def _find_original(conn: Connection, fields: RefundFields) -> RowMapping:
    if fields.original_purchase_id is not None:
        record = lock_record(conn, fields.original_purchase_id)
        wanted = fields.original_purchase_id
    else:
        ref = fields.original_fiscal
        assert ref is not None  # the model requires one of the two
        record = record_by_document(conn, ref.fn, ref.fd)
        if record is not None and record["fiscal_fp"] != ref.fp:
            record = None
        wanted = f"ФН {ref.fn} ФД {ref.fd}"
    if record is None or record["kind"] != Kind.PURCHASE:
        raise errors.purchase_not_found(wanted)
    return record


def _refunded_so_far(conn: Connection, purchase_id: str) -> tuple[int, int]:
    total, points = conn.execute(
        select(
            func.coalesce(func.sum(purchases.c.total), 0),
            func.coalesce(func.sum(purchases.c.points), 0),
        ).where(and_(purchases.c.original_id == purchase_id, purchases.c.kind == Kind.REFUND))
    ).one()
    return int(total), int(points)


def _require_operation(fiscal: Fiscal, operation: int, what: str) -> None:
    if fiscal.operation != operation:
        raise errors.validation(
            f"Признак расчёта (1054) фискального документа {what} "
            f"должен быть {operation}, а не {fiscal.operation}"
        )


def _require_fiscal_total(fiscal: Fiscal, total: int) -> None:
    if fiscal.total != total:
        raise errors.validation(
            f"Сумма фискального документа {format_rub(fiscal.total)} ₽ не равна сумме {format_rub(total)} ₽"
        )


def _require_document_unused(conn: Connection, fiscal: Fiscal, own_id: str | None) -> None:
    other = record_by_document(conn, fiscal.fn, fiscal.fd)
    if other is not None and other["id"] != own_id:
        raise _document_used(fiscal, other["id"])


def _document_used(fiscal: Fiscal, other_id: str) -> errors.ApiError:
    return errors.wrong_state(f"Фискальный документ ФН {fiscal.fn} ФД {fiscal.fd} уже учтён в {other_id}")


def same_document(record: RowMapping, fiscal: Fiscal) -> bool:
    return (record["fiscal_fn"], record["fiscal_fd"], record["fiscal_fp"]) == (
        fiscal.fn,
        fiscal.fd,
        fiscal.fp,
    )


def _fiscal_columns(fiscal: Fiscal | None) -> dict[str, object]:
    if fiscal is None:
        return {}
    return {
        "fiscal_fn": fiscal.fn,
        "fiscal_fd": fiscal.fd,
        "fiscal_fp": fiscal.fp,
        "fiscal_operation": fiscal.operation,
        "fiscal_total": fiscal.total,
        "fiscal_datetime": fiscal.date_time.isoformat(),
    }


def _insert_record(
    conn: Connection,
    *,
    purchase_id: str,
    kind: str,
    device_id: int,
    member_id: str | None,
    original_id: str | None,
    cheque_number: str | None,
    cheque_datetime: str,
    occurred_at: str,
    total: int,
    status: str,
    delivery: Delivery,
    fiscal: Fiscal | None,
    points: int,
) -> None:
    _INSERT_RECORD.defer(
        conn,
        {
            "id": purchase_id,
            "kind": kind,
            "device_id": device_id,
            "member_id": member_id,
            "original_id": original_id,
            "cheque_number": cheque_number,
            "cheque_datetime": cheque_datetime,
            "occurred_at": occurred_at,
            "total": total,
            "discount": 0,
            "status": status,
            "delivery_mode": delivery.mode,
            "paper_refused": delivery.paper_refused,
            "notifier_kind": delivery.notifier_kind,
            "notifier_value": delivery.notifier_value,
            "points": points,
            "created_at": utc_now_text(),
            **_fiscal_columns(fiscal),
        },
    )


def _insert_lines(conn: Connection, purchase_id: str, lines: list[ChequeLine]) -> None:
    _INSERT_LINES.defer(
        conn,
        [
            {
                "purchase_id": purchase_id,
                "position": line.position,
                "sku": line.sku,
                "name": line.name,
                "price": line.price,
                "quantity": line.quantity,
                "amount": line.amount,
                "discount": 0,
            }
            for line in lines
        ],
    )


def _brief(member: Member | None) -> MemberBrief | None:
    return MemberBrief(id=member.id, name=member.name, balance=member.balance) if member else None


def _cheque_messages(member: Member | None, total: int) -> list[str]:
    if member is None or member.paper_refused:
        return []
    return [f"Бонусная программа: баланс {member.balance} б., за эту покупку начислим {points_for(total)} б."]


def _cashier_messages(member: Member | None, cheque: ElectronicCheque | None) -> list[str]:
    if member is None or cheque is None:
        return []
    said = [f"Участник: {member.name}, баланс {member.balance} б."]
    if cheque.paper_refused and cheque.notifier is not None:
        said.append(f"Отказ от бумажного чека: электронный чек на {cheque.notifier.value}")
    elif cheque.paper_refused:
        said.append("Отказ от бумажного чека, но нет подтверждённого контакта: чек печатается")
    else:
        said.append("Предложите покупателю электронный чек")
    return said
