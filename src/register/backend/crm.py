"""Staff look-ups: members by card, phone, e-mail or name; the messages sent to them."""

from __future__ import annotations

import re
from collections import defaultdict

from sqlalchemy import Connection, exists, or_, select
from sqlalchemy.sql.elements import ColumnElement

from register.backend.api.crm_models import MemberSummary, MessageView
from register.backend.cheque_links import public_status
from register.backend.members import fold_name
from register.backend.offers import BUILT_IN_OFFER_IDS
from register.backend.schema import cards, members, messages

MAX_MEMBERS = 100
MAX_MESSAGES = 500
_MIN_PHONE_DIGITS = 3


def search_members(conn: Connection, query: str | None) -> list[MemberSummary]:
    """Members whose card, phone, e-mail or name contains ``query`` (all of them, up to 100, if empty)."""
    statement = select(members).order_by(members.c.name_folded, members.c.id).limit(MAX_MEMBERS)
    needle = (query or "").strip()
    if needle:
        statement = statement.where(or_(*_matches(needle)))
    rows = conn.execute(statement).mappings().all()
    member_cards = _cards(conn, [row["id"] for row in rows])
    return [
        MemberSummary(
            id=row["id"],
            name=row["name"],
            cards=member_cards[row["id"]],
            email=row["email"],
            phone=row["phone"],
            paper_refused=bool(row["paper_refused"]),
            blocked=bool(row["blocked"]),
        )
        for row in rows
    ]


def list_messages(conn: Connection, member_id: str | None) -> list[MessageView]:
    statement = select(messages).order_by(messages.c.created_at.desc(), messages.c.id).limit(MAX_MESSAGES)
    if member_id is not None:
        statement = statement.where(messages.c.member_id == member_id)
    return [
        MessageView(
            id=row["id"],
            member_id=row["member_id"],
            purchase_id=row["purchase_id"],
            offer_id=None if row["offer_id"] in BUILT_IN_OFFER_IDS else row["offer_id"],
            kind="receipt" if row["offer_id"] in BUILT_IN_OFFER_IDS else "offer",
            channel=row["channel"],
            recipient=row["recipient"],
            status=public_status(row["status"], row["attempts"]),
            attempts=row["attempts"],
            link=row["link"],
            error=row["error"],
            created_at=row["created_at"],
            sent_at=row["sent_at"],
        )
        for row in conn.execute(statement).mappings()
    ]


def _matches(needle: str) -> list[ColumnElement[bool]]:
    pattern = f"%{_escape_like(needle)}%"
    folded = f"%{_escape_like(fold_name(needle))}%"
    conditions: list[ColumnElement[bool]] = [
        members.c.name_folded.like(folded, escape="\\"),
        members.c.email.like(f"%{_escape_like(needle.lower())}%", escape="\\"),
        exists().where(cards.c.member_id == members.c.id, cards.c.number.like(pattern, escape="\\")),
    ]
    digits = re.sub(r"[^0-9]", "", needle)
    if len(digits) == 11 and digits.startswith("8"):  # 8 900 … is the domestic form of +7 900 …
        digits = "7" + digits[1:]
    if len(digits) >= _MIN_PHONE_DIGITS:
        conditions.append(members.c.phone.like(f"%{digits}%"))
    return conditions


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _cards(conn: Connection, member_ids: list[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = defaultdict(list)
    if member_ids:
        rows = conn.execute(
            select(cards.c.member_id, cards.c.number)
            .where(cards.c.member_id.in_(member_ids))
            .order_by(cards.c.number)
        )
        for row in rows:
            found[row.member_id].append(row.number)
    return found
