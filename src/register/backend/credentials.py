"""Secrets at rest: device secrets and staff passwords salted with scrypt, bearer tokens as SHA-256.

Bearer tokens are 256 random bits, so a plain SHA-256 of one is as strong as the token itself; device
secrets and passwords are chosen by people, so they get a salted, memory-hard scrypt.
"""

from __future__ import annotations

import base64
import ctypes
import hashlib
import hmac
import secrets
from typing import Any

_SCRYPT_N = 2**14
_SCRYPT_R = 8
_SCRYPT_P = 1
_SCRYPT_LEN = 32
_SCHEME = "scrypt"


def hash_secret(secret: str) -> str:
    """``scrypt$N$r$p$salt$hash`` (base64) for a device secret or a password."""
    salt = secrets.token_bytes(16)
    digest = _scrypt(secret, salt, _SCRYPT_N, _SCRYPT_R, _SCRYPT_P)
    return "$".join((_SCHEME, str(_SCRYPT_N), str(_SCRYPT_R), str(_SCRYPT_P), _b64(salt), _b64(digest)))


def verify_secret(secret: str, stored: str) -> bool:
    """Whether ``secret`` matches a ``hash_secret`` result; False for a malformed stored value."""
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != _SCHEME or not all(p.isdigit() for p in parts[1:4]):
        return False
    n, r, p = (int(x) for x in parts[1:4])
    try:
        salt, expected = base64.b64decode(parts[4]), base64.b64decode(parts[5])
    except ValueError:
        return False
    return hmac.compare_digest(_scrypt(secret, salt, n, r, p), expected)


def new_token() -> str:
    """A fresh bearer token: 256 random bits, URL-safe text."""
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """What is stored for a token: its SHA-256, hex."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _scrypt(secret: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    digest = hashlib.scrypt(
        secret.encode("utf-8", "surrogatepass"), salt=salt, n=n, r=r, p=p, dklen=_SCRYPT_LEN, maxmem=2**26
    )
    _give_back_freed_memory()
    return digest


def _give_back_freed_memory() -> None:
    """scrypt's 16 MB are freed, but glibc keeps them in the process once its threshold for mapping
    large blocks has grown past that: twenty registers signing in left the backend 40 MB bigger."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def _malloc_trim() -> Any:
    try:
        return ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # not glibc: nothing to give back this way
        return None


_MALLOC_TRIM = _malloc_trim()


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")
