"""FN link-layer frames: ``04h LEN(2, LE) CODE DATA CRC16(2, LE)``.

One codec for both sides: the host-side driver and the FN emulator (fn-protocol.md §2).
The CRC is CRC-16/CCITT-FALSE over LEN, CODE and DATA.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

MSG_START = 0x04
ENQ = 0x05
MAX_DATA = 1024
MAX_LEN = MAX_DATA + 1
HEADER_SIZE = 3  # MSG_START + LEN
TRAILER_SIZE = 2  # CRC


def _make_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
        table.append(crc)
    return tuple(table)


_CRC_TABLE = _make_table()


def crc16_ccitt_false(data: bytes, crc: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, xorout 0."""
    table = _CRC_TABLE
    for b in data:
        crc = ((crc << 8) & 0xFFFF) ^ table[(crc >> 8) ^ b]
    return crc


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded frame: a command (host to FN) or an answer (FN to host)."""

    code: int
    data: bytes = b""

    def encode(self) -> bytes:
        return encode_frame(self.code, self.data)


class FrameError(ValueError):
    """A frame that cannot be accepted: bad start byte, bad length, bad CRC, truncated."""


class FrameCrcError(FrameError):
    """A complete frame whose CRC does not match."""


def encode_frame(code: int, data: bytes = b"") -> bytes:
    if not 0 <= code <= 0xFF:
        raise ValueError(f"frame code {code} is not a byte")
    if len(data) > MAX_DATA:
        raise ValueError(f"frame data of {len(data)} bytes is over the {MAX_DATA}-byte limit")
    body = struct.pack("<HB", len(data) + 1, code) + data
    return bytes([MSG_START]) + body + struct.pack("<H", crc16_ccitt_false(body))


def decode_frame(raw: bytes) -> Frame:
    """Decode exactly one whole frame; raise FrameError naming what is wrong."""
    if len(raw) < HEADER_SIZE + 1 + TRAILER_SIZE:
        raise FrameError(f"frame truncated: {len(raw)} bytes, at least 6 needed")
    if raw[0] != MSG_START:
        raise FrameError(f"frame starts with {raw[0]:02X}h, expected 04h")
    (length,) = struct.unpack_from("<H", raw, 1)
    if not 1 <= length <= MAX_LEN:
        raise FrameError(f"frame length field {length} outside 1..{MAX_LEN}")
    expected = HEADER_SIZE + length + TRAILER_SIZE
    if len(raw) != expected:
        raise FrameError(f"frame of {len(raw)} bytes, its length field says {expected}")
    body = raw[1 : HEADER_SIZE + length]
    (crc,) = struct.unpack_from("<H", raw, HEADER_SIZE + length)
    actual = crc16_ccitt_false(body)
    if crc != actual:
        raise FrameCrcError(f"frame CRC {crc:04X}h, computed {actual:04X}h")
    return Frame(code=body[2], data=bytes(body[3:]))


@dataclass(frozen=True, slots=True)
class Enq:
    """A lone ENQ byte received while idle: resend the last answer."""


@dataclass(frozen=True, slots=True)
class Junk:
    """Bytes that were skipped: garbage between frames or a frame that failed to decode."""

    data: bytes
    reason: str
    crc_error: bool = False


class FrameReader:
    """Incremental frame parser for a byte stream; never raises on bad input.

    ``feed(chunk)`` yields ``Frame`` for every whole valid frame, ``Enq`` for a lone ENQ byte when idle
    (only if ``accept_enq``), and ``Junk`` for bytes skipped while resynchronising. A frame with a bad CRC
    is reported as one Junk with ``crc_error`` set and dropped whole (the peer may answer it); a bad length
    field is reported as Junk and scanning resumes one byte after the start byte.
    """

    def __init__(self, *, accept_enq: bool = False) -> None:
        self._buf = bytearray()
        self._accept_enq = accept_enq

    @property
    def pending(self) -> int:
        """Bytes held waiting for the rest of a frame."""
        return len(self._buf)

    def reset(self) -> bytes:
        """Drop a partial frame (e.g. after an inter-byte timeout); return what was dropped."""
        dropped = bytes(self._buf)
        self._buf.clear()
        return dropped

    def feed(self, chunk: bytes) -> Iterator[Frame | Enq | Junk]:
        self._buf += chunk
        buf = self._buf
        while buf:
            if buf[0] != MSG_START:
                junk_end = 0
                while junk_end < len(buf) and buf[junk_end] != MSG_START:
                    if self._accept_enq and buf[junk_end] == ENQ:
                        break
                    junk_end += 1
                if junk_end:
                    yield Junk(bytes(buf[:junk_end]), "bytes outside a frame")
                    del buf[:junk_end]
                    continue
                # buf[0] is ENQ while idle
                del buf[:1]
                yield Enq()
                continue
            if len(buf) < HEADER_SIZE:
                return
            (length,) = struct.unpack_from("<H", buf, 1)
            if not 1 <= length <= MAX_LEN:
                yield Junk(bytes(buf[:1]), f"length field {length} outside 1..{MAX_LEN}")
                del buf[:1]
                continue
            total = HEADER_SIZE + length + TRAILER_SIZE
            if len(buf) < total:
                return
            raw = bytes(buf[:total])
            del buf[:total]
            try:
                frame = decode_frame(raw)
            except FrameError as exc:
                yield Junk(raw, str(exc), crc_error=isinstance(exc, FrameCrcError))
                continue
            yield frame
