"""The lab's FN <-> OFD message container: what 22h/23h hand out and what 26h takes back.

The real KKT <-> OFD container is not specified in the FN protocol (fn-protocol.md §9.5), so the emulated FN
and the emulated OFD share this small documented codec instead. It is not the real FNS/OFD format.

Message from the FN to the OFD (read with 22h/23h)::

    b"FNOFD1" | FN number ASCII(16) | FD Uint32 LE | document STLV (tag = form code, as 45h/46h list it)

OFD receipt (квитанция) passed back to the FN with 26h::

    b"OFDR1" | FN number ASCII(16) | FD Uint32 LE | DATE_TIME(5) | OFD sign(18)

    OFD sign = HMAC-SHA256(key, b"OFDR1" | FN number | FD | DATE_TIME)[:18]

The emulated FN and OFD share the key (fn-protocol.md §15), so the FN can check the sign.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from dataclasses import dataclass
from datetime import datetime

from register.fiscal.fn_protocol import FormatError, pack_datetime, unpack_datetime

MESSAGE_MAGIC = b"FNOFD1"
RECEIPT_MAGIC = b"OFDR1"
FN_NUMBER_SIZE = 16
OFD_SIGN_SIZE = 18
MESSAGE_HEADER_SIZE = len(MESSAGE_MAGIC) + FN_NUMBER_SIZE + 4
RECEIPT_SIZE = len(RECEIPT_MAGIC) + FN_NUMBER_SIZE + 4 + 5 + OFD_SIGN_SIZE


class OfdContainerError(ValueError):
    """Bytes that are not a well-formed lab OFD message or OFD receipt."""


def _pack_fn_number(fn_number: str) -> bytes:
    if len(fn_number) != FN_NUMBER_SIZE or not fn_number.isascii() or not fn_number.isdigit():
        raise OfdContainerError(f"FN number {fn_number!r} is not {FN_NUMBER_SIZE} ASCII digits")
    return fn_number.encode("ascii")


def _unpack_fn_number(raw: bytes, where: str) -> str:
    if not raw.isdigit():
        raise OfdContainerError(f"{where}: FN number field {raw!r} is not {FN_NUMBER_SIZE} ASCII digits")
    return raw.decode("ascii")


@dataclass(frozen=True, slots=True)
class OfdMessage:
    """A signed fiscal document on its way from the FN to the OFD."""

    fn_number: str
    fd: int
    document: bytes  # the whole document STLV: form code tag, length, the document's TLVs

    @property
    def form(self) -> int:
        return struct.unpack_from("<H", self.document)[0]

    def encode(self) -> bytes:
        return MESSAGE_MAGIC + _pack_fn_number(self.fn_number) + struct.pack("<I", self.fd) + self.document

    @classmethod
    def decode(cls, raw: bytes) -> OfdMessage:
        if len(raw) < MESSAGE_HEADER_SIZE + 4:
            raise OfdContainerError(f"OFD message of {len(raw)} bytes is shorter than its header and an STLV")
        if not raw.startswith(MESSAGE_MAGIC):
            raise OfdContainerError(f"OFD message starts with {raw[:6]!r}, expected {MESSAGE_MAGIC!r}")
        fn_number = _unpack_fn_number(raw[6:22], "OFD message")
        (fd,) = struct.unpack_from("<I", raw, 22)
        document = bytes(raw[MESSAGE_HEADER_SIZE:])
        (length,) = struct.unpack_from("<H", document, 2)
        if len(document) != 4 + length:
            raise OfdContainerError(
                f"OFD message document STLV says {length} bytes, {len(document) - 4} follow its header"
            )
        return cls(fn_number, fd, document)


@dataclass(frozen=True, slots=True)
class OfdReceipt:
    """The OFD's confirmation (квитанция) of one fiscal document."""

    fn_number: str
    fd: int
    when: datetime
    sign: bytes  # 18 bytes, the OFD fiscal sign (ФПО)

    def signed_part(self) -> bytes:
        return (
            RECEIPT_MAGIC
            + _pack_fn_number(self.fn_number)
            + struct.pack("<I", self.fd)
            + pack_datetime(self.when)
        )

    def encode(self) -> bytes:
        if len(self.sign) != OFD_SIGN_SIZE:
            raise OfdContainerError(f"OFD sign of {len(self.sign)} bytes, expected {OFD_SIGN_SIZE}")
        return self.signed_part() + self.sign

    @classmethod
    def decode(cls, raw: bytes) -> OfdReceipt:
        if len(raw) != RECEIPT_SIZE:
            raise OfdContainerError(f"OFD receipt of {len(raw)} bytes, expected {RECEIPT_SIZE}")
        if not raw.startswith(RECEIPT_MAGIC):
            raise OfdContainerError(f"OFD receipt starts with {raw[:5]!r}, expected {RECEIPT_MAGIC!r}")
        fn_number = _unpack_fn_number(raw[5:21], "OFD receipt")
        (fd,) = struct.unpack_from("<I", raw, 21)
        try:
            when = unpack_datetime(raw[25:30])
        except FormatError as exc:
            raise OfdContainerError(f"OFD receipt: {exc}") from None
        return cls(fn_number, fd, when, bytes(raw[30:]))

    def sign_is_valid(self, key: bytes) -> bool:
        return hmac.compare_digest(self.sign, ofd_sign(key, self.signed_part()))


def ofd_sign(key: bytes, signed_part: bytes) -> bytes:
    return hmac.new(key, signed_part, hashlib.sha256).digest()[:OFD_SIGN_SIZE]


def make_ofd_receipt(key: bytes, message: bytes, when: datetime) -> bytes:
    """The OFD side: confirm a message read from the FN; return the bytes to pass back with 26h."""
    decoded = OfdMessage.decode(message)
    unsigned = OfdReceipt(decoded.fn_number, decoded.fd, when, b"")
    return unsigned.signed_part() + ofd_sign(key, unsigned.signed_part())
