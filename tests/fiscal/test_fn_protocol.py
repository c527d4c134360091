"""FN message layouts against the examples of fn-protocol.md."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from register.fiscal import fn_protocol as p
from register.fiscal.frame import decode_frame


def test_status_example_answer() -> None:
    frame = decode_frame(
        bytes.fromhex(
            "04 1F 00 00 03 00 00 01 00 1A 01 0F 0E 20 39 39 39 39 30 37 38 39 30 30 30 30 34 33 31 32"
            " 2A 00 00 00 0E 31"
        )
    )
    st_ = p.FnStatus.unpack(frame.data)
    assert st_ == p.FnStatus(
        phase=3,
        current_doc=0,
        doc_data_received=False,
        shift_open=True,
        warnings=0,
        last_doc_time=datetime(2026, 1, 15, 14, 32),
        fn_number="9999078900004312",
        last_fd=42,
    )
    assert st_.pack() == frame.data


def test_archive_receipt_example() -> None:
    frame = decode_frame(
        bytes.fromhex("04 16 00 00 03 01 1A 01 0F 0E 20 2A 00 00 00 78 56 34 12 01 40 E2 01 00 00 D2 54")
    )
    doc = p.ArchiveDocument.unpack(frame.data)
    assert (doc.doc_type, doc.ofd_confirmed, doc.when) == (3, True, datetime(2026, 1, 15, 14, 32))
    assert (doc.fd, doc.fp, doc.operation, doc.total) == (42, 0x12345678, 1, 123456)
    assert doc.pack() == frame.data


def test_receipt_answer_and_request_examples() -> None:
    answer = decode_frame(bytes.fromhex("04 0B 00 00 05 00 2A 00 00 00 78 56 34 12 6D 14"))
    assert p.ReceiptSigned.unpack(answer.data) == p.ReceiptSigned(receipt=5, fd=42, fp=0x12345678)
    request = decode_frame(bytes.fromhex("04 0C 00 16 1A 01 0F 0E 20 01 40 E2 01 00 00 46 D9"))
    assert p.ReceiptRequest.unpack(request.data) == p.ReceiptRequest(datetime(2026, 1, 15, 14, 32), 1, 123456)


def test_datetime_example() -> None:
    assert p.pack_datetime(datetime(2026, 1, 15, 14, 32)) == bytes.fromhex("1A 01 0F 0E 20")
    assert p.unpack_datetime(bytes.fromhex("15 01 01 00 00")) == datetime(2021, 1, 1)


@pytest.mark.parametrize(
    ("cls", "data", "needle"),
    [
        (p.FnStatus, bytes(29), "30h FN status: expected 30 bytes, got 29"),
        (p.ReceiptSigned, bytes(9), "expected 10 bytes"),
        (p.ArchiveDocument, bytes.fromhex("63 00 1A 01 0F 0E 20") + bytes(8), "unknown document type 99"),
    ],
)
def test_bad_layouts_name_the_problem(cls: type, data: bytes, needle: str) -> None:
    with pytest.raises(p.FormatError, match=needle):
        cls.unpack(data)


def test_bad_date_is_a_format_error() -> None:
    with pytest.raises(p.FormatError, match="not a date"):
        p.unpack_datetime(bytes([26, 13, 1, 0, 0]))


def test_registration_request_pads_rnm_with_spaces() -> None:
    req = p.RegistrationRequest(datetime(2026, 1, 15, 9, 0), "7701234560", "0000000001012345", 1, 0)
    raw = req.pack()
    assert len(raw) == 39
    assert raw[17:37] == b"0000000001012345    "
    assert raw[5:17] == b"7701234560  "
    assert p.RegistrationRequest.unpack(raw) == req


when = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2255, 12, 31)).map(
    lambda d: d.replace(second=0, microsecond=0)
)


@given(
    when, st.integers(1, 0xFFFFFFFF), st.integers(0, 0xFFFFFFFF), st.integers(1, 4), st.integers(0, 2**40 - 1)
)
def test_receipt_archive_round_trip(at: datetime, fd: int, fp: int, op: int, total: int) -> None:
    doc = p.ArchiveDocument(3, False, at, fd, fp, operation=op, total=total)
    assert p.ArchiveDocument.unpack(doc.pack()) == doc


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2255, 12, 31)))
def test_date_round_trip(day: date) -> None:
    assert p.unpack_date(p.pack_date(day)) == day
