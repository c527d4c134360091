"""Rendering printed receipts: the golden streams' text, QR codes that decode from the PNG, exact raster
pixels, page geometry, and splitting a recorded stream into numbered files."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import zxingcpp
from click.testing import CliRunner
from escpos.constants import QR_ECLEVEL_L, QR_ECLEVEL_M
from escpos.printer import Dummy
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from register.cli import main
from register.lab import escpos_render
from register.lab.escpos_model import Align, ImageBlock, PrintedReceipt, QrModel, QrSymbol
from register.lab.escpos_parser import EscposParser, ReceiptDone, Unknown
from register.lab.escpos_render import (
    CaptureError,
    render_capture,
    render_png,
    render_stream,
    render_text,
    write_receipts,
)
from register.profiles import ProfileError, all_profiles, load_profile

from .make_escpos_fixtures import FIXTURES, QR_DATA, golden_stream
from .test_escpos_parser import COMMANDS, known_bitmap

PROFILE_NAMES = ["TM-T20III", "TM-T88V", "POS-5890", "XP-80", "RP-326"]
RECEIPT_QR = "t=20260115T1432&s=1234.56&fn=9999078900004312&i=42&fp=3098173039&n=1"  # ffd-receipt.md §7
CUT = b"\x1dV\x00"


def receipt_of(data: bytes, profile_name: str = "TM-T20III") -> PrintedReceipt:
    parser = EscposParser(load_profile(profile_name))
    done = [event for event in parser.feed(data + CUT) if isinstance(event, ReceiptDone)]
    assert len(done) == 1
    return done[0].receipt


def png_image(png: bytes) -> Image.Image:
    return Image.open(io.BytesIO(png))


def black(image: Image.Image, x: int, y: int) -> bool:
    return image.getpixel((x, y)) == 0


# ---- golden streams ----------------------------------------------------------------------------------


def test_every_profile_has_a_golden_stream() -> None:
    assert sorted(path.stem for path in FIXTURES.glob("*.bin")) == sorted(p.name for p in all_profiles())


@pytest.mark.parametrize("name", PROFILE_NAMES)
def test_golden_stream_renders_the_hand_written_text(name: str) -> None:
    profile = load_profile(name)
    rendered = render_stream((FIXTURES / f"{name}.bin").read_bytes(), profile)
    assert len(rendered) == 1
    assert rendered[0].text == (FIXTURES / f"{name}.txt").read_text(encoding="utf-8")
    assert rendered[0].cut == ("full" if profile.cutter else "none")


@pytest.mark.parametrize("name", PROFILE_NAMES)
def test_golden_stream_is_what_python_escpos_sends_today(name: str) -> None:
    assert golden_stream(load_profile(name)) == (FIXTURES / f"{name}.bin").read_bytes()


def test_pos_5890_golden_is_plain_python_escpos_with_table_59_which_the_model_takes_as_pc866() -> None:
    data = (FIXTURES / "POS-5890.bin").read_bytes()
    # ESC @, ESC ! 00 ESC ! 00 ESC ! 30, ESC E 1, ESC a 1, then python-escpos' CP866 slot: ESC t 59
    # (escpos.md §2.2, §2.4), and no other ESC t: POS-5890 takes 59 as PC866 like 17 (§1.2).
    assert data[:20] == bytes.fromhex("1b 40 1b 21 00 1b 21 00 1b 21 30 1b 45 01 1b 61 01 1b 74 3b")
    assert data.count(b"\x1bt") == 1
    # "ЧЕК №42" in CP866 right after it (escpos.md §2.2)
    assert data[20:28] == bytes.fromhex("97 85 8a 20 fc 34 32 0a")
    events = EscposParser(load_profile("POS-5890")).feed(data)
    assert [event for event in events if isinstance(event, Unknown)] == []


@pytest.mark.parametrize("name", PROFILE_NAMES)
def test_golden_qr_decodes_from_the_png(name: str) -> None:
    (rendered,) = render_stream((FIXTURES / f"{name}.bin").read_bytes(), load_profile(name))
    assert [code.text for code in zxingcpp.read_barcodes(png_image(rendered.png))] == [QR_DATA]


# ---- text --------------------------------------------------------------------------------------------


def test_ruble_sign_sent_by_python_escpos_renders_as_a_question_mark() -> None:
    printer = Dummy(profile="TM-T20II")
    printer.text("Итого 100 ₽\n")
    assert render_text(receipt_of(printer.output), load_profile("TM-T20III")) == "Итого 100 ?\n"


def test_alignment_uses_the_font_columns_and_double_width_counts_double() -> None:
    data = b"\x1ba\x01ab\n\x1ba\x02ab\n\x1ba\x01\x1d!\x10ab\n\x1d!\x00\x1bM\x01\x1ba\x02ab\n\x1ba\x00x  \n"
    expected = [" " * 23 + "ab", " " * 46 + "ab", " " * 22 + "ab", " " * 62 + "ab", "x"]
    assert render_text(receipt_of(data), load_profile("TM-T20III")) == "".join(
        f"{line}\n" for line in expected
    )
    expected_88 = [" " * 20 + "ab", " " * 40 + "ab", " " * 19 + "ab", " " * 54 + "ab", "x"]
    assert render_text(receipt_of(data, "TM-T88V"), load_profile("TM-T88V")) == "".join(
        f"{line}\n" for line in expected_88
    )


def test_images_codes_and_feeds_in_text() -> None:
    data = (
        bytes.fromhex("1d 76 30 00 02 00 08 00")
        + b"\xff\x00" * 8
        + b"\x1ba\x01\x1dk\x024006381333931\x00"
        + b"\x1bJ\x44"  # 68 dots: two 34-dot lines of blank paper
        + b"end\n"
    )
    text = render_text(receipt_of(data), load_profile("TM-T20III"))
    assert text == "[image 16x8]\n" + " " * 9 + "[barcode EAN13 4006381333931]\n\n\n" + " " * 22 + "end\n"


def test_qr_in_text_and_too_wide_for_the_page() -> None:
    profile = load_profile("TM-T20III")
    fits = PrintedReceipt((QrSymbol(RECEIPT_QR.encode(), 6, "M", QrModel.MODEL_2, Align.CENTER),))
    assert render_text(fits, profile) == f"[QR {RECEIPT_QR}]\n"
    # 68 bytes at EC M need version 5 (37 modules); 37 x 16 = 592 dots > 576.
    too_wide = PrintedReceipt((QrSymbol(RECEIPT_QR.encode(), 16, "M", QrModel.MODEL_2, Align.CENTER),))
    assert render_text(too_wide, profile) == f"[QR too wide: 592 > 576 dots: {RECEIPT_QR}]\n"
    assert _all_white(render_png(too_wide, profile))


def _all_white(png: bytes) -> bool:
    return png_image(png).convert("L").getextrema() == (255, 255)


# ---- PNG ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", PROFILE_NAMES)
def test_png_is_the_print_width_black_on_white(name: str) -> None:
    profile = load_profile(name)
    image = png_image(render_png(receipt_of(b"\x1bE\x01Hello\n"), profile))
    assert image.width == profile.dots_per_line
    assert image.mode == "1"
    assert image.convert("L").getextrema() == (0, 255)


@pytest.mark.parametrize("name", PROFILE_NAMES)
def test_native_qr_of_a_receipt_decodes_from_the_png(name: str) -> None:
    profile = load_profile(name)
    printer = Dummy(profile=profile.escpos_profile)
    printer.text("Чек\n")
    printer.set(align="center")
    if profile.native_qr:
        printer.qr(RECEIPT_QR, native=True, size=6, ec=QR_ECLEVEL_M)
    else:  # the model has no GS ( k: the QR goes as a raster image, as the driver sends it
        printer.qr(RECEIPT_QR, size=6, ec=QR_ECLEVEL_L)
    printer.text("Спасибо\n")
    png = render_png(receipt_of(printer.output, name), profile)
    assert [code.text for code in zxingcpp.read_barcodes(png_image(png))] == [RECEIPT_QR]


@pytest.mark.parametrize("align", [Align.LEFT, Align.CENTER, Align.RIGHT])
def test_qr_modules_are_module_size_dots_with_a_white_margin(align: Align) -> None:
    profile = load_profile("TM-T20III")
    receipt = PrintedReceipt((QrSymbol(RECEIPT_QR.encode(), 6, "M", QrModel.MODEL_2, align),))
    image = png_image(render_png(receipt, profile))
    left, top, right, bottom = image.convert("L").point(lambda v: 255 - v).getbbox()
    # version 5 = 37 modules of 6 dots; 4 white modules (24 dots) above and below, and at the page edge.
    assert (right - left, bottom - top) == (222, 222)
    assert (top, image.height - bottom) == (24, 24)
    expected_left = {Align.LEFT: 24, Align.CENTER: (576 - 222) // 2, Align.RIGHT: 576 - 222 - 24}[align]
    assert left == expected_left
    assert [code.text for code in zxingcpp.read_barcodes(image)] == [RECEIPT_QR]


def test_raster_image_round_trip_is_pixel_exact() -> None:
    source = known_bitmap(40, 24)
    printer = Dummy(profile="TM-T20II")
    printer.image(source)  # GS v 0
    receipt = receipt_of(printer.output)
    (block,) = receipt.blocks
    assert isinstance(block, ImageBlock) and (block.width, block.height) == (40, 24)
    image = png_image(render_png(receipt, load_profile("TM-T20III")))
    assert image.height == 24
    for y in range(24):
        for x in range(576):
            expected = x < 40 and source.getpixel((x, y)) == 0
            assert black(image, x, y) == expected, (x, y)


def test_centred_raster_image_position() -> None:
    data = b"\x1ba\x01" + bytes.fromhex("1d 76 30 00 01 00 01 00 ff")
    image = png_image(render_png(receipt_of(data), load_profile("TM-T20III")))
    assert [x for x in range(576) if black(image, x, 0)] == list(range(284, 292))


def test_line_heights_follow_the_spacing_and_the_tallest_character() -> None:
    profile = load_profile("TM-T20III")
    # double height (48) over the 34-dot spacing, then a normal line, then ESC 3 60 on a normal line.
    receipt = receipt_of(b"\x1b!\x10A\n\x1b!\x00B\n\x1b3\x3cC\n")
    assert png_image(render_png(receipt, profile)).height == 48 + 34 + 60


def test_text_is_drawn_with_cyrillic_glyphs() -> None:
    profile = load_profile("TM-T20III")
    cyrillic = png_image(render_png(receipt_of(b"\x1bt\x11" + "Ж\n".encode("cp866")), profile))
    question = png_image(render_png(receipt_of(b"?\n"), profile))
    assert cyrillic.convert("L").getextrema() == (0, 255)
    assert cyrillic.tobytes() != question.tobytes()


def test_bold_and_invert_change_the_ink() -> None:
    profile = load_profile("TM-T20III")

    def ink(data: bytes) -> int:
        return png_image(render_png(receipt_of(data), profile)).convert("L").histogram()[0]

    assert ink(b"\x1bE\x01HHHH\n") > ink(b"HHHH\n")
    assert ink(b"\x1dB\x01HHHH\n") > 4 * 12 * 24 // 2


def test_render_notes_unknown_commands_on_the_last_line(tmp_path: Path) -> None:
    capture = tmp_path / "capture.bin"
    # ESC @ | ESC t 59 (no Epson table) | "Ok" LF | nine times ESC 0x99 | GS V 0
    capture.write_bytes(b"\x1b@\x1bt\x3bOk\n" + b"\x1b\x99" * 9 + b"\x1dV\x00")
    (text_path, _) = render_capture(capture, tmp_path / "out")
    listed = ", ".join(["1b 74 3b"] + ["1b 99"] * 7)
    assert text_path.read_text(encoding="utf-8") == (
        f"Ok\n[10 unknown ESC/POS commands skipped: {listed} and 2 more]\n"
    )


def test_barcode_data_with_a_cr_renders_escaped(tmp_path: Path) -> None:
    # ESC @, GS k 65 (form B, UPC-A) length 3 "a" CR "b", GS V 0: once a RuntimeError from raqm.
    capture = tmp_path / "cr.bin"
    capture.write_bytes(bytes.fromhex("1b 40 1d 6b 41 03 61 0d 62 1d 56 00"))
    result = CliRunner().invoke(main, ["render", str(capture), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "0001.txt").read_text(encoding="utf-8") == "[barcode UPC-A a\\x0db]\n"
    assert png_image((tmp_path / "out" / "0001.png").read_bytes()).width == 576


def test_control_and_high_bytes_in_labels_are_shown_escaped() -> None:
    profile = load_profile("TM-T20III")
    receipt = receipt_of(b"\x1dk\x49\x04\x09x\xe9\x7f" + b"\x1d(k\x06\x001P0a\nb\x1d(k\x03\x001Q0")
    assert render_text(receipt, profile) == "[barcode CODE128 \\x09x\\xe9\\x7f]\n[QR a\\x0ab]\n"
    assert png_image(render_png(receipt, profile)).width == 576


def test_qr_model_1_and_micro_are_drawn_as_model_2_and_say_so() -> None:
    profile = load_profile("TM-T20III")
    for model, label in ((QrModel.MODEL_1, "QR model 1"), (QrModel.MICRO, "QR micro")):
        receipt = PrintedReceipt((QrSymbol(RECEIPT_QR.encode(), 6, "M", model, Align.LEFT),))
        assert render_text(receipt, profile) == f"[{label} drawn as model 2 {RECEIPT_QR}]\n"
        assert [c.text for c in zxingcpp.read_barcodes(png_image(render_png(receipt, profile)))] == [
            RECEIPT_QR
        ]


def test_a_render_failure_is_a_clear_error_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(receipt: PrintedReceipt, profile: object) -> bytes:
        raise RuntimeError("raqm_layout() failed.")

    monkeypatch.setattr(escpos_render, "render_png", broken)
    capture = tmp_path / "two.bin"
    capture.write_bytes(b"one\n\x1dV\x00two\n")
    with pytest.raises(CaptureError, match=r"two\.bin: receipt 1: rendering failed: RuntimeError: raqm"):
        render_capture(capture, tmp_path / "out")
    result = CliRunner().invoke(main, ["render", str(capture), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "Error: cannot render ESC/POS capture" in result.output
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)


BARCODE_A_SYMBOLOGIES = st.integers(0, 6)
BARCODE_B_SYMBOLOGIES = st.integers(65, 79)
barcodes = st.one_of(
    st.builds(  # form A: data up to NUL
        lambda m, data: b"\x1dk" + bytes((m,)) + data.replace(b"\x00", b"") + b"\x00",
        BARCODE_A_SYMBOLOGIES,
        st.binary(max_size=20),
    ),
    st.builds(  # form B: a length byte, then any bytes (CR, LF, ESC, NUL, 0x80–0xFF…)
        lambda m, data: b"\x1dk" + bytes((m, len(data))) + data,
        BARCODE_B_SYMBOLOGIES,
        st.binary(max_size=20),
    ),
)
render_streams = st.lists(
    st.one_of(st.sampled_from(COMMANDS), st.binary(max_size=12), barcodes), max_size=40
).map(b"".join)


@settings(max_examples=120, deadline=None)
@given(st.sampled_from(PROFILE_NAMES), render_streams)
def test_rendering_never_raises(name: str, data: bytes) -> None:
    profile = load_profile(name)
    parser = EscposParser(profile)
    receipts = [event.receipt for event in parser.feed(data) if isinstance(event, ReceiptDone)]
    for receipt in [*receipts, parser.finish()]:
        if receipt is not None:
            assert png_image(render_png(receipt, profile)).width == profile.dots_per_line
            text = render_text(receipt, profile)
            assert all(char == "\n" or char.isprintable() for char in text), text


# ---- streams and files -------------------------------------------------------------------------------


def test_render_stream_splits_at_cuts_and_keeps_the_rest() -> None:
    data = b"\x1b@one\n\x1dV\x00two\n\x1bmthree\n"
    rendered = render_stream(data, load_profile("TM-T20III"))
    assert [(r.text, r.cut) for r in rendered] == [
        ("one\n", "full"),
        ("two\n", "partial"),
        ("three\n", "none"),
    ]


def test_render_stream_skips_cuts_of_blank_paper() -> None:
    rendered = render_stream(b"a\n\x1bi\n\n\x1bi\x1bi", load_profile("TM-T20III"))
    assert [r.text for r in rendered] == ["a\n"]


def test_write_receipts_numbers_on_after_existing_files(tmp_path: Path) -> None:
    profile = load_profile("TM-T20III")
    rendered = render_stream(b"one\n\x1bitwo\n\x1bi", profile)
    out = tmp_path / "out"
    assert write_receipts(rendered, out) == [
        out / "0001.txt",
        out / "0001.png",
        out / "0002.txt",
        out / "0002.png",
    ]
    assert (out / "0002.txt").read_text(encoding="utf-8") == "two\n"
    assert png_image((out / "0001.png").read_bytes()).width == 576
    (out / "0007.png").write_bytes(b"")
    (out / "notes.txt").write_text("", encoding="utf-8")
    assert write_receipts(rendered[:1], out)[0] == out / "0008.txt"
    assert (
        write_receipts(rendered[:1], tmp_path / "fresh", first_index=42)[0] == tmp_path / "fresh" / "0042.txt"
    )


def test_render_capture_writes_the_golden_receipt(tmp_path: Path) -> None:
    written = render_capture(FIXTURES / "TM-T88V.bin", tmp_path, "TM-T88V")
    assert written == [tmp_path / "0001.txt", tmp_path / "0001.png"]
    assert written[0].read_text(encoding="utf-8") == (FIXTURES / "TM-T88V.txt").read_text(encoding="utf-8")
    assert png_image(written[1].read_bytes()).width == 512


def test_render_capture_names_a_bad_file_or_profile(tmp_path: Path) -> None:
    with pytest.raises(CaptureError, match=r"missing\.bin"):
        render_capture(tmp_path / "missing.bin", tmp_path / "out")
    with pytest.raises(ProfileError, match="NO-SUCH"):
        render_capture(FIXTURES / "TM-T88V.bin", tmp_path / "out", "NO-SUCH")
