"""The benchmark's mail server speaks SMTP as smtplib expects and counts each message once, whatever
the message holds (a dot line, a size spread over many reads)."""

from __future__ import annotations

import asyncio
import smtplib
import threading
from collections.abc import Iterator
from email.message import EmailMessage

import pytest
import uvloop

from register.bench_smtp import DiscardingSmtp


@pytest.fixture(params=["asyncio", "uvloop"])
def server(request: pytest.FixtureRequest) -> Iterator[tuple[int, list[int]]]:
    loop = asyncio.new_event_loop() if request.param == "asyncio" else uvloop.new_event_loop()
    counter = [0]
    listening = loop.run_until_complete(loop.create_server(lambda: DiscardingSmtp(counter), "127.0.0.1", 0))
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield listening.sockets[0].getsockname()[1], counter
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        listening.close()
        loop.close()


def test_messages_are_accepted_and_counted_once_each(server: tuple[int, list[int]]) -> None:
    port, counter = server
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "shop@example.ru", "anna@example.ru", "Чек"
    mail.set_content("Строка\n.\n..начало с точки\n")
    with smtplib.SMTP("127.0.0.1", port, timeout=5) as smtp:
        assert smtp.ehlo()[0] == 250
        smtp.send_message(mail)
        smtp.sendmail(
            "shop@example.ru", ["anna@example.ru"], b"Subject: big\r\n\r\n" + b"x" * 70 + b"\r\n" * 3000
        )
        smtp.sendmail("shop@example.ru", ["anna@example.ru"], b".\r\n")
        assert smtp.docmd("VRFY", "anna")[0] == 502
        assert smtp.noop()[0] == 250
    assert counter[0] == 3
