"""Reading our own ESC/POS output back in tests: raster images out, bulk payloads skipped."""

from __future__ import annotations

from PIL import Image

GS_V0 = b"\x1dv0"
GS_PAREN_K = b"\x1d(k"


def rasters(stream: bytes) -> list[Image.Image]:
    """Every ``GS v 0`` image (escpos.md §1.4: x bytes per row, y rows, MSB leftmost, 1 = black)."""
    images = []
    for start, end in _blocks(stream):
        if stream.startswith(GS_V0, start):
            x = stream[start + 4] | stream[start + 5] << 8
            y = stream[start + 6] | stream[start + 7] << 8
            data = stream[start + 8 : end]
            assert len(data) == x * y
            image = Image.frombytes("1", (x * 8, y), bytes(b ^ 0xFF for b in data))
            images.append(image.convert("L"))
    return images


def without_payloads(stream: bytes) -> bytes:
    """The stream with ``GS v 0`` and ``GS ( k`` blocks removed, so their data cannot fake commands."""
    kept, last = [], 0
    for start, end in _blocks(stream):
        kept.append(stream[last:start])
        last = end
    kept.append(stream[last:])
    return b"".join(kept)


def _blocks(stream: bytes) -> list[tuple[int, int]]:
    blocks, i = [], 0
    while i < len(stream):
        if stream.startswith(GS_V0, i):
            x = stream[i + 4] | stream[i + 5] << 8
            y = stream[i + 6] | stream[i + 7] << 8
            end = i + 8 + x * y
        elif stream.startswith(GS_PAREN_K, i):
            end = i + 5 + (stream[i + 3] | stream[i + 4] << 8)
        else:
            i += 1
            continue
        blocks.append((i, end))
        i = end
    return blocks
