"""Text that must fit a single-byte Cyrillic code page (CP866 in FFD strings and on most printers).

Characters the page lacks are replaced by what a cashier would write by hand, never by '?'.
"""

from __future__ import annotations

import unicodedata

SUBSTITUTES: dict[str, str] = {
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
    "‑": "-",
    "−": "-",
    "…": "...",
    "І": "I",
    "і": "i",
    "€": "EUR",
    "\u00a0": " ",
    "×": "x",
    "•": "*",
}
PLACEHOLDER = "_"
"""What stands for a character with no substitute: visible, and never mistaken for an encoding error."""


def fold_to_codec(text: str, codec: str) -> str:
    """``text`` with every character the codec cannot encode substituted (₽ -> "руб.", « -> ", é -> e)."""
    out: list[str] = []
    for ch in text:
        if _fits(ch, codec):
            out.append(ch)
            continue
        sub = SUBSTITUTES.get(ch)
        if sub is not None and _fits(sub, codec):
            out.append(sub)
            continue
        base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
        out.append(base if base and base != ch and _fits(base, codec) else PLACEHOLDER)
    return "".join(out)


def _fits(text: str, codec: str) -> bool:
    try:
        text.encode(codec)
    except UnicodeEncodeError:
        return False
    return True
