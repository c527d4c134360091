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
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from functools import partial

from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.engine import RowMapping

from register.backend.database import Database
from register.backend.schema import messages, outbox
from register.backend.settings import BackendSettings
from register.backend.timeutil import utc_now_text, utc_text_after

log = logging.getLogger(__name__)

BATCH = 50
GATHER_SECONDS = 0.02
STALE_CLAIM_SECONDS = 300
SENDER_NAME = "Программа лояльности"

# Built once: SQLAlchemy then reuses their cache keys and compiled forms on every round.
_QUEUED = (
    select(messages)
    .where(messages.c.status == "queued")
    .order_by(messages.c.created_at, messages.c.id)
    .limit(BATCH)
)
_CLAIM = (
    update(messages)
    .where(messages.c.id == bindparam("message_id"), messages.c.status == "queued")
    .values(status="sending")
)
_SET_STATUS = update(messages).where(
    messages.c.id == bindparam("message_id"), messages.c.status == bindparam("expected")
)
_INSERT_OUTBOX = insert(outbox)


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
                batch = conn.execute(_QUEUED).mappings().all()
            if not batch:
                return handled
            handled += self._deliver_outbox([m for m in batch if m["channel"] != "email"])
            handled += self._deliver_emails([m for m in batch if m["channel"] == "email"])
        return handled

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._settings.sender_poll_seconds)
            # Under load a wake comes with every request: gather a moment so one round takes many messages.
            self._stop.wait(GATHER_SECONDS)
            self._wake.clear()
            try:
                self.drain()
            except Exception:  # the sender must outlive a database hiccup; the next round retries
                log.exception("message sender round failed")

    def _deliver_outbox(self, batch: list[RowMapping]) -> int:
        """SMS and push: into the outbox, the whole batch in one transaction."""
        if not batch:
            return 0
        handled = 0
        with self._db.write() as conn:
            for message in batch:
                if not _set_status(conn, message["id"], "queued", "sent", None):
                    continue
                conn.execute(
                    _INSERT_OUTBOX,
                    {
                        "message_id": message["id"],
                        "channel": message["channel"],
                        "recipient": message["recipient"],
                        "text": message["body"],
                        "created_at": utc_now_text(),
                    },
                )
                handled += 1
        return handled

    def _deliver_emails(self, batch: list[RowMapping]) -> int:
        """E-mails: claimed together, sent over one SMTP connection, outcomes stored together."""
        claimed = self._claim(batch)
        if not claimed:
            return 0
        outcomes: list[tuple[str, str, str | None]] = []
        with _SmtpSession(self._settings) as session:
            for message in claimed:
                try:
                    session.send(partial(self._email, message))
                except SendFailure as failure:
                    outcomes.append((message["id"], "failed", str(failure)))
                else:
                    outcomes.append((message["id"], "sent", None))
        with self._db.write() as conn:
            for message_id, status, error in outcomes:
                _set_status(conn, message_id, "sending", status, error)
        return len(claimed)

    def _claim(self, batch: list[RowMapping]) -> list[RowMapping]:
        """The messages of ``batch`` this sender claimed (``queued`` -> ``sending``); others are taken."""
        if not batch:
            return []
        claimed_at = utc_now_text()
        with self._db.write() as conn:
            return [
                message
                for message in batch
                if conn.execute(_CLAIM, {"message_id": message["id"], "claimed_at": claimed_at}).rowcount == 1
            ]

    def _email(self, message: RowMapping) -> EmailMessage:
        settings = self._settings
        email = EmailMessage()
        email["From"] = formataddr((SENDER_NAME, settings.smtp_sender))
        email["To"] = message["recipient"]
        email["Subject"] = message["subject"] or "Ваш чек"
        email["Message-ID"] = make_msgid(
            idstring=message["id"], domain=settings.smtp_sender.rpartition("@")[2]
        )
        email["X-Loyalty-Message-Id"] = message["id"]
        email.set_content(message["body"])
        return email

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


class _SmtpSession:
    """One SMTP connection for a batch of e-mails, opened at the first e-mail (again after a failure)."""

    def __init__(self, settings: BackendSettings) -> None:
        self._settings = settings
        self._smtp: smtplib.SMTP | None = None

    def __enter__(self) -> _SmtpSession:
        return self

    def __exit__(self, *_exc: object) -> None:
        self._close()

    def send(self, build: Callable[[], EmailMessage]) -> None:
        """Connect if need be, then build the e-mail and send it (nothing is built that cannot go)."""
        settings = self._settings
        if not settings.smtp_host:
            raise SendFailure("SMTP не настроен")
        try:
            if self._smtp is None:
                self._smtp = smtplib.SMTP(
                    settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout
                )
            self._smtp.send_message(build())
        except smtplib.SMTPRecipientsRefused as exc:  # the connection stays usable
            raise SendFailure(f"SMTP отказал получателю: {_smtp_reason(exc.recipients)}") from None
        except smtplib.SMTPException as exc:
            self._close()
            raise SendFailure(f"SMTP отказал: {exc}") from None
        except OSError as exc:
            self._close()
            raise SendFailure(f"SMTP {settings.smtp_host}:{settings.smtp_port} недоступен: {exc}") from None

    def _close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()


def _set_status(conn: Connection, message_id: str, expected: str, status: str, error: str | None) -> bool:
    result = conn.execute(
        _SET_STATUS,
        {
            "message_id": message_id,
            "expected": expected,
            "status": status,
            "error": error,
            "sent_at": utc_now_text() if status == "sent" else None,
        },
    )
    return result.rowcount == 1


def _smtp_reason(recipients: dict[str, tuple[int, bytes]]) -> str:
    return "; ".join(
        f"{who}: {code} {reply.decode(errors='replace')}" for who, (code, reply) in recipients.items()
    )
