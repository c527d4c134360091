"""sanitize: one printable line, no control character from names ever reaches the printer."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from register.printing.codepage import encode
from register.printing.sanitize import sanitize
from register.profiles import all_profiles


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("Молоко\x1b@\x1dV\x00", "Молоко@V"),  # ESC @ (reset), GS V (cut), NUL
        ("Хлеб\x10\x04\x01", "Хлеб"),  # DLE EOT 1
        ("Сыр\x1c&", "Сыр&"),  # FS &
        ("Мол\r\nоко", "Молоко"),  # a name is one line
        ("Кофе\tзерновой", "Кофе зерновой"),
        ("  Вода   минеральная  ", "Вода минеральная"),
        ("Мо\u200bло\u200dко\ufeff", "Молоко"),  # zero-width space / joiner, BOM
        ("\u202eокolоМ\u202c", "окolоМ"),  # bidi override and pop
        ("\u2066Чай\u2069", "Чай"),  # bidi isolates
        ("Сок\x7f\x85\x9b", "Сок"),  # DEL, C1 (NEL, CSI)
        ("Торт\u2028Наполеон", "ТортНаполеон"),  # LINE SEPARATOR
        ("Пакет\u00a0-\u2009майка", "Пакет - майка"),  # NBSP, thin space
        ("\x1b\x1d\x00", ""),
    ],
)
def test_sanitize_examples(raw: str, clean: str) -> None:
    assert sanitize(raw) == clean


@given(st.text())
def test_output_is_one_clean_line(text: str) -> None:
    clean = sanitize(text)
    assert all(unicodedata.category(c) not in ("Cc", "Cf", "Cs", "Zl", "Zp") for c in clean)
    assert "  " not in clean
    assert clean == clean.strip()
    assert sanitize(clean) == clean


@given(st.text())
def test_no_control_byte_reaches_any_printer(text: str) -> None:
    for profile in all_profiles():
        for data in (encode(sanitize(text), profile), encode(text, profile)):
            assert not any(byte < 0x20 or byte == 0x7F for byte in data), data
