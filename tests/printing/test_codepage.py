"""codepage.encode: the model's Cyrillic table, readable substitutes, never '?' (escpos.md §1.2, §2.6)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from register.printing.codepage import PLACEHOLDER, encode, to_printable
from register.profiles import ProfileError, all_profiles, load_profile

PROFILES = [profile.name for profile in all_profiles()]
TRAP = "ЙЁё№іЇЄ₽"
# CP866: Й 89, Ё F0, ё F1, № FC, і -> "i" 69, Ї F4, Є F2, ₽ -> "руб." E0 E3 A1 2E
TRAP_CP866 = bytes.fromhex("89 F0 F1 FC 69 F4 F2 E0 E3 A1 2E")
# WPC1251: Й C9, Ё A8, ё B8, № B9, і B3, Ї AF, Є AA, ₽ -> "руб." F0 F3 E1 2E
TRAP_CP1251 = bytes.fromhex("C9 A8 B8 B9 B3 AF AA F0 F3 E1 2E")


@pytest.mark.parametrize("name", PROFILES)
def test_trap_string_on_every_profile(name: str) -> None:
    assert encode(TRAP, load_profile(name)) == TRAP_CP866


@pytest.mark.parametrize("name", [p.name for p in all_profiles() if "WPC1251" in p.code_pages])
def test_trap_string_in_wpc1251(name: str) -> None:
    assert encode(TRAP, load_profile(name), "WPC1251") == TRAP_CP1251


@pytest.mark.parametrize(
    ("text", "printed"),
    [
        ("«Арабика»", '"Арабика"'),
        ("„Вечерняя“ ”Москва”", '"Вечерняя" "Москва"'),
        ("‘Б’", "'Б'"),
        ("чай – кофе — сок", "чай - кофе - сок"),
        ("скоро…", "скоро..."),
        ("Ціна 5 €", "Цiна 5 EUR"),
        ("100\u00a0₽", "100 руб."),
        ("Café Müller Ñandú Ærø Straße", "Cafe Muller Nandu AEro Strasse"),
        ("2 × 3", "2 x 3"),
        ("№ 5", "№ 5"),
        ("中文", PLACEHOLDER * 2),
        ("a\x1bb", f"a{PLACEHOLDER}b"),
    ],
)
def test_substitutions_in_pc866(text: str, printed: str) -> None:
    profile = load_profile("TM-T20III")
    assert to_printable(text, profile) == printed
    assert encode(text, profile) == printed.encode("cp866")


def test_placeholder_is_not_a_question_mark() -> None:
    assert PLACEHOLDER != "?"
    assert encode("?", load_profile("XP-80")) == b"?"


def test_nbsp_is_a_space_even_where_the_table_has_it() -> None:
    # CP866 has NBSP at FF, which some printers show as a box.
    assert encode("1\u00a02", load_profile("TM-T20III")) == b"1 2"


def test_a_table_the_model_lacks_is_refused() -> None:
    with pytest.raises(ProfileError, match=r"XP-80.*PC855"):
        encode("Й", load_profile("XP-80"), "PC855")


@given(st.text().filter(lambda t: "?" not in t))
def test_never_a_question_mark(text: str) -> None:
    assert b"?" not in encode(text, load_profile("RP-326"))


@given(st.text())
def test_one_byte_per_printed_character(text: str) -> None:
    profile = load_profile("POS-5890")
    assert len(encode(text, profile)) == len(to_printable(text, profile))
    assert encode(to_printable(text, profile), profile) == encode(text, profile)
