"""The message sender: a thread that delivers queued messages after the request that queued them commits.

E-mail goes over SMTP; SMS and push go into the ``outbox`` table (the lab shows it as the customer's
phone). A message is claimed before it is sent (``queued`` or ``retrying`` -> ``sending`` by a
conditional UPDATE), so several senders (threads or backend processes on one PostgreSQL) never send it
twice; a crash between claim and outcome leaves it ``sending``, which start-up marks failed rather than
risk a second copy.

An e-mail the SMTP server could not take for now (unreachable, disconnected, a 4xx answer) becomes
``retrying`` with its next attempt due after a backoff (``smtp_retry_seconds``, doubled each time, at
most ``smtp_retry_max_seconds``); after ``smtp_max_attempts`` attempts it is ``failed`` with the last
reason. A permanent refusal (5xx) fails it at once. Like the OFD's mailer, that is the difference between
a receipt delayed and a receipt lost when the mail server restarts.
"""

from __future__ import annotations

import logging
import smtplib
import threading
from collections.abc import Callable
from datetime import timedelta
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from functools import partial

from sqlalchemy import Connection, Update, and_, bindparam, insert, or_, select, update
from sqlalchemy.engine import RowMapping

from register.backend.database import Database
from register.backend.prepared import Prepared
from register.backend.schema import messages, outbox
from register.backend.settings import BackendSettings
from register.backend.timeutil import utc_now, utc_now_text, utc_text, utc_text_after

log = logging.getLogger(__name__)

BATCH = 50
GATHER_SECONDS = 0.2
STALE_CLAIM_SECONDS = 300
SENDER_NAME = "Программа лояльности"

# Built once: SQLAlchemy then reuses their cache keys and compiled forms on every round.
_DUE = Prepared(
    select(messages)
    .where(
        or_(
            messages.c.status == "queued",
            and_(messages.c.status == "retrying", messages.c.next_attempt_at <= bindparam("now")),
        )
    )
    .order_by(messages.c.created_at, messages.c.id)
    .limit(BATCH)
)
# A batch is claimed per status it was read with (``queued``, ``retrying``): the messages still in that
# status and still due (another sender may have tried one since) are locked, then updated. On PostgreSQL
# a message another sender's transaction holds is skipped, not waited for: two senders each waiting on
# rows the other had locked was a deadlock. (SQLite ignores the clause: its writers are serial.) Two
# statements, not one UPDATE over a locking subquery: PostgreSQL planned that as a scan of the table.
_LOCK_CLAIMABLE = (
    select(messages.c.id)
    .where(
        messages.c.id.in_(bindparam("message_ids", expanding=True)),
        messages.c.status == bindparam("expected"),
        or_(messages.c.next_attempt_at.is_(None), messages.c.next_attempt_at <= bindparam("claim_time")),
    )
    .with_for_update(skip_locked=True)
)
_LOCKED = messages.c.id.in_(bindparam("message_ids", expanding=True))
_CLAIM = update(messages).where(_LOCKED).values(status="sending", claimed_at=bindparam("claim_time"))
_CLAIM_SENT = (  # SMS and push: claimed and delivered (into the outbox) in one transaction
    update(messages)
    .where(_LOCKED)
    .values(
        status="sent",
        error=None,
        sent_at=bindparam("claim_time"),
        attempts=messages.c.attempts + 1,
        next_attempt_at=None,
    )
)
_SET_STATUS = Prepared(
    update(messages).where(
        messages.c.id == bindparam("message_id"), messages.c.status == bindparam("expected")
    )
)
_INSERT_OUTBOX = Prepared(insert(outbox))


class SendFailure(Exception):
    """Why a message could not be delivered (stored as the message's error).

    ``permanent``: a retry would be refused the same way (5xx, no SMTP configured). ``unreachable``: the
    server could not be talked to at all, so the rest of the batch would fare no better now."""

    def __init__(self, reason: str, *, permanent: bool, unreachable: bool = False) -> None:
        super().__init__(reason)
        self.permanent = permanent
        self.unreachable = unreachable


def retry_delay(settings: BackendSettings, attempts: int) -> float:
    """Seconds before the next attempt of an e-mail that has failed ``attempts`` times for now."""
    return min(settings.smtp_retry_seconds * 2 ** max(0, attempts - 1), settings.smtp_retry_max_seconds)


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
                batch = _DUE.execute(conn, {"now": utc_now_text()}).all()
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
        with self._db.write() as conn:
            # Claimed and marked sent in one go: the outbox row is written in the same transaction.
            claimed = _claim(conn, _CLAIM_SENT, batch)
            if claimed:
                _INSERT_OUTBOX.defer(
                    conn,
                    [
                        {
                            "message_id": message["id"],
                            "channel": message["channel"],
                            "recipient": message["recipient"],
                            "text": message["body"],
                            "created_at": utc_now_text(),
                        }
                        for message in claimed
                    ],
                )
        return len(claimed)

    def _deliver_emails(self, batch: list[RowMapping]) -> int:
        """E-mails: claimed together, sent over one SMTP connection, outcomes stored together."""
        claimed = self._claim(batch)
        if not claimed:
            return 0
        outcomes: list[tuple[RowMapping, SendFailure | None]] = []
        unreachable: SendFailure | None = None
        with _SmtpSession(self._settings) as session:
            for message in claimed:
                if unreachable is not None:  # no use knocking again in this round: same outcome
                    outcomes.append((message, unreachable))
                    continue
                try:
                    session.send(partial(self._email, message))
                except SendFailure as failure:
                    outcomes.append((message, failure))
                    if failure.unreachable:
                        unreachable = failure
                else:
                    outcomes.append((message, None))
        with self._db.write() as conn:
            # In the order of the ids, as every sender does: rows locked in one order cannot deadlock.
            ordered = sorted(outcomes, key=lambda outcome: outcome[0]["id"])
            _SET_STATUS.defer(conn, [self._outcome(message, failure) for message, failure in ordered])
        return len(claimed)

    def _outcome(self, message: RowMapping, failure: SendFailure | None) -> dict[str, object]:
        """The parameters of ``_SET_STATUS`` that store a claimed e-mail's outcome."""
        attempts = message["attempts"] + 1
        if failure is None:
            return _status_params(message["id"], "sending", "sent", None, attempts)
        settings = self._settings
        if failure.permanent or attempts >= settings.smtp_max_attempts:
            error = (
                str(failure)
                if failure.permanent
                else f"{failure} (попыток: {attempts}, больше не повторяется)"
            )
            return _status_params(message["id"], "sending", "failed", error, attempts)
        due = utc_text(utc_now() + timedelta(seconds=retry_delay(settings, attempts)))
        log.info("e-mail %s: attempt %d failed (%s), next at %s", message["id"], attempts, failure, due)
        return _status_params(
            message["id"], "sending", "retrying", str(failure), attempts, next_attempt_at=due
        )

    def _claim(self, batch: list[RowMapping]) -> list[RowMapping]:
        """The messages of ``batch`` this sender claimed (``queued`` -> ``sending``); others are taken."""
        if not batch:
            return []
        with self._db.write() as conn:
            return _claim(conn, _CLAIM, batch)

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
            raise SendFailure("SMTP не настроен", permanent=True)
        connecting = self._smtp is None
        where = f"SMTP {settings.smtp_host}:{settings.smtp_port}"
        try:
            if self._smtp is None:
                self._smtp = smtplib.SMTP(
                    settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout
                )
            self._smtp.send_message(build())
        except smtplib.SMTPRecipientsRefused as exc:  # the connection stays usable
            codes = [code for code, _reply in exc.recipients.values()]
            raise SendFailure(
                f"SMTP отказал получателю: {_smtp_reason(exc.recipients)}",
                permanent=all(code >= 500 for code in codes),
            ) from None
        except smtplib.SMTPResponseException as exc:  # sender, data, helo, connect: a coded answer
            self._close()
            reply = (
                exc.smtp_error.decode(errors="replace")
                if isinstance(exc.smtp_error, bytes)
                else exc.smtp_error
            )
            raise SendFailure(
                f"SMTP отказал: {exc.smtp_code} {reply}",
                permanent=exc.smtp_code >= 500,
                unreachable=connecting and isinstance(exc, smtplib.SMTPConnectError),
            ) from None
        except smtplib.SMTPNotSupportedError as exc:
            self._close()
            raise SendFailure(f"SMTP не поддерживает нужное: {exc}", permanent=True) from None
        except smtplib.SMTPException as exc:  # disconnected, or an answer the client could not read
            self._close()
            raise SendFailure(
                f"{where}: соединение прервано: {exc}", permanent=False, unreachable=connecting
            ) from None
        except OSError as exc:
            self._close()
            raise SendFailure(f"{where} недоступен: {exc}", permanent=False, unreachable=True) from None

    def _close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()


def _claim(conn: Connection, statement: Update, batch: list[RowMapping]) -> list[RowMapping]:
    """The messages of ``batch`` claimed by ``statement``: those still in the status they were read with
    and due; the others are another sender's."""
    claimed_at = utc_now_text()
    ids: set[str] = set()
    for expected in sorted({message["status"] for message in batch}):
        wanted = [message["id"] for message in batch if message["status"] == expected]
        locked = list(
            conn.execute(
                _LOCK_CLAIMABLE, {"message_ids": wanted, "expected": expected, "claim_time": claimed_at}
            ).scalars()
        )
        if locked:
            conn.execute(statement, {"message_ids": locked, "claim_time": claimed_at})
            ids.update(locked)
    return [message for message in batch if message["id"] in ids]


def _status_params(
    message_id: str,
    expected: str,
    status: str,
    error: str | None,
    attempts: int,
    *,
    next_attempt_at: str | None = None,
) -> dict[str, object]:
    return {
        "message_id": message_id,
        "expected": expected,
        "status": status,
        "error": error,
        "sent_at": utc_now_text() if status == "sent" else None,
        "attempts": attempts,
        "next_attempt_at": next_attempt_at,
    }


def _smtp_reason(recipients: dict[str, tuple[int, bytes]]) -> str:
    return "; ".join(
        f"{who}: {code} {reply.decode(errors='replace')}" for who, (code, reply) in recipients.items()
    )
