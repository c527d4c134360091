"""`register bench print`: receipt layout + encode, emulator parse + render, against the printer's physics."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from io import BytesIO

from escpos.printer import Dummy
from PIL import Image

from register.demo_receipts import sample_receipt
from register.domain.fiscal_stamp import FiscalStamp
from register.fiscal.qr import build_qr
from register.lab.escpos_parser import EscposParser, ReceiptDone
from register.lab.escpos_render import render_png, render_text
from register.printing.escpos_out import encode_layout
from register.printing.layout import (
    Cut,
    DrawerKick,
    Feed,
    QrCode,
    ReceiptLayout,
    Rule,
    TextLine,
    layout_receipt,
)
from register.profiles import DEFAULT_PRINTER, PrinterProfile, load_profile

PAPER_SPEED_MM_S = 250
BITS_PER_BYTE = 10  # 8N1


def _rate(fn: Callable[[], object], seconds: float) -> float:
    """Calls per second of ``fn`` over about ``seconds`` (at least 5 calls)."""
    fn()  # warm caches
    calls = 0
    started = time.perf_counter()
    while calls < 5 or time.perf_counter() - started < seconds:
        fn()
        calls += 1
    return calls / (time.perf_counter() - started)


def python_escpos_same_commands(layout: ReceiptLayout, profile: PrinterProfile) -> bytes:
    """The layout's commands issued through plain python-escpos calls on its Dummy printer (the baseline)."""
    printer = Dummy(profile=profile.escpos_profile)
    printer.hw("INIT")
    printer.charcode("CP866")
    for op in layout.ops:
        if isinstance(op, TextLine):
            printer.set(
                align=op.align.value,
                bold=op.bold,
                custom_size=op.width > 1 or op.height > 1,
                width=op.width,
                height=op.height,
                normal_textsize=op.width == op.height == 1,
            )
            printer.textln(op.text)
        elif isinstance(op, Rule):
            printer.textln(op.char * layout.columns)
        elif isinstance(op, QrCode):
            printer.set(align="center")
            printer.qr(op.data, native=profile.native_qr, size=op.module, ec=1)
        elif isinstance(op, Feed):
            printer.ln(op.lines)
        elif isinstance(op, Cut):
            printer.cut(feed=False)
        elif isinstance(op, DrawerKick):
            printer.cashdraw(2)
    return printer.output


def run_print_bench(
    *, items: int, seconds: float, profile_name: str | None, echo: Callable[[str], None]
) -> None:
    profile = load_profile(profile_name or DEFAULT_PRINTER)
    when = datetime(2026, 1, 15, 14, 32)
    receipt = sample_receipt(when, items=items)
    stamp = FiscalStamp(
        fn="9999078900004312",
        fd=42,
        fp=3098173039,
        shift=1,
        receipt_no=7,
        rnm="0000000001012345",
        qr=build_qr(when, receipt.total, "9999078900004312", 42, 3098173039, 1),
    )

    def layout_and_encode() -> bytes:
        return encode_layout(layout_receipt(receipt, stamp, profile), profile)

    data = layout_and_encode()
    layout = layout_receipt(receipt, stamp, profile)

    def parse() -> object:
        parser = EscposParser(profile)
        done = [e for e in parser.feed(data) if isinstance(e, ReceiptDone)]
        return done[0].receipt if done else parser.finish()

    printed = parse()
    png = render_png(printed, profile)  # type: ignore[arg-type]
    height_dots = Image.open(BytesIO(png)).height
    paper_mm = height_dots / profile.dots_per_mm
    paper_s = paper_mm / PAPER_SPEED_MM_S

    ours = _rate(layout_and_encode, seconds)
    baseline = _rate(lambda: python_escpos_same_commands(layout, profile), seconds)
    text_rate = _rate(lambda: render_text(parse(), profile), seconds)  # type: ignore[arg-type]
    png_rate = _rate(lambda: render_png(parse(), profile), seconds)  # type: ignore[arg-type]
    wire = {baud: len(data) * BITS_PER_BYTE / baud for baud in (115200, 38400)}
    printer_time = max(paper_s, wire[115200])

    echo(f"print benchmark: {items}-item receipt, profile {profile.name}")
    echo(f"  ({profile.dpi} dpi, {profile.paper_mm} mm paper, {profile.dots_per_line} dots per line)")
    echo(f"  bytes per receipt:               {len(data):10d}")
    echo(f"  receipt length on paper:         {paper_mm:10.1f} mm")
    echo(f"  layout + encode (ours):          {ours:10.1f} receipts/s  ({1000 / ours:.3f} ms)")
    echo(f"  python-escpos Dummy, same cmds:  {baseline:10.1f} receipts/s  ({1000 / baseline:.3f} ms)")
    echo(f"  ours / python-escpos time:       {baseline / ours:10.2f}x  (target <= 2x)")
    echo(f"  emulator parse + render text:    {text_rate:10.1f} receipts/s")
    echo(f"  emulator parse + render PNG:     {png_rate:10.1f} receipts/s")
    echo(f"  wire time at 115200 8N1:         {wire[115200] * 1000:10.1f} ms")
    echo(f"  wire time at 38400 8N1:          {wire[38400] * 1000:10.1f} ms")
    echo(f"  paper time at {PAPER_SPEED_MM_S} mm/s:         {paper_s * 1000:10.1f} ms")
    echo(f"  real printer (slower of paper and 115200 wire): {printer_time * 1000:.1f} ms per receipt")
    echo(f"  text render vs real printer:     {text_rate * printer_time:10.0f}x faster  (target >= 100x)")
    echo(f"  PNG render vs real printer:      {png_rate * printer_time:10.0f}x faster  (target >= 20x)")
