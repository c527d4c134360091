"""Frame codec: the byte test vectors of fn-protocol.md §2 and a parser that survives any input."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from register.fiscal.frame import (
    ENQ,
    Enq,
    Frame,
    FrameCrcError,
    FrameError,
    FrameReader,
    Junk,
    crc16_ccitt_false,
    decode_frame,
    encode_frame,
)

# (code, data hex, frame hex) from fn-protocol.md §2
VECTORS = [
    (0x30, "", "04 01 00 30 FF CD"),
    (0x31, "", "04 01 00 31 DE DD"),
    (0x32, "", "04 01 00 32 BD ED"),
    (0x33, "", "04 01 00 33 9C FD"),
    (0x35, "", "04 01 00 35 5A 9D"),
    (0x02, "", "04 01 00 02 EE DB"),
    (0x02, "00", "04 02 00 02 00 CA 0F"),
    (0x06, "", "04 01 00 06 6A 9B"),
    (0x07, "1E 04 01 00 01", "04 06 00 07 1E 04 01 00 01 A6 5F"),
    (0x10, "", "04 01 00 10 9D E9"),
    (0x11, "1A 01 0F 09 00", "04 06 00 11 1A 01 0F 09 00 38 4C"),
    (0x15, "1A 01 0F 0E 20", "04 06 00 15 1A 01 0F 0E 20 6C F7"),
    (0x16, "1A 01 0F 0E 20 01 40 E2 01 00 00", "04 0C 00 16 1A 01 0F 0E 20 01 40 E2 01 00 00 46 D9"),
    (0x21, "01", "04 02 00 21 01 5E 4C"),
    (0x23, "00 00 00 04", "04 05 00 23 00 00 00 04 8B 2E"),
    (0x40, "01 00 00 00", "04 05 00 40 01 00 00 00 B5 EF"),
    (0x60, "16", "04 02 00 60 16 75 10"),
    (0x00, "", "04 01 00 00 AC FB"),
    (0x80, "", "04 01 00 80 24 6A"),
    (0x00, "05 00 2A 00 00 00 78 56 34 12", "04 0B 00 00 05 00 2A 00 00 00 78 56 34 12 6D 14"),
    (0x20, "01", "04 02 00 20 01 6F 7F"),
    (
        0x00,
        "39 39 39 39 30 37 38 39 30 30 30 30 34 33 31 32",
        "04 11 00 00 39 39 39 39 30 37 38 39 30 30 30 30 34 33 31 32 03 5D",
    ),
]


def test_crc_check_value() -> None:
    assert crc16_ccitt_false(b"123456789") == 0x29B1


@pytest.mark.parametrize(("code", "data", "frame"), VECTORS)
def test_vectors_encode_and_decode(code: int, data: str, frame: str) -> None:
    raw = bytes.fromhex(frame)
    assert encode_frame(code, bytes.fromhex(data)) == raw
    assert decode_frame(raw) == Frame(code, bytes.fromhex(data))


def test_decode_names_the_fault() -> None:
    with pytest.raises(FrameCrcError, match="CRC"):
        decode_frame(bytes.fromhex("04 01 00 30 FF CE"))
    with pytest.raises(FrameError, match="truncated"):
        decode_frame(bytes.fromhex("04 01 00"))
    with pytest.raises(FrameError, match="expected 04h"):
        decode_frame(bytes.fromhex("05 01 00 30 FF CD"))
    with pytest.raises(FrameError, match="length field"):
        decode_frame(bytes.fromhex("04 00 00 30 FF CD"))


def test_encode_refuses_oversized_data() -> None:
    with pytest.raises(ValueError, match="1024"):
        encode_frame(0x07, bytes(1025))


def test_reader_handles_split_frames_junk_and_enq() -> None:
    reader = FrameReader(accept_enq=True)
    stream = (
        b"\xaa\xbb" + bytes.fromhex("04 01 00 30 FF CD") + bytes([ENQ]) + bytes.fromhex("04 01 00 31 DE DD")
    )
    assert list(reader.feed(stream)) == [
        Junk(b"\xaa\xbb", "bytes outside a frame"),
        Frame(0x30),
        Enq(),
        Frame(0x31),
    ]
    byte_by_byte = []
    for i in range(len(stream)):
        byte_by_byte += [item for item in reader.feed(stream[i : i + 1]) if not isinstance(item, Junk)]
    assert byte_by_byte == [Frame(0x30), Enq(), Frame(0x31)]


def test_reader_reports_crc_error_and_resyncs() -> None:
    reader = FrameReader()
    items = list(reader.feed(bytes.fromhex("04 01 00 30 FF CE 04 01 00 31 DE DD")))
    assert isinstance(items[0], Junk) and items[0].crc_error
    assert items[1] == Frame(0x31)
    assert reader.pending == 0


def test_enq_inside_a_frame_is_data() -> None:
    reader = FrameReader(accept_enq=True)
    raw = encode_frame(0x07, bytes([ENQ, ENQ]))
    assert list(reader.feed(raw)) == [Frame(0x07, bytes([ENQ, ENQ]))]


@given(st.integers(0, 255), st.binary(max_size=1024))
def test_round_trip(code: int, data: bytes) -> None:
    assert decode_frame(encode_frame(code, data)) == Frame(code, data)


@given(st.lists(st.binary(max_size=64), max_size=30), st.booleans())
def test_reader_never_raises_and_finds_embedded_frames(chunks: list[bytes], enq: bool) -> None:
    reader = FrameReader(accept_enq=enq)
    good = encode_frame(0x30)
    for chunk in chunks:
        for item in reader.feed(chunk):
            assert isinstance(item, Frame | Enq | Junk)
    reader.reset()
    assert Frame(0x30) in list(reader.feed(good))
