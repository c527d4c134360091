"""The printed page of the ESC/POS emulator: what one receipt put on paper, as plain data.

A receipt is a sequence of blocks from top to bottom: text lines (runs of characters with their style),
bit images (1-bit bitmaps at their printed size in dots), QR symbols (the stored data and the symbol
settings, not pixels), barcodes (kept as data) and paper feeds. The parser builds it; the renderers
(``escpos_render``) turn it into text or a PNG.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Align(StrEnum):
    """Justification (``ESC a``) of a line, image or symbol."""

    LEFT = "left"
    CENTER = "center"
    RIGHT = "right"


class Font(StrEnum):
    """Character font (``ESC M``, ``ESC !`` bit 0): A is 12×24 dots, B is 9×17."""

    A = "A"
    B = "B"


class QrModel(StrEnum):
    """QR model chosen by ``GS ( k`` fn 65."""

    MODEL_1 = "model 1"
    MODEL_2 = "model 2"
    MICRO = "micro"


@dataclass(frozen=True, slots=True)
class TextStyle:
    font: Font = Font.A
    bold: bool = False
    underline: int = 0
    """0 off, 1 one-dot, 2 two-dot underline."""
    width: int = 1
    """Character width multiplier, 1–8."""
    height: int = 1
    """Character height multiplier, 1–8."""
    invert: bool = False
    """White on black (``GS B``)."""
    upside_down: bool = False
    """Upside-down printing (``ESC {``); kept, not drawn."""


PLAIN = TextStyle()


@dataclass(frozen=True, slots=True)
class TextRun:
    text: str
    style: TextStyle = PLAIN


@dataclass(frozen=True, slots=True)
class TextLine:
    """One printed line of text; an empty line (no runs) is a blank line feed."""

    runs: tuple[TextRun, ...]
    align: Align
    spacing: int
    """Line spacing in force when the line was printed, in dots (the paper advance unless the
    characters are taller)."""

    @property
    def text(self) -> str:
        return "".join(run.text for run in self.runs)


@dataclass(frozen=True, slots=True)
class ImageBlock:
    """A 1-bit bitmap at its printed size: row-major, MSB = leftmost dot, 1 = black."""

    width: int
    """Width in dots (a multiple of 8 for raster images: as sent)."""
    height: int
    """Height in dots."""
    rows: tuple[bytes, ...]
    """``height`` rows of ``ceil(width / 8)`` bytes."""
    align: Align

    def is_black(self, x: int, y: int) -> bool:
        return bool(self.rows[y][x >> 3] & (0x80 >> (x & 7)))


@dataclass(frozen=True, slots=True)
class QrSymbol:
    """A native QR code as the printer was asked to print it (``GS ( k`` fn 81)."""

    data: bytes
    """The payload stored with fn 80."""
    module_size: int
    """Dots per module, 1–16 (fn 67)."""
    ec_level: str
    """Error correction: L, M, Q or H (fn 69)."""
    model: QrModel
    align: Align

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace")


@dataclass(frozen=True, slots=True)
class BarcodeBlock:
    """A 1D barcode (``GS k``), kept as its symbology and data."""

    symbology: str
    data: bytes
    align: Align


@dataclass(frozen=True, slots=True)
class Feed:
    """Paper fed without printing, in dots (``ESC J`` on an empty line)."""

    dots: int


Block = TextLine | ImageBlock | QrSymbol | BarcodeBlock | Feed


@dataclass(frozen=True, slots=True)
class PrintedReceipt:
    """The blocks one receipt put on paper, top to bottom."""

    blocks: tuple[Block, ...] = ()
    skipped: tuple[bytes, ...] = ()
    """Commands the printer did not know (or with parameters out of range) and skipped, in stream order:
    nothing on paper shows them, the emulator's .txt notes them."""

    @property
    def text_lines(self) -> list[str]:
        """The text of each printed text line (no alignment padding, trailing spaces stripped)."""
        return [block.text.rstrip() for block in self.blocks if isinstance(block, TextLine)]

    @property
    def qr_codes(self) -> list[bytes]:
        """The payload of each QR symbol printed, in order."""
        return [block.data for block in self.blocks if isinstance(block, QrSymbol)]

    @property
    def images(self) -> list[ImageBlock]:
        return [block for block in self.blocks if isinstance(block, ImageBlock)]

    @property
    def has_content(self) -> bool:
        """True once something visible was printed: text other than spaces, an image, a code."""
        return any(_is_visible(block) for block in self.blocks)


def _is_visible(block: Block) -> bool:
    if isinstance(block, TextLine):
        return any(run.text.strip() or run.style.invert or run.style.underline for run in block.runs)
    return not isinstance(block, Feed)
