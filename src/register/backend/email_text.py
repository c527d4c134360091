"""E-mails as the bytes SMTP carries, without the email package's header folding on every message.

``EmailMessage`` parses and folds each header through its header registry: 6 ms of CPU for one e-mail
with a Cyrillic subject, which made the message sender the backend's largest cost under load. Here every
header is ASCII: non-ASCII text becomes RFC 2047 encoded words, made by ``email.header`` once per
distinct text (subjects and the sender's name repeat from one e-mail to the next); the body is UTF-8 in
base64. Any reader of mail (the ``email`` package's parser included) reads it back as the same text.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from email.header import Header
from email.utils import formataddr, formatdate
from functools import lru_cache

CRLF = "\r\n"
LINE_LIMIT = 78  # RFC 5322's recommended line length


def plain_address(address: str) -> bool:
    """Whether ``address`` can go as it is in a header and in RCPT TO: ASCII, no spaces or line breaks
    (anything else takes the ``email`` package's slower path, which knows SMTPUTF8)."""
    return (
        "@" in address
        and address.isascii()
        and address.isprintable()
        and not any(c.isspace() for c in address)
    )


def header_value(name: str, text: str) -> str:
    """``text`` as the value of header ``name``: on one logical line (line breaks would end the header),
    as it is when ASCII, else as encoded words folded to the line limit."""
    one_line = " ".join(text.split())
    return one_line if one_line.isascii() else _encoded_words(name, one_line)


@lru_cache(maxsize=1024)
def _encoded_words(name: str, text: str) -> str:
    return Header(text, "utf-8", header_name=name).encode(linesep=CRLF)


@lru_cache(maxsize=64)
def mailbox(header: str, name: str, address: str) -> str:
    """``Name <address>`` as the value of ``header``: the name quoted or as one encoded word, as it
    needs (split in several, Python's own parser reads spaces into the name), the address on a line of
    its own when the line would pass the limit."""
    one_line = " ".join(name.split())
    if not one_line:
        return address
    display = formataddr((one_line, address), charset="utf-8")[: -(len(address) + 3)]
    fits = len(header) + 2 + len(display) + len(address) + 3 <= LINE_LIMIT
    return f"{display}{' ' if fits else CRLF + ' '}<{address}>"


def email_bytes(
    *,
    sender: tuple[str, str],
    recipient: str,
    subject: str,
    body: str,
    message_id: str,
    extra_headers: Sequence[tuple[str, str]] = (),
) -> bytes:
    """A text/plain e-mail from ``sender`` (name, address) to the plain address ``recipient``."""
    if not plain_address(recipient):
        raise ValueError(f"not a plain address: {recipient!r}")
    headers = [
        ("From", mailbox("From", *sender)),
        ("To", recipient),
        ("Subject", header_value("Subject", subject)),
        ("Date", formatdate(usegmt=True)),
        ("Message-ID", header_value("Message-ID", message_id)),
        *((name, header_value(name, value)) for name, value in extra_headers),
        ("MIME-Version", "1.0"),
        ("Content-Type", 'text/plain; charset="utf-8"'),
        ("Content-Transfer-Encoding", "base64"),
    ]
    encoded_body = base64.encodebytes(body.encode("utf-8")).decode("ascii").replace("\n", CRLF)
    text = "".join(f"{name}: {value}{CRLF}" for name, value in headers) + CRLF + encoded_body
    return text.encode("ascii")
