"""Time stamps as the backend stores them: ISO 8601 UTC text with microseconds, sortable as text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def utc_now() -> datetime:
    return datetime.now(UTC)


def utc_text(moment: datetime) -> str:
    """2026-01-15T11:32:00.000000+00:00: one width for every moment, so text order is time order."""
    if moment.tzinfo is None:
        raise ValueError(f"a stored time needs an offset, got naive {moment.isoformat()}")
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    return moment.isoformat(timespec="microseconds")


def utc_now_text() -> str:
    return utc_text(utc_now())


def utc_text_after(seconds: int) -> str:
    return utc_text(utc_now() + timedelta(seconds=seconds))


def parse_stored(text: str) -> datetime:
    """A stored time (UTC text or a register's ISO time with offset) back to an aware datetime."""
    return datetime.fromisoformat(text)
