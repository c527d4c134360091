"""The lab's SMTP sink: a real SMTP server (aiosmtpd) that keeps every message as a .eml file.

Files are named by arrival, ``0001.eml``, ``0002.eml`` …, continuing after the files already in the
directory. Each file is the message as received, preceded by ``X-Envelope-From`` and ``X-Envelope-To``
headers (the SMTP envelope, which Bcc recipients appear only in). Nothing is relayed anywhere.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email
import email.policy
import logging
import os
import sys
import threading
from collections.abc import Sequence
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.smtp import SMTP, Envelope, Session

from register.lab.serving import serve_until_signalled

log = logging.getLogger(__name__)

START_TIMEOUT = 10.0
SINK_HOSTNAME = "smtp-sink.lab"


class SmtpSinkError(RuntimeError):
    """The sink could not start, or was used before it started."""


def _number(path: Path) -> int | None:
    return int(path.stem) if path.suffix == ".eml" and path.stem.isdigit() else None


def message_files(mail_dir: Path) -> list[Path]:
    """The .eml files of a sink directory in arrival order."""
    numbered = [(n, p) for p in Path(mail_dir).glob("*.eml") if (n := _number(p)) is not None]
    return [path for _, path in sorted(numbered)]


class _Keeper:
    """aiosmtpd handler: writes each accepted message to the next numbered file."""

    def __init__(self, mail_dir: Path) -> None:
        self.mail_dir = mail_dir
        existing = [n for p in mail_dir.glob("*.eml") if (n := _number(p)) is not None]
        self._next = max(existing, default=0) + 1
        self._lock = threading.Lock()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or envelope.content or b""
        if isinstance(content, str):
            content = content.encode("utf-8")
        envelope_headers = (
            f"X-Envelope-From: {envelope.mail_from}\r\nX-Envelope-To: {', '.join(envelope.rcpt_tos)}\r\n"
        ).encode()
        try:
            path = self._write(envelope_headers + content)
        except OSError as exc:
            log.error("SMTP sink: cannot keep a message: %s", exc)
            return "451 Requested action aborted: cannot store the message"
        log.info("SMTP sink: %s from %s to %s", path.name, envelope.mail_from, envelope.rcpt_tos)
        return "250 Message accepted for delivery"

    def _write(self, data: bytes) -> Path:
        with self._lock:
            number = self._next
            self._next += 1
        path = self.mail_dir / f"{number:04d}.eml"
        partial = path.with_suffix(".part")
        with partial.open("wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        partial.replace(path)
        return path


class SmtpSink:
    """An SMTP server on its own event-loop thread, keeping messages in ``mail_dir``."""

    def __init__(self, mail_dir: Path, host: str = "127.0.0.1", port: int = 0) -> None:
        self.mail_dir = Path(mail_dir)
        self.host = host
        self.port = port
        self.address: tuple[str, int] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> tuple[str, int]:
        """Listen; return the (host, port) actually bound."""
        if self._thread is not None:
            raise SmtpSinkError("SMTP sink already started")
        self.mail_dir.mkdir(parents=True, exist_ok=True)
        keeper = _Keeper(self.mail_dir)
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        failure: list[BaseException] = []

        def factory() -> SMTP:
            return SMTP(keeper, hostname=SINK_HOSTNAME, enable_SMTPUTF8=True, decode_data=False, loop=loop)

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                self._server = loop.run_until_complete(loop.create_server(factory, self.host, self.port))
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                self._server.close()
                loop.run_until_complete(self._server.wait_closed())
                loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=run, name="smtp-sink", daemon=True)
        self._thread.start()
        if not ready.wait(START_TIMEOUT) or failure:
            self._thread.join(START_TIMEOUT)
            self._thread = None
            reason = failure[0] if failure else "no answer from the server thread"
            raise SmtpSinkError(f"SMTP sink cannot listen on {self.host}:{self.port}: {reason}")
        assert self._server is not None
        bound = self._server.sockets[0].getsockname()
        self.address = (bound[0], bound[1])
        return self.address

    def stop(self) -> None:
        """Stop listening; messages already kept stay. Safe to call twice."""
        if self._thread is None or self._loop is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop already closed
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._thread = None
        self._loop = None

    def __enter__(self) -> SmtpSink:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def files(self) -> list[Path]:
        return message_files(self.mail_dir)

    def messages(self) -> list[EmailMessage]:
        """Every kept message, parsed, in arrival order."""
        parsed = []
        for path in self.files():
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            assert isinstance(message, EmailMessage)
            parsed.append(message)
        return parsed


def serve_sink(mail_dir: Path, listen: str = "127.0.0.1:0") -> None:
    """Run the sink until SIGTERM/SIGINT; print ``smtp: HOST:PORT`` once ready. Main thread only."""
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 0xFFFF:
        raise ValueError(f"SMTP sink address {listen!r} is not HOST:PORT")
    sink = SmtpSink(mail_dir, host.strip("[]") or "127.0.0.1", int(port))

    def start() -> str:
        bound_host, bound_port = sink.start()
        return f"smtp: {bound_host}:{bound_port}"

    serve_until_signalled(start, sink.stop)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m register.lab.smtp_sink", description=__doc__)
    parser.add_argument("--dir", type=Path, required=True, help="directory for the .eml files")
    parser.add_argument("--listen", default="127.0.0.1:0", help="HOST:PORT (0: any free port)")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        serve_sink(args.dir, args.listen)
    except (ValueError, SmtpSinkError) as exc:
        print(f"smtp: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
