"""The lab's SMTP sink over real SMTP (smtplib as the client): one numbered .eml per message."""

from __future__ import annotations

import signal
import smtplib
import subprocess
import sys
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest

from register.lab.smtp_sink import SmtpSink, SmtpSinkError

DEADLINE = 10.0


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[SmtpSink]:
    with SmtpSink(tmp_path / "mail") as running:
        yield running


def _mail(subject: str, to: str = "buyer@example.com", body: str = "Итог: 814.81") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "noreply@lab.example"
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    return message


def _send(address: tuple[str, int], message: EmailMessage, **kwargs: object) -> None:
    with smtplib.SMTP(*address, timeout=DEADLINE) as client:
        client.send_message(message, **kwargs)  # type: ignore[arg-type]


def test_each_message_becomes_the_next_numbered_file(sink: SmtpSink) -> None:
    assert sink.address is not None
    _send(sink.address, _mail("Первый чек"))
    _send(sink.address, _mail("Второй чек", to="other@example.com"))
    assert [path.name for path in sink.files()] == ["0001.eml", "0002.eml"]
    first, second = sink.messages()
    assert (first["Subject"], first["To"]) == ("Первый чек", "buyer@example.com")
    assert (second["Subject"], second["To"]) == ("Второй чек", "other@example.com")
    assert first.get_content().strip() == "Итог: 814.81"


def test_the_envelope_is_kept_even_for_bcc(sink: SmtpSink) -> None:
    assert sink.address is not None
    _send(sink.address, _mail("Чек"), to_addrs=["buyer@example.com", "audit@example.com"])
    (message,) = sink.messages()
    assert message["X-Envelope-From"] == "noreply@lab.example"
    assert message["X-Envelope-To"] == "buyer@example.com, audit@example.com"
    assert message["To"] == "buyer@example.com"


def test_numbering_continues_after_a_restart(tmp_path: Path) -> None:
    mail_dir = tmp_path / "mail"
    with SmtpSink(mail_dir) as first:
        assert first.address is not None
        _send(first.address, _mail("до перезапуска"))
    with SmtpSink(mail_dir) as second:
        assert second.address is not None
        _send(second.address, _mail("после перезапуска"))
        assert [path.name for path in second.files()] == ["0001.eml", "0002.eml"]
        assert [m["Subject"] for m in second.messages()] == ["до перезапуска", "после перезапуска"]


def test_files_sort_by_number_beyond_four_digits(tmp_path: Path) -> None:
    mail_dir = tmp_path / "mail"
    mail_dir.mkdir()
    (mail_dir / "9999.eml").write_bytes(b"Subject: old\r\n\r\nx\r\n")
    with SmtpSink(mail_dir) as running:
        assert running.address is not None
        _send(running.address, _mail("новый"))
        assert [path.name for path in running.files()] == ["9999.eml", "10000.eml"]


def test_a_port_in_use_is_a_clear_error(sink: SmtpSink, tmp_path: Path) -> None:
    assert sink.address is not None
    host, port = sink.address
    with pytest.raises(SmtpSinkError, match=f"cannot listen on {host}:{port}"):
        SmtpSink(tmp_path / "other", host, port).start()


def test_stop_twice_is_harmless(tmp_path: Path) -> None:
    running = SmtpSink(tmp_path / "mail")
    running.start()
    running.stop()
    running.stop()


def test_serve_sink_as_a_process(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "register.lab.smtp_sink", "--dir", str(tmp_path / "mail")]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            first = process.stdout.readline()
            assert first.startswith("smtp: 127.0.0.1:")
            host, port = first.removeprefix("smtp: ").strip().rsplit(":", 1)
            _send((host, int(port)), _mail("из процесса"))
            assert (tmp_path / "mail" / "0001.eml").exists()
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=DEADLINE) == 0
        finally:
            if process.poll() is None:
                process.kill()
