"""E-mails built as bytes read back, with the ``email`` package's own parser, as the text they were made
from: Cyrillic subject and sender, long lines, and no header smuggled in through a line break."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest

from register.backend.email_text import email_bytes, plain_address

SUBJECT = "Ваш чек от магазина «Лаборатория» №1 — спасибо за покупку, приходите ещё!"
BODY = (
    "Здравствуйте, Анна!\nВаш чек: https://check.ofd.lab/rec/9999078900004312/123/4567890\nИТОГ: 179.80 ₽\n"
)


def _parsed(raw: bytes) -> EmailMessage:
    parsed = message_from_bytes(raw, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def _mail(**changes: object) -> bytes:
    fields: dict[str, object] = {
        "sender": ("Программа лояльности", "loyalty@shop.lab"),
        "recipient": "anna@example.ru",
        "subject": SUBJECT,
        "body": BODY,
        "message_id": "<1.m-1@shop.lab>",
        "extra_headers": [("X-Loyalty-Message-Id", "m-1")],
    }
    fields.update(changes)
    return email_bytes(**fields)  # type: ignore[arg-type]


def test_the_mail_reads_back_as_the_text_it_was_made_from() -> None:
    raw = _mail()
    mail = _parsed(raw)
    assert mail["Subject"] == SUBJECT
    assert mail["From"] == "Программа лояльности <loyalty@shop.lab>"
    assert mail["From"].addresses[0].addr_spec == "loyalty@shop.lab"
    assert mail["To"] == "anna@example.ru"
    assert mail["Message-ID"] == "<1.m-1@shop.lab>"
    assert mail["X-Loyalty-Message-Id"] == "m-1"
    assert mail["Date"].datetime is not None
    assert mail.get_content_type() == "text/plain"
    assert mail.get_content() == BODY
    assert raw.isascii()
    assert all(len(line) <= 78 for line in raw.split(b"\r\n"))  # folded to the line limit
    assert b"\n" not in raw.replace(b"\r\n", b"")  # every line ends CRLF, as SMTP wants


def test_a_line_break_in_a_subject_or_a_name_cannot_add_a_header() -> None:
    mail = _parsed(
        _mail(
            subject="Скидка\r\nBcc: all@example.ru",
            sender=("Shop\nBcc: x@example.ru", "loyalty@shop.lab"),
            extra_headers=[("X-Loyalty-Message-Id", "m-1\r\nBcc: y@example.ru")],
        )
    )
    assert mail["Bcc"] is None
    assert mail["Subject"] == "Скидка Bcc: all@example.ru"
    assert mail["From"].addresses[0].addr_spec == "loyalty@shop.lab"


@pytest.mark.parametrize(
    "name",
    [
        "Shop, Inc.",  # specials: quoted
        'The "Lab" shop',
        "Программа лояльности сети магазинов «Лаборатория» и её партнёров по всей стране",
        "",
    ],
)
def test_the_senders_name_reads_back_and_lines_keep_the_limit(name: str) -> None:
    raw = _mail(sender=(name, "loyalty@shop.lab"), subject="Your receipt")
    mail = _parsed(raw)
    assert mail["From"].addresses[0].display_name == name
    assert mail["From"].addresses[0].addr_spec == "loyalty@shop.lab"
    assert mail["Subject"] == "Your receipt"
    # 78 is the limit lines should keep; one encoded name may pass it, never SMTP's 998
    assert all(len(line) <= (78 if len(name) < 30 else 998) for line in raw.split(b"\r\n"))


@pytest.mark.parametrize(
    "address, plain",
    [
        ("anna@example.ru", True),
        ("анна@пример.рф", False),  # international: SMTPUTF8, the email package's path
        ("anna@example.ru\r\nRCPT TO:<x@example.ru>", False),
        ("anna @example.ru", False),
        ("", False),
    ],
)
def test_only_plain_addresses_take_this_path(address: str, plain: bool) -> None:
    assert plain_address(address) is plain
    if not plain:
        with pytest.raises(ValueError, match="plain address"):
            _mail(recipient=address)
