"""Printed receipts -> what QA looks at: aligned Unicode text (diffed) and a PNG of the paper.

``render_text`` gives one line per printed line at the profile's column width (double width counts
double), QR codes as ``[QR <data>]``, images as ``[image WxH]`` (printed dots), barcodes as
``[barcode <symbology> <data>]``. ``render_png`` draws the page ``dots_per_line`` wide, black on white:
text in JetBrains Mono (Cyrillic; the ``fontpkg-jetbrains-mono`` package) at the font cell size, images as
sent, QR symbols rebuilt from their data the way the printer does (smallest version, no quiet zone from
the printer; the renderer keeps 4 white modules around it where the page allows). Only model 2 is drawn
(the ``qrcode`` library makes no model 1 or micro QR): a symbol asked for as model 1 or micro (``GS ( k``
fn 65) is drawn as model 2 and its text label says so. Labels never carry control characters: a CR in
barcode data shows as ``\\x0d``. A symbol wider than the print area is dropped, as a printer does, and
the text says ``[QR too wide: …]``.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

import qrcode
import qrcode.constants
from PIL import Image, ImageDraw, ImageFont
from qrcode.exceptions import DataOverflowError

from register.lab.escpos_model import (
    Align,
    BarcodeBlock,
    Block,
    Feed,
    Font,
    ImageBlock,
    PrintedReceipt,
    QrModel,
    QrSymbol,
    TextLine,
    TextRun,
    TextStyle,
)
from register.lab.escpos_parser import CELL, EscposParser, ReceiptDone
from register.profiles import DEFAULT_PRINTER, PrinterProfile, load_profile

QUIET_MODULES = 4
BLACK, WHITE = 0, 255
FONT_SIZE_PER_CELL_WIDTH = 1 / 0.6
"""JetBrains Mono advances 0.6 em: a 12-dot cell is a 20-pixel font."""
FALLBACK_SIZE_PER_CELL_WIDTH = 1.25
BASELINE_FRACTION = 0.8
EC_CONSTANTS = {
    "L": qrcode.constants.ERROR_CORRECT_L,
    "M": qrcode.constants.ERROR_CORRECT_M,
    "Q": qrcode.constants.ERROR_CORRECT_Q,
    "H": qrcode.constants.ERROR_CORRECT_H,
}
_NUMBERED = re.compile(r"[0-9]{4,}")
SKIPPED_SHOWN = 8
"""Unknown commands listed by name in a receipt's note; the rest are counted."""
SKIPPED_BYTES_SHOWN = 8


class CaptureError(ValueError):
    """A recorded ESC/POS capture that cannot be read; the message names the file."""


class RenderError(CaptureError):
    """A receipt the renderer failed on (a renderer bug); the message names the receipt (and the file)."""


@dataclass(frozen=True, slots=True)
class RenderedReceipt:
    receipt: PrintedReceipt
    text: str
    png: bytes
    cut: str
    """How the receipt ended: "full", "partial", or "none" (ESC @ or end of stream)."""


# ---- QR -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _QrLayout:
    modules: list[list[bool]] | None
    """The symbol's modules (no quiet zone), or None when it cannot be printed."""
    reason: str = ""


def _qr_layout(symbol: QrSymbol, page_width: int) -> _QrLayout:
    """The symbol a printer makes of the stored data: model 2, the smallest version that holds it."""
    return _qr_matrix(symbol.data, symbol.ec_level, symbol.module_size, page_width)


QR_MASK_PATTERN = 0


@lru_cache(maxsize=256)
def _qr_matrix(data: bytes, ec_level: str, module_size: int, page_width: int) -> _QrLayout:
    """Cached: the same symbol is measured and drawn, and QA streams repeat it."""
    # One fixed mask (as some printers do): any mask reads the same, and trying all eight for the least
    # penalty took five times as long (13 ms a fiscal QR code, in the printer's answer to the register).
    code = qrcode.QRCode(
        version=None, error_correction=EC_CONSTANTS[ec_level], border=0, mask_pattern=QR_MASK_PATTERN
    )
    code.add_data(data)
    try:
        code.make(fit=True)
    except (DataOverflowError, ValueError):
        return _QrLayout(None, f"too long: {len(data)} bytes")
    modules = code.get_matrix()
    width = len(modules) * module_size
    if width > page_width:
        return _QrLayout(None, f"too wide: {width} > {page_width} dots")
    return _QrLayout(modules)


# ---- text ---------------------------------------------------------------------------------------------


def render_text(receipt: PrintedReceipt, profile: PrinterProfile) -> str:
    """One line per printed line, aligned with spaces, trailing spaces stripped; ends with a newline."""
    lines: list[str] = []
    for block in receipt.blocks:
        lines.extend(_text_of(block, profile))
    return "".join(line.rstrip() + "\n" for line in lines)


def _text_of(block: Block, profile: PrinterProfile) -> list[str]:
    if isinstance(block, TextLine):
        font = block.runs[0].style.font if block.runs else Font.A
        columns = profile.columns_a if font is Font.A else profile.columns_b
        used = sum(len(run.text) * run.style.width for run in block.runs)
        return [_aligned(block.text, used, columns, block.align)]
    if isinstance(block, Feed):
        return [""] * (block.dots // round(profile.dpi / 6))
    if isinstance(block, ImageBlock):
        label = f"[image {block.width}x{block.height}]"
    elif isinstance(block, QrSymbol):
        label = _qr_label(block, _qr_layout(block, profile.dots_per_line))
    else:
        label = _barcode_label(block)
    return [_aligned(label, len(label), profile.columns_a, block.align)]


def _qr_label(symbol: QrSymbol, layout: _QrLayout) -> str:
    data = shown(symbol.text)
    kind = "QR" if symbol.model is QrModel.MODEL_2 else f"QR {symbol.model.value} drawn as model 2"
    return f"[{kind} {data}]" if layout.modules is not None else f"[{kind} {layout.reason}: {data}]"


def _barcode_label(block: BarcodeBlock) -> str:
    return f"[barcode {block.symbology} {shown(block.data.decode('ascii', errors='backslashreplace'))}]"


def shown(text: str) -> str:
    """Text safe to show in a label, a .txt line or a PNG: every non-printable character (control bytes
    such as CR inside barcode data) as ``\\xNN`` / ``\\uNNNN``, never the raw character."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else _escaped(char) for char in text)


def _escaped(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _aligned(text: str, used: int, columns: int, align: Align) -> str:
    free = max(0, columns - used)
    if align is Align.CENTER:
        return " " * (free // 2) + text
    if align is Align.RIGHT:
        return " " * free + text
    return text


# ---- PNG ----------------------------------------------------------------------------------------------


def _font_file() -> Path | None:
    try:
        import fontpkg_jetbrains_mono
    except ImportError:
        return None
    path = Path(fontpkg_jetbrains_mono.ROOT) / "files" / "JetBrainsMono[wght].ttf"
    return path if path.is_file() else None


@dataclass(frozen=True, slots=True)
class _CellFont:
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont
    unicode: bool
    """Covers Cyrillic; False for Pillow's built-in font, which draws ASCII only."""
    weighted: bool
    """The bold weight is built in; otherwise bold is struck twice, one dot apart."""


@cache
def _font(cell_width: int, bold: bool) -> _CellFont:
    path = _font_file()
    if path is None:
        return _CellFont(ImageFont.load_default(size=cell_width * FALLBACK_SIZE_PER_CELL_WIDTH), False, False)
    font = ImageFont.truetype(str(path), round(cell_width * FONT_SIZE_PER_CELL_WIDTH))
    try:
        font.set_variation_by_name("Bold" if bold else "Regular")
    except OSError:  # a FreeType without variable-font support draws the default (regular) weight
        return _CellFont(font, True, False)
    return _CellFont(font, True, True)


def render_png(receipt: PrintedReceipt, profile: PrinterProfile) -> bytes:
    """The paper as a 1-bit PNG exactly ``profile.dots_per_line`` wide."""
    width = profile.dots_per_line
    heights = [_block_height(block, profile) for block in receipt.blocks]
    page = Image.new("L", (width, max(1, sum(heights))), WHITE)
    top = 0
    for block, height in zip(receipt.blocks, heights, strict=True):
        _draw_block(page, block, top, profile)
        top += height
    out = io.BytesIO()
    # The fastest zlib level: a receipt's 1-bit PNG comes out somewhat larger, in two thirds of the time.
    page.convert("1", dither=Image.Dither.NONE).save(out, format="PNG", compress_level=1)
    return out.getvalue()


def _block_height(block: Block, profile: PrinterProfile) -> int:
    if isinstance(block, TextLine):
        tallest = max((CELL[run.style.font][1] * run.style.height for run in block.runs), default=0)
        return max(block.spacing, tallest)
    if isinstance(block, ImageBlock):
        return block.height
    if isinstance(block, QrSymbol):
        layout = _qr_layout(block, profile.dots_per_line)
        if layout.modules is None:
            return 0
        return (len(layout.modules) + 2 * QUIET_MODULES) * block.module_size
    if isinstance(block, BarcodeBlock):
        return max(round(profile.dpi / 6), CELL[Font.A][1])
    return block.dots


def _draw_block(page: Image.Image, block: Block, top: int, profile: PrinterProfile) -> None:
    if isinstance(block, TextLine):
        _draw_line(page, block.runs, block.align, top)
    elif isinstance(block, ImageBlock):
        _draw_image(page, block, top)
    elif isinstance(block, QrSymbol):
        _draw_qr(page, block, top)
    elif isinstance(block, BarcodeBlock):
        _draw_line(page, (TextRun(_barcode_label(block)),), block.align, top)


def _left(page_width: int, item_width: int, align: Align, margin: int = 0) -> int:
    if align is Align.CENTER:
        x = (page_width - item_width) // 2
    elif align is Align.RIGHT:
        x = page_width - item_width - margin
    else:
        x = margin
    return max(0, min(x, page_width - item_width)) if item_width <= page_width else 0


def _draw_line(page: Image.Image, runs: tuple[TextRun, ...], align: Align, top: int) -> None:
    tallest = max((CELL[run.style.font][1] * run.style.height for run in runs), default=0)
    images = [_run_image(run) for run in runs]
    x = _left(page.width, sum(image.width for image in images), align)
    for image in images:
        page.paste(image, (x, top + tallest - image.height))
        x += image.width


def _run_image(run: TextRun) -> Image.Image:
    return _styled_text_image(run.text, run.style)


@lru_cache(maxsize=4096)
def _styled_text_image(text: str, style: TextStyle) -> Image.Image:
    """A run of characters, each in its cell, scaled by the character size, thresholded to 1 bit.

    Cached: receipts repeat their labels; callers only paste the result, never change it.
    """
    cell_width, cell_height = CELL[style.font]
    image = Image.new("L", (cell_width * len(text), cell_height), BLACK if style.invert else WHITE)
    for i, char in enumerate(text):
        image.paste(_glyph(char, style.font, style.bold, style.invert), (i * cell_width, 0))
    if style.underline:
        ink = WHITE if style.invert else BLACK
        draw = ImageDraw.Draw(image)
        for row in range(style.underline):
            draw.line([(0, cell_height - 1 - row), (image.width - 1, cell_height - 1 - row)], fill=ink)
    if style.width > 1 or style.height > 1:
        size = (image.width * style.width, image.height * style.height)
        image = image.resize(size, Image.Resampling.NEAREST)
    return image


@lru_cache(maxsize=2048)
def _glyph(char: str, font: Font, bold: bool, invert: bool) -> Image.Image:
    """One character in its cell, already thresholded to black and white."""
    cell_width, cell_height = CELL[font]
    background, ink = (BLACK, WHITE) if invert else (WHITE, BLACK)
    image = Image.new("L", (cell_width, cell_height), background)
    draw = ImageDraw.Draw(image)
    cell_font = _font(cell_width, bold)
    baseline = round(cell_height * BASELINE_FRACTION)
    if not char.isprintable():  # raqm fails on control characters; the parser never sends them
        char = " "
    glyph = char if cell_font.unicode or char.isascii() else "?"
    draw.text((0, baseline), glyph, font=cell_font.font, fill=ink, anchor="ls")
    if bold and not cell_font.weighted:
        draw.text((1, baseline), glyph, font=cell_font.font, fill=ink, anchor="ls")
    return image.point(lambda value: WHITE if value >= 128 else BLACK)


def _draw_image(page: Image.Image, block: ImageBlock, top: int) -> None:
    if not block.rows:
        return
    row_bytes = len(block.rows[0])
    bitmap = Image.frombytes("1", (row_bytes * 8, block.height), b"".join(block.rows), "raw", "1;I")
    bitmap = bitmap.crop((0, 0, block.width, block.height)).convert("L")
    page.paste(bitmap, (_left(page.width, block.width, block.align), top))


def _draw_qr(page: Image.Image, symbol: QrSymbol, top: int) -> None:
    layout = _qr_layout(symbol, page.width)
    if layout.modules is None:
        return
    size = symbol.module_size
    width = len(layout.modules) * size
    left = _left(page.width, width, symbol.align, QUIET_MODULES * size)
    top += QUIET_MODULES * size
    draw = ImageDraw.Draw(page)
    for row, modules in enumerate(layout.modules):
        for column, dark in enumerate(modules):
            if dark:
                x, y = left + column * size, top + row * size
                draw.rectangle([x, y, x + size - 1, y + size - 1], fill=BLACK)


# ---- streams and files --------------------------------------------------------------------------------


def render_receipt(receipt: PrintedReceipt, profile: PrinterProfile, cut: str) -> RenderedReceipt:
    """The text (with the note of skipped commands, if any, as its last line) and the PNG of a receipt."""
    text = with_note(render_text(receipt, profile), skipped_note(receipt))
    return RenderedReceipt(receipt, text, render_png(receipt, profile), cut)


def skipped_note(receipt: PrintedReceipt) -> str | None:
    """``[2 unknown ESC/POS commands skipped: 1b 99, 1b 74 3b]`` when the receipt's stream had commands the
    printer did not know (each shown to 8 bytes, the first 8 of them), else None. The paper shows nothing
    of them; the note is there so an integrator sees them."""
    count = len(receipt.skipped)
    if not count:
        return None
    shown_commands = [_command_hex(command) for command in receipt.skipped[:SKIPPED_SHOWN]]
    more = f" and {count - SKIPPED_SHOWN} more" if count > SKIPPED_SHOWN else ""
    noun = "command" if count == 1 else "commands"
    return f"[{count} unknown ESC/POS {noun} skipped: {', '.join(shown_commands)}{more}]"


def _command_hex(command: bytes) -> str:
    text = command[:SKIPPED_BYTES_SHOWN].hex(" ")
    return text + " ..." if len(command) > SKIPPED_BYTES_SHOWN else text


def with_note(text: str, note: str | None) -> str:
    """The receipt text with one more line at the end (no blank line added for an empty receipt)."""
    if note is None:
        return text
    return text.rstrip("\n") + ("\n" if text.strip() else "") + note + "\n"


def render_stream(data: bytes, profile: PrinterProfile) -> list[RenderedReceipt]:
    """Every receipt of a recorded stream, split at each cut, plus what is left at the end; cuts of paper
    with nothing printed on it give no receipt. A receipt the renderer fails on raises RenderError."""
    parser = EscposParser(profile)
    receipts = [
        (event.receipt, event.cut)
        for event in parser.feed(data)
        if isinstance(event, ReceiptDone) and event.receipt.has_content
    ]
    rest = parser.finish()
    if rest is not None:
        receipts.append((rest, "none"))
    rendered = []
    for number, (receipt, cut) in enumerate(receipts, start=1):
        try:
            rendered.append(render_receipt(receipt, profile, cut))
        except Exception as exc:  # a renderer bug: name the receipt, no traceback for the user
            raise RenderError(f"receipt {number}: rendering failed: {type(exc).__name__}: {exc}") from exc
    return rendered


def write_receipts(receipts: list[RenderedReceipt], out_dir: Path, first_index: int = 1) -> list[Path]:
    """Write NNNN.txt and NNNN.png per receipt, numbering on after the highest number already in out_dir."""
    out_dir.mkdir(parents=True, exist_ok=True)
    taken = [int(path.stem) for path in out_dir.iterdir() if _NUMBERED.fullmatch(path.stem)]
    index = max([first_index, *(n + 1 for n in taken)])
    written: list[Path] = []
    for receipt in receipts:
        text_path = out_dir / f"{index:04d}.txt"
        png_path = out_dir / f"{index:04d}.png"
        text_path.write_text(receipt.text, encoding="utf-8")
        png_path.write_bytes(receipt.png)
        written += [text_path, png_path]
        index += 1
    return written


def render_capture(capture: Path, out_dir: Path, profile_name: str = DEFAULT_PRINTER) -> list[Path]:
    """``register render CAPTURE.bin --out DIR [--profile NAME]``: render a recorded stream into DIR."""
    profile = load_profile(profile_name)
    try:
        data = capture.read_bytes()
    except OSError as exc:
        raise CaptureError(f"cannot read ESC/POS capture {capture}: {exc.strerror or exc}") from None
    try:
        rendered = render_stream(data, profile)
    except RenderError as exc:
        raise RenderError(f"cannot render ESC/POS capture {capture}: {exc}") from exc.__cause__
    return write_receipts(rendered, out_dir)
