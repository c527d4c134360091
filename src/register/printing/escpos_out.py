"""A receipt layout -> the ESC/POS byte stream for one printer model, built on python-escpos' ``Dummy``.

python-escpos 3.1 is used where it emits what we need (``hw``, ``set``, native ``qr``, ``print_and_feed``,
``cashdraw``) and bypassed where escpos.md §2.4 / §2.5 lists a trap:

- its magic encoding chooses tables by itself and keeps its idea of the table across ``ESC @``; we send
  ``ESC t`` with the model's own number right after every ``ESC @`` and pre-encode the text (codepage.py);
- ``ESC !`` (its ``set(double_width=…)``) clears bold: sizes go out as ``GS !`` in the same ``set()`` as bold;
- ``cut()`` always feeds 6 lines first: the layout feeds the profile's lines, then a bare ``GS V``;
- ``image()`` prints a notice on stdout for profiles of unknown width and checks python-escpos' width, not
  ours: bitmaps are packed here as ``GS v 0`` (escpos.md §1.4), padded to the profile's dots per line.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from escpos.constants import (
    PAPER_FULL_CUT,
    PAPER_PART_CUT,
    QR_ECLEVEL_H,
    QR_ECLEVEL_L,
    QR_ECLEVEL_M,
    QR_ECLEVEL_Q,
    QR_MODEL_2,
)
from escpos.printer import Dummy
from PIL import Image

from register.domain import Receipt
from register.domain.fiscal_stamp import FiscalStamp
from register.printing.codepage import encode, to_printable
from register.printing.layout import (
    Align,
    Cut,
    DrawerKick,
    Feed,
    QrCode,
    RasterImage,
    ReceiptLayout,
    Rule,
    TextLine,
    layout_receipt,
)
from register.printing.qr_size import QUIET_ZONE_MODULES, qr_matrix
from register.profiles import PrinterProfile

ESC_T = b"\x1bt"
GS_V0 = b"\x1dv0"
MAX_RASTER_ROWS = 960  # one GS v 0 per band, as python-escpos does (printer buffers are small)
_EC = {"L": QR_ECLEVEL_L, "M": QR_ECLEVEL_M, "Q": QR_ECLEVEL_Q, "H": QR_ECLEVEL_H}


class EncodeError(ValueError):
    """A layout operation this printer cannot print (an image wider than the paper, a bad size)."""


@dataclass(frozen=True, slots=True)
class _Style:
    align: Align = Align.LEFT
    bold: bool = False
    width: int = 1
    height: int = 1


_AFTER_INIT = _Style()  # ESC @ resets alignment, emphasis and size


class _Stream:
    """One python-escpos Dummy plus what the printer's modes are, so only changes go out."""

    def __init__(self, profile: PrinterProfile) -> None:
        self.profile = profile
        self.printer = Dummy(profile=profile.escpos_profile)
        self.style = _AFTER_INIT

    def initialise(self, code_page: str) -> None:
        self.printer.hw("INIT")
        self.printer._raw(ESC_T + bytes((self.profile.table_number(code_page),)))
        self.style = _AFTER_INIT

    def set_style(self, wanted: _Style) -> None:
        changes: dict[str, object] = {}
        current = self.style
        if (wanted.bold, wanted.width, wanted.height) != (current.bold, current.width, current.height):
            changes.update(custom_size=True, width=wanted.width, height=wanted.height, bold=wanted.bold)
        if wanted.align is not current.align:
            changes["align"] = wanted.align.value
        if changes:
            self.printer.set(**changes)  # type: ignore[arg-type]
            self.style = wanted

    def align(self, align: Align) -> None:
        self.set_style(_Style(align, self.style.bold, self.style.width, self.style.height))

    def raw(self, data: bytes) -> None:
        self.printer._raw(data)


def encode_layout(layout: ReceiptLayout, profile: PrinterProfile) -> bytes:
    """``ESC @``, ``ESC t <model's number>``, then every operation of the layout."""
    stream = _Stream(profile)
    stream.initialise(layout.code_page)
    for op in layout.ops:
        _emit(stream, op, layout)
    return stream.printer.output


def encode_receipt(
    receipt: Receipt,
    stamp: FiscalStamp,
    profile: PrinterProfile,
    cheque_messages: Iterable[str] = (),
    *,
    repeat: bool = False,
) -> bytes:
    """The printable receipt for this printer: :func:`layout_receipt` then :func:`encode_layout`."""
    layout = layout_receipt(receipt, stamp, profile, cheque_messages=cheque_messages, repeat=repeat)
    return encode_layout(layout, profile)


def _emit(stream: _Stream, op: object, layout: ReceiptLayout) -> None:
    profile = stream.profile
    if isinstance(op, TextLine):
        if not 1 <= op.width <= 8 or not 1 <= op.height <= 8:
            raise EncodeError(f"text size {op.width}x{op.height} out of 1..8: {op.text!r}")
        stream.set_style(_Style(op.align, op.bold, op.width, op.height))
        stream.raw(encode(op.text, profile, layout.code_page) + b"\n")
    elif isinstance(op, Rule):
        stream.set_style(_AFTER_INIT)
        char = to_printable(op.char, profile, layout.code_page)[:1] or "-"  # "…" would print as "..."
        stream.raw(encode(char * layout.columns, profile, layout.code_page) + b"\n")
    elif isinstance(op, QrCode):
        if profile.native_qr:
            stream.align(Align.CENTER)  # python-escpos refuses center=True with native=True
            stream.printer.qr(op.data, ec=_ec(op.ec), size=op.module, model=QR_MODEL_2, native=True)
        else:
            stream.raw(qr_raster(op.data, op.module, op.ec, profile.dots_per_line))
    elif isinstance(op, RasterImage):
        stream.raw(image_raster(op.image, profile.dots_per_line, op.align))
    elif isinstance(op, Feed):
        for start in range(0, op.lines, 255):
            stream.printer.print_and_feed(min(255, op.lines - start))
    elif isinstance(op, Cut):
        if profile.cutter:
            stream.raw(PAPER_PART_CUT if op.partial else PAPER_FULL_CUT)
    elif isinstance(op, DrawerKick):
        if profile.drawer:
            stream.printer.cashdraw(op.pin)
    else:
        raise EncodeError(f"unknown layout operation {op!r}")


def _ec(level: str) -> int:
    try:
        return _EC[level]
    except KeyError:
        raise EncodeError(f"QR error-correction level must be one of L, M, Q, H, got {level!r}") from None


@lru_cache(maxsize=64)
def qr_raster(data: str, module: int, ec: str, dots_per_line: int) -> bytes:
    """A QR as ``GS v 0``: ``module`` dots per module, 4-module quiet zone, centred on the line."""
    matrix = qr_matrix(data, ec)
    side = len(matrix)
    symbol = Image.new("1", (side, side), 1)
    symbol.putdata([0 if dark else 1 for row in matrix for dark in row])
    framed = Image.new("1", (side + 2 * QUIET_ZONE_MODULES,) * 2, 1)
    framed.paste(symbol, (QUIET_ZONE_MODULES, QUIET_ZONE_MODULES))
    scaled = framed.resize((framed.width * module, framed.height * module), Image.Resampling.NEAREST)
    return image_raster(scaled, dots_per_line, Align.CENTER)


def image_raster(image: Image.Image, dots_per_line: int, align: Align = Align.CENTER) -> bytes:
    """A bitmap as ``GS v 0`` bands (1 = black, MSB leftmost), placed on a full print line."""
    if image.width > dots_per_line:
        raise EncodeError(f"image is {image.width} dots wide, the printer prints {dots_per_line}")
    bitmap = image.convert("1")  # dark pixels -> 0, light -> 1
    line_width = -(-dots_per_line // 8) * 8
    left = {
        Align.LEFT: 0,
        Align.CENTER: (dots_per_line - bitmap.width) // 2,
        Align.RIGHT: dots_per_line - bitmap.width,
    }[align]
    canvas = Image.new("1", (line_width, bitmap.height), 1)
    canvas.paste(bitmap, (left, 0))
    packed = bytes(byte ^ 0xFF for byte in canvas.tobytes())  # Pillow packs white as 1, ESC/POS black as 1
    row_bytes = line_width // 8
    bands = []
    for top in range(0, canvas.height, MAX_RASTER_ROWS):
        rows = min(MAX_RASTER_ROWS, canvas.height - top)
        header = GS_V0 + bytes((0, row_bytes & 0xFF, row_bytes >> 8, rows & 0xFF, rows >> 8))
        bands.append(header + packed[top * row_bytes : (top + rows) * row_bytes])
    return b"".join(bands)
