"""Text from outside (item, cashier, member names, offer texts) made safe to print as one line.

No control byte may reach the printer from such text: an ``ESC @`` or ``GS V`` hidden in an item name would
reset or cut the printer mid-receipt (escpos.md §1.1, §1.5).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_DROPPED_CATEGORIES = frozenset(
    {
        "Cc",  # C0 (ESC, GS, DLE, FS, LF, CR …), DEL and C1
        "Cf",  # format: zero-width space / joiners, bidi embeddings and isolates, soft hyphen, BOM
        "Cs",  # lone surrogates: no character at all
        "Zl",  # LINE SEPARATOR: a name is one line
        "Zp",  # PARAGRAPH SEPARATOR
    }
)
_SPACES = re.compile(" {2,}")


@lru_cache(maxsize=4096)
def sanitize(text: str) -> str:
    """One printable line: control, zero-width and bidi characters dropped, tabs and other Unicode spaces
    (NBSP, thin space …) turned into a plain space, runs of spaces collapsed, both ends stripped."""
    kept: list[str] = []
    for char in text:
        if char == "\t":
            kept.append(" ")
            continue
        category = unicodedata.category(char)
        if category in _DROPPED_CATEGORIES:
            continue
        kept.append(" " if category == "Zs" else char)
    return _SPACES.sub(" ", "".join(kept)).strip()
