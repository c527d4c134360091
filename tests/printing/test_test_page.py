"""The test page: the Cyrillic alphabet in the model's table, the table named, a fiscal QR, a cut."""

from __future__ import annotations

import pytest
import zxingcpp

from register.printing.codepage import encode
from register.printing.test_page import LOWER, SAMPLE_QR, UPPER
from register.printing.test_page import test_page_bytes as page_bytes
from register.profiles import PrinterProfile, all_profiles
from tests.printing.escpos_stream import rasters


@pytest.mark.parametrize("profile", all_profiles(), ids=lambda p: p.name)
def test_page(profile: PrinterProfile) -> None:
    out = page_bytes(profile)
    table = profile.table_number("PC866")
    assert out.startswith(bytes([0x1B, 0x40, 0x1B, 0x74, table]))
    text = out.replace(b"\n", b"")  # the alphabet wraps on 58 mm
    assert bytes(range(0x80, 0xA0)) in text.replace(b"\xf0", b"")  # А..Я in CP866, Ё (F0) after Е
    assert encode(UPPER, profile) in text and encode(LOWER, profile) in text
    assert "ЁёЙй".encode("cp866") in out and "№123".encode("cp866") in out
    assert "100 руб.".encode("cp866") in out  # the ₽ substitute
    assert "Таблица: PC866, ESC t ".encode("cp866") + str(table).encode() + b"\n" in out
    if profile.native_qr:
        assert b"\x1d(k" + bytes([len(SAMPLE_QR) + 3, 0]) + b"1P0" + SAMPLE_QR.encode() in out
    else:
        (image,) = rasters(out)
        assert zxingcpp.read_barcodes(image)[0].text == SAMPLE_QR
    assert out.endswith(b"\x1bd\x04\x1dV\x00") if profile.cutter else out.endswith(b"\x1bd\x04")
