"""The emulated printer's ESC/POS interpreter: bytes from escpos.md §1 and the observed python-escpos
output of §2.2, and the two stream properties (never raises; chunking does not change the result)."""

from __future__ import annotations

from escpos.printer import Dummy
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from register.lab.escpos_model import (
    Align,
    BarcodeBlock,
    Feed,
    Font,
    ImageBlock,
    PrintedReceipt,
    QrModel,
    QrSymbol,
    TextLine,
    TextStyle,
)
from register.lab.escpos_parser import (
    AutoStatusBack,
    DrawerKick,
    EscposParser,
    Initialised,
    ParserEvent,
    ReceiptDone,
    StatusQuery,
    Unknown,
)
from register.profiles import load_profile

from .make_escpos_fixtures import FIXTURES

T20 = load_profile("TM-T20III")
RECEIPT_QR = "t=20260115T1432&s=1234.56&fn=9999078900004312&i=42&fp=3098173039&n=1"  # ffd-receipt.md §7
ESC_AT = b"\x1b@"
CUT = b"\x1dV\x00"


def parse(data: bytes, profile_name: str = "TM-T20III") -> tuple[list[ParserEvent], PrintedReceipt | None]:
    parser = EscposParser(load_profile(profile_name))
    return parser.feed(data), parser.finish()


def printed(data: bytes, profile_name: str = "TM-T20III") -> PrintedReceipt:
    """The receipt the data prints, ended by a full cut."""
    events, _ = parse(data + CUT, profile_name)
    done = [event for event in events if isinstance(event, ReceiptDone)]
    assert len(done) == 1
    return done[0].receipt


def lines(receipt: PrintedReceipt) -> list[TextLine]:
    return [block for block in receipt.blocks if isinstance(block, TextLine)]


def not_done(events: list[ParserEvent]) -> list[ParserEvent]:
    return [event for event in events if not isinstance(event, ReceiptDone)]


# ---- text and code tables ----------------------------------------------------------------------------


def test_text_in_pc866_as_python_escpos_sends_it() -> None:
    assert printed(bytes.fromhex("1b 74 11 8f e0 a8 a2 a5 e2 0a")).text_lines == ["Привет"]
    assert printed(bytes.fromhex("1b 74 11 97 85 8a 20 fc 34 32 0a")).text_lines == ["ЧЕК №42"]


def test_wpc1251_table() -> None:
    assert printed(bytes.fromhex("1b 74 2e c9 b8 0a")).text_lines == ["Йё"]


def test_code_table_numbers_are_the_models() -> None:
    # Rongta numbers PC866 as 7; on an Epson table 7 is not listed, so PC437 stays (0x89 is 'ë' there).
    assert printed(bytes.fromhex("1b 74 07 89 0a"), "RP-326").text_lines == ["Й"]
    events, _ = parse(bytes.fromhex("1b 74 07 89 0a") + CUT)
    assert Unknown(b"\x1bt\x07", 0) in events
    assert printed(bytes.fromhex("1b 74 07 89 0a")).text_lines == ["ë"]


def test_a_table_with_two_numbers_answers_to_both() -> None:
    # escpos.md §1.2: POS-5890 clones take PC866 as ESC t 17 and as ESC t 59; 0x89 is "Й" in CP866.
    assert printed(bytes.fromhex("1b 74 11 89 0a"), "POS-5890").text_lines == ["Й"]
    assert printed(bytes.fromhex("1b 74 3b 89 0a"), "POS-5890").text_lines == ["Й"]
    events, _ = parse(bytes.fromhex("1b 74 3b 89 0a") + CUT, "POS-5890")
    assert [event for event in events if isinstance(event, Unknown)] == []
    # An Epson does not know 59: the table stays PC437, where 0x89 is "ë".
    events, _ = parse(bytes.fromhex("1b 74 3b 89 0a") + CUT)
    assert Unknown(b"\x1bt\x3b", 0) in events


def test_power_on_table_is_pc437_and_esc_at_restores_it() -> None:
    # escpos.md §2.4: python-escpos 3.1 sends no ESC t after the second INIT; the printer is back in PC437.
    events, rest = parse(bytes.fromhex("1b 40 1b 74 11 8e aa 0a 1b 40 8e aa 0a"))
    first = [event for event in events if isinstance(event, ReceiptDone)]
    assert [done.receipt.text_lines for done in first] == [["Ок"]]
    assert first[0].cut == "none"
    assert rest is not None and rest.text_lines == ["Ä¬"]


def test_ruble_sign_from_python_escpos_prints_a_question_mark() -> None:
    printer = Dummy(profile="TM-T20II")
    printer.text("100 ₽\n")
    assert printer.output == bytes.fromhex("1b 74 00 31 30 30 20 3f 0a")
    assert printed(printer.output).text_lines == ["100 ?"]


def test_cr_is_ignored_and_control_bytes_print_nothing() -> None:
    assert printed(b"A\rB\x00\x07C\n").text_lines == ["ABC"]


def test_long_text_wraps_at_the_print_width() -> None:
    assert printed(b"x" * 49 + b"\n").text_lines == ["x" * 48, "x"]
    double_width = b"\x1d!\x10" + b"y" * 25 + b"\n"
    assert printed(double_width).text_lines == ["y" * 24, "y"]
    font_b = b"\x1bM\x01" + b"z" * 65 + b"\n"
    assert printed(font_b).text_lines == ["z" * 64, "z"]
    assert printed(b"w" * 33 + b"\n", "POS-5890").text_lines == ["w" * 32, "w"]


def test_tabs_default_every_8_columns_and_esc_d_sets_them() -> None:
    assert printed(b"ab\tc\n").text_lines == ["ab      c"]
    assert printed(b"\x1bD\x04\x0a\x00a\tb\tc\n").text_lines == ["a   b     c"]
    assert printed(b"\x1bD\x00a\tb\n").text_lines == ["ab"]


# ---- styles ------------------------------------------------------------------------------------------


def style_of(data: bytes) -> TextStyle:
    """The style of the first run printed after the data."""
    return lines(printed(data + b"T\n"))[0].runs[0].style


def test_bold_underline_font_invert() -> None:
    assert style_of(b"\x1bE\x01").bold
    assert style_of(b"\x1b-\x01").underline == 1
    assert style_of(b"\x1b-\x32").underline == 2
    assert style_of(b"\x1bM\x01").font is Font.B
    assert style_of(b"\x1dB\x01").invert
    assert style_of(b"\x1b{\x01").upside_down


def test_esc_bang_sets_everything_in_one_byte() -> None:
    style = style_of(b"\x1b!\xb9")  # font B, bold, double height, double width, underline
    assert (style.font, style.bold, style.height, style.width, style.underline) == (Font.B, True, 2, 2, 1)


def test_esc_bang_clears_bold_set_before_it() -> None:
    # escpos.md §2.2 trap: bold, then size in a separate set() -> ESC ! clears bold.
    style = style_of(bytes.fromhex("1b 45 01 1b 21 00 1b 21 00 1b 21 10"))
    assert not style.bold
    assert (style.width, style.height) == (1, 2)


def test_gs_bang_sizes() -> None:
    style = style_of(bytes.fromhex("1d 21 21"))  # set(custom_size=True, width=3, height=2)
    assert (style.width, style.height) == (3, 2)
    style = style_of(bytes.fromhex("1d 21 11 1b 21 00"))  # the last of ESC ! / GS ! wins
    assert (style.width, style.height) == (1, 1)


def test_set_with_default_resets_styles_and_alignment() -> None:
    printer = Dummy(profile="TM-T20II")
    printer.set(align="right", bold=True, underline=2, font="b", invert=True, double_width=True)
    printer.text("A\n")
    printer.set_with_default()
    printer.text("B\n")
    first, second = lines(printed(printer.output))
    assert first.align is Align.RIGHT and first.runs[0].style.bold
    assert second.align is Align.LEFT
    assert second.runs[0].style == TextStyle()


def test_runs_split_where_the_style_changes() -> None:
    (line,) = lines(printed(b"ab\x1bE\x01cd\x1bE\x00e\n"))
    assert [(run.text, run.style.bold) for run in line.runs] == [("ab", False), ("cd", True), ("e", False)]


def test_alignment_is_taken_at_the_start_of_a_line() -> None:
    receipt = printed(b"\x1ba\x01centre\n\x1ba\x02ri\x1ba\x00ght\nleft\n")
    assert [(line.text, line.align) for line in lines(receipt)] == [
        ("centre", Align.CENTER),
        ("right", Align.RIGHT),
        ("left", Align.LEFT),
    ]


# ---- feeds -------------------------------------------------------------------------------------------


def test_line_feeds_and_spacing() -> None:
    receipt = printed(b"\n\x1b3\x10a\n\x1b2b\n")
    assert [(line.text, line.spacing) for line in lines(receipt)] == [("", 34), ("a", 16), ("b", 34)]
    assert lines(printed(b"\x1b2c\n", "TM-T88V"))[0].spacing == 30  # 1/6 inch at 180 dpi


def test_esc_d_prints_and_feeds_n_lines() -> None:
    assert printed(b"\x1bd\x03").text_lines == ["", "", ""]
    assert printed(b"text\x1bd\x03").text_lines == ["text", "", ""]


def test_esc_j_feeds_dots() -> None:
    assert printed(b"\x1bJ\x28").blocks == (Feed(40),)
    (line,) = lines(printed(b"abc\x1bJ\x50"))
    assert (line.text, line.spacing) == ("abc", 80)


# ---- cuts, init, finish ------------------------------------------------------------------------------


def test_every_cut_form_ends_a_receipt() -> None:
    forms = {
        b"\x1dV\x00": "full",
        b"\x1dV\x30": "full",
        b"\x1dV\x01": "partial",
        b"\x1dV\x31": "partial",
        b"\x1dVA\x0a": "full",
        b"\x1dVB\x00": "partial",
        b"\x1dVa\x05": "full",
        b"\x1dVb\x05": "partial",
        b"\x1dVg\x05": "full",
        b"\x1dVh\x05": "partial",
        b"\x1bi": "full",
        b"\x1bm": "partial",
    }
    for command, cut in forms.items():
        events, rest = parse(b"one\n" + command + b"two\n")
        (done,) = events
        assert isinstance(done, ReceiptDone)
        assert (done.receipt.text_lines, done.cut) == (["one"], cut), command
        assert rest is not None and rest.text_lines == ["two"]


def test_python_escpos_cut_feeds_six_lines_first() -> None:
    events, rest = parse(b"last\n" + bytes.fromhex("1b 64 06 1d 56 00"))
    (done,) = events
    assert isinstance(done, ReceiptDone) and done.cut == "full"
    assert done.receipt.text_lines == ["last"] + [""] * 6
    assert rest is None


def test_cut_mid_line_prints_the_pending_line_first() -> None:
    (done,) = parse(b"tail" + CUT)[0]
    assert isinstance(done, ReceiptDone) and done.receipt.text_lines == ["tail"]


def test_invalid_cut_mode_is_unknown() -> None:
    events, _ = parse(b"x\n\x1dV\x05y\n")
    assert events == [Unknown(b"\x1dV\x05", 2)]


def test_cutterless_receipt_comes_from_finish() -> None:
    # python-escpos cut() on POS-5890 sends only ESC d 6.
    parser = EscposParser(load_profile("POS-5890"))
    assert parser.feed(b"\x1b@receipt\n\x1bd\x06") == [Initialised()]
    rest = parser.finish()
    assert rest is not None and rest.text_lines == ["receipt"] + [""] * 6
    assert parser.finish() is None


def test_esc_at_after_content_ends_the_receipt_and_blank_feeds_do_not() -> None:
    events, rest = parse(b"\n\n\x1b@x\n\x1b@")
    assert events[0] == Initialised()
    assert isinstance(events[1], ReceiptDone) and events[1].cut == "none"
    assert events[1].receipt.text_lines == ["", "", "x"]
    assert events[2] == Initialised()
    assert rest is None


def test_esc_at_discards_the_unprinted_line_and_resets_modes() -> None:
    receipt = printed(b"\x1bE\x01\x1ba\x01\x1b3\x10lost\x1b@kept\n")
    (line,) = lines(receipt)
    assert (line.text, line.align, line.spacing, line.runs[0].style.bold) == ("kept", Align.LEFT, 34, False)


def test_finish_keeps_an_unprinted_line_in_the_buffer() -> None:
    parser = EscposParser(T20)
    parser.feed(b"half")
    assert parser.finish() is None
    parser.feed(b" line\n")
    rest = parser.finish()
    assert rest is not None and rest.text_lines == ["half line"]


# ---- drawer and status ---------------------------------------------------------------------------------


def test_drawer_pulses() -> None:
    assert parse(bytes.fromhex("1b 70 00 32 32"))[0] == [DrawerKick(2, 100, 100)]
    assert parse(bytes.fromhex("1b 70 01 32 32"))[0] == [DrawerKick(5, 100, 100)]
    assert parse(bytes.fromhex("1b 70 30 19 19"))[0] == [DrawerKick(2, 50, 50)]
    assert parse(bytes.fromhex("1b 70 07 19 19"))[0] == [Unknown(bytes.fromhex("1b 70 07 19 19"), 0)]


def test_status_queries_come_in_stream_order() -> None:
    events, _ = parse(b"a\n\x1dr\x01b\n\x1dr\x32\x1bv\x1bi\x1da\x0f")
    assert [type(event) for event in events] == [
        StatusQuery,
        StatusQuery,
        StatusQuery,
        ReceiptDone,
        AutoStatusBack,
    ]
    assert events[:3] == [StatusQuery(1), StatusQuery(2), StatusQuery(1)]
    assert events[4] == AutoStatusBack(0x0F)


def test_real_time_commands_are_consumed_if_they_get_through() -> None:
    data = b"A\x10\x04\x01B\x10\x05\x02C\x10\x14\x01\x00\x01D\n"
    events, rest = parse(data)
    assert events == []
    assert rest is not None and rest.text_lines == ["ABCD"]


# ---- unknown commands --------------------------------------------------------------------------------


def test_known_commands_outside_the_subset_skip_their_parameters() -> None:
    events, rest = parse(b"ab\x1b \x05cd\x1dL\x10\x00ef\x1d(A\x02\x00\x30\x31gh\n")
    assert events == [
        Unknown(b"\x1b \x05", 2),
        Unknown(b"\x1dL\x10\x00", 7),
        Unknown(b"\x1d(A\x02\x00\x30\x31", 13),
    ]
    assert rest is not None and rest.text_lines == ["abcdefgh"]


def test_unknown_commands_skip_two_bytes() -> None:
    events, rest = parse(b"\x1b\x99AB\x1c\xfeC\n")
    assert events == [Unknown(b"\x1b\x99", 0), Unknown(b"\x1c\xfe", 4)]
    assert rest is not None and rest.text_lines == ["ABC"]


def test_python_escpos_extras_are_consumed_silently() -> None:
    extras = bytes.fromhex("1b 7b 00 1d 62 00 1d 7c 04 1b 72 00 1b 3d 01 1b 63 35 00 1b 42 02 01")
    events, rest = parse(extras + b"ok\n")
    assert events == []
    assert rest is not None and rest.text_lines == ["ok"]


def test_offsets_count_across_feed_calls() -> None:
    parser = EscposParser(T20)
    assert parser.feed(b"abc") == []
    assert parser.feed(b"\x1b") == []
    assert parser.feed(b"\x99") == [Unknown(b"\x1b\x99", 3)]


# ---- QR ----------------------------------------------------------------------------------------------


def test_native_qr_as_python_escpos_sends_it() -> None:
    # escpos.md §1.3, observed for qr("1234", native=True).
    data = bytes.fromhex(
        "1d 28 6b 04 00 31 41 32 00  1d 28 6b 03 00 31 43 03  1d 28 6b 03 00 31 45 30"
        " 1d 28 6b 07 00 31 50 30 31 32 33 34  1d 28 6b 03 00 31 51 30  1d 28 6b 03 00 31 52 30"
    )
    events, _ = parse(data + CUT)
    (done,) = events
    assert isinstance(done, ReceiptDone)
    assert done.receipt.blocks == (QrSymbol(b"1234", 3, "L", QrModel.MODEL_2, Align.LEFT),)


def test_qr_settings_from_python_escpos_size_and_ec() -> None:
    printer = Dummy(profile="TM-T20II")
    printer.set(align="center")
    printer.qr(
        "t=20260115T1432&s=1234.56&fn=9999078900004312&i=42&fp=3098173039&n=1", native=True, size=6, ec=1
    )
    (symbol,) = printed(printer.output).blocks
    assert symbol == QrSymbol(
        b"t=20260115T1432&s=1234.56&fn=9999078900004312&i=42&fp=3098173039&n=1",
        6,
        "M",
        QrModel.MODEL_2,
        Align.CENTER,
    )


def test_qr_print_without_stored_data_prints_nothing() -> None:
    assert printed(bytes.fromhex("1d 28 6b 03 00 31 51 30")).blocks == ()


def test_qr_on_a_model_without_native_qr_prints_junk() -> None:
    # escpos.md §1.3 / db#64: such a printer prints "1A2", "1P0…" and the payload as text.
    data = bytes.fromhex(
        "1d 28 6b 04 00 31 41 32 00  1d 28 6b 03 00 31 43 03  1d 28 6b 03 00 31 45 30"
        " 1d 28 6b 07 00 31 50 30 31 32 33 34  1d 28 6b 03 00 31 51 30"
    )
    receipt = printed(data + b"\n", "POS-5890")
    assert receipt.qr_codes == []
    assert receipt.text_lines == ["1A21C1E01P012341Q0"]


# ---- images ------------------------------------------------------------------------------------------


def test_raster_image_as_observed() -> None:
    # escpos.md §1.4: 16x8 image, left half black.
    data = bytes.fromhex("1d 76 30 00 02 00 08 00") + b"\xff\x00" * 8
    (image,) = printed(data).blocks
    assert image == ImageBlock(16, 8, (b"\xff\x00",) * 8, Align.LEFT)
    assert image.is_black(7, 0) and not image.is_black(8, 0)


def test_raster_scaling_modes() -> None:
    header = bytes.fromhex("1d 76 30")
    body = bytes.fromhex("01 00 02 00") + b"\x81\x00"
    (wide,) = printed(header + b"\x01" + body).blocks
    assert isinstance(wide, ImageBlock)
    assert (wide.width, wide.height, wide.rows) == (16, 2, (b"\xc0\x03", b"\x00\x00"))
    (tall,) = printed(header + b"\x32" + body).blocks
    assert isinstance(tall, ImageBlock)
    assert (tall.width, tall.height, tall.rows) == (8, 4, (b"\x81", b"\x81", b"\x00", b"\x00"))


def test_column_image_24_dot_and_8_dot() -> None:
    # ESC * 33: two columns, the first all black, the second only its top dot.
    data = bytes.fromhex("1b 2a 21 02 00 ff ff ff 80 00 00 0a")
    (image,) = printed(data).blocks
    assert isinstance(image, ImageBlock)
    assert (image.width, image.height) == (2, 24)
    assert image.rows == (b"\xc0",) + (b"\x80",) * 23
    # ESC * 0: 8-dot single density, each dot printed 2 wide and 3 tall.
    (image,) = printed(bytes.fromhex("1b 2a 00 01 00 80 0a")).blocks
    assert isinstance(image, ImageBlock)
    assert (image.width, image.height) == (2, 24)
    assert image.rows == (b"\xc0",) * 3 + (b"\x00",) * 21


def known_bitmap(width: int, height: int) -> Image.Image:
    """A pattern no two rows of which are alike: black where (x * 7 + y * 3) % 5 < 2."""
    image = Image.new("1", (width, height), 1)
    for y in range(height):
        for x in range(width):
            if (x * 7 + y * 3) % 5 < 2:
                image.putpixel((x, y), 0)
    return image


def test_python_escpos_column_image_reassembles_into_one_bitmap() -> None:
    source = known_bitmap(40, 48)
    printer = Dummy(profile="TM-T20II")
    printer.image(source, impl="bitImageColumn")
    (image,) = printed(printer.output).blocks
    assert isinstance(image, ImageBlock)
    assert (image.width, image.height) == (40, 48)
    for y in range(48):
        for x in range(40):
            assert image.is_black(x, y) == (source.getpixel((x, y)) == 0), (x, y)


def test_graphics_store_and_print_as_observed() -> None:
    printer = Dummy(profile="TM-T20II")
    printer.image(known_bitmap(16, 8), impl="graphics")
    assert printer.output.startswith(bytes.fromhex("1d 28 4c 1a 00 30 70 30 01 01 31 10 00 08 00"))
    assert printer.output.endswith(bytes.fromhex("1d 28 4c 02 00 30 32"))
    (image,) = printed(printer.output).blocks
    assert isinstance(image, ImageBlock)
    assert (image.width, image.height) == (16, 8)
    assert image.is_black(0, 0) and not image.is_black(2, 0)


def test_image_mid_line_prints_the_line_first_and_takes_the_alignment() -> None:
    receipt = printed(b"\x1ba\x01text" + bytes.fromhex("1d 76 30 00 01 00 01 00 ff"))
    assert isinstance(receipt.blocks[0], TextLine) and receipt.blocks[0].text == "text"
    assert receipt.blocks[1] == ImageBlock(8, 1, (b"\xff",), Align.CENTER)


# ---- barcodes ----------------------------------------------------------------------------------------


def test_barcode_form_a_as_python_escpos_sends_it() -> None:
    printer = Dummy(profile="TM-T20II")
    printer.barcode("4006381333931", "EAN13")
    assert printer.output.endswith(b"\x1dk\x024006381333931\x00")
    (barcode,) = printed(printer.output).blocks
    assert barcode == BarcodeBlock("EAN13", b"4006381333931", Align.CENTER)


def test_barcode_form_b() -> None:
    (barcode,) = printed(b"\x1dkI\x05ABCDE").blocks
    assert barcode == BarcodeBlock("CODE128", b"ABCDE", Align.LEFT)


# ---- stream properties -------------------------------------------------------------------------------

COMMANDS = [
    b"\x1b@",
    b"\x1bt\x11",
    b"\x1ba\x01",
    b"\x1bE\x01",
    b"\x1b!\x30",
    b"\x1d!\x11",
    b"\x1dB\x01",
    b"\x1bd\x02",
    b"\x1bJ\x10",
    b"\x1b3\x10",
    b"\x1bD\x02\x05\x00",
    b"\x1bp\x00\x32\x32",
    b"\x1dr\x01",
    b"\x1da\x0f",
    b"\x1dV\x00",
    b"\x1dVA\x03",
    b"\x1bi",
    b"\x10\x04\x01",
    b"\x10\x14\x01\x00\x01",
    b"\x1d(k\x04\x001A2\x00",
    b"\x1d(k\x07\x001P01234",
    b"\x1d(k\x03\x001Q0",
    b"\x1dv0\x00\x01\x00\x02\x00\xaa\x55",
    b"\x1b*\x21\x01\x00\xff\x00\xff\n",
    b"\x1b*\x00\x02\x00\x81\x42\n",
    b"\x1d(L\x0c\x000p0\x01\x011\x08\x00\x02\x00\xf0\x0f\x1d(L\x02\x0002",
    b"\x1dk\x02123\x00",
    b"\x1dkI\x02AB",
    b"\x1dkA\x03a\rb",  # barcode data with a control byte
    "Привет\n".encode("cp866"),
    b"text\t\n",
    b"\n",
]
streams = st.lists(st.one_of(st.sampled_from(COMMANDS), st.binary(max_size=12)), max_size=40).map(b"".join)
golden = st.sampled_from(sorted(FIXTURES.glob("*.bin"))).map(lambda path: path.read_bytes())
profile_names = st.sampled_from(["TM-T20III", "TM-T88V", "POS-5890", "XP-80", "RP-326"])


def run_in_chunks(profile_name: str, data: bytes, cuts: list[int]) -> tuple[list[ParserEvent], object]:
    parser = EscposParser(load_profile(profile_name))
    events: list[ParserEvent] = []
    start = 0
    for cut in [*sorted(cuts), len(data)]:
        events += parser.feed(data[start:cut])
        start = cut
    return events, parser.finish()


@settings(max_examples=300)
@given(profile_names, st.one_of(st.binary(max_size=600), streams), st.lists(st.integers(0, 600), max_size=8))
def test_never_raises_on_any_bytes_in_any_chunks(profile_name: str, data: bytes, cuts: list[int]) -> None:
    run_in_chunks(profile_name, data, [min(cut, len(data)) for cut in cuts])


@settings(max_examples=200)
@given(profile_names, st.one_of(streams, golden), st.lists(st.integers(0, 10_000), max_size=6))
def test_split_points_do_not_change_the_result(profile_name: str, data: bytes, cuts: list[int]) -> None:
    whole = run_in_chunks(profile_name, data, [])
    assert run_in_chunks(profile_name, data, [min(cut, len(data)) for cut in cuts]) == whole


@given(profile_names, st.one_of(streams, golden))
def test_byte_by_byte_is_the_same_as_at_once(profile_name: str, data: bytes) -> None:
    assert run_in_chunks(profile_name, data, list(range(len(data)))) == run_in_chunks(profile_name, data, [])
