"""The FN driver on a faulty link: corrupt answers, lost answers, a hung FN. Never a second document."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from register.demo_receipts import sample_receipt
from register.fiscal import fn_documents, kkt_documents
from register.fiscal.fn_driver import FnDriver, WireEvent
from register.fiscal.fn_errors import FnOutcomeUnknown
from register.fiscal.fn_protocol import CurrentDoc, ReceiptRequest
from register.lab.fn_server import FnServer

from .conftest import WHEN


@pytest.fixture
def server(tmp_path: Path) -> Iterator[FnServer]:
    srv = FnServer(tmp_path / "fn", pty=True, drift_check=False)
    srv.start()
    with FnDriver.open(f"serial:{srv.address}", timeout=0.5) as fn:
        kkt_documents.register(fn, WHEN)
        kkt_documents.open_shift(fn, WHEN)
    yield srv
    srv.stop()


def _driver(server: FnServer, wire: list[WireEvent]) -> FnDriver:
    return FnDriver.open(f"serial:{server.address}", timeout=0.5, on_wire=wire.append)


def test_corrupt_answer_is_fetched_again_with_enq(server: FnServer) -> None:
    wire: list[WireEvent] = []
    assert server.link is not None
    server.link.inject("corrupt:30")
    with _driver(server, wire) as fn:
        assert fn.status().last_fd == 2
    assert [e.raw for e in wire if e.direction == "out"] == [bytes.fromhex("04 01 00 30 FF CD"), b"\x05"]


def test_lost_receipt_answer_is_fetched_with_enq_and_signed_once(server: FnServer) -> None:
    wire: list[WireEvent] = []
    assert server.link is not None
    server.link.inject("drop-answer:16")
    with _driver(server, wire) as fn:
        signed = fn_documents.fiscalise(fn, sample_receipt(WHEN + timedelta(minutes=1), items=3))
        assert signed.fd == 3
        assert fn.status().last_fd == 3
    sent_16h = [e for e in wire if e.direction == "out" and e.raw[3:4] == b"\x16"]
    assert len(sent_16h) == 1
    assert b"\x05" in [e.raw for e in wire if e.direction == "out"]


def test_late_receipt_answer_is_recovered_from_30h_and_40h(server: FnServer) -> None:
    """The 16h answer comes after the timeout and after the ENQ wait: the driver asks 30h/40h."""
    wire: list[WireEvent] = []
    assert server.link is not None
    server.link.inject("delay:1300:16")
    receipt = sample_receipt(WHEN + timedelta(minutes=1), items=3)
    with _driver(server, wire) as fn:
        signed = fn_documents.fiscalise(fn, receipt)
        doc = fn.find_document(signed.fd)
        assert (signed.fd, doc.fp, doc.total) == (3, signed.fp, receipt.total)
        assert fn.status().last_fd == 3  # one document, not two
    out_codes = [e.raw[3] for e in wire if e.direction == "out" and len(e.raw) > 3]
    assert out_codes.count(0x16) == 1
    assert 0x40 in out_codes[out_codes.index(0x16) :]


def test_hung_fn_gives_outcome_unknown_and_no_document(server: FnServer) -> None:
    wire: list[WireEvent] = []
    assert server.link is not None
    when = WHEN + timedelta(minutes=1)
    with _driver(server, wire) as fn:
        fn.begin_receipt(when)
        fn.send_tlv(bytes.fromhex("1E 04 01 00 01"))
        server.link.inject("silent")
        with pytest.raises(FnOutcomeUnknown, match="read 30h/40h"):
            fn.make_receipt(ReceiptRequest(when, 1, 100))
        server.link.clear_faults()
        st = fn.status()
        assert (st.last_fd, st.current_doc) == (2, CurrentDoc.RECEIPT)
