"""encode_layout / encode_receipt: golden bytes from the tables of escpos.md, and the traps of §2.4 / §2.5."""

from __future__ import annotations

import dataclasses

import pytest
import zxingcpp
from PIL import Image

from register.domain import Quantity, ReceiptLine, VatRate
from register.printing.escpos_out import encode_layout, encode_receipt, image_raster
from register.printing.layout import Align, Cut, DrawerKick, Feed, QrCode, ReceiptLayout, Rule, TextLine
from register.printing.test_page import test_page_bytes as page_bytes
from register.profiles import PrinterProfile, all_profiles, load_profile
from tests.printing.conftest import EMULATOR_QR, make_receipt, make_stamp
from tests.printing.escpos_stream import rasters, without_payloads

INIT = bytes.fromhex("1B 40")
PROFILES = all_profiles()


def layout(*ops: object, columns: int = 48) -> ReceiptLayout:
    return ReceiptLayout(columns, "PC866", tuple(ops))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "table"),
    # escpos.md §1.2: PC866 is ESC t 17 on Epson and its clones, ESC t 7 on the Rongta RP326.
    [("TM-T20III", 0x11), ("TM-T88V", 0x11), ("XP-80", 0x11), ("POS-5890", 0x11), ("RP-326", 0x07)],
)
def test_init_then_the_models_own_table(name: str, table: int) -> None:
    out = encode_layout(layout(TextLine("Йё№")), load_profile(name))
    assert out == INIT + bytes([0x1B, 0x74, table]) + bytes.fromhex("89 F1 FC 0A")


def test_bold_and_size_go_out_together_without_esc_bang() -> None:
    out = encode_layout(
        layout(TextLine("ИТОГ", Align.CENTER, bold=True, width=2, height=2), TextLine("ок")),
        load_profile("TM-T20III"),
    )
    assert out == bytes.fromhex(
        "1B 40 1B 74 11"
        " 1D 21 11 1B 45 01 1B 61 01 88 92 8E 83 0A"  # GS ! 2x2, ESC E 1, ESC a 1, "ИТОГ"
        " 1D 21 00 1B 45 00 1B 61 00 AE AA 0A"  # back to normal: size and bold together, left
    )


def test_unchanged_style_is_not_resent() -> None:
    out = encode_layout(
        layout(TextLine("a", bold=True), TextLine("b", bold=True), Rule("=")), load_profile("XP-80")
    )
    assert (
        out
        == bytes.fromhex("1B 40 1B 74 11 1D 21 00 1B 45 01 61 0A 62 0A 1D 21 00 1B 45 00") + b"=" * 48 + b"\n"
    )


@pytest.mark.parametrize(("name", "module"), [("TM-T20III", 0x05), ("TM-T88V", 0x04), ("RP-326", 0x05)])
def test_native_qr_with_the_computed_module(name: str, module: int) -> None:
    out = encode_layout(layout(QrCode(EMULATOR_QR, module)), load_profile(name))
    body = out[5:]
    assert body == (
        bytes.fromhex("1B 61 01")  # centred: python-escpos cannot centre a native QR itself
        + bytes.fromhex("1D 28 6B 04 00 31 41 32 00")  # model 2
        + bytes.fromhex("1D 28 6B 03 00 31 43")
        + bytes([module])  # module size
        + bytes.fromhex("1D 28 6B 03 00 31 45 31")  # EC M
        + bytes.fromhex("1D 28 6B 47 00 31 50 30")
        + EMULATOR_QR.encode()  # store: 68 + 3 = 0x47
        + bytes.fromhex("1D 28 6B 03 00 31 51 30")  # print
    )


def test_receipt_qr_module_is_the_one_for_20_mm() -> None:
    for name, module in (("TM-T20III", 5), ("TM-T88V", 4)):
        out = encode_receipt(make_receipt(), make_stamp(), load_profile(name))
        assert bytes.fromhex("1D 28 6B 03 00 31 43") + bytes([module]) in out


def test_feed_cut_and_drawer() -> None:
    ops = (Feed(4), Cut(), DrawerKick())
    assert encode_layout(layout(*ops), load_profile("TM-T20III"))[5:] == bytes.fromhex(
        "1B 64 04 1D 56 00 1B 70 00 32 32"
    )
    # POS-5890: no cutter, no drawer port: only the feed to the tear bar.
    assert encode_layout(layout(*ops), load_profile("POS-5890"))[5:] == bytes.fromhex("1B 64 04")


def test_raster_bytes_match_the_observed_python_escpos_image() -> None:
    # escpos.md §1.4, observed: 16x8 image, left half black -> 1D 76 30 00 02 00 08 00 FF 00 (8 rows).
    image = Image.new("1", (16, 8), 1)
    image.paste(0, (0, 0, 8, 8))
    assert image_raster(image, 16, Align.LEFT) == bytes.fromhex("1D 76 30 00 02 00 08 00") + b"\xff\x00" * 8


def _streams() -> list[bytes]:
    return [encode_receipt(make_receipt(), make_stamp(), profile) for profile in PROFILES] + [
        page_bytes(profile) for profile in PROFILES
    ]


def test_the_table_is_sent_after_every_init() -> None:
    for profile in PROFILES:
        one = encode_receipt(make_receipt(), make_stamp(), profile)
        batch = without_payloads(one + page_bytes(profile) + one)
        table = bytes([0x1B, 0x74, profile.table_number("PC866")])
        assert batch.count(INIT) == 3
        assert batch.count(INIT + table) == 3


def test_no_esc_bang_and_no_magic_table_switch() -> None:
    for stream in _streams():
        commands = without_payloads(stream)
        assert b"\x1b!" not in commands  # ESC ! would clear bold (escpos.md §2.2 traps)
        assert commands.count(b"\x1bt") == 1


HOSTILE = "Молоко\x1b@\x1dV\x00"


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.name)
def test_hostile_names_reach_the_printer_as_plain_text(profile: PrinterProfile) -> None:
    def receipt_named(name: str, cashier: str) -> bytes:
        line = ReceiptLine(name, 8990, Quantity.of(2), VatRate.VAT22)
        receipt = make_receipt(lines=(line,), cashier=cashier)
        return encode_receipt(receipt, make_stamp(), profile, cheque_messages=[f"Акция\x10\x04\x01 {name}"])

    hostile = receipt_named(HOSTILE, "Иванова\x1dV\x41\x00")
    assert hostile == receipt_named("Молоко@V", "ИвановаVA")
    commands = without_payloads(hostile)
    assert commands.count(INIT) == 1
    assert commands.count(b"\x1dV") == (1 if profile.cutter else 0)
    assert b"\x10\x04" not in commands


def test_raster_qr_of_a_printer_without_native_qr_decodes_at_20_mm() -> None:
    profile = load_profile("POS-5890")
    out = encode_receipt(make_receipt(), make_stamp(), profile)
    assert b"\x1d(k" not in out  # escpos.md §1.3: without GS ( k support a printer prints junk
    (image,) = rasters(out)
    assert image.width == profile.dots_per_line
    (code,) = zxingcpp.read_barcodes(image)
    assert code.text == EMULATOR_QR
    left, top, right, bottom = Image.eval(image, lambda v: 255 - v).getbbox()
    symbol_mm = (right - left) / (profile.dpi / 25.4)
    assert symbol_mm >= 20
    assert right - left == bottom - top == 37 * 5  # version 5 at 5 dots a module
    assert abs(left - (profile.dots_per_line - right)) <= 1  # centred
    assert top >= 4 * 5 and image.height - bottom >= 4 * 5  # quiet zone of 4 modules


def test_raster_qr_on_a_180_dpi_printer_is_sized_for_its_dots() -> None:
    profile = dataclasses.replace(load_profile("TM-T88V"), native_qr=False)
    (image,) = rasters(encode_receipt(make_receipt(), make_stamp(), profile))
    left, _, right, _ = Image.eval(image, lambda v: 255 - v).getbbox()
    assert right - left == 37 * 4
    assert (right - left) / (180 / 25.4) >= 20
    assert zxingcpp.read_barcodes(image)[0].text == EMULATOR_QR
