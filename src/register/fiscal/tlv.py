"""FFD TLV / STLV codec (ffd-receipt.md §1): tag Uint16 LE, length Uint16 LE, value.

Shared pure codec: the host builds documents with it, the FN emulator splits and extends them.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator


class TlvError(ValueError):
    """TLV bytes whose lengths are inconsistent."""


def encode_tlv(tag: int, value: bytes) -> bytes:
    if not 0 <= tag <= 0xFFFF:
        raise ValueError(f"TLV tag {tag} is not a Uint16")
    if len(value) > 0xFFFF:
        raise ValueError(f"TLV {tag} value of {len(value)} bytes is too long")
    return struct.pack("<HH", tag, len(value)) + value


def iter_tlv(data: bytes) -> Iterator[tuple[int, bytes]]:
    """Split a TLV list into (tag, value) pairs; raise TlvError where a length runs past the end."""
    pos = 0
    end = len(data)
    while pos < end:
        if end - pos < 4:
            raise TlvError(f"TLV header truncated at offset {pos}: {end - pos} bytes left")
        tag, length = struct.unpack_from("<HH", data, pos)
        if pos + 4 + length > end:
            raise TlvError(f"TLV {tag} at offset {pos} says {length} bytes, only {end - pos - 4} left")
        yield tag, bytes(data[pos + 4 : pos + 4 + length])
        pos += 4 + length


def split_tlv(data: bytes) -> list[bytes]:
    """Split a TLV list into whole encoded TLVs (header included)."""
    return [encode_tlv(tag, value) for tag, value in iter_tlv(data)]
