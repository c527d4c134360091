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
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from functools import partial
from typing import Protocol

from sqlalchemy import Connection, and_, bindparam, insert, or_, select, update
from sqlalchemy.engine import RowMapping

from register.backend.database import Database
from register.backend.email_text import email_bytes, plain_address
from register.backend.prepared import Prepared, listed
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
# Messages are claimed locked: those still in the status they were read with (another sender may have
# taken one since) are locked in the order of their ids, then updated. On PostgreSQL a message another
# sender's transaction holds is skipped, not waited for: two senders each waiting on rows the other had
# locked was a deadlock. (SQLite ignores the clause: its writers are serial.) Two statements, not one
# UPDATE over a locking subquery: PostgreSQL planned that as a scan of the table.
_LISTED = listed(messages.c.id, "message_ids")
_LOCK_QUEUED = Prepared(  # the messages a request handed over, whole, as long as they are queued
    select(messages)
    .where(_LISTED, messages.c.status == "queued")
    .order_by(messages.c.id)
    .with_for_update(skip_locked=True, of=messages)
)
_LOCK_CLAIMABLE = Prepared(  # of a batch read from the queue: those still so and due
    select(messages.c.id)
    .where(
        _LISTED,
        messages.c.status == bindparam("expected"),
        or_(messages.c.next_attempt_at.is_(None), messages.c.next_attempt_at <= bindparam("claim_time")),
    )
    .order_by(messages.c.id)
    .with_for_update(skip_locked=True, of=messages)
)
_CLAIM = Prepared(
    update(messages).where(_LISTED).values(status="sending", claimed_at=bindparam("claim_time"))
)
_CLAIM_SENT = Prepared(  # SMS and push: claimed and delivered (into the outbox) in one transaction
    update(messages)
    .where(_LISTED)
    .values(
        status="sent",
        error=None,
        sent_at=bindparam("claim_time"),
        attempts=messages.c.attempts + 1,
        next_attempt_at=None,
    )
)
_SET_OUTCOME = Prepared(  # the e-mails of one outcome, at once
    update(messages)
    .where(_LISTED, messages.c.status == "sending")
    .values(
        status=bindparam("outcome"),
        error=bindparam("reason"),
        sent_at=bindparam("sent_time"),
        attempts=messages.c.attempts + 1,
        next_attempt_at=bindparam("next_time"),
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


class MessageQueue(Protocol):
    """What the routes tell about the messages they commit: a ``MessageSender`` in this process, or
    the channel to one in another (``sender_process.SenderChannel``)."""

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def wake(self, message_ids: Iterable[str] = ()) -> None: ...


class MessageSender:
    """Delivers queued messages in a background thread; ``wake()`` after committing new ones."""

    def __init__(self, db: Database, settings: BackendSettings) -> None:
        self._db = db
        self._settings = settings
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._handed: set[str] = set()  # ids of messages committed in this process, not yet tried
        self._scan_asked = False
        self._handed_lock = threading.Lock()

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

    def wake(self, message_ids: Iterable[str] = ()) -> None:
        """After committing new messages: with their ids they are taken by id (no scan of the queue,
        which under load was most of the sender's database work); without, the queue is scanned."""
        ids = list(message_ids)
        with self._handed_lock:
            if ids:
                self._handed.update(ids)
            else:
                self._scan_asked = True
        self._wake.set()

    def drain(self) -> int:
        """Deliver every message queued now; return how many were handled."""
        handled = 0
        while not self._stop.is_set():
            with self._db.read() as conn:
                batch = _DUE.execute(conn, {"now": utc_now_text()}).all()
            if not batch:
                return handled
            claim_time = utc_now_text()
            with self._db.write() as conn:
                claimed = _lock_claimable(conn, batch, claim_time)
                emails = _claim(conn, claimed, claim_time)
            handled += len(claimed)
            self._deliver_emails(emails)
        return handled

    def deliver(self, message_ids: Iterable[str]) -> int:
        """Deliver these messages if they are still queued (those another sender took are skipped);
        return how many this sender handled."""
        ordered = sorted(set(message_ids))
        handled = 0
        for start in range(0, len(ordered), BATCH):
            claim_time = utc_now_text()
            with self._db.write() as conn:
                claimed = _LOCK_QUEUED.execute(conn, {"message_ids": ordered[start : start + BATCH]}).all()
                emails = _claim(conn, claimed, claim_time)
            handled += len(claimed)
            self._deliver_emails(emails)
        return handled

    def _run(self) -> None:
        poll = self._settings.sender_poll_seconds
        scanned = -poll
        while not self._stop.is_set():
            self._wake.wait(poll)
            # Under load a wake comes with every request: gather a moment so one round takes many messages.
            self._stop.wait(GATHER_SECONDS)
            self._wake.clear()
            with self._handed_lock:
                handed, self._handed = self._handed, set()
                scan, self._scan_asked = self._scan_asked, False
            try:
                if handed:
                    self.deliver(handed)
                # The queue is still scanned each poll interval: for e-mails due again, and for messages
                # of other processes that went unsent (their process stopped first).
                if scan or not handed or time.monotonic() - scanned >= poll:
                    scanned = time.monotonic()
                    self.drain()
            except Exception:  # the sender must outlive a database hiccup; the next round retries
                log.exception("message sender round failed")
                with self._handed_lock:
                    self._scan_asked = True  # what was handed over is queued still: the scan finds it

    def _deliver_emails(self, claimed: list[RowMapping]) -> None:
        """E-mails claimed: sent over one SMTP connection, their outcomes stored together."""
        if not claimed:
            return
        outcomes: list[tuple[RowMapping, SendFailure | None]] = []
        unreachable: SendFailure | None = None
        with _SmtpSession(self._settings) as session:
            for message in claimed:
                if unreachable is not None:  # no use knocking again in this round: same outcome
                    outcomes.append((message, unreachable))
                    continue
                try:
                    session.send(message["recipient"] or "", partial(self._email, message))
                except SendFailure as failure:
                    outcomes.append((message, failure))
                    if failure.unreachable:
                        unreachable = failure
                else:
                    outcomes.append((message, None))
        now = utc_now()
        alike: dict[tuple[str, str | None, str | None], list[str]] = {}  # one UPDATE per outcome
        for message, failure in outcomes:
            alike.setdefault(self._outcome(message, failure, now), []).append(message["id"])
        sent_time = utc_text(now)
        with self._db.write() as conn:
            # The rows are this sender's alone while they are "sending": no other transaction locks
            # them (start-up's sweep takes only claims older than STALE_CLAIM_SECONDS).
            for (outcome, reason, next_time), ids in alike.items():
                _SET_OUTCOME.defer(
                    conn,
                    {
                        "message_ids": sorted(ids),
                        "outcome": outcome,
                        "reason": reason,
                        "sent_time": sent_time if outcome == "sent" else None,
                        "next_time": next_time,
                    },
                )

    def _outcome(
        self, message: RowMapping, failure: SendFailure | None, now: datetime
    ) -> tuple[str, str | None, str | None]:
        """A claimed e-mail's outcome: its status, the error kept and when it is due again (e-mails
        that failed alike as often are due alike)."""
        attempts = message["attempts"] + 1
        if failure is None:
            return "sent", None, None
        settings = self._settings
        if failure.permanent or attempts >= settings.smtp_max_attempts:
            error = (
                str(failure)
                if failure.permanent
                else f"{failure} (попыток: {attempts}, больше не повторяется)"
            )
            return "failed", error, None
        due = utc_text(now + timedelta(seconds=retry_delay(settings, attempts)))
        log.info("e-mail %s: attempt %d failed (%s), next at %s", message["id"], attempts, failure, due)
        return "retrying", str(failure), due

    def _email(self, message: RowMapping) -> bytes | EmailMessage:
        settings = self._settings
        subject = message["subject"] or "Ваш чек"
        message_id = make_msgid(idstring=message["id"], domain=settings.smtp_sender.rpartition("@")[2])
        if plain_address(message["recipient"] or ""):
            return email_bytes(
                sender=(SENDER_NAME, settings.smtp_sender),
                recipient=message["recipient"],
                subject=subject,
                body=message["body"],
                message_id=message_id,
                extra_headers=[("X-Loyalty-Message-Id", message["id"])],
            )
        email = EmailMessage()  # an international address: the email package knows SMTPUTF8
        email["From"] = formataddr((SENDER_NAME, settings.smtp_sender))
        email["To"] = message["recipient"]
        email["Subject"] = subject
        email["Message-ID"] = message_id
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

    def send(self, recipient: str, build: Callable[[], bytes | EmailMessage]) -> None:
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
            mail = build()
            if isinstance(mail, bytes):
                self._smtp.sendmail(settings.smtp_sender, [recipient], mail)
            else:
                self._smtp.send_message(mail)
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


def _lock_claimable(conn: Connection, batch: list[RowMapping], claim_time: str) -> list[RowMapping]:
    """The messages of ``batch`` locked for this sender: those still in the status they were read with
    and due; the others are another sender's."""
    ids: set[str] = set()
    for expected in sorted({message["status"] for message in batch}):
        wanted = sorted(message["id"] for message in batch if message["status"] == expected)
        ids.update(
            _LOCK_CLAIMABLE.execute(
                conn, {"message_ids": wanted, "expected": expected, "claim_time": claim_time}
            ).scalars()
        )
    return [message for message in batch if message["id"] in ids]


def _claim(conn: Connection, locked: list[RowMapping], claim_time: str) -> list[RowMapping]:
    """Claim the locked messages: SMS and push delivered into the outbox at once, e-mails ``sending``
    (returned, to be sent after the commit)."""
    pushed = [message for message in locked if message["channel"] != "email"]
    emails = [message for message in locked if message["channel"] == "email"]
    if pushed:
        # Claimed and marked sent in one go: the outbox row is written in the same transaction.
        _CLAIM_SENT.defer(conn, {"message_ids": [m["id"] for m in pushed], "claim_time": claim_time})
        _INSERT_OUTBOX.defer(
            conn,
            [
                {
                    "message_id": message["id"],
                    "channel": message["channel"],
                    "recipient": message["recipient"],
                    "text": message["body"],
                    "created_at": claim_time,
                }
                for message in pushed
            ],
        )
    if emails:
        _CLAIM.defer(conn, {"message_ids": [m["id"] for m in emails], "claim_time": claim_time})
    return emails


def _smtp_reason(recipients: dict[str, tuple[int, bytes]]) -> str:
    return "; ".join(
        f"{who}: {code} {reply.decode(errors='replace')}" for who, (code, reply) in recipients.items()
    )
