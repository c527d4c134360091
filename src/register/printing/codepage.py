"""Unicode text -> bytes of the printer's own code table, with readable substitutes instead of ``?``.

escpos.md §1.2: ``₽`` is in no printer table, CP866 lacks ``І і`` and ``€``. A character outside the table
is replaced by the rules of :mod:`register.domain.text` (the same ones the FFD strings use), never by ``?``.
"""

from __future__ import annotations

from functools import lru_cache

from register.domain.text import PLACEHOLDER, fold_to_codec
from register.profiles import PrinterProfile

__all__ = ["PLACEHOLDER", "encode", "to_printable"]


def to_printable(text: str, profile: PrinterProfile, code_page: str | None = None) -> str:
    """The text as it will print: every character encodable in the table, substitutes applied.

    One character of the result takes one column, so layouts measure and wrap this form.
    """
    return fold_to_codec(text, _codec(profile, code_page))


def encode(text: str, profile: PrinterProfile, code_page: str | None = None) -> bytes:
    """Encode for the profile's Cyrillic table (``code_page`` overrides it; it must be one the model has)."""
    return _encoded_text(text, _codec(profile, code_page))


def _codec(profile: PrinterProfile, code_page: str | None) -> str:
    page = code_page or profile.cyrillic_code_page
    profile.table_number(page)  # raises ProfileError when the model has no such table
    return profile.codec(page)


@lru_cache(maxsize=8192)
def _encoded_text(text: str, codec: str) -> bytes:
    return fold_to_codec(text, codec).encode(codec)
