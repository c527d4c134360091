"""ESC/POS byte stream -> printed receipts and device events: the emulated printer's command interpreter.

``EscposParser(profile).feed(data)`` consumes bytes as they arrive (a command may be split across calls)
and returns the events the device layer acts on: a finished receipt at every cut, drawer pulses, status
queries, automatic status back settings, initialisation, and unknown commands (skipped). The subset
follows escpos.md §1 and the parser rules of §1.7; the real-time commands ``DLE EOT/ENQ/DC4`` belong to
the receive layer and are only consumed here.

Choices where the references are silent:
- one vertical motion unit is one dot, the default line spacing (``ESC 2``) is 1/6 inch;
- a line feeds by its line spacing or by its tallest character (or image band), whichever is larger;
- ``CR`` is ignored; ``ESC =`` (peripheral select) is consumed without effect;
- an image, QR symbol, barcode or cut that arrives mid-line first prints the pending line;
- ``ESC a`` mid-line does not re-align the line already started, it applies from the next line;
- ``ESC @`` discards the unprinted line and resets the QR settings and the stored QR data;
- ``ESC t n`` with a table the profile does not list keeps the current table (reported as Unknown);
- ``GS k`` form A stops at ``NUL`` or after 255 data bytes; ``ESC D`` after 32 positions;
- a profile without native QR skips only the ``GS ( k pL pH`` header and prints the rest as text, the
  junk such a printer prints (escpos.md §1.3, db#64).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

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
from register.profiles import PrinterProfile

log = logging.getLogger(__name__)

ESC, GS, FS, DLE = 0x1B, 0x1D, 0x1C, 0x10
LF, CR, HT = 0x0A, 0x0D, 0x09
DLE_EOT, DLE_ENQ, DLE_DC4 = 0x04, 0x05, 0x14

CELL = {Font.A: (12, 24), Font.B: (9, 17)}
"""Character cell (width, height) in dots."""
DEFAULT_TAB_EVERY = 8
MAX_TABS = 32
MAX_BARCODE_A_DATA = 255
QR_DEFAULT_SIZE = 3
EC_LEVELS = {48: "L", 49: "M", 50: "Q", 51: "H"}
QR_MODELS = {49: QrModel.MODEL_1, 50: QrModel.MODEL_2, 51: QrModel.MICRO}
ALIGNMENTS = {
    0: Align.LEFT,
    1: Align.CENTER,
    2: Align.RIGHT,
    48: Align.LEFT,
    49: Align.CENTER,
    50: Align.RIGHT,
}
BARCODE_A = {0: "UPC-A", 1: "UPC-E", 2: "EAN13", 3: "EAN8", 4: "CODE39", 5: "ITF", 6: "CODABAR"}
BARCODE_B = {
    65: "UPC-A",
    66: "UPC-E",
    67: "EAN13",
    68: "EAN8",
    69: "CODE39",
    70: "ITF",
    71: "CODABAR",
    72: "CODE93",
    73: "CODE128",
    74: "GS1-128",
    75: "GS1 DataBar Omnidirectional",
    76: "GS1 DataBar Truncated",
    77: "GS1 DataBar Limited",
    78: "GS1 DataBar Expanded",
    79: "CODE128 auto",
}
CUT_FULL, CUT_PARTIAL, CUT_NONE = "full", "partial", "none"
GS_V_CUTS = {0: CUT_FULL, 48: CUT_FULL, 1: CUT_PARTIAL, 49: CUT_PARTIAL}
GS_V_FEED_CUTS = {
    65: CUT_FULL,
    97: CUT_FULL,
    103: CUT_FULL,
    66: CUT_PARTIAL,
    98: CUT_PARTIAL,
    104: CUT_PARTIAL,
}
RASTER_SCALE = {0: (1, 1), 1: (2, 1), 2: (1, 2), 3: (2, 2)}
"""GS v 0 m (also 48–51) -> (x, y) scale."""
COLUMN_MODES = {0: (1, 2, 3), 1: (1, 1, 3), 32: (3, 2, 1), 33: (3, 1, 1)}
"""ESC * m -> (bytes per column, x scale, y scale): 8-dot modes print each dot 3 dots tall."""


# ---- events -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReceiptDone:
    """A cut (or ``ESC @`` after printed content, cut "none") finished a receipt."""

    receipt: PrintedReceipt
    cut: str
    """"full", "partial" or "none"."""


@dataclass(frozen=True, slots=True)
class DrawerKick:
    """``ESC p``: pulse on drawer connector pin 2 or 5."""

    pin: int
    on_ms: int
    off_ms: int


@dataclass(frozen=True, slots=True)
class StatusQuery:
    """``GS r n`` (n 1 paper, 2 drawer, …) or ``ESC v`` (as n 1): answer after the data before it."""

    n: int


@dataclass(frozen=True, slots=True)
class AutoStatusBack:
    """``GS a n``: the automatic status back mask (bit 0 drawer, 1 on/offline, 2 error, 3 paper)."""

    mask: int


@dataclass(frozen=True, slots=True)
class Initialised:
    """``ESC @``."""


@dataclass(frozen=True, slots=True)
class Unknown:
    """A command outside the emulated subset or with parameters out of range, skipped."""

    data: bytes
    offset: int
    """Stream offset of its first byte (counted over all ``feed`` calls)."""


ParserEvent = ReceiptDone | DrawerKick | StatusQuery | AutoStatusBack | Initialised | Unknown


# ---- command lengths ----------------------------------------------------------------------------------
# A length function gets the buffer and the command's offset in it and returns the command's total length
# in bytes (possibly more than the buffer holds yet), or None while the bytes it needs to know are missing.

LengthFn = Callable[[bytearray, int], int | None]
Handler = Callable[[bytes, int], None]
"""Acts on one complete command (its bytes and its stream offset)."""
CommandTable = dict[int, tuple[LengthFn, Handler | None]]


def _fixed(parameters: int) -> LengthFn:
    return lambda buf, pos: 2 + parameters


def _with_length16(buf: bytearray, pos: int) -> int | None:
    """``GS ( x pL pH …``, ``ESC ( x …``, ``FS ( x …``."""
    if pos + 5 > len(buf):
        return None
    return 5 + buf[pos + 3] + 256 * buf[pos + 4]


def _gs_8(buf: bytearray, pos: int) -> int | None:
    """``GS 8 L p1 p2 p3 p4 …``: a 4-byte length."""
    if pos + 3 > len(buf):
        return None
    if buf[pos + 2] != ord("L"):
        return 2
    if pos + 7 > len(buf):
        return None
    return 7 + int.from_bytes(buf[pos + 3 : pos + 7], "little")


def _gs_v(buf: bytearray, pos: int) -> int | None:
    """``GS v 0 m xL xH yL yH d…``."""
    if pos + 3 > len(buf):
        return None
    if buf[pos + 2] != ord("0"):
        return 2
    if pos + 8 > len(buf):
        return None
    x = buf[pos + 4] + 256 * buf[pos + 5]
    y = buf[pos + 6] + 256 * buf[pos + 7]
    return 8 + x * y


def _gs_v_cut(buf: bytearray, pos: int) -> int | None:
    if pos + 3 > len(buf):
        return None
    return 4 if buf[pos + 2] >= 65 else 3


def _gs_k(buf: bytearray, pos: int) -> int | None:
    """``GS k m``: form A data up to NUL, form B a length byte then the data."""
    if pos + 3 > len(buf):
        return None
    m = buf[pos + 2]
    if m in BARCODE_A:
        end = buf.find(0, pos + 3, pos + 3 + MAX_BARCODE_A_DATA)
        if end >= 0:
            return end - pos + 1
        if len(buf) >= pos + 3 + MAX_BARCODE_A_DATA:
            return 3 + MAX_BARCODE_A_DATA
        return None
    if m in BARCODE_B:
        if pos + 4 > len(buf):
            return None
        return 4 + buf[pos + 3]
    return 3


def _gs_star(buf: bytearray, pos: int) -> int | None:
    """``GS * x y d…``: define a downloaded bit image of x·y·8 bytes."""
    if pos + 4 > len(buf):
        return None
    return 4 + buf[pos + 2] * buf[pos + 3] * 8


def _esc_star(buf: bytearray, pos: int) -> int | None:
    """``ESC * m nL nH d…``: n columns of 1 or 3 bytes."""
    if pos + 3 > len(buf):
        return None
    mode = COLUMN_MODES.get(buf[pos + 2])
    if mode is None:
        return 3
    if pos + 5 > len(buf):
        return None
    return 5 + mode[0] * (buf[pos + 3] + 256 * buf[pos + 4])


def _esc_d_tabs(buf: bytearray, pos: int) -> int | None:
    """``ESC D n1 … nk NUL``: at most 32 positions; more data is normal data."""
    end = buf.find(0, pos + 2, pos + 2 + MAX_TABS + 1)
    if end >= 0:
        return end - pos + 1
    if len(buf) >= pos + 2 + MAX_TABS + 1:
        return 2 + MAX_TABS
    return None


def _esc_ampersand(buf: bytearray, pos: int) -> int | None:
    """``ESC & y c1 c2 [x d1…d(y·x)]…``: user-defined characters c1..c2."""
    if pos + 5 > len(buf):
        return None
    y, first, last = buf[pos + 2], buf[pos + 3], buf[pos + 4]
    end = pos + 5
    for _ in range(first, last + 1):
        if end >= len(buf):
            return None
        end += 1 + y * buf[end]
    return end - pos


def _fs_q(buf: bytearray, pos: int) -> int | None:
    """``FS q n [xL xH yL yH d…]…``: define NV bit images."""
    if pos + 3 > len(buf):
        return None
    end = pos + 3
    for _ in range(buf[pos + 2]):
        if end + 4 > len(buf):
            return None
        x = buf[end] + 256 * buf[end + 1]
        y = buf[end + 2] + 256 * buf[end + 3]
        end += 4 + x * y * 8
    return end - pos


_UNKNOWN_COMMAND: tuple[LengthFn, Handler | None] = (_fixed(0), None)
"""Not an ESC/POS command: skip the prefix and the next byte."""


# ---- bitmaps ------------------------------------------------------------------------------------------


def _double_bits(byte: int) -> bytes:
    wide = 0
    for bit in range(8):
        if byte & (0x80 >> bit):
            wide |= 0xC000 >> (2 * bit)
    return wide.to_bytes(2, "big")


_DOUBLED = tuple(_double_bits(b) for b in range(256))


def _scaled(rows: list[bytes], x_scale: int, y_scale: int) -> list[bytes]:
    if x_scale == 2:
        rows = [b"".join(_DOUBLED[b] for b in row) for row in rows]
    return [row for row in rows for _ in range(y_scale)]


def _columns_to_rows(data: bytes, columns: int, bytes_per_column: int) -> list[bytes]:
    """ESC * column data (each column top-down, MSB = top) -> row-major rows (MSB = left)."""
    width_bytes = (columns + 7) // 8
    rows = [bytearray(width_bytes) for _ in range(8 * bytes_per_column)]
    for column in range(columns):
        mask = 0x80 >> (column & 7)
        for k in range(bytes_per_column):
            byte = data[column * bytes_per_column + k]
            if not byte:
                continue
            for bit in range(8):
                if byte & (0x80 >> bit):
                    rows[8 * k + bit][column >> 3] |= mask
    return [bytes(row) for row in rows]


def _or_rows(target: list[bytearray], rows: list[bytes], top: int) -> None:
    for offset, row in enumerate(rows):
        line = target[top + offset]
        for i, byte in enumerate(row):
            line[i] |= byte


# ---- the parser ---------------------------------------------------------------------------------------


@dataclass
class _Band:
    """``ESC *`` data waiting in the line buffer for the line feed that prints it."""

    width: int
    rows: list[bytearray]


@dataclass
class _Graphics:
    """``GS ( L`` fn 112 data waiting for fn 50."""

    width: int
    rows: list[bytes]


@dataclass
class _ColumnImage:
    """The column image being built from consecutive ``ESC *`` lines: the block index and next band top."""

    index: int
    next_top: int


class EscposParser:
    """The emulated printer's interpreter for one profile; keeps its modes across ``feed`` calls."""

    def __init__(self, profile: PrinterProfile) -> None:
        self.profile = profile
        self._pending = bytearray()
        self._offset = 0
        self._events: list[ParserEvent] = []
        self._blocks: list[Block] = []
        self._skipped: list[bytes] = []
        self._column_image: _ColumnImage | None = None
        self._default_spacing = round(profile.dpi / 6)
        self._power_on_codec = profile.codec(profile.power_on_code_page)
        self._tables: dict[int, CommandTable] = {
            ESC: self._esc_table(),
            GS: self._gs_table(),
            FS: self._fs_table(),
        }
        self._reset_modes()
        self._clear_line()

    # ---- public API

    def feed(self, data: bytes) -> list[ParserEvent]:
        """Consume bytes; an incomplete command at the end waits for the next call."""
        buf = self._pending
        buf += data
        pos = 0
        while pos < len(buf):
            used = self._step(buf, pos)
            if used == 0:
                break
            pos += used
        del buf[:pos]
        self._offset += pos
        events, self._events = self._events, []
        return events

    def progress(self) -> tuple[int, bool]:
        """How far this receipt has got on paper: blocks printed, and whether a line is being filled. It
        changes exactly when the bytes fed put something on paper (text, a feed, an image, a code)."""
        return len(self._blocks), self._line_started()

    def finish(self) -> PrintedReceipt | None:
        """The receipt in progress if it printed something (connection closed or idle); the next starts
        empty. An unprinted line stays in the buffer, as on a printer."""
        receipt = self._receipt()
        if not receipt.has_content:
            return None
        self._new_receipt()
        return receipt

    # ---- dispatch

    def _step(self, buf: bytearray, pos: int) -> int:
        """Handle the item at pos; return the bytes consumed, 0 when more bytes are needed."""
        byte = buf[pos]
        if byte >= 0x20:
            end = pos + 1
            while end < len(buf) and buf[end] >= 0x20:
                end += 1
            self._add_text(bytes(buf[pos:end]))
            return end - pos
        if byte in (ESC, GS, FS):
            return self._command(buf, pos)
        if byte == DLE:
            return self._real_time(buf, pos)
        if byte == LF:
            self._print_line(self._spacing)
        elif byte == HT:
            self._tab()
        return 1

    def _command(self, buf: bytearray, pos: int) -> int:
        if pos + 2 > len(buf):
            return 0
        length_fn, handler = self._tables[buf[pos]].get(buf[pos + 1], _UNKNOWN_COMMAND)
        length = length_fn(buf, pos)
        if length is None or pos + length > len(buf):
            return 0
        command = bytes(buf[pos : pos + length])
        offset = self._offset + pos
        if handler is None:
            self._unknown(command, offset)
        else:
            handler(command, offset)
        return length

    def _real_time(self, buf: bytearray, pos: int) -> int:
        """DLE EOT n / DLE ENQ n / DLE DC4 fn m t reach here only if the receive layer let them through."""
        if pos + 2 > len(buf):
            return 0
        length = {DLE_EOT: 3, DLE_ENQ: 3, DLE_DC4: 5}.get(buf[pos + 1], 1)
        if pos + length > len(buf):
            return 0
        return length

    def _unknown(self, command: bytes, offset: int) -> None:
        log.debug("ESC/POS: skipped %s at offset %d", command[:16].hex(" "), offset)
        self._events.append(Unknown(command, offset))
        self._skipped.append(command)

    def _esc_table(self) -> CommandTable:
        handled: dict[str, tuple[LengthFn, Handler]] = {
            "@": (_fixed(0), self._initialise),
            "t": (_fixed(1), self._code_table),
            "a": (_fixed(1), self._justify),
            "E": (_fixed(1), self._bold),
            "-": (_fixed(1), self._underline),
            "M": (_fixed(1), self._font),
            "!": (_fixed(1), self._print_mode),
            "d": (_fixed(1), self._feed_lines),
            "J": (_fixed(1), self._feed_dots),
            "2": (_fixed(0), self._default_line_spacing),
            "3": (_fixed(1), self._line_spacing),
            "{": (_fixed(1), self._upside_down),
            "r": (_fixed(1), self._ignore),
            "=": (_fixed(1), self._ignore),
            "D": (_esc_d_tabs, self._tabs),
            "c": (_fixed(2), self._panel_keys),
            "B": (_fixed(2), self._ignore),
            "p": (_fixed(3), self._drawer),
            "i": (_fixed(0), lambda command, offset: self._cut(CUT_FULL)),
            "m": (_fixed(0), lambda command, offset: self._cut(CUT_PARTIAL)),
            "*": (_esc_star, self._column_image_band),
            "v": (_fixed(0), lambda command, offset: self._events.append(StatusQuery(1))),
        }
        known_unsupported = {
            " ": _fixed(1),
            "$": _fixed(2),
            "\\": _fixed(2),
            "%": _fixed(1),
            "&": _esc_ampersand,
            "?": _fixed(1),
            "G": _fixed(1),
            "R": _fixed(1),
            "U": _fixed(1),
            "V": _fixed(1),
            "T": _fixed(1),
            "L": _fixed(0),
            "S": _fixed(0),
            "W": _fixed(8),
            "\x0c": _fixed(0),
            "<": _fixed(0),
            "e": _fixed(1),
            "u": _fixed(1),
            "(": _with_length16,
        }
        return _table(handled, known_unsupported)

    def _gs_table(self) -> CommandTable:
        handled: dict[str, tuple[LengthFn, Handler]] = {
            "!": (_fixed(1), self._size),
            "B": (_fixed(1), self._invert),
            "V": (_gs_v_cut, self._gs_cut),
            "v": (_gs_v, self._raster),
            "(": (self._gs_parenthesis_length, self._gs_parenthesis),
            "8": (_gs_8, self._gs_8_graphics),
            "k": (_gs_k, self._barcode),
            "r": (_fixed(1), self._status_query),
            "a": (_fixed(1), lambda command, offset: self._events.append(AutoStatusBack(command[2]))),
            "b": (_fixed(1), self._ignore),
            "|": (_fixed(1), self._ignore),
            "H": (_fixed(1), self._ignore),
            "f": (_fixed(1), self._ignore),
            "h": (_fixed(1), self._ignore),
            "w": (_fixed(1), self._ignore),
        }
        known_unsupported = {
            "L": _fixed(2),
            "W": _fixed(2),
            "P": _fixed(2),
            "$": _fixed(2),
            "\\": _fixed(2),
            "T": _fixed(1),
            ":": _fixed(0),
            "^": _fixed(3),
            "I": _fixed(1),
            "E": _fixed(1),
            "/": _fixed(1),
            "*": _gs_star,
            "j": _fixed(1),
        }
        return _table(handled, known_unsupported)

    def _fs_table(self) -> CommandTable:
        known_unsupported = {
            "p": _fixed(2),
            "!": _fixed(1),
            "&": _fixed(0),
            ".": _fixed(0),
            "-": _fixed(1),
            "S": _fixed(2),
            "W": _fixed(1),
            "C": _fixed(1),
            "(": _with_length16,
            "q": _fs_q,
        }
        return _table({}, known_unsupported)

    # ---- modes

    def _reset_modes(self) -> None:
        self._style = TextStyle()
        self._align = Align.LEFT
        self._spacing = self._default_spacing
        self._codec = self._power_on_codec
        self._tab_stops: tuple[int, ...] = tuple(DEFAULT_TAB_EVERY * i for i in range(1, MAX_TABS + 1))
        self._qr_model = QrModel.MODEL_2
        self._qr_size = QR_DEFAULT_SIZE
        self._qr_ec = "L"
        self._qr_data = b""
        self._graphics: _Graphics | None = None

    def _set_style(self, **changes: Any) -> None:
        self._style = replace(self._style, **changes)

    def _ignore(self, command: bytes, offset: int) -> None:
        """Consumed without effect on the printed page (colour, smoothing, density, buzzer, barcode setup)."""

    def _initialise(self, command: bytes, offset: int) -> None:
        self._clear_line()
        receipt = self._receipt()
        if receipt.has_content:
            self._events.append(ReceiptDone(receipt, CUT_NONE))
            self._new_receipt()
        self._reset_modes()
        self._events.append(Initialised())

    def _code_table(self, command: bytes, offset: int) -> None:
        name = self.profile.code_page_of(command[2])
        if name is None:
            self._unknown(command, offset)
            return
        self._codec = self.profile.codec(name)

    def _justify(self, command: bytes, offset: int) -> None:
        align = ALIGNMENTS.get(command[2])
        if align is None:
            self._unknown(command, offset)
            return
        self._align = align

    def _bold(self, command: bytes, offset: int) -> None:
        self._set_style(bold=bool(command[2] & 1))

    def _underline(self, command: bytes, offset: int) -> None:
        n = command[2]
        if n not in (0, 1, 2, 48, 49, 50):
            self._unknown(command, offset)
            return
        self._set_style(underline=n & 0x0F)

    def _font(self, command: bytes, offset: int) -> None:
        n = command[2]
        if n not in (0, 1, 48, 49):
            self._unknown(command, offset)
            return
        self._set_style(font=Font.B if n & 1 else Font.A)

    def _print_mode(self, command: bytes, offset: int) -> None:
        n = command[2]
        self._set_style(
            font=Font.B if n & 0x01 else Font.A,
            bold=bool(n & 0x08),
            height=2 if n & 0x10 else 1,
            width=2 if n & 0x20 else 1,
            underline=1 if n & 0x80 else 0,
        )

    def _size(self, command: bytes, offset: int) -> None:
        width, height = (command[2] >> 4) + 1, (command[2] & 0x0F) + 1
        if width > 8 or height > 8:
            self._unknown(command, offset)
            return
        self._set_style(width=width, height=height)

    def _invert(self, command: bytes, offset: int) -> None:
        self._set_style(invert=bool(command[2] & 1))

    def _upside_down(self, command: bytes, offset: int) -> None:
        self._set_style(upside_down=bool(command[2] & 1))

    def _default_line_spacing(self, command: bytes, offset: int) -> None:
        self._spacing = self._default_spacing

    def _line_spacing(self, command: bytes, offset: int) -> None:
        self._spacing = command[2]

    def _tabs(self, command: bytes, offset: int) -> None:
        stops: list[int] = []
        for n in command[2:]:
            if n == 0 or (stops and n <= stops[-1]):
                break
            stops.append(n)
        self._tab_stops = tuple(stops)

    def _panel_keys(self, command: bytes, offset: int) -> None:
        if command[2] != ord("5"):
            self._unknown(command, offset)

    def _status_query(self, command: bytes, offset: int) -> None:
        n = command[2]
        if n not in (1, 2, 3, 4, 49, 50, 51, 52):
            self._unknown(command, offset)
            return
        self._events.append(StatusQuery(n & 0x0F))

    def _drawer(self, command: bytes, offset: int) -> None:
        pin = {0: 2, 48: 2, 1: 5, 49: 5}.get(command[2])
        if pin is None:
            self._unknown(command, offset)
            return
        self._events.append(DrawerKick(pin, command[3] * 2, command[4] * 2))

    # ---- the line buffer

    def _clear_line(self) -> None:
        self._runs: list[TextRun] = []
        self._band: _Band | None = None
        self._x = 0
        self._line_align: Align | None = None

    def _line_started(self) -> bool:
        return bool(self._runs) or self._band is not None

    def _add_text(self, raw: bytes) -> None:
        if self._band is not None:
            self._print_line(self._spacing)
        for char in raw.decode(self._codec, errors="replace"):
            self._add_char(char if char.isprintable() else " ")

    def _add_char(self, char: str) -> None:
        width = CELL[self._style.font][0] * self._style.width
        if self._runs and self._x + width > self.profile.dots_per_line:
            self._print_line(self._spacing)
        if self._line_align is None:
            self._line_align = self._align
        if self._runs and self._runs[-1].style == self._style:
            self._runs[-1] = TextRun(self._runs[-1].text + char, self._style)
        else:
            self._runs.append(TextRun(char, self._style))
        self._x += width

    def _tab(self) -> None:
        cell = CELL[self._style.font][0] * self._style.width
        target = next((stop * cell for stop in self._tab_stops if stop * cell > self._x), None)
        if target is None or target > self.profile.dots_per_line or self._band is not None:
            return
        while self._x < target:
            self._add_char(" ")

    def _print_line(self, spacing: int) -> None:
        """Print the line buffer (empty: a blank line) and feed by ``spacing`` dots."""
        align = self._line_align or self._align
        if self._band is not None:
            self._print_band(self._band, align, spacing)
        else:
            self._column_image = None
            self._blocks.append(TextLine(tuple(self._runs), align, spacing))
        self._clear_line()

    def _print_band(self, band: _Band, align: Align, spacing: int) -> None:
        """Append an ESC * line to the image built from the lines just before it, or start one."""
        height = len(band.rows)
        advance = max(spacing, height)
        current = self._column_image
        previous = self._blocks[current.index] if current is not None else None
        if (
            current is None
            or not isinstance(previous, ImageBlock)
            or previous.width != band.width
            or previous.align != align
        ):
            self._blocks.append(ImageBlock(band.width, height, tuple(bytes(r) for r in band.rows), align))
            self._column_image = _ColumnImage(len(self._blocks) - 1, advance)
            return
        top = current.next_top
        new_height = max(previous.height, top + height)
        rows = [bytearray(row) for row in previous.rows]
        rows += [bytearray(len(band.rows[0])) for _ in range(new_height - len(rows))]
        _or_rows(rows, [bytes(r) for r in band.rows], top)
        self._blocks[current.index] = ImageBlock(band.width, new_height, tuple(bytes(r) for r in rows), align)
        self._column_image = _ColumnImage(current.index, top + advance)

    def _flush_line(self) -> None:
        """Images, codes and cuts start on a new line: print what is pending first."""
        if self._line_started():
            self._print_line(self._spacing)

    def _add_block(self, block: Block) -> None:
        self._flush_line()
        self._column_image = None
        self._blocks.append(block)

    def _new_receipt(self, *, keep_skipped: bool = False) -> None:
        """Start the next receipt; commands skipped before a cut of blank paper go with the next one."""
        self._blocks = []
        self._column_image = None
        if not keep_skipped:
            self._skipped = []

    def _receipt(self) -> PrintedReceipt:
        return PrintedReceipt(tuple(self._blocks), tuple(self._skipped))

    # ---- feeds and cuts

    def _feed_lines(self, command: bytes, offset: int) -> None:
        lines = command[2]
        if lines == 0:
            if self._line_started():
                self._print_line(0)
            return
        for _ in range(lines):
            self._print_line(self._spacing)

    def _feed_dots(self, command: bytes, offset: int) -> None:
        dots = command[2]
        if self._line_started():
            self._print_line(dots)
        elif dots:
            self._column_image = None
            self._blocks.append(Feed(dots))

    def _gs_cut(self, command: bytes, offset: int) -> None:
        m = command[2]
        cut = GS_V_CUTS.get(m) if len(command) == 3 else GS_V_FEED_CUTS.get(m)
        if cut is None:
            self._unknown(command, offset)
            return
        self._cut(cut)

    def _cut(self, cut: str) -> None:
        self._flush_line()
        receipt = self._receipt()
        self._events.append(ReceiptDone(receipt, cut))
        self._new_receipt(keep_skipped=not receipt.has_content)

    # ---- images

    def _raster(self, command: bytes, offset: int) -> None:
        if len(command) == 2:
            self._unknown(command, offset)
            return
        scale = RASTER_SCALE.get(command[3] - 48 if command[3] >= 48 else command[3])
        width_bytes = command[4] + 256 * command[5]
        height = command[6] + 256 * command[7]
        if scale is None or width_bytes == 0 or height == 0:
            self._unknown(command, offset)
            return
        data = command[8:]
        rows = [data[i * width_bytes : (i + 1) * width_bytes] for i in range(height)]
        self._add_image(rows, 8 * width_bytes, *scale)

    def _add_image(self, rows: list[bytes], width: int, x_scale: int, y_scale: int) -> None:
        scaled = _scaled(rows, x_scale, y_scale)
        self._add_block(ImageBlock(width * x_scale, len(scaled), tuple(scaled), self._align))

    def _column_image_band(self, command: bytes, offset: int) -> None:
        mode = COLUMN_MODES.get(command[2])
        if mode is None:
            self._unknown(command, offset)
            return
        bytes_per_column, x_scale, y_scale = mode
        columns = command[3] + 256 * command[4]
        if columns == 0:
            return
        rows = _scaled(_columns_to_rows(command[5:], columns, bytes_per_column), x_scale, y_scale)
        width = columns * x_scale
        if self._runs:
            self._print_line(self._spacing)
        if self._band is None:
            self._line_align = self._line_align or self._align
            self._band = _Band(0, [bytearray() for _ in rows])
        self._append_to_band(self._band, rows, width)

    def _append_to_band(self, band: _Band, rows: list[bytes], width: int) -> None:
        """Place a band segment at the band's current end; the band is padded to whole bytes."""
        left = band.width
        new_width = left + width
        width_bytes = (new_width + 7) // 8
        for row, segment in zip(band.rows, rows, strict=True):
            row.extend(bytes(width_bytes - len(row)))
            if left % 8 == 0:
                for i in range((width + 7) // 8):
                    row[(left >> 3) + i] |= segment[i]
                continue
            for x in range(width):
                if segment[x >> 3] & (0x80 >> (x & 7)):
                    row[(left + x) >> 3] |= 0x80 >> ((left + x) & 7)
        band.width = new_width

    def _gs_parenthesis_length(self, buf: bytearray, pos: int) -> int | None:
        """A model without native QR does not know ``GS ( k``: it skips the header and prints the rest
        as text (db#64: "1A2", "1P0…")."""
        if not self.profile.native_qr and pos + 3 <= len(buf) and buf[pos + 2] == ord("k"):
            return 5
        return _with_length16(buf, pos)

    def _gs_parenthesis(self, command: bytes, offset: int) -> None:
        kind = command[2]
        if len(command) == 5 and kind == ord("k") and not self.profile.native_qr:
            self._unknown(command, offset)
            return
        payload = command[5:]
        if kind == ord("k"):
            self._two_d_code(payload, command, offset)
        elif kind == ord("L"):
            self._graphics_function(payload, command, offset)
        else:
            self._unknown(command, offset)

    def _gs_8_graphics(self, command: bytes, offset: int) -> None:
        if len(command) == 2:
            self._unknown(command, offset)
            return
        self._graphics_function(command[7:], command, offset)

    def _graphics_function(self, payload: bytes, command: bytes, offset: int) -> None:
        """``GS ( L`` / ``GS 8 L``: fn 112 stores a graphic, fn 50 prints it."""
        if len(payload) < 2:
            self._unknown(command, offset)
            return
        function = payload[1]
        if function in (50, 2):
            if self._graphics is not None:
                graphics, self._graphics = self._graphics, None
                self._add_image(graphics.rows, graphics.width, 1, 1)
            return
        if function != 112 or len(payload) < 10:
            self._unknown(command, offset)
            return
        tone, x_scale, y_scale, colour = payload[2], payload[3], payload[4], payload[5]
        width = payload[6] + 256 * payload[7]
        height = payload[8] + 256 * payload[9]
        if tone != 48 or x_scale not in (1, 2) or y_scale not in (1, 2) or not 49 <= colour <= 52:
            self._unknown(command, offset)
            return
        if colour != 49 or width == 0 or height == 0:
            return
        width_bytes = (width + 7) // 8
        data = payload[10:]
        sent_rows = min(height, -(-len(data) // width_bytes))  # a wrapped length leaves rows unsent
        rows = [
            data[i * width_bytes : (i + 1) * width_bytes].ljust(width_bytes, b"\x00")
            for i in range(sent_rows)
        ]
        if not rows:
            return
        self._graphics = _Graphics(8 * width_bytes * x_scale, _scaled(rows, x_scale, y_scale))

    # ---- codes

    def _two_d_code(self, payload: bytes, command: bytes, offset: int) -> None:
        """``GS ( k`` with cn 49 (QR): fn 65 model, 67 module size, 69 EC level, 80 store, 81 print."""
        if len(payload) < 3 or payload[0] != 49:
            self._unknown(command, offset)
            return
        function, value = payload[1], payload[2]
        if function == 65 and value in QR_MODELS:
            self._qr_model = QR_MODELS[value]
        elif function == 67 and 1 <= value <= 16:
            self._qr_size = value
        elif function == 69 and value in EC_LEVELS:
            self._qr_ec = EC_LEVELS[value]
        elif function == 80 and value == 48:
            self._qr_data = payload[3:]
        elif function == 81 and value == 48:
            if self._qr_data:
                symbol = QrSymbol(self._qr_data, self._qr_size, self._qr_ec, self._qr_model, self._align)
                self._add_block(symbol)
        elif function != 82:
            self._unknown(command, offset)

    def _barcode(self, command: bytes, offset: int) -> None:
        m = command[2]
        if m in BARCODE_A:
            data = command[3:-1] if command.endswith(b"\x00") else command[3:]
            self._add_block(BarcodeBlock(BARCODE_A[m], data, self._align))
        elif m in BARCODE_B:
            self._add_block(BarcodeBlock(BARCODE_B[m], command[4:], self._align))
        else:
            self._unknown(command, offset)


def _table(
    handled: dict[str, tuple[LengthFn, Handler]], known_unsupported: dict[str, LengthFn]
) -> CommandTable:
    """Commands by their second byte; those known but outside the subset have no handler (Unknown)."""
    table: CommandTable = {ord(name): (length, None) for name, length in known_unsupported.items()}
    table.update({ord(name): entry for name, entry in handled.items()})
    return table
