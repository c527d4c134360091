"""How big to print the receipt QR: symbol >= 20 x 20 mm (ffd-receipt.md §7), within the paper width.

The symbol is byte-mode QR model 2 at the smallest version that holds the data at the chosen error
correction level, which is what a printer's ``GS ( k`` picks for such data and what the raster fallback draws.
Module sizes are whole dots; the printer adds no quiet zone, so 4 modules each side must fit as well.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import qrcode
import qrcode.constants
import qrcode.exceptions
import qrcode.util

from register.profiles import PrinterProfile

MIN_SYMBOL_MM = 20
QUIET_ZONE_MODULES = 4
MAX_NATIVE_MODULE = 16  # GS ( k fn 67: module size 1-16 dots (escpos.md §1.3)
EC_LEVELS = {
    "L": qrcode.constants.ERROR_CORRECT_L,
    "M": qrcode.constants.ERROR_CORRECT_M,
    "Q": qrcode.constants.ERROR_CORRECT_Q,
    "H": qrcode.constants.ERROR_CORRECT_H,
}


class QrSizeError(ValueError):
    """A QR that cannot be printed at >= 20 mm on this printer (or bad QR parameters)."""


@dataclass(frozen=True, slots=True)
class QrSymbol:
    version: int
    """QR version 1-40."""
    modules: int
    """Modules per side, quiet zone excluded: 17 + 4 x version."""


def qr_symbol(data: str, ec: str = "M") -> QrSymbol:
    """The version a byte-mode QR of ``data`` needs at error-correction level ``ec`` (L, M, Q, H)."""
    return _symbol(data, _ec_constant(ec))


def qr_matrix(data: str, ec: str = "M") -> tuple[tuple[bool, ...], ...]:
    """The symbol's modules (True = dark), quiet zone excluded, rows top to bottom."""
    return _matrix(data, _ec_constant(ec))


def qr_module_size(data: str, profile: PrinterProfile, ec: str = "M") -> int:
    """Smallest module size in dots giving a symbol of >= 20 mm at the profile's dpi.

    Raises QrSizeError when that symbol plus a 4-module quiet zone each side is wider than the print line.
    """
    symbol = qr_symbol(data, ec)
    # modules x module / (dpi / 25.4) >= 20 mm  <=>  module >= 200 x dpi / (254 x modules), rounded up:
    module = -(-MIN_SYMBOL_MM * 10 * profile.dpi // (254 * symbol.modules))
    width = (symbol.modules + 2 * QUIET_ZONE_MODULES) * module
    if width > profile.dots_per_line or module > MAX_NATIVE_MODULE:
        raise QrSizeError(
            f"QR of {len(data)} characters (version {symbol.version}, {symbol.modules} modules, EC {ec}) "
            f"needs {module} dots per module for {MIN_SYMBOL_MM} mm at {profile.dpi} dpi: "
            f"{width} dots with the quiet zone, but printer {profile.name} prints {profile.dots_per_line}"
        )
    return module


def _ec_constant(ec: str) -> int:
    try:
        return EC_LEVELS[ec]
    except KeyError:
        raise QrSizeError(f"QR error-correction level must be one of L, M, Q, H, got {ec!r}") from None


@lru_cache(maxsize=256)
def _symbol(data: str, ec_constant: int) -> QrSymbol:
    # The version alone: drawing the symbol (choosing its mask among eight) cost 13 ms a receipt.
    version = _fitted(data, ec_constant, draw=False).version
    return QrSymbol(version, 17 + 4 * version)


@lru_cache(maxsize=256)
def _matrix(data: str, ec_constant: int) -> tuple[tuple[bool, ...], ...]:
    return tuple(tuple(row) for row in _fitted(data, ec_constant, draw=True).get_matrix())


def _fitted(data: str, ec_constant: int, *, draw: bool) -> qrcode.QRCode:
    if not data:
        raise QrSizeError("QR data is empty")
    code = qrcode.QRCode(error_correction=ec_constant, border=0)
    code.add_data(qrcode.util.QRData(data.encode("utf-8"), mode=qrcode.util.MODE_8BIT_BYTE))
    try:
        if draw:
            code.make(fit=True)
        else:
            code.best_fit()
    except qrcode.exceptions.DataOverflowError:
        raise QrSizeError(f"QR data of {len(data)} characters does not fit any QR version") from None
    return code
