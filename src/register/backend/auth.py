"""Who is calling: a register (HTTP Basic, device code + secret), a member or a staff user (bearer token)."""

from __future__ import annotations

import hashlib
import hmac
import re
import threading
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Connection, delete, insert, select

from register.backend import errors
from register.backend.credentials import hash_secret, new_token, token_digest, verify_secret
from register.backend.database import Database
from register.backend.schema import devices, staff, tokens
from register.backend.timeutil import utc_now_text, utc_text_after

TokenKind = Literal["member", "staff"]
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
BASIC_CHALLENGE = 'Basic realm="loyalty-pos"'
BEARER_CHALLENGE = 'Bearer realm="loyalty"'
_CHECK_STRIPES = 16


@dataclass(frozen=True, slots=True)
class Device:
    id: int
    code: str


class DeviceAuthenticator:
    """Checks register credentials; a verified secret is remembered (as a SHA-256) so that scrypt, slow
    on purpose, runs once per register and not on every request. Concurrent first requests of a register
    wait for one check instead of each running scrypt (16 MB of memory apiece) at the same time."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._verified: dict[str, tuple[bytes, Device]] = {}
        self._checking = tuple(threading.Lock() for _ in range(_CHECK_STRIPES))  # by code, bounded
        self._lock = threading.Lock()

    def known(self, code: str, secret: str) -> Device | None:
        """The register when these credentials were verified before; None: ``authenticate`` must check."""
        return self._known(code, _fingerprint(secret))

    def authenticate(self, code: str, secret: str) -> Device:
        if not code or _CONTROL.search(code) or len(code) > 64:
            raise _bad_device()
        fingerprint = _fingerprint(secret)
        known = self._known(code, fingerprint)
        if known is not None:
            return known
        with self._checking[hash(code) % _CHECK_STRIPES]:
            known = self._known(code, fingerprint)  # verified while this request waited
            if known is not None:
                return known
            device = self._verify(code, secret)
            with self._lock:
                self._verified[code] = (fingerprint, device)
            return device

    def _known(self, code: str, fingerprint: bytes) -> Device | None:
        with self._lock:
            known = self._verified.get(code)
        if known is not None and hmac.compare_digest(known[0], fingerprint):
            return known[1]
        return None

    def _verify(self, code: str, secret: str) -> Device:
        with self._db.read() as conn:
            row = conn.execute(
                select(devices.c.id, devices.c.secret_hash).where(devices.c.code == code)
            ).first()
        if row is None or not verify_secret(secret, row.secret_hash):
            raise _bad_device()
        return Device(row.id, code)


def _fingerprint(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()


def register_device(conn: Connection, code: str, secret: str) -> None:
    """Create a register's credentials (the lab seed; real shops would do this in the CRM)."""
    conn.execute(
        insert(devices).values(code=code, secret_hash=hash_secret(secret), created_at=utc_now_text())
    )


def register_staff(conn: Connection, login: str, password: str) -> None:
    conn.execute(
        insert(staff).values(login=login, password_hash=hash_secret(password), created_at=utc_now_text())
    )


def staff_login(conn: Connection, login: str, password: str) -> str | None:
    """The staff user's id when the password is right, else None."""
    row = conn.execute(select(staff.c.id, staff.c.password_hash).where(staff.c.login == login)).first()
    if row is None or not verify_secret(password, row.password_hash):
        return None
    return str(row.id)


def issue_token(conn: Connection, kind: TokenKind, subject: str, ttl_seconds: int) -> str:
    """A new bearer token for ``subject``; only its digest is stored. Expired tokens are swept here."""
    now = utc_now_text()
    conn.execute(delete(tokens).where(tokens.c.expires_at < now))
    token = new_token()
    conn.execute(
        insert(tokens).values(
            digest=token_digest(token),
            kind=kind,
            subject=subject,
            expires_at=utc_text_after(ttl_seconds),
            created_at=now,
        )
    )
    return token


def token_subject(db: Database, token: str, kind: TokenKind) -> str:
    """The member or staff id a bearer token stands for; 401 when unknown or expired, 403 when it is the
    other kind of token."""
    with db.read() as conn:
        row = conn.execute(
            select(tokens.c.kind, tokens.c.subject).where(
                tokens.c.digest == token_digest(token), tokens.c.expires_at > utc_now_text()
            )
        ).first()
    if row is None:
        raise errors.unauthorized("Сессия не найдена или истекла: войдите снова", BEARER_CHALLENGE)
    if row.kind != kind:
        raise errors.forbidden("Этот вход не даёт доступа к этому разделу")
    return str(row.subject)


def _bad_device() -> errors.ApiError:
    return errors.unauthorized("Касса не зарегистрирована или неверный пароль кассы", BASIC_CHALLENGE)
