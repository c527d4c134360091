from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from register.domain.text import PLACEHOLDER, fold_to_codec


def test_substitutions_for_cp866() -> None:
    assert fold_to_codec("Кофе «Арабика» — 459 ₽", "cp866") == 'Кофе "Арабика" - 459 руб.'
    assert fold_to_codec("Ёжик №5, Ціна", "cp866") == "Ёжик №5, Цiна"
    assert fold_to_codec("Café crème", "cp866") == "Cafe creme"


def test_unknown_character_is_a_visible_placeholder() -> None:
    assert fold_to_codec("中", "cp866") == PLACEHOLDER == "*"


@given(st.text())
def test_result_always_encodes(text: str) -> None:
    folded = fold_to_codec(text, "cp866")
    folded.encode("cp866")
    assert "?" not in folded or "?" in text
