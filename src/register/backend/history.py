"""A member's purchases and refunds, newest first, with their receipt links.

A purchase's stored status stays CONFIRMED when it is refunded (further refunds check it); the history
shows REFUNDED when its refunds add up to its total and PARTIALLY_REFUNDED when they cover a part, with
the refunded amount.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import Connection, select
from sqlalchemy.engine import RowMapping

from register.backend.api.wire import ChequeLinkView, FiscalView, History, HistoryItem
from register.backend.purchases import Kind, Status
from register.backend.schema import cheque_links, purchases

MAX_ITEMS = 500
PARTIALLY_REFUNDED = "PARTIALLY_REFUNDED"  # shown only: never a stored status


def member_history(conn: Connection, member_id: str, *, staff_view: bool) -> History:
    """Staff see every record; the member does not see cancelled purchases, nor calculations that never
    became a receipt (no confirmation, no link)."""
    rows = (
        conn.execute(
            select(purchases)
            .where(purchases.c.member_id == member_id)
            .order_by(purchases.c.occurred_at.desc(), purchases.c.created_at.desc(), purchases.c.id)
            .limit(MAX_ITEMS)
        )
        .mappings()
        .all()
    )
    ids = [row["id"] for row in rows]
    links = _links(conn, ids)
    refunds = _refunds(conn, ids)
    items = [_item(row, links[row["id"]], refunds[row["id"]]) for row in rows]
    if not staff_view:
        items = [item for item in items if _member_sees(item)]
    return History(items=items)


def _member_sees(item: HistoryItem) -> bool:
    if item.status in (Status.CANCELLED, Status.EXPIRED):
        return False
    return item.status != Status.CALCULATED or bool(item.links)


def _links(conn: Connection, ids: list[str]) -> dict[str, list[ChequeLinkView]]:
    found: dict[str, list[ChequeLinkView]] = defaultdict(list)
    if ids:
        rows = conn.execute(
            select(cheque_links.c.purchase_id, cheque_links.c.url, cheque_links.c.qr)
            .where(cheque_links.c.purchase_id.in_(ids))
            .order_by(cheque_links.c.id)
        )
        for row in rows:
            found[row.purchase_id].append(ChequeLinkView(url=row.url, qr=row.qr))
    return found


def _refunds(conn: Connection, ids: list[str]) -> dict[str, list[tuple[str, int]]]:
    """Per purchase id: its refunds' (id, total), oldest first."""
    found: dict[str, list[tuple[str, int]]] = defaultdict(list)
    if ids:
        rows = conn.execute(
            select(purchases.c.original_id, purchases.c.id, purchases.c.total)
            .where(purchases.c.original_id.in_(ids), purchases.c.kind == Kind.REFUND)
            .order_by(purchases.c.occurred_at, purchases.c.created_at)
        )
        for row in rows:
            found[row.original_id].append((row.id, int(row.total)))
    return found


def shown_status(stored: str, kind: str, total: int, refunded: int) -> str:
    """The status a history shows: a confirmed purchase with refunds is (partially) refunded."""
    if kind != Kind.PURCHASE or stored != Status.CONFIRMED or refunded <= 0:
        return stored
    return Status.REFUNDED if refunded >= total else PARTIALLY_REFUNDED


def _item(row: RowMapping, links: list[ChequeLinkView], refunds: list[tuple[str, int]]) -> HistoryItem:
    fiscal = None
    if row["fiscal_fn"] is not None:
        fiscal = FiscalView(
            fn=row["fiscal_fn"],
            fd=row["fiscal_fd"],
            fp=row["fiscal_fp"],
            operation=row["fiscal_operation"],
            total=row["fiscal_total"],
            date_time=row["fiscal_datetime"],
        )
    refunded = sum(total for _id, total in refunds)
    return HistoryItem(
        kind=row["kind"],
        id=row["id"],
        date_time=row["cheque_datetime"],
        total=row["total"],
        status=shown_status(row["status"], row["kind"], row["total"], refunded),
        fiscal=fiscal,
        links=links,
        refunds=[refund_id for refund_id, _total in refunds],
        refunded_amount=refunded,
    )
