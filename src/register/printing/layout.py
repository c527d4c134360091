"""A receipt as a plain list of printing operations, sized for the printer's paper (ffd-receipt.md §9).

The layout knows columns, not bytes: :mod:`register.printing.escpos_out` turns it into ESC/POS. Every text
is already in its printed form (:func:`~register.printing.codepage.to_printable`), so one character is one
column and no line is wider than the paper.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from PIL import Image

from register.domain import PaymentKind, Receipt, ReceiptLine, VatRate, format_rub
from register.domain.fiscal_stamp import FiscalStamp
from register.printing.codepage import PLACEHOLDER, to_printable
from register.printing.qr_size import qr_module_size
from register.printing.sanitize import sanitize
from register.profiles import PrinterProfile

QR_EC = "M"
_LINE_BREAKS = re.compile(r"\r\n|\r|\n")
EMULATED_MARK = ("ТЕСТОВЫЙ /", "НЕ ФИСКАЛЬНЫЙ ДОКУМЕНТ")
REPEAT_MARK = "ПОВТОРНАЯ ПЕЧАТЬ (КОПИЯ)"
"""Under the title of a receipt printed again after the register stopped while printing it."""


class Align(StrEnum):
    LEFT = "left"
    CENTER = "center"
    RIGHT = "right"


@dataclass(frozen=True, slots=True)
class TextLine:
    """One printed line (no line break inside), font A, ``width`` x ``height`` character size."""

    text: str
    align: Align = Align.LEFT
    bold: bool = False
    width: int = 1
    height: int = 1


@dataclass(frozen=True, slots=True)
class Rule:
    """A full-width line of ``char``."""

    char: str = "-"


@dataclass(frozen=True, slots=True)
class QrCode:
    """A centred QR symbol, ``module`` dots per module (see :func:`qr_module_size`)."""

    data: str
    module: int
    ec: str = QR_EC


@dataclass(frozen=True, eq=False)
class RasterImage:
    """A bitmap (a logo): dark pixels print black."""

    image: Image.Image
    align: Align = Align.CENTER


@dataclass(frozen=True, slots=True)
class Feed:
    lines: int


@dataclass(frozen=True, slots=True)
class Cut:
    partial: bool = False


@dataclass(frozen=True, slots=True)
class DrawerKick:
    pin: int = 2


LayoutOp = TextLine | Rule | QrCode | RasterImage | Feed | Cut | DrawerKick


@dataclass(frozen=True)
class ReceiptLayout:
    columns: int
    """Characters per line, font A, normal width."""
    code_page: str
    """The table the texts are printable in."""
    ops: tuple[LayoutOp, ...]

    def text_lines(self) -> list[str]:
        """The printed text, one entry per line (rules drawn, QR shown as ``[QR <data>]``), for previews."""
        lines: list[str] = []
        for op in self.ops:
            if isinstance(op, TextLine):
                lines.append(op.text)
            elif isinstance(op, Rule):
                lines.append(op.char * self.columns)
            elif isinstance(op, QrCode):
                lines.append(f"[QR {op.data}]")
        return lines


@dataclass
class LayoutBuilder:
    """Collects operations for one printer, wrapping and padding text to its font-A columns."""

    profile: PrinterProfile
    ops: list[LayoutOp] = field(default_factory=list)

    @property
    def columns(self) -> int:
        return self.profile.columns_a

    def printable(self, text: str) -> str:
        return to_printable(text, self.profile)

    def line(
        self, text: str, align: Align = Align.LEFT, *, bold: bool = False, width: int = 1, height: int = 1
    ) -> None:
        """Word-wrapped text; long words are broken."""
        for chunk in _wrap(self.printable(text), self.columns // width):
            self.ops.append(TextLine(chunk, align, bold, width, height))

    def phrases(self, parts: Iterable[str], align: Align = Align.LEFT, *, bold: bool = False) -> None:
        """The parts on one line when they fit, else one (wrapped) line each: never split inside a part."""
        parts = list(parts)
        joined = " ".join(parts)
        for text in [joined] if len(self.printable(joined)) <= self.columns else parts:
            self.line(text, align, bold=bold)

    def pair(self, left: str, right: str, *, bold: bool = False, width: int = 1, height: int = 1) -> None:
        """``left`` at the left margin, ``right`` at the right one; on two lines when they do not fit."""
        room = self.columns // width
        left_lines = _wrap(self.printable(left), room) or [""]
        right_text = self.printable(right)
        last = left_lines[-1]
        if len(last) + 1 + len(right_text) <= room:
            left_lines[-1] = last + " " * (room - len(last) - len(right_text)) + right_text
            right_lines: list[str] = []
        else:
            right_lines = [chunk.rjust(room) for chunk in _wrap(right_text, room)]
        for chunk in left_lines + right_lines:
            self.ops.append(TextLine(chunk, Align.LEFT, bold, width, height))

    def rule(self, char: str = "-") -> None:
        self.ops.append(Rule(char))

    def feed(self, lines: int) -> None:
        if lines > 0:
            self.ops.append(Feed(lines))

    def qr(self, data: str) -> None:
        self.ops.append(QrCode(data, qr_module_size(data, self.profile, QR_EC), QR_EC))

    def finish(self, *, cash_paid: bool = False) -> None:
        """Feed past the blade (or the tear bar), cut if the model can, kick the drawer after cash."""
        self.feed(self.profile.feed_lines_before_cut)
        if self.profile.cutter:
            self.ops.append(Cut())
        if cash_paid and self.profile.drawer:
            self.ops.append(DrawerKick())

    def build(self) -> ReceiptLayout:
        return ReceiptLayout(self.columns, self.profile.cyrillic_code_page, tuple(self.ops))


def layout_receipt(
    receipt: Receipt,
    stamp: FiscalStamp,
    profile: PrinterProfile,
    *,
    cheque_messages: Iterable[str] = (),
    repeat: bool = False,
) -> ReceiptLayout:
    """Every printed field of ffd-receipt.md §9, then the offer texts, the cut and the drawer kick.
    ``repeat``: this receipt may have printed already (the register stopped while printing it): it says
    so under its title, so that two papers of one fiscal document are not taken for two sales."""
    out = LayoutBuilder(profile)
    _header(out, receipt, stamp, repeat=repeat)
    out.rule()
    for line in receipt.lines:
        _item(out, line)
    out.rule()
    _totals(out, receipt)
    out.rule()
    _fiscal_data(out, receipt, stamp)
    out.feed(1)
    out.qr(stamp.qr)
    out.feed(1)
    if stamp.emulated:
        out.phrases(EMULATED_MARK, Align.CENTER, bold=True)
    # Only real line breaks split a message: str.splitlines() would also split at FS, GS, RS (0x1C-0x1E).
    messages = [text for message in cheque_messages for text in _LINE_BREAKS.split(message) if sanitize(text)]
    if messages:
        out.rule()
        for text in messages:
            out.line(sanitize(text), Align.CENTER)
    out.finish(cash_paid=receipt.paid(PaymentKind.CASH) > 0)
    return out.build()


def _header(out: LayoutBuilder, receipt: Receipt, stamp: FiscalStamp, *, repeat: bool) -> None:
    seller = receipt.seller
    out.line(_clean(seller.name), Align.CENTER, bold=True)
    out.line(f"ИНН {seller.inn}", Align.CENTER)
    out.line(_clean(seller.address), Align.CENTER)
    out.line(f"МЕСТО РАСЧЕТОВ: {_clean(seller.place)}", Align.CENTER)
    out.rule()
    out.line("КАССОВЫЙ ЧЕК", Align.CENTER, bold=True, height=2)
    if repeat:
        out.line(REPEAT_MARK, Align.CENTER, bold=True)
    out.line(receipt.operation.label, Align.CENTER, bold=True)
    out.pair(f"{receipt.when:%d.%m.%Y}", f"{receipt.when:%H:%M}")
    out.pair(f"СМЕНА {stamp.shift}", f"ЧЕК {stamp.receipt_no}")


def _item(out: LayoutBuilder, line: ReceiptLine) -> None:
    out.line(_clean(line.name))
    quantity = f"{line.quantity} {line.measure.label}".rstrip()
    out.pair(f"{format_rub(line.price)} × {quantity}", f"={format_rub(line.total)}")
    if line.vat is VatRate.NO_VAT:
        out.line(line.vat.label)
    else:
        out.pair(line.vat.label, format_rub(line.vat_amount))
    out.line(line.method.label)


def _totals(out: LayoutBuilder, receipt: Receipt) -> None:
    total = f"={format_rub(receipt.total)}"
    if len("ИТОГ") + 1 + len(total) <= out.columns // 2:
        out.pair("ИТОГ", total, bold=True, width=2, height=2)
    else:
        out.pair("ИТОГ", total, bold=True, height=2)
    for rate, amount in receipt.vat_totals().items():
        out.pair(_vat_total_label(rate), format_rub(amount))
    for kind, amount in receipt.payment_totals().items():
        out.pair(kind.label, f"={format_rub(amount)}")
    if receipt.change:
        out.pair("ПОЛУЧЕНО НАЛИЧНЫМИ", f"={format_rub(receipt.paid(PaymentKind.CASH))}")
        out.pair("СДАЧА", f"={format_rub(receipt.change)}")


def _fiscal_data(out: LayoutBuilder, receipt: Receipt, stamp: FiscalStamp) -> None:
    out.pair("СНО", receipt.seller.tax_system.label)
    if receipt.cashier:
        out.pair("КАССИР", _clean(receipt.cashier))
    if receipt.customer_contact:
        out.pair("ЭЛ. АДР. ПОКУПАТЕЛЯ", _clean(receipt.customer_contact))
        if receipt.seller.sender_email:
            out.pair("ЭЛ. АДР. ОТПРАВИТЕЛЯ", _clean(receipt.seller.sender_email))
    out.pair("САЙТ ФНС", _clean(stamp.fns_site))
    out.pair("РН ККТ", _clean(stamp.rnm))
    out.pair("ФН", _clean(stamp.fn))
    out.pair("ФД", str(stamp.fd))
    out.pair("ФП", str(stamp.fp))


def _vat_total_label(rate: VatRate) -> str:
    if rate is VatRate.NO_VAT:
        return "СУММА БЕЗ НДС"
    if rate is VatRate.VAT0:
        return "СУММА С НДС 0%"
    return rate.label


def _clean(text: str) -> str:
    return sanitize(text) or PLACEHOLDER


def _wrap(text: str, width: int) -> list[str]:
    stripped = text.strip()
    if len(stripped) <= width:  # most lines: no need for textwrap
        return [stripped] if stripped else []
    return textwrap.wrap(
        text, width=max(width, 1), break_long_words=True, break_on_hyphens=False, drop_whitespace=True
    )
