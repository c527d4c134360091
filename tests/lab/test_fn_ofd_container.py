"""The lab FN <-> OFD container codec (register.fiscal.ofd_container)."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
from collections.abc import Callable
from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from register.fiscal.ofd_container import (
    OfdContainerError,
    OfdMessage,
    OfdReceipt,
    make_ofd_receipt,
)

FN_NUMBER = "9999078900004312"
DOCUMENT = bytes.fromhex("03 00 05 00 1E 04 01 00 01")  # STLV form 3 holding 1054 = 1
MESSAGE = b"FNOFD1" + FN_NUMBER.encode() + bytes.fromhex("2A 00 00 00") + DOCUMENT
WHEN = datetime(2026, 1, 15, 14, 32)


def test_message_layout() -> None:
    assert OfdMessage(FN_NUMBER, 42, DOCUMENT).encode() == MESSAGE
    decoded = OfdMessage.decode(MESSAGE)
    assert (decoded.fn_number, decoded.fd, decoded.document, decoded.form) == (FN_NUMBER, 42, DOCUMENT, 3)


def test_receipt_layout_and_sign() -> None:
    receipt = make_ofd_receipt(b"shared-key", MESSAGE, WHEN)
    signed_part = b"OFDR1" + FN_NUMBER.encode() + bytes.fromhex("2A 00 00 00 1A 01 0F 0E 20")
    assert receipt[:30] == signed_part
    assert receipt[30:] == hmac.new(b"shared-key", signed_part, hashlib.sha256).digest()[:18]
    decoded = OfdReceipt.decode(receipt)
    assert (decoded.fn_number, decoded.fd, decoded.when) == (FN_NUMBER, 42, WHEN)
    assert decoded.sign_is_valid(b"shared-key")
    assert not decoded.sign_is_valid(b"another-key")
    assert decoded.encode() == receipt


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        (MESSAGE[:29], "shorter"),
        (b"XXOFD1" + MESSAGE[6:], "starts with"),
        (MESSAGE[:6] + b"99990789000043AB" + MESSAGE[22:], "ASCII digits"),
        (MESSAGE + b"\x00", "STLV says 5 bytes, 6 follow"),
        (MESSAGE[:-1], "STLV says 5 bytes, 4 follow"),
    ],
)
def test_malformed_messages(raw: bytes, match: str) -> None:
    with pytest.raises(OfdContainerError, match=match):
        OfdMessage.decode(raw)


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda r: r[:-1], "expected 48"),
        (lambda r: b"OFDR2" + r[5:], "starts with"),
        (lambda r: r[:5] + b"x" * 16 + r[21:], "ASCII digits"),
        (lambda r: r[:26] + b"\x0d" + r[27:], "not a date"),  # month 13
    ],
)
def test_malformed_receipts(mutate: Callable[[bytes], bytes], match: str) -> None:
    with pytest.raises(OfdContainerError, match=match):
        OfdReceipt.decode(mutate(make_ofd_receipt(b"k", MESSAGE, WHEN)))


def test_message_needs_a_16_digit_fn_number() -> None:
    with pytest.raises(OfdContainerError, match="16 ASCII digits"):
        OfdMessage("12345", 1, DOCUMENT).encode()


@given(st.binary(max_size=80))
def test_decoders_raise_only_their_own_error(raw: bytes) -> None:
    for decode in (OfdMessage.decode, OfdReceipt.decode):
        with contextlib.suppress(OfdContainerError):
            decode(raw)
