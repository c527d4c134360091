"""FFD TLV / STLV codec (ffd-receipt.md §1): tag Uint16 LE, length Uint16 LE, value.

Shared pure codec: the host builds documents with it, the FN emulator splits and extends them.
"""

from __future__ import annotations

import calendar
import struct
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from decimal import Decimal

from register.domain.text import fold_to_codec
from register.fiscal.tags import tag_info


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


# --- value codecs (ffd-receipt.md §1) -------------------------------------------------------------------
# Encoders take the tag so that errors name it; maximum lengths come from the tag table.

CP866 = "cp866"
VLN_MAX_BYTES = 8
_U32_MAX = 0xFFFF_FFFF


def max_value_len(tag: int) -> int:
    """The tag's maximum value length in bytes (the TLV limit for tags with no stated maximum)."""
    info = tag_info(tag)
    if info is None or info.max_len is None:
        return 0xFFFF
    return info.max_len


def encode_string(tag: int, text: str) -> bytes:
    try:
        raw = text.encode(CP866)
    except UnicodeEncodeError as exc:
        bad = text[exc.start]
        raise ValueError(
            f"tag {tag}: character {bad!r} (U+{ord(bad):04X}) at position {exc.start} has no CP866 form"
        ) from None
    limit = max_value_len(tag)
    if len(raw) > limit:
        raise ValueError(f"tag {tag}: text of {len(raw)} characters is over the maximum of {limit}")
    return raw


def decode_string(raw: bytes) -> str:
    return raw.decode(CP866)  # every byte has a CP866 character: cannot fail


def encode_byte(tag: int, value: int) -> bytes:
    if not 0 <= value <= 0xFF:
        raise ValueError(f"tag {tag}: {value} does not fit a Byte (0..255)")
    return bytes([value])


def decode_byte(raw: bytes) -> int:
    _expect_len(raw, 1, "Byte")
    return raw[0]


def encode_u32(tag: int, value: int) -> bytes:
    if not 0 <= value <= _U32_MAX:
        raise ValueError(f"tag {tag}: {value} does not fit a U32")
    return value.to_bytes(4, "little")


def decode_u32(raw: bytes) -> int:
    _expect_len(raw, 4, "U32")
    return int.from_bytes(raw, "little")


def encode_unixtime(tag: int, when: datetime) -> bytes:
    """The local wall-clock time written as if it were UTC (the §1 trap): 2026-01-15 14:32 -> 1768487520."""
    if when.tzinfo is not None:
        raise ValueError(f"tag {tag}: pass the local wall-clock time as a naive datetime, not {when!r}")
    seconds = calendar.timegm(when.timetuple())
    if not 0 <= seconds <= _U32_MAX:
        raise ValueError(f"tag {tag}: {when} is outside the UnixTime range")
    return seconds.to_bytes(4, "little")


def decode_unixtime(raw: bytes) -> datetime:
    """The naive local wall-clock time the value stands for."""
    seconds = decode_u32(raw)
    return datetime.fromtimestamp(seconds, UTC).replace(tzinfo=None)


def encode_vln(tag: int, value: int) -> bytes:
    """Shortest little-endian form, at least one byte."""
    if value < 0:
        raise ValueError(f"tag {tag}: VLN {value} is negative")
    raw = value.to_bytes(max(1, (value.bit_length() + 7) // 8), "little")
    limit = min(max_value_len(tag), VLN_MAX_BYTES)
    if len(raw) > limit:
        raise ValueError(f"tag {tag}: {value} needs {len(raw)} bytes, over the maximum of {limit}")
    return raw


def decode_vln(raw: bytes) -> int:
    if not 1 <= len(raw) <= VLN_MAX_BYTES:
        raise TlvError(f"VLN of {len(raw)} bytes: expected 1..{VLN_MAX_BYTES}")
    return int.from_bytes(raw, "little")


def encode_fvln(tag: int, digits: int, scale: int) -> bytes:
    """The number digits / 10**scale: (1500, 3) -> 03 DC 05, (2, 0) -> 00 02."""
    if digits < 0:
        raise ValueError(f"tag {tag}: FVLN digits {digits} are negative")
    if not 0 <= scale <= 0xFF:
        raise ValueError(f"tag {tag}: FVLN scale {scale} does not fit a byte")
    raw = bytes([scale]) + digits.to_bytes(max(1, (digits.bit_length() + 7) // 8), "little")
    limit = min(max_value_len(tag), VLN_MAX_BYTES)
    if len(raw) > limit:
        raise ValueError(f"tag {tag}: FVLN ({digits}, {scale}) needs {len(raw)} bytes, over {limit}")
    return raw


def decode_fvln(raw: bytes) -> tuple[int, int]:
    """(digits, scale): the number is digits / 10**scale."""
    if not 2 <= len(raw) <= VLN_MAX_BYTES:
        raise TlvError(f"FVLN of {len(raw)} bytes: expected 2..{VLN_MAX_BYTES}")
    return int.from_bytes(raw[1:], "little"), raw[0]


def decode_fvln_decimal(raw: bytes) -> Decimal:
    digits, scale = decode_fvln(raw)
    return Decimal(f"{digits}E-{scale}")  # from a string: exact whatever the precision


def encode_bytes(tag: int, value: bytes) -> bytes:
    limit = max_value_len(tag)
    if len(value) > limit:
        raise ValueError(f"tag {tag}: {len(value)} bytes, over the maximum of {limit}")
    return bytes(value)


def decode_bytes(raw: bytes) -> bytes:
    return bytes(raw)


def _expect_len(raw: bytes, size: int, type_name: str) -> None:
    if len(raw) != size:
        raise TlvError(f"{type_name} of {len(raw)} bytes: expected {size}")


# --- whole TLVs -------------------------------------------------------------------------------------------


def stlv(tag: int, children: Iterable[bytes]) -> bytes:
    """A structured TLV whose value is the concatenation of the encoded child TLVs."""
    value = b"".join(children)
    limit = max_value_len(tag)
    if len(value) > limit:
        raise ValueError(f"STLV {tag}: {len(value)} value bytes, over the maximum of {limit}")
    return encode_tlv(tag, value)


def string_tlv(tag: int, text: str) -> bytes:
    """A String TLV; characters CP866 lacks are substituted first (« -> ", ₽ -> руб.), as a KKT does."""
    return encode_tlv(tag, encode_string(tag, fold_to_codec(text, CP866)))


def byte_tlv(tag: int, value: int) -> bytes:
    return encode_tlv(tag, encode_byte(tag, value))


def u32_tlv(tag: int, value: int) -> bytes:
    return encode_tlv(tag, encode_u32(tag, value))


def unixtime_tlv(tag: int, when: datetime) -> bytes:
    return encode_tlv(tag, encode_unixtime(tag, when))


def vln_tlv(tag: int, value: int) -> bytes:
    return encode_tlv(tag, encode_vln(tag, value))


def fvln_tlv(tag: int, digits: int, scale: int) -> bytes:
    return encode_tlv(tag, encode_fvln(tag, digits, scale))


def bytes_tlv(tag: int, value: bytes) -> bytes:
    return encode_tlv(tag, encode_bytes(tag, value))
