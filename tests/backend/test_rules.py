"""Pure rules of the backend: contacts and the notifier, templates, points, secrets."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from register.backend.contacts import (
    ContactError,
    ContactKind,
    Notifier,
    choose_notifier,
    normalise_email,
    normalise_phone,
)
from register.backend.credentials import hash_secret, token_digest, verify_secret
from register.backend.offers import TemplateError, check_template, render
from register.backend.purchases import points_for

ten_digits = st.text(alphabet="0123456789", min_size=10, max_size=10)


@given(
    ten_digits,
    st.sampled_from(
        ["+7{}", "8{}", "7{}", "+7 ({0[0]}{0[1]}{0[2]}) {0[3]}{0[4]}{0[5]}-{0[6]}{0[7]}-{0[8]}{0[9]}"]
    ),
)
def test_every_written_form_of_a_russian_number_normalises_to_plus_seven(digits: str, form: str) -> None:
    assert normalise_phone(form.format(digits)) == "+7" + digits


@pytest.mark.parametrize("text", ["12345", "+1 202 555 0100", "+7900123450", "+790012345021", "телефон"])
def test_non_russian_or_short_numbers_are_refused(text: str) -> None:
    with pytest.raises(ContactError, match="Russian phone"):
        normalise_phone(text)


def test_emails_are_lower_cased_and_limited_to_tag_1008() -> None:
    assert normalise_email(" Anna@Example.RU ") == "anna@example.ru"
    with pytest.raises(ContactError):
        normalise_email("a" * 60 + "@example.ru")  # 71 characters > 64
    with pytest.raises(ContactError):
        normalise_email("анна@пример.рф")  # tag 1008 carries ASCII addresses here


contact_states = st.fixed_dictionaries(
    {
        "email": st.sampled_from([None, "a@b.ru"]),
        "email_confirmed": st.booleans(),
        "phone": st.sampled_from([None, "+79000000000"]),
        "phone_confirmed": st.booleans(),
        "preferred": st.sampled_from([None, ContactKind.EMAIL, ContactKind.PHONE]),
    }
)


@given(contact_states)
def test_the_notifier_is_always_a_confirmed_contact_preferred_first_then_email(state: dict) -> None:
    notifier = choose_notifier(**state)

    confirmed = {
        ContactKind.EMAIL: state["email"] if state["email_confirmed"] else None,
        ContactKind.PHONE: state["phone"] if state["phone_confirmed"] else None,
    }
    if not any(confirmed.values()):
        assert notifier is None
        return
    assert notifier is not None
    assert confirmed[notifier.kind] == notifier.value
    if state["preferred"] is not None and confirmed[state["preferred"]]:
        assert notifier.kind is state["preferred"]
    elif confirmed[ContactKind.EMAIL]:
        assert notifier.kind is ContactKind.EMAIL


def test_the_notifier_of_the_reference_example() -> None:
    # loyalty-protocol.md: several contacts, none preferred: the e-mail goes into 1008.
    assert choose_notifier(
        email="anna@example.ru",
        email_confirmed=True,
        phone="+79001234502",
        phone_confirmed=True,
        preferred=None,
    ) == Notifier(ContactKind.EMAIL, "anna@example.ru")


def test_templates_fill_the_four_placeholders_and_leave_other_text() -> None:
    values = {
        "receipt_url": "https://x/r/1",
        "total": "355.81 ₽",
        "datetime": "15.01.2026 14:32",
        "shop": "Магазин",
    }

    assert render("Ваш чек: {receipt_url} на {total}, {datetime}, {shop} {}", values) == (
        "Ваш чек: https://x/r/1 на 355.81 ₽, 15.01.2026 14:32, Магазин {}"
    )


@given(st.text())
def test_rendering_never_fails_and_is_identity_without_placeholders(template: str) -> None:
    rendered = render(template, {"total": "1 ₽"})
    if "{total}" not in template:
        assert rendered == template


def test_unknown_placeholders_are_named() -> None:
    with pytest.raises(TemplateError, match=r"\{receipt\}"):
        check_template("Чек: {receipt}")


@pytest.mark.parametrize(("total", "points"), [(0, 0), (9999, 0), (10000, 1), (35581, 3), (1_000_000, 100)])
def test_one_point_per_full_100_roubles(total: int, points: int) -> None:
    assert points_for(total) == points


def test_secrets_verify_only_against_their_own_salted_hash() -> None:
    stored = hash_secret("lab")

    assert stored.startswith("scrypt$")
    assert stored != hash_secret("lab")  # salted
    assert verify_secret("lab", stored)
    assert not verify_secret("lab2", stored)
    assert not verify_secret("lab", "garbage")


def test_tokens_are_stored_as_sha256() -> None:
    # SHA-256("abc"), FIPS 180-2 example.
    assert token_digest("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
