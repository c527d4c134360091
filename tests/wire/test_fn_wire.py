"""The real FN driver against the FN emulator over a pty and over TCP."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from register.config import LAB_KKT, LAB_SELLER
from register.demo_receipts import sample_receipt
from register.domain.receipt import Operation
from register.fiscal import fn_documents, kkt_documents
from register.fiscal.fn_driver import FnDriver
from register.fiscal.fn_errors import FnShiftOver24h, FnWrongDateTime, FnWrongState
from register.fiscal.fn_protocol import CurrentDoc, DocForm, Phase
from register.fiscal.qr import build_qr, parse_qr
from register.fiscal.receipt_tlv import build_receipt_tlv
from register.fiscal.tlv import iter_tlv
from register.fiscal.tlv_decode import decode_tlv
from register.lab.fn_server import FnServer

from .conftest import WHEN


def _sell(fn: FnDriver, minutes: int = 1, operation: Operation = Operation.SALE, items: int = 3):
    receipt = sample_receipt(WHEN + timedelta(minutes=minutes), items=items, operation=operation)
    signed = fn_documents.fiscalise_receipt(
        fn, receipt.when, receipt.operation, receipt.total, build_receipt_tlv(receipt)
    )
    return receipt, signed


def test_fresh_fn_is_ready_for_fiscalisation(fn: FnDriver) -> None:
    st = fn.status()
    assert st.phase == Phase.READY
    assert st.fn_number.startswith("9999") and len(st.fn_number) == 16
    assert st.last_fd == 0
    assert fn.version().serial is False  # debug FN


def test_register_open_shift_sell_return_and_read_back(fn: FnDriver) -> None:
    reg = kkt_documents.register(fn, WHEN)
    assert reg.fd == 1
    assert fn.status().phase == Phase.FISCAL
    shift = kkt_documents.open_shift(fn, WHEN)
    assert (shift.shift, shift.fd) == (1, 2)

    sale, signed_sale = _sell(fn, 1)
    refund, signed_refund = _sell(fn, 2, Operation.SALE_RETURN)
    assert (signed_sale.receipt, signed_sale.fd) == (1, 3)
    assert (signed_refund.receipt, signed_refund.fd) == (2, 4)

    doc = fn.find_document(signed_refund.fd)
    assert (doc.doc_type, doc.operation, doc.total, doc.fp) == (
        DocForm.RECEIPT,
        Operation.SALE_RETURN,
        refund.total,
        signed_refund.fp,
    )
    form, tlv = fn.document_tlv(signed_sale.fd)
    assert form == DocForm.RECEIPT
    tags = dict(iter_tlv(tlv))
    assert tags[1040] == signed_sale.fd.to_bytes(4, "little")
    assert tags[1041] == fn.fn_number().encode()
    assert tags[1077] == b"\0\0" + signed_sale.fp.to_bytes(4, "big")
    items = [t for t in decode_tlv(tlv) if t.tag == 1059]
    assert len(items) == len(sale.lines)

    qr = parse_qr(build_qr(sale.when, sale.total, fn.fn_number(), signed_sale.fd, signed_sale.fp, 1))
    assert (qr.fd, qr.fp, qr.total) == (signed_sale.fd, signed_sale.fp, sale.total)
    assert fn.unconfirmed_count() == 4

    closed = kkt_documents.close_shift(fn, WHEN + timedelta(minutes=5))
    assert (closed.shift, closed.fd) == (1, 5)
    params = fn.shift_params()
    assert (params.is_open, params.shift) == (False, 1)


def test_typed_errors_from_the_fn(fn: FnDriver) -> None:
    with pytest.raises(FnWrongState, match="02h"):
        fn.begin_receipt(WHEN)  # not fiscalised yet
    kkt_documents.register(fn, WHEN)
    kkt_documents.open_shift(fn, WHEN + timedelta(minutes=10))
    with pytest.raises(FnWrongDateTime, match="07h"):
        fn.begin_receipt(WHEN)  # earlier than the last document
    assert fn.status().current_doc == CurrentDoc.NONE
    with pytest.raises(FnShiftOver24h, match="16h"):
        _sell(fn, minutes=10 + 24 * 60 + 1)
    assert fn.status().current_doc == CurrentDoc.NONE


def test_emulator_restart_keeps_the_archive(tmp_path: Path) -> None:
    server = FnServer(tmp_path / "fn", pty=True, drift_check=False)
    server.start()
    with FnDriver.open(f"serial:{server.address}", timeout=0.5) as fn:
        kkt_documents.register(fn, WHEN)
        kkt_documents.open_shift(fn, WHEN)
        _, signed = _sell(fn)
        fn.begin_receipt(WHEN + timedelta(minutes=3))  # left open: lost by the restart
        number = fn.fn_number()
    server.stop()

    server = FnServer(tmp_path / "fn", pty=True, drift_check=False)
    server.start()
    try:
        with FnDriver.open(f"serial:{server.address}", timeout=0.5) as fn:
            st = fn.status()
            assert (st.phase, st.shift_open, st.last_fd, st.fn_number) == (Phase.FISCAL, True, 3, number)
            assert st.current_doc == CurrentDoc.NONE
            assert fn.find_document(3).fp == signed.fp
            _, again = _sell(fn, minutes=4)
            assert (again.fd, again.receipt) == (4, 2)
    finally:
        server.stop()


def test_over_tcp(tmp_path: Path) -> None:
    server = FnServer(tmp_path / "fn", tcp="127.0.0.1:0", drift_check=False)
    host_port = server.start()
    try:
        with FnDriver.open(f"tcp:{host_port}", timeout=0.5) as fn:
            kkt_documents.register(fn, WHEN)
            kkt_documents.open_shift(fn, WHEN)
            receipt, signed = _sell(fn, items=10)
            assert fn.find_document(signed.fd).total == receipt.total
        with FnDriver.open(f"tcp:{host_port}", timeout=0.5) as fn:  # a second connection sees the same FN
            assert fn.status().last_fd == signed.fd
    finally:
        server.stop()


def test_emulator_restart_over_tcp(tmp_path: Path) -> None:
    """The emulator process is stopped and started again on the same state and address: a new driver
    connection finds the archive and counters, not the receipt that was left half made."""
    server = FnServer(tmp_path / "fn", tcp="127.0.0.1:0", drift_check=False)
    address = server.start()
    try:
        with FnDriver.open(f"tcp:{address}", timeout=0.5) as fn:
            kkt_documents.register(fn, WHEN)
            kkt_documents.open_shift(fn, WHEN)
            receipt, signed = _sell(fn)
            fn.begin_receipt(WHEN + timedelta(minutes=3))
            fn.send_tlv(bytes.fromhex("1E 04 01 00 01"))  # left open: lost by the restart
            number = fn.fn_number()
    finally:
        server.stop()

    server = FnServer(tmp_path / "fn", tcp=address, drift_check=False)  # the same HOST:PORT again
    assert server.start() == address
    try:
        with FnDriver.open(f"tcp:{address}", timeout=0.5) as fn:
            st = fn.status()
            assert (st.phase, st.shift_open, st.last_fd, st.fn_number) == (Phase.FISCAL, True, 3, number)
            assert st.current_doc == CurrentDoc.NONE
            doc = fn.find_document(3)
            assert (doc.fp, doc.total) == (signed.fp, receipt.total)
            _, again = _sell(fn, minutes=4)
            assert (again.fd, again.receipt) == (4, 2)
    finally:
        server.stop()


def test_registration_data_in_archive(fn: FnDriver) -> None:
    kkt_documents.register(fn, WHEN)
    doc = fn.find_document(1)
    assert (doc.doc_type, doc.inn, doc.rnm) == (DocForm.REGISTRATION, LAB_SELLER.inn, LAB_KKT.rnm)
