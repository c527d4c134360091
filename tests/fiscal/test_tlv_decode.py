"""Decoding TLV documents into a readable tree and listing (ffd-receipt.md §1–§3)."""

from __future__ import annotations

import contextlib
from datetime import datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from register.fiscal.tags import TAGS
from register.fiscal.tlv import TlvError, encode_tlv
from register.fiscal.tlv_decode import UNKNOWN_NAME, DecodedTag, decode_tlv, format_document

# The item example of ffd-receipt.md §3: "Молоко", 89.90 × 2, VAT 22 %, full payment, goods, pieces.
MILK_ITEM = bytes.fromhex(
    "23 04 30 00  06 04 06 00 8C AE AB AE AA AE  37 04 02 00 1E 23  FF 03 02 00 00 02"
    "  13 04 02 00 3C 46  AF 04 01 00 0B  BE 04 01 00 04  BC 04 01 00 01  3C 08 01 00 00"
)
WHEN = bytes.fromhex("F4 03 04 00 60 FA 68 69")  # 1012 = 2026-01-15 14:32 (§1)
SALE = bytes.fromhex("1E 04 01 00 01")  # 1054 = 1 (§1)
TOTAL = bytes.fromhex("FC 03 02 00 3C 46")  # 1020 = 17980 kopecks
FISCAL_SIGN = bytes.fromhex("35 04 06 00 00 00 B8 AA 5E 6F")  # 1077 of FP 3098173039 (fn-protocol.md §15)
UNKNOWN = bytes.fromhex("0F 27 02 00 AB CD")  # tag 9999
BODY = WHEN + SALE + MILK_ITEM + TOTAL + FISCAL_SIGN + UNKNOWN
RECEIPT_DOCUMENT = bytes.fromhex("03 00 57 00") + BODY  # 8 + 5 + 52 + 6 + 10 + 6 = 87 = 57h


def test_total_example_decodes_to_kopecks() -> None:
    [total] = decode_tlv(bytes.fromhex("FC 03 03 00 40 E2 01"))
    assert total == DecodedTag(1020, "ИТОГ", 123456, bytes.fromhex("40 E2 01"))


def test_item_example_decodes_to_typed_children() -> None:
    [item] = decode_tlv(MILK_ITEM)
    assert (item.tag, item.name) == (1059, "ПРЕДМЕТ РАСЧЕТА")
    assert item.raw == MILK_ITEM[4:]
    assert [(child.tag, child.value) for child in item.children] == [
        (1030, "Молоко"),
        (1079, 8990),
        (1023, Decimal(2)),
        (1043, 17980),
        (1199, 11),
        (1214, 4),
        (1212, 1),
        (2108, 0),
    ]
    assert isinstance(item.children[2].value, Decimal)


def test_whole_document_decodes_as_one_stlv() -> None:
    [document] = decode_tlv(RECEIPT_DOCUMENT)
    assert (document.tag, document.name) == (3, "КАССОВЫЙ ЧЕК")
    when, sale, item, total, sign, unknown = document.children
    assert when.value == datetime(2026, 1, 15, 14, 32)
    assert (sale.value, total.value, sign.value) == (1, 17980, 3098173039)
    assert item.children[0].value == "Молоко"
    assert unknown == DecodedTag(9999, UNKNOWN_NAME, b"\xab\xcd", b"\xab\xcd")


def test_format_document_lists_the_receipt() -> None:
    assert format_document(RECEIPT_DOCUMENT) == "\n".join(
        [
            "3 КАССОВЫЙ ЧЕК:",
            "  1012 ДАТА, ВРЕМЯ: 15.01.2026 14:32:00",
            "  1054 ПРИЗНАК РАСЧЕТА: 1 (ПРИХОД)",
            "  1059 ПРЕДМЕТ РАСЧЕТА:",
            "    1030 НАИМЕНОВАНИЕ ПРЕДМЕТА РАСЧЕТА: Молоко",
            "    1079 ЦЕНА ЗА ЕДИНИЦУ: 89.90",
            "    1023 КОЛИЧЕСТВО: 2",
            "    1043 СТОИМОСТЬ ПРЕДМЕТА РАСЧЕТА: 179.80",
            "    1199 СТАВКА НДС: 11 (НДС 22%)",
            "    1214 ПРИЗНАК СПОСОБА РАСЧЕТА: 4 (ПОЛНЫЙ РАСЧЕТ)",
            "    1212 ПРИЗНАК ПРЕДМЕТА РАСЧЕТА: 1",
            "    2108 МЕРА КОЛИЧЕСТВА: 0 (шт)",
            "  1020 ИТОГ: 179.80",
            "  1077 ФПД: 3098173039 (00 00 B8 AA 5E 6F)",
            "  9999 НЕИЗВЕСТНЫЙ РЕКВИЗИТ: AB CD",
        ]
    )


def test_format_accepts_a_decoded_list() -> None:
    assert format_document(decode_tlv(bytes.fromhex("FC 03 03 00 40 E2 01"))) == "1020 ИТОГ: 1234.56"


def test_format_shows_fvln_scale_and_unknown_code() -> None:
    quantity = bytes.fromhex("FF 03 03 00 03 DC 05")  # 1.500
    unknown_vat = bytes.fromhex("AF 04 01 00 63")  # 1199 = 99: no such rate
    assert format_document(quantity + unknown_vat) == "1023 КОЛИЧЕСТВО: 1.500\n1199 СТАВКА НДС: 99"


def test_format_keeps_control_characters_on_one_line() -> None:
    name = bytes.fromhex("06 04 03 00 41 0A 42")  # "A\nB"
    assert format_document(name) == "1030 НАИМЕНОВАНИЕ ПРЕДМЕТА РАСЧЕТА: A\\x0aB"


def test_empty_input_is_an_empty_list() -> None:
    assert decode_tlv(b"") == []
    assert format_document(b"") == ""


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (bytes.fromhex("1E 04"), "truncated at offset 0"),
        (SALE + bytes.fromhex("1E 04 05 00 01"), "TLV 1054 at offset 5 says 5 bytes, only 1 left"),
        (bytes.fromhex("03 00 03 00 1E 04 01"), "truncated at offset 4"),
        (bytes.fromhex("03 00 06 00 1E 04 02 00 01 01"), r"TLV 1054 \(ПРИЗНАК РАСЧЕТА\) at offset 4"),
        (bytes.fromhex("03 00 07 00 10 04 03 00 01 02 03"), "TLV 1040 .* at offset 4"),
        (bytes.fromhex("35 04 04 00 B8 AA 5E 6F"), "TLV 1077 .* at offset 0"),
    ],
)
def test_inconsistent_lengths_name_the_offset(data: bytes, message: str) -> None:
    with pytest.raises(TlvError, match=message):
        decode_tlv(data)


def test_hostile_nesting_is_a_tlv_error_not_a_recursion_error() -> None:
    nested = b""
    for _ in range(5000):
        nested = encode_tlv(1059, nested)
    with pytest.raises(TlvError, match="nesting"):
        decode_tlv(nested)


@given(st.binary(max_size=300))
def test_arbitrary_bytes_raise_nothing_but_tlv_error(data: bytes) -> None:
    with contextlib.suppress(TlvError):
        assert isinstance(format_document(data), str)


def _tlv_list(tags: st.SearchStrategy[int]) -> st.SearchStrategy[bytes]:
    return st.lists(st.builds(encode_tlv, tags, st.binary(max_size=12)), max_size=8).map(b"".join)


KNOWN_TAGS = st.sampled_from(sorted(TAGS))


@given(st.builds(encode_tlv, st.sampled_from([3, 1059]), _tlv_list(KNOWN_TAGS)) | _tlv_list(KNOWN_TAGS))
def test_known_tags_with_arbitrary_values_raise_nothing_but_tlv_error(data: bytes) -> None:
    with contextlib.suppress(TlvError):
        assert isinstance(format_document(data), str)


def _reencode(tags: list[DecodedTag] | tuple[DecodedTag, ...]) -> bytes:
    return b"".join(encode_tlv(item.tag, item.raw) for item in tags)


@given(_tlv_list(st.integers(min_value=8000, max_value=9000)))
def test_raw_values_rebuild_the_input(data: bytes) -> None:
    assert _reencode(decode_tlv(data)) == data


def test_raw_values_rebuild_the_document() -> None:
    [document] = decode_tlv(RECEIPT_DOCUMENT)
    assert _reencode(document.children) == BODY
