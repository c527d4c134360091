"""Text that must fit a single-byte code page (CP866 in FFD strings and on most receipt printers).

A character outside the page is replaced, in this order: a fixed substitute (``₽`` -> ``руб.``, typographic
quotes and dashes -> ASCII …), the base letter of a Latin letter with diacritics (NFKD, ``é`` -> ``e``),
else :data:`PLACEHOLDER`, never ``?``. Control characters become the placeholder too, so no byte below
0x20 nor 0x7F comes out of folded text.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

PLACEHOLDER = "*"
"""Stands for a character the page cannot show: ASCII, so every page has it, and unlike ``?`` it does not
read as punctuation of the name."""

# Always replaced, even where the page has a glyph: NBSP is 0xFF in CP866, which printers show as a box.
ALWAYS = {"\u00a0": " "}

# Replaced only when the page lacks the character.
SUBSTITUTES = {
    "₽": "руб.",
    "«": '"',
    "»": '"',
    "„": '"',
    "“": '"',
    "”": '"',
    "‘": "'",
    "’": "'",
    "‚": "'",
    "–": "-",
    "—": "-",
    "‐": "-",
    "‑": "-",
    "−": "-",
    "…": "...",
    "І": "I",
    "і": "i",
    "€": "EUR",
    "×": "x",
    "•": "*",
    # Latin letters NFKD does not decompose.
    "ß": "ss",
    "Æ": "AE",
    "æ": "ae",
    "Œ": "OE",
    "œ": "oe",
    "Ø": "O",
    "ø": "o",
    "Ł": "L",
    "ł": "l",
    "Đ": "D",
    "đ": "d",
}


@lru_cache(maxsize=8192)
def fold_to_codec(text: str, codec: str) -> str:
    """``text`` with every character the codec cannot encode substituted; one character per column."""
    return "".join(fold_char(char, codec) for char in text)


@lru_cache(maxsize=8192)
def fold_char(char: str, codec: str) -> str:
    if char in ALWAYS:
        return ALWAYS[char]
    if _is_control(char):
        return PLACEHOLDER
    if _encodable(char, codec):
        return char
    substitute = SUBSTITUTES.get(char)
    if substitute is not None and _encodable(substitute, codec):
        return substitute
    base = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
    if base and base != char and not any(_is_control(c) for c in base) and _encodable(base, codec):
        return base
    return PLACEHOLDER


def _is_control(char: str) -> bool:
    return unicodedata.category(char) in ("Cc", "Cf", "Cs", "Zl", "Zp")


def _encodable(text: str, codec: str) -> bool:
    try:
        text.encode(codec)
    except UnicodeEncodeError:
        return False
    return True
