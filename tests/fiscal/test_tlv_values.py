"""FFD value codecs (ffd-receipt.md §1): expected bytes are the reference examples or hand-computed."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from register.fiscal.tlv import (
    TlvError,
    byte_tlv,
    bytes_tlv,
    decode_byte,
    decode_fvln,
    decode_fvln_decimal,
    decode_string,
    decode_u32,
    decode_unixtime,
    decode_vln,
    encode_byte,
    encode_fvln,
    encode_string,
    encode_u32,
    encode_unixtime,
    encode_vln,
    fvln_tlv,
    stlv,
    string_tlv,
    u32_tlv,
    unixtime_tlv,
    vln_tlv,
)

UNKNOWN_TAG = 65000  # not in the tag table: no length limit of its own

# --- String ----------------------------------------------------------------------------------------------


def test_string_is_cp866() -> None:
    assert encode_string(1030, "Молоко") == bytes.fromhex("8C AE AB AE AA AE")
    assert string_tlv(1030, "Молоко") == bytes.fromhex("06 04 06 00 8C AE AB AE AA AE")


def test_string_decodes_cp866() -> None:
    assert decode_string(bytes.fromhex("8C AE AB AE AA AE")) == "Молоко"
    assert decode_string(bytes.fromhex("F0 FC")) == "Ё№"


def test_string_without_cp866_form_names_the_tag_and_character() -> None:
    with pytest.raises(ValueError, match=r"tag 1030.*'«'"):
        encode_string(1030, "Сыр «Российский»")


def test_string_over_the_tag_maximum_names_the_tag() -> None:
    assert encode_string(1018, "7" * 12) == b"7" * 12
    with pytest.raises(ValueError, match=r"tag 1018.*13.*12"):
        encode_string(1018, "7" * 13)


def test_string_maximum_counts_cp866_bytes_of_cyrillic_text() -> None:
    assert len(encode_string(1030, "Я" * 128)) == 128
    with pytest.raises(ValueError, match="tag 1030"):
        encode_string(1030, "Я" * 129)


CP866_TEXT = st.text(
    alphabet="АБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯабвгдеёжзийклмнопрстуфхцчшщъыьэюя0123456789 .,-№%"
)


@given(CP866_TEXT.filter(lambda text: len(text) <= 128))
def test_string_round_trip(text: str) -> None:
    assert decode_string(encode_string(1030, text)) == text


# --- Byte, U32 -------------------------------------------------------------------------------------------


def test_byte_example() -> None:
    assert byte_tlv(1054, 1) == bytes.fromhex("1E 04 01 00 01")
    assert decode_byte(b"\xff") == 255


@pytest.mark.parametrize("value", [-1, 256])
def test_byte_out_of_range_names_the_tag(value: int) -> None:
    with pytest.raises(ValueError, match="tag 1054"):
        encode_byte(1054, value)


@pytest.mark.parametrize("raw", [b"", b"\x01\x00"])
def test_byte_of_wrong_length_is_a_tlv_error(raw: bytes) -> None:
    with pytest.raises(TlvError):
        decode_byte(raw)


def test_u32_is_little_endian() -> None:
    assert encode_u32(1040, 42) == bytes.fromhex("2A 00 00 00")
    assert u32_tlv(1038, 0x01020304) == bytes.fromhex("0E 04 04 00 04 03 02 01")
    assert decode_u32(bytes.fromhex("FF FF FF FF")) == 4294967295


@pytest.mark.parametrize("value", [-1, 2**32])
def test_u32_out_of_range_names_the_tag(value: int) -> None:
    with pytest.raises(ValueError, match="tag 1040"):
        encode_u32(1040, value)


def test_u32_of_wrong_length_is_a_tlv_error() -> None:
    with pytest.raises(TlvError):
        decode_u32(b"\x01\x02\x03")


# --- UnixTime: local wall-clock as if UTC ---------------------------------------------------------------


@pytest.fixture
def moscow_process_timezone() -> Iterator[None]:
    """Run under a non-UTC local zone: a codec that consulted it would be off by 3 hours."""
    saved = os.environ.get("TZ")
    os.environ["TZ"] = "Europe/Moscow"
    time.tzset()
    yield
    if saved is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = saved
    time.tzset()


@pytest.mark.usefixtures("moscow_process_timezone")
def test_unixtime_encodes_wall_clock_as_utc() -> None:
    # ffd-receipt.md §1: 2026-01-15 14:32:00 in a Moscow shop is 1768487520 (60 FA 68 69), not 1768476720.
    assert encode_unixtime(1012, datetime(2026, 1, 15, 14, 32)) == bytes.fromhex("60 FA 68 69")
    assert unixtime_tlv(1012, datetime(2026, 1, 15, 14, 32)) == bytes.fromhex("F4 03 04 00 60 FA 68 69")


@pytest.mark.usefixtures("moscow_process_timezone")
def test_unixtime_decodes_to_naive_wall_clock() -> None:
    assert decode_unixtime(bytes.fromhex("60 FA 68 69")) == datetime(2026, 1, 15, 14, 32)


def test_unixtime_refuses_aware_datetimes() -> None:
    with pytest.raises(ValueError, match=r"tag 1012.*naive"):
        encode_unixtime(1012, datetime(2026, 1, 15, 14, 32, tzinfo=timezone(timedelta(hours=3))))


def test_unixtime_before_the_epoch_is_refused() -> None:
    with pytest.raises(ValueError, match="tag 1012"):
        encode_unixtime(1012, datetime(1969, 12, 31, 23, 59))


@given(st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2106, 2, 7)))
def test_unixtime_round_trip_to_the_second(when: datetime) -> None:
    when = when.replace(microsecond=0)
    assert decode_unixtime(encode_unixtime(1012, when)) == when


def test_unixtime_of_new_year_2026() -> None:
    # 1970-01-01 .. 2026-01-01: 56 years with 14 leap days -> (56 * 365 + 14) * 86400 = 1767225600.
    assert int.from_bytes(encode_unixtime(1012, datetime(2026, 1, 1)), "little") == 1767225600
    decoded = decode_unixtime((1767225600).to_bytes(4, "little"))
    assert decoded == datetime(2026, 1, 1)
    assert decoded.tzinfo is None


# --- VLN -------------------------------------------------------------------------------------------------


def test_vln_example_total() -> None:
    # ffd-receipt.md §1: 1020 = 1234.56 RUB: FC 03 03 00 40 E2 01
    assert vln_tlv(1020, 123456) == bytes.fromhex("FC 03 03 00 40 E2 01")


@pytest.mark.parametrize(
    ("value", "raw"),
    [(0, "00"), (1, "01"), (255, "FF"), (256, "00 01"), (8990, "1E 23"), (2**48 - 1, "FF FF FF FF FF FF")],
)
def test_vln_is_the_shortest_form(value: int, raw: str) -> None:
    assert encode_vln(1020, value) == bytes.fromhex(raw)


def test_vln_over_the_money_maximum_names_the_tag() -> None:
    with pytest.raises(ValueError, match=r"tag 1020.*7 bytes.*6"):
        encode_vln(1020, 2**48)


def test_vln_negative_names_the_tag() -> None:
    with pytest.raises(ValueError, match="tag 1031"):
        encode_vln(1031, -1)


def test_vln_decode_zero_extends_any_length_up_to_8() -> None:
    assert decode_vln(bytes.fromhex("40 E2 01 00 00 00 00 00")) == 123456
    assert decode_vln(bytes.fromhex("40 E2 01")) == 123456
    assert decode_vln(bytes.fromhex("FF FF FF FF FF FF FF FF")) == 2**64 - 1


@pytest.mark.parametrize("raw", [b"", bytes(9)])
def test_vln_decode_of_bad_length_is_a_tlv_error(raw: bytes) -> None:
    with pytest.raises(TlvError):
        decode_vln(raw)


@given(st.integers(min_value=0, max_value=2**64 - 1))
def test_vln_round_trip_in_the_fewest_bytes(value: int) -> None:
    raw = encode_vln(UNKNOWN_TAG, value)
    assert decode_vln(raw) == value
    assert len(raw) == 1 or raw[-1] != 0


# --- FVLN ------------------------------------------------------------------------------------------------


def test_fvln_examples() -> None:
    # ffd-receipt.md §1: 1023 = 1.500: FF 03 03 00 03 DC 05; 1023 = 2: FF 03 02 00 00 02
    assert fvln_tlv(1023, 1500, 3) == bytes.fromhex("FF 03 03 00 03 DC 05")
    assert fvln_tlv(1023, 2, 0) == bytes.fromhex("FF 03 02 00 00 02")


def test_fvln_decodes_to_digits_and_scale_and_decimal() -> None:
    assert decode_fvln(bytes.fromhex("03 DC 05")) == (1500, 3)
    assert decode_fvln_decimal(bytes.fromhex("03 DC 05")) == Decimal("1.500")
    assert str(decode_fvln_decimal(bytes.fromhex("03 DC 05"))) == "1.500"


def test_fvln_other_encodings_of_the_same_number_compare_equal() -> None:
    # ffd-receipt.md §1: 00 02 and 03 D0 07 are both 2
    assert decode_fvln_decimal(bytes.fromhex("00 02")) == decode_fvln_decimal(bytes.fromhex("03 D0 07")) == 2


def test_fvln_decimal_is_exact_for_many_digits() -> None:
    assert decode_fvln_decimal(bytes.fromhex("03") + (2**56 - 1).to_bytes(7, "little")) == Decimal(
        "72057594037927.935"
    )


@pytest.mark.parametrize(("digits", "scale"), [(-1, 0), (1, -1), (1, 256), (2**56, 0)])
def test_fvln_bad_input_names_the_tag(digits: int, scale: int) -> None:
    with pytest.raises(ValueError, match="tag 1023"):
        encode_fvln(1023, digits, scale)


@pytest.mark.parametrize("raw", [b"", b"\x03", bytes(9)])
def test_fvln_decode_of_bad_length_is_a_tlv_error(raw: bytes) -> None:
    with pytest.raises(TlvError):
        decode_fvln(raw)


@given(st.integers(min_value=0, max_value=2**56 - 1), st.integers(min_value=0, max_value=255))
def test_fvln_round_trip(digits: int, scale: int) -> None:
    raw = encode_fvln(1023, digits, scale)
    assert decode_fvln(raw) == (digits, scale)
    assert decode_fvln_decimal(raw) == Decimal(digits).scaleb(-scale)


# --- ByteArray, STLV -------------------------------------------------------------------------------------


def test_bytes_respect_the_tag_maximum() -> None:
    sign = bytes.fromhex("00 00 B8 AA 5E 6F")
    assert bytes_tlv(1077, sign) == bytes.fromhex("35 04 06 00") + sign
    with pytest.raises(ValueError, match="tag 1077"):
        bytes_tlv(1077, sign + b"\x00")


def test_stlv_concatenates_children_under_one_header() -> None:
    name = bytes.fromhex("06 04 06 00 8C AE AB AE AA AE")
    price = bytes.fromhex("37 04 02 00 1E 23")
    assert stlv(1059, [name, price]) == bytes.fromhex("23 04 10 00") + name + price


def test_stlv_item_over_one_frame_names_the_tag() -> None:
    with pytest.raises(ValueError, match="STLV 1059"):
        stlv(1059, [bytes(1021)])
