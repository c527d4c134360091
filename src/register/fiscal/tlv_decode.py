"""Decode FFD TLV bytes into a readable tree and list it for humans (ffd-receipt.md §1–§3).

Unknown tags are kept as raw bytes; bytes that do not parse raise TlvError naming the offset, and nothing
else: documents read back from an FN or a file are untrusted input.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TypeAlias

from register.domain.money import format_rub
from register.domain.receipt import Measure, Operation, PaymentMethod, TaxSystem
from register.domain.vat import VatRate
from register.fiscal.qr import fp_from_1077
from register.fiscal.tags import MONEY_TAGS, ValueType, tag_info
from register.fiscal.tlv import (
    TlvError,
    decode_byte,
    decode_bytes,
    decode_fvln_decimal,
    decode_string,
    decode_u32,
    decode_unixtime,
    decode_vln,
)

UNKNOWN_NAME = "НЕИЗВЕСТНЫЙ РЕКВИЗИТ"
MAX_DEPTH = 8  # a document STLV holds items (1059): real nesting is 2 deep; this bounds hostile input
_INDENT = "  "

TagValue: TypeAlias = "str | int | Decimal | datetime | bytes | tuple[DecodedTag, ...]"


@dataclass(frozen=True)
class DecodedTag:
    """One requisite: value typed by the tag table (children for STLV, raw bytes for unknown tags).

    `raw` is the value bytes as they were, without the TLV header.
    """

    tag: int
    name: str
    value: TagValue
    raw: bytes

    @property
    def children(self) -> tuple[DecodedTag, ...]:
        return self.value if isinstance(self.value, tuple) else ()


def decode_tlv(data: bytes) -> list[DecodedTag]:
    """Decode a TLV list, or one whole document STLV (a list of one)."""
    return _decode_list(bytes(data), base=0, depth=0)


def format_document(document: bytes | list[DecodedTag]) -> str:
    """An indented listing, one requisite per line: `1020 ИТОГ: 1234.56`; STLV children indented below."""
    decoded = decode_tlv(document) if isinstance(document, bytes | bytearray) else document
    lines: list[str] = []
    _format_into(lines, decoded, level=0)
    return "\n".join(lines)


def _decode_list(data: bytes, base: int, depth: int) -> list[DecodedTag]:
    if depth > MAX_DEPTH:
        raise TlvError(f"STLV nesting deeper than {MAX_DEPTH} at offset {base}")
    return [_decode_one(tag, value, offset, depth) for offset, tag, value in _walk(data, base)]


def _walk(data: bytes, base: int) -> Iterator[tuple[int, int, bytes]]:
    """(absolute offset, tag, value) of each TLV in data, which starts at absolute offset base."""
    pos, end = 0, len(data)
    while pos < end:
        if end - pos < 4:
            raise TlvError(f"TLV header truncated at offset {base + pos}: {end - pos} bytes left")
        tag, length = struct.unpack_from("<HH", data, pos)
        if pos + 4 + length > end:
            raise TlvError(f"TLV {tag} at offset {base + pos} says {length} bytes, only {end - pos - 4} left")
        yield base + pos, tag, data[pos + 4 : pos + 4 + length]
        pos += 4 + length


def _decode_one(tag: int, raw: bytes, offset: int, depth: int) -> DecodedTag:
    info = tag_info(tag)
    if info is None:
        return DecodedTag(tag, UNKNOWN_NAME, raw, raw)
    if info.type is ValueType.STLV:
        children = _decode_list(raw, base=offset + 4, depth=depth + 1)
        return DecodedTag(tag, info.name_ru, tuple(children), raw)
    try:
        value = _VALUE_DECODERS[info.type](raw)
    except TlvError as exc:
        raise TlvError(f"TLV {tag} ({info.name_ru}) at offset {offset}: {exc}") from None
    return DecodedTag(tag, info.name_ru, value, raw)


def _decode_fiscal_sign(raw: bytes) -> int:
    if len(raw) != 6:
        raise TlvError(f"fiscal sign of {len(raw)} bytes: expected 6")
    return fp_from_1077(raw)


_VALUE_DECODERS: dict[ValueType, Callable[[bytes], str | int | Decimal | datetime | bytes]] = {
    ValueType.STRING: decode_string,
    ValueType.BYTE: decode_byte,
    ValueType.U32: decode_u32,
    ValueType.UNIXTIME: decode_unixtime,
    ValueType.VLN: decode_vln,
    ValueType.FVLN: decode_fvln_decimal,
    ValueType.BYTES: decode_bytes,
    ValueType.FISCAL_SIGN: _decode_fiscal_sign,
}


def _format_into(lines: list[str], tags: list[DecodedTag] | tuple[DecodedTag, ...], level: int) -> None:
    indent = _INDENT * level
    for item in tags:
        if isinstance(item.value, tuple):
            lines.append(f"{indent}{item.tag} {item.name}:")
            _format_into(lines, item.value, level + 1)
        else:
            lines.append(f"{indent}{item.tag} {item.name}: {_format_value(item)}")


def _format_value(item: DecodedTag) -> str:
    value = item.value
    if isinstance(value, bytes):
        return value.hex(" ").upper() if value else "(пусто)"
    if isinstance(value, str):
        return _printable(value)
    if isinstance(value, datetime):
        return value.strftime("%d.%m.%Y %H:%M:%S")
    if isinstance(value, Decimal):
        return f"{value:f}"
    if isinstance(value, int):
        if item.tag in MONEY_TAGS:
            return format_rub(value)
        if item.tag == 1077:
            return f"{value} ({item.raw.hex(' ').upper()})"
        label = _code_label(item.tag, value)
        return f"{value} ({label})" if label else str(value)
    return repr(value)


_CODE_LABELS: dict[int, Callable[[int], str]] = {
    1054: lambda code: Operation(code).label,
    1055: lambda code: TaxSystem(code).label,
    1199: lambda code: VatRate.from_code(code).label,
    1214: lambda code: PaymentMethod(code).label,
    2108: lambda code: Measure(code).label,
}


def _code_label(tag: int, code: int) -> str:
    """The printed meaning of a coded Byte value, or "" when the tag is not coded or the code unknown."""
    label_of = _CODE_LABELS.get(tag)
    if label_of is None:
        return ""
    try:
        return label_of(code)
    except ValueError:
        return ""


def _printable(text: str) -> str:
    """Control characters (CP866 bytes 00–1F, 7F) shown as \\xNN so that one requisite stays on one line."""
    return "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in text)
