"""FN document cycles: begin, 07h data in whole-TLV chunks, finish (fn-protocol.md §9).

Anything that fails before the finishing command cancels the document (06h), so the FN is left with no
open document. A lost answer to the finishing command is resolved by the driver (30h/40h), never by
signing twice.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from register.domain.receipt import Operation, Receipt
from register.fiscal import fn_protocol as p
from register.fiscal.fn_driver import FnDriver
from register.fiscal.fn_errors import FnCommandError, FnLinkError, FnOutcomeUnknown
from register.fiscal.fn_protocol import CurrentDoc
from register.fiscal.receipt_tlv import build_receipt_tlv, chunk_tlv

_T = TypeVar("_T")


def cancel_open_document(fn: FnDriver) -> bool:
    """Cancel a document left open (by a crash or a lost link); True if there was one."""
    if fn.status().current_doc == CurrentDoc.NONE:
        return False
    fn.cancel_document()
    return True


def _document(fn: FnDriver, begin: Callable[[], None], tlv: bytes, finish: Callable[[], _T]) -> _T:
    chunks = chunk_tlv(tlv)
    begin()
    try:
        for chunk in chunks:
            fn.send_tlv(chunk)
        return finish()
    except FnOutcomeUnknown:
        raise
    except (FnCommandError, FnLinkError):
        # the original error says more; if this cancel fails, the next cycle cancels it
        with contextlib.suppress(FnCommandError, FnLinkError):
            cancel_open_document(fn)
        raise


def register_kkt(fn: FnDriver, request: p.RegistrationRequest, tlv: bytes, kind: int = 0) -> p.Signed:
    """Registration report (02h, 07h…, 03h): phase 1 -> 3."""
    return _document(fn, lambda: fn.begin_registration(kind), tlv, lambda: fn.make_registration(request))


def open_shift(fn: FnDriver, when: datetime, tlv: bytes) -> p.ShiftSigned:
    return _document(fn, lambda: fn.begin_open_shift(when), tlv, fn.open_shift)


def close_shift(fn: FnDriver, when: datetime, tlv: bytes) -> p.ShiftSigned:
    return _document(fn, lambda: fn.begin_close_shift(when), tlv, fn.close_shift)


def fiscalise_receipt(
    fn: FnDriver, when: datetime, operation: Operation, total: int, tlv: bytes
) -> p.ReceiptSigned:
    """A receipt (15h, 07h…, 16h). ``tlv`` is the receipt's TLV list (receipt_tlv.build_receipt_tlv)."""
    request = p.ReceiptRequest(when, int(operation), total)
    return _document(fn, lambda: fn.begin_receipt(when), tlv, lambda: fn.make_receipt(request))


def fiscalise(fn: FnDriver, receipt: Receipt) -> p.ReceiptSigned:
    """A domain receipt through the FN: its TLV built, sent and signed."""
    return fiscalise_receipt(fn, receipt.when, receipt.operation, receipt.total, build_receipt_tlv(receipt))


def state_report(fn: FnDriver, when: datetime, tlv: bytes) -> p.StateReportSigned:
    return _document(fn, lambda: fn.begin_state_report(when), tlv, fn.make_state_report)
