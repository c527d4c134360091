"""FN document cycles: begin, 07h data in whole-TLV chunks, finish (fn-protocol.md §9).

Anything that fails before the finishing command leaves the FN with no open document: a begin whose
answer is lost (the FN may have opened the document) is checked with 30h and the document it opened is
cancelled (06h); a failure after the begin cancels the document. A lost answer to 07h (data) cancels the
document and makes the whole cycle once more. A begin the FN refused opened nothing
and cancels nothing. A lost answer to the finishing command is resolved by the driver (30h/40h), never by
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

_REGISTRATION_KINDS = {
    0: CurrentDoc.REGISTRATION,
    1: CurrentDoc.REREGISTRATION_NEW_FN,
    2: CurrentDoc.REREGISTRATION,
}


def cancel_open_document(fn: FnDriver, kinds: frozenset[int] | None = None) -> bool:
    """Cancel a document left open (by a crash or a lost link); True if there was one.

    ``kinds``: cancel only a document of these kinds (the ones a begin command of this cycle opens).
    """
    current = fn.status().current_doc
    if current == CurrentDoc.NONE or (kinds is not None and current not in kinds):
        return False
    fn.cancel_document()
    return True


def _document(
    fn: FnDriver, begin: Callable[[], None], opens: frozenset[int], tlv: bytes, finish: Callable[[], _T]
) -> _T:
    """One cycle; ``opens`` are the document kinds (30h offset 1) that ``begin`` opens.

    A link failure while the data goes out (a lost 07h answer: did the FN take that block or not?) cancels
    the document and runs the whole cycle once more: nothing was signed, and a cycle made again from the
    start is the only way to be sure the signed document has all its data exactly once.
    """
    try:
        return _cycle(fn, begin, opens, tlv, finish)
    except _DataLinkLost as lost:
        if not lost.cancelled:
            raise lost.error from None
    try:
        return _cycle(fn, begin, opens, tlv, finish)
    except _DataLinkLost as lost:
        raise lost.error from None


class _DataLinkLost(Exception):
    def __init__(self, error: FnLinkError, cancelled: bool) -> None:
        self.error = error
        self.cancelled = cancelled


def _cycle(
    fn: FnDriver, begin: Callable[[], None], opens: frozenset[int], tlv: bytes, finish: Callable[[], _T]
) -> _T:
    chunks = chunk_tlv(tlv)
    try:
        begin()
    except FnLinkError:
        # no usable answer to the begin command: the FN may have opened the document all the same
        with contextlib.suppress(FnCommandError, FnLinkError):
            cancel_open_document(fn, opens)
        raise
    try:
        for chunk in chunks:
            fn.send_tlv(chunk)
    except FnLinkError as exc:
        cancelled = False
        with contextlib.suppress(FnCommandError, FnLinkError):
            cancel_open_document(fn, opens)
            cancelled = fn.status().current_doc == CurrentDoc.NONE
        raise _DataLinkLost(exc, cancelled) from exc
    except FnCommandError:
        with contextlib.suppress(FnCommandError, FnLinkError):
            cancel_open_document(fn)
        raise
    try:
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
    opens = frozenset({_REGISTRATION_KINDS.get(kind, CurrentDoc.REGISTRATION)})
    return _document(
        fn, lambda: fn.begin_registration(kind), opens, tlv, lambda: fn.make_registration(request)
    )


def open_shift(fn: FnDriver, when: datetime, tlv: bytes) -> p.ShiftSigned:
    return _document(
        fn, lambda: fn.begin_open_shift(when), frozenset({CurrentDoc.SHIFT_OPEN}), tlv, fn.open_shift
    )


def close_shift(fn: FnDriver, when: datetime, tlv: bytes) -> p.ShiftSigned:
    return _document(
        fn, lambda: fn.begin_close_shift(when), frozenset({CurrentDoc.SHIFT_CLOSE}), tlv, fn.close_shift
    )


def fiscalise_receipt(
    fn: FnDriver, when: datetime, operation: Operation, total: int, tlv: bytes
) -> p.ReceiptSigned:
    """A receipt (15h, 07h…, 16h). ``tlv`` is the receipt's TLV list (receipt_tlv.build_receipt_tlv)."""
    request = p.ReceiptRequest(when, int(operation), total)
    return _document(
        fn,
        lambda: fn.begin_receipt(when),
        frozenset({CurrentDoc.RECEIPT, CurrentDoc.BSO}),  # 15h opens a BSO in BSO work mode
        tlv,
        lambda: fn.make_receipt(request),
    )


def fiscalise(fn: FnDriver, receipt: Receipt) -> p.ReceiptSigned:
    """A domain receipt through the FN: its TLV built, sent and signed."""
    return fiscalise_receipt(fn, receipt.when, receipt.operation, receipt.total, build_receipt_tlv(receipt))


def state_report(fn: FnDriver, when: datetime, tlv: bytes) -> p.StateReportSigned:
    return _document(
        fn,
        lambda: fn.begin_state_report(when),
        frozenset({CurrentDoc.STATE_REPORT}),
        tlv,
        fn.make_state_report,
    )
