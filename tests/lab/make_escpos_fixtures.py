"""Regenerate the golden ESC/POS streams in hw-fixtures/escpos/ (NAME.bin, one per printer profile).

Each stream is a short receipt (escpos.md §2.2) produced by plain python-escpos (``Dummy``) with the
model's python-escpos profile, nothing added: the code table number is the one python-escpos picks.
The NAME.txt beside each file is written by hand from what is printed here, never by this script.
Run: ``.venv/bin/python tests/lab/make_escpos_fixtures.py``.
"""

from __future__ import annotations

from pathlib import Path

from escpos.constants import QR_ECLEVEL_L, QR_ECLEVEL_M
from escpos.printer import Dummy

from register.profiles import PrinterProfile, all_profiles

FIXTURES = Path(__file__).resolve().parents[2] / "hw-fixtures" / "escpos"
QR_DATA = "t=20260115T1432&s=1234.56&fn=9999078900004312&i=42&fp=3098173039&n=1"
QR_MODULE = 6
TITLE = "ЧЕК №42"
ITEM = "Молоко 3,2% 1 л"
ITEM_AMOUNT = "2 x 89.90 = 179.80"
TOTAL_LABEL = "ИТОГО:"
TOTAL_AMOUNT = "=179.80"


def golden_stream(profile: PrinterProfile) -> bytes:
    printer = Dummy(profile=profile.escpos_profile)
    printer.hw("INIT")
    printer.set(align="center", bold=True, double_width=True, double_height=True)
    printer.charcode("CP866")  # python-escpos' own choice of number: POS-5890 gets ESC t 59 (escpos.md §2.4)
    printer.textln(TITLE)
    printer.set_with_default()
    printer.textln(ITEM)
    printer.set(align="right")
    printer.textln(ITEM_AMOUNT)
    printer.set(align="left", bold=True)
    printer.textln(TOTAL_LABEL + TOTAL_AMOUNT.rjust(profile.columns_a - len(TOTAL_LABEL)))
    printer.set(bold=False, align="center")
    if profile.native_qr:
        printer.qr(QR_DATA, native=True, size=QR_MODULE, ec=QR_ECLEVEL_M)
    else:
        printer.qr(QR_DATA, size=QR_MODULE, ec=QR_ECLEVEL_L)
    printer.cut()
    if profile.drawer:
        printer.cashdraw(2)
    return bytes(printer.output)


def main() -> None:
    FIXTURES.mkdir(parents=True, exist_ok=True)
    for profile in all_profiles():
        path = FIXTURES / f"{profile.name}.bin"
        path.write_bytes(golden_stream(profile))
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
