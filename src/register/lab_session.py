"""`register` with no arguments: the register on the embedded lab.

Until the TUI exists this runs what exists: it starts the lab FN emulator on a pty, connects the real FN
driver to it, fiscalises the FN on first use, opens a shift, makes a sale receipt and reads it back from
the FN's archive.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from register.config import data_dir
from register.demo_receipts import sample_receipt
from register.domain.money import format_rub
from register.fiscal import fn_documents, kkt_documents
from register.fiscal.fn_driver import FnDriver
from register.fiscal.fn_errors import FnShiftOver24h
from register.fiscal.fn_protocol import Phase
from register.fiscal.fn_reports import describe_document, describe_status
from register.fiscal.qr import build_qr
from register.fiscal.tlv_decode import format_document
from register.lab.fn_server import FnServer


def _now() -> datetime:
    return datetime.now().replace(second=0, microsecond=0)


def run_lab_demo(echo: Callable[[str], None], state_dir: Path | None = None) -> None:
    state = state_dir or data_dir() / "lab" / "fn"
    server = FnServer(state, pty=True)
    address = server.start()
    echo(f"lab FN emulator on {address} (state in {state})")
    try:
        with FnDriver.open(f"serial:{address}") as fn:
            status = fn.status()
            echo("\n".join(describe_status(status)))
            if status.phase == Phase.READY:
                echo(str(kkt_documents.register(fn, _now())))
            if not fn.status().shift_open:
                echo(str(kkt_documents.open_shift(fn, _now())))
            receipt = sample_receipt(_now(), items=4)
            try:
                signed = fn_documents.fiscalise(fn, receipt)
            except FnShiftOver24h:
                echo(str(kkt_documents.close_shift(fn, _now())))
                echo(str(kkt_documents.open_shift(fn, _now())))
                signed = fn_documents.fiscalise(fn, receipt)
            qr = build_qr(
                receipt.when, receipt.total, fn.fn_number(), signed.fd, signed.fp, receipt.operation
            )
            echo(
                f"\nreceipt {signed.receipt}: FD {signed.fd} FP {signed.fp}, "
                f"total {format_rub(receipt.total)}, change {format_rub(receipt.change)}"
            )
            echo(f"QR: {qr}")
            echo(describe_document(fn.find_document(signed.fd)))
            _form, stored = fn.document_tlv(signed.fd)
            echo(format_document(stored))
            echo(f"documents waiting for the OFD: {fn.unconfirmed_count()}")
    finally:
        server.stop()
