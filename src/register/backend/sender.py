"""The message sender: a thread that delivers queued messages after the request that queued them commits.

E-mail goes over SMTP; SMS and push go into the ``outbox`` table (the lab shows it as the customer's
phone). A message is claimed before it is sent (``queued`` -> ``sending`` by a conditional UPDATE), so
several senders (threads or backend processes on one PostgreSQL) never send it twice; a crash between
claim and outcome leaves it ``sending``, which start-up marks failed rather than risk a second copy.
"""

from __future__ import annotations

import logging
import smtplib
import threading
from email.message import EmailMessage
from email.utils import formataddr, make_msgid

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.engine import RowMapping

from register.backend.database import Database
from register.backend.schema import messages, outbox
from register.backend.settings import BackendSettings
from register.backend.timeutil import utc_now_text, utc_text_after

log = logging.getLogger(__name__)

BATCH = 50
STALE_CLAIM_SECONDS = 300
SENDER_NAME = "Программа лояльности"


class SendFailure(Exception):
    """Why a message could not be delivered (stored as the message's error)."""


class MessageSender:
    """Delivers queued messages in a background thread; ``wake()`` after committing new ones."""

    def __init__(self, db: Database, settings: BackendSettings) -> None:
        self._db = db
        self._settings = settings
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._fail_interrupted_claims()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="loyalty-sender", daemon=True)
        self._thread.start()
        self.wake()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=self._settings.smtp_timeout + 5)
            self._thread = None

    def wake(self) -> None:
        self._wake.set()

    def drain(self) -> int:
        """Deliver every message queued now; return how many were handled."""
        handled = 0
        while not self._stop.is_set():
            with self._db.read() as conn:
                batch = (
                    conn.execute(
                        select(messages)
                        .where(messages.c.status == "queued")
                        .order_by(messages.c.created_at, messages.c.id)
                        .limit(BATCH)
                    )
                    .mappings()
                    .all()
                )
            if not batch:
                return handled
            for message in batch:
                handled += self._deliver(message)
        return handled

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._settings.sender_poll_seconds)
            self._wake.clear()
            try:
                self.drain()
            except Exception:  # the sender must outlive a database hiccup; the next round retries
                log.exception("message sender round failed")

    def _deliver(self, message: RowMapping) -> int:
        if message["channel"] == "email":
            if not self._claim(message["id"]):
                return 0
            try:
                self._send_email(message)
            except SendFailure as failure:
                self._finish(message["id"], "failed", str(failure))
            else:
                self._finish(message["id"], "sent", None)
            return 1
        with self._db.write() as conn:
            if not _set_status(conn, message["id"], "queued", "sent", None):
                return 0
            conn.execute(
                insert(outbox).values(
                    message_id=message["id"],
                    channel=message["channel"],
                    recipient=message["recipient"],
                    text=message["body"],
                    created_at=utc_now_text(),
                )
            )
        return 1

    def _claim(self, message_id: str) -> bool:
        with self._db.write() as conn:
            return (
                conn.execute(
                    update(messages)
                    .where(messages.c.id == message_id, messages.c.status == "queued")
                    .values(status="sending", claimed_at=utc_now_text())
                ).rowcount
                == 1
            )

    def _finish(self, message_id: str, status: str, error: str | None) -> None:
        with self._db.write() as conn:
            _set_status(conn, message_id, "sending", status, error)

    def _send_email(self, message: RowMapping) -> None:
        settings = self._settings
        if not settings.smtp_host:
            raise SendFailure("SMTP не настроен")
        email = EmailMessage()
        email["From"] = formataddr((SENDER_NAME, settings.smtp_sender))
        email["To"] = message["recipient"]
        email["Subject"] = message["subject"] or "Ваш чек"
        email["Message-ID"] = make_msgid(
            idstring=message["id"], domain=settings.smtp_sender.rpartition("@")[2]
        )
        email["X-Loyalty-Message-Id"] = message["id"]
        email.set_content(message["body"])
        try:
            with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout) as smtp:
                smtp.send_message(email)
        except smtplib.SMTPRecipientsRefused as exc:
            raise SendFailure(f"SMTP отказал получателю: {_smtp_reason(exc.recipients)}") from None
        except smtplib.SMTPException as exc:
            raise SendFailure(f"SMTP отказал: {exc}") from None
        except OSError as exc:
            raise SendFailure(f"SMTP {settings.smtp_host}:{settings.smtp_port} недоступен: {exc}") from None

    def _fail_interrupted_claims(self) -> None:
        stale_before = utc_text_after(-STALE_CLAIM_SECONDS)
        with self._db.write() as conn:
            conn.execute(
                update(messages)
                .where(messages.c.status == "sending", messages.c.claimed_at < stale_before)
                .values(
                    status="failed",
                    error="отправка прервана перезапуском; не повторяется, чтобы не отправить дважды",
                )
            )


def _set_status(conn: Connection, message_id: str, expected: str, status: str, error: str | None) -> bool:
    result = conn.execute(
        update(messages)
        .where(messages.c.id == message_id, messages.c.status == expected)
        .values(status=status, error=error, sent_at=utc_now_text() if status == "sent" else None)
    )
    return result.rowcount == 1


def _smtp_reason(recipients: dict[str, tuple[int, bytes]]) -> str:
    return "; ".join(
        f"{who}: {code} {reply.decode(errors='replace')}" for who, (code, reply) in recipients.items()
    )
