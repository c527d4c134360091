"""Idempotent register requests: the first answer to a (device, requestId) is stored and replayed.

A request does the work and inserts its ``pos_requests`` row with the answer, in one transaction. A
repeat's INSERT fails on the unique key (device, requestId), which rolls back the repeat's whole
transaction, its work included, and it answers with the stored answer (DUPLICATE_CONFLICT when the
requestId was used for another body): the work of a repeat never stands. Repeats are rare, so no
request pays a look-up first. On PostgreSQL two identical requests racing are settled the same way: the
second one's INSERT waits on the first one's unique key and fails once it commits, so two identical
requests racing still make one purchase. (One INSERT with the answer instead of an INSERT to claim and
an UPDATE to fill in: a statement less in every request.) A refusal (ApiError) rolls the work back and
is stored in a transaction of its own, so a retry gets the same refusal.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Connection, bindparam, insert, select
from sqlalchemy.exc import DBAPIError, IntegrityError

from register.backend import errors
from register.backend.database import Database
from register.backend.errors import ApiError, ErrorCode
from register.backend.prepared import Prepared
from register.backend.schema import pos_requests
from register.backend.timeutil import utc_now_text

log = logging.getLogger(__name__)

_CLAIMED = 0  # status_code of a claim without its answer (rows of earlier versions only)

# Built once: SQLAlchemy then reuses their cache keys and compiled forms on every request.
_KEY_MATCHES = (
    pos_requests.c.device_id == bindparam("key_device"),
    pos_requests.c.request_id == bindparam("key_request"),
)
_SELECT_STORED = select(pos_requests).where(*_KEY_MATCHES)
_INSERT = Prepared(insert(pos_requests))


@dataclass(frozen=True, slots=True)
class Answer:
    """An answer as it is stored and sent: its status and its body as compact JSON text."""

    status: int
    text: str

    @classmethod
    def of(cls, status: int, body: dict[str, Any] | BaseModel) -> Answer:
        if isinstance(body, BaseModel):
            return cls(status, body.model_dump_json(by_alias=True))
        return cls(status, json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":")))

    @property
    def body(self) -> dict[str, Any]:
        return json.loads(self.text)  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class RequestKey:
    device_id: int
    request_id: str
    endpoint: str
    body_digest: str
    legacy_digest: Callable[[], str] | None = None
    """The digest as versions before 2026-12 made it, for answers they stored."""


def request_key(
    device_id: int, request_id: str, endpoint: str, body: BaseModel, exclude: set[str]
) -> RequestKey:
    """The key of a request: ``body``, its validated content, without the fields ``exclude`` names (the
    requestId), as pydantic writes it (fields in their order: the same content, the same text)."""
    canonical = body.__pydantic_serializer__.to_json(body, exclude=exclude)
    digest = hashlib.sha256(endpoint.encode() + b"\n" + canonical).hexdigest()

    def legacy() -> str:
        content = body.model_dump(mode="json", exclude=exclude)
        text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
        return hashlib.sha256(f"{endpoint}\n{text}".encode()).hexdigest()

    return RequestKey(device_id, request_id, endpoint, digest, legacy)


def run_once(
    db: Database, key: RequestKey, work: Callable[[Connection], dict[str, Any] | BaseModel]
) -> Answer:
    """The stored answer for ``key``, or the answer of ``work`` (run and stored in one transaction).

    Nothing is looked up first: a repeat's INSERT of its answer fails on the unique key, which rolls its
    work back, and the stored answer is read then. A repeat is rare; a look-up would cost every request.

    A connection found lost (the database restarted) is run once more on a new connection: safe, since
    the work and its answer commit together. Had the lost transaction committed after all, the second
    run's INSERT meets the stored answer and replays it."""
    try:
        return _run_once(db, key, work)
    except DBAPIError as error:
        if not error.connection_invalidated:
            raise
        log.warning("database connection lost during %s %s; running it again", key.endpoint, key.request_id)
        return _run_once(db, key, work)


def _run_once(
    db: Database, key: RequestKey, work: Callable[[Connection], dict[str, Any] | BaseModel]
) -> Answer:
    try:
        with db.write() as conn:
            answer = Answer.of(200, _work_or_conflict(conn, work))
            _insert(conn, key, answer)
        return answer
    except ApiError as refusal:
        return _store_refusal(db, key, refusal)
    except IntegrityError:
        # Our claim lost a race with an identical request: its answer is committed now. Or, on
        # PostgreSQL where the writes go with the COMMIT, the work's own writes met another request's.
        replay = _replay_if_stored(db, key)
        if replay is None:
            raise _conflict() from None
        return replay


def lookup(db: Database, key: RequestKey) -> Answer | None:
    """The stored answer for ``key``; DUPLICATE_CONFLICT when the requestId was used for another body."""
    return _replay_if_stored(db, key)


def remember(db: Database, key: RequestKey, answer: Answer) -> Answer:
    """Store ``answer`` for ``key`` unless one is stored already; return the one that stands."""
    try:
        with db.write() as conn:
            replay = _stored(conn, key)
            if replay is not None:
                return replay
            _insert(conn, key, answer)
    except IntegrityError:
        replay = _replay_if_stored(db, key)
        if replay is not None:
            return replay
        raise
    return answer


def _work_or_conflict(
    conn: Connection, work: Callable[[Connection], dict[str, Any] | BaseModel]
) -> dict[str, Any] | BaseModel:
    try:
        return work(conn)
    except IntegrityError:
        raise _conflict() from None


def _conflict() -> ApiError:
    return errors.ApiError(
        ErrorCode.WRONG_STATE,
        "Данные изменены другим запросом одновременно с этим: повторите запрос",
        transient=True,
    )


def _replay_if_stored(db: Database, key: RequestKey) -> Answer | None:
    with db.read() as conn:
        return _stored(conn, key)


def _stored(conn: Connection, key: RequestKey) -> Answer | None:
    row = conn.execute(_SELECT_STORED, _key_params(key)).mappings().one_or_none()
    if row is None or row["status_code"] == _CLAIMED:
        return None
    same = row["body_digest"] == key.body_digest or (
        key.legacy_digest is not None and row["body_digest"] == key.legacy_digest()
    )
    if row["endpoint"] != key.endpoint or not same:
        raise ApiError(
            ErrorCode.DUPLICATE_CONFLICT,
            f"Запрос {key.request_id} уже был выполнен с другими данными: нужен новый requestId",
        )
    return Answer(row["status_code"], row["answer"])


def _store_refusal(db: Database, key: RequestKey, refusal: ApiError) -> Answer:
    if refusal.code is ErrorCode.DUPLICATE_CONFLICT:
        raise refusal
    if refusal.transient:  # not stored; a repeat's work may hit it before its stored answer is read
        replay = _replay_if_stored(db, key)
        if replay is not None:
            return replay
        raise refusal
    return remember(db, key, Answer.of(refusal.status, refusal.body()))


def _insert(conn: Connection, key: RequestKey, answer: Answer) -> None:
    _INSERT.defer(
        conn,
        {
            "device_id": key.device_id,
            "request_id": key.request_id,
            "endpoint": key.endpoint,
            "body_digest": key.body_digest,
            "status_code": answer.status,
            "answer": answer.text,
            "created_at": utc_now_text(),
        },
    )


def _key_params(key: RequestKey) -> dict[str, Any]:
    return {"key_device": key.device_id, "key_request": key.request_id}
