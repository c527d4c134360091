"""The printer test page (``register print-test --printer URI``): Cyrillic, the table in use, a fiscal QR."""

from __future__ import annotations

from datetime import datetime

from register.fiscal.qr import build_qr
from register.printing.escpos_out import encode_layout
from register.printing.layout import Align, LayoutBuilder
from register.printing.printer_driver import DriverSettings, PrinterDriver, PrintResult
from register.profiles import PrinterProfile
from register.uri import DeviceUri

UPPER = "АБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯ"
LOWER = "абвгдеёжзийклмнопрстуфхцчшщъыьэюя"
# The emulator example of ffd-receipt.md §7 (fn-protocol.md §15).
SAMPLE_QR = build_qr(datetime(2026, 1, 15, 14, 32), 123456, "9999078900004312", 42, 3098173039, 1)


def test_page_bytes(profile: PrinterProfile) -> bytes:
    """ESC/POS bytes of the test page for this printer model."""
    page = LayoutBuilder(profile)
    page.line("ТЕСТОВАЯ СТРАНИЦА", Align.CENTER, bold=True, height=2)
    page.line(f"{profile.vendor} {profile.name}", Align.CENTER)
    page.line(f"{profile.paper_mm} мм, {profile.dpi} dpi, {profile.columns_a} символов", Align.CENTER)
    table = profile.cyrillic_code_page
    page.line(f"Таблица: {table}, ESC t {profile.table_number(table)}")
    page.rule()
    page.line(UPPER)
    page.line(LOWER)
    page.line("ЁёЙй №123")
    page.line("Знак рубля: 100 ₽")
    page.line("Кавычки «ёлка», тире – и —, і, €")
    page.line("ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789")
    page.line("ИТОГ =1234.56", bold=True, width=2, height=2)
    page.rule()
    page.line("Пример QR чека:", Align.CENTER)
    page.feed(1)
    page.qr(SAMPLE_QR)
    page.feed(1)
    page.line(SAMPLE_QR, Align.CENTER)
    page.finish()
    return encode_layout(page.build(), profile)


test_page_bytes.__test__ = False  # type: ignore[attr-defined]  # not a pytest test, whatever imports it


def print_test_page(uri: str | DeviceUri, settings: DriverSettings | None = None) -> PrintResult:
    """Print the test page on the printer at ``uri`` (its profile from the URI, the USB id or the default)."""
    with PrinterDriver.open(uri, settings=settings) as printer:
        return printer.print_bytes(test_page_bytes(printer.profile))
