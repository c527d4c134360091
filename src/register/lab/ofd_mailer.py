"""The OFD emulator sends e-receipts itself ("OFD sends" mode, ffd-receipt.md §8): e-mail or SMS.

An e-mail goes over real SMTP (to the lab's sink) from the seller's sender address (1117) to the buyer's
address (1008), with the receipt summary and its link. A phone number in 1008 gets one SMS line appended
to a JSON-lines outbox. A background worker sends the pending notifications of the store, retrying a
failed e-mail a few times; each is marked sent right after delivery, so a document is notified once
(a crash between the delivery and that mark is the only window for a repeat).
"""

from __future__ import annotations

import json
import logging
import os
import re
import smtplib
import threading
import time
from collections.abc import Callable
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

from register.domain.money import format_rub
from register.lab.ofd_pages import TEST_MARK, DocumentView, receipt_page
from register.lab.ofd_store import Channel, DocumentKey, Notice, NoticeState, OfdStore

log = logging.getLogger(__name__)

DEFAULT_SENDER = "noreply@ofd-emulator.lab"  # when neither the receipt nor the registration has 1117
MAIL_DOMAIN = "ofd-emulator.lab"
MAX_ATTEMPTS = 5
RETRY_INTERVAL = 2.0  # seconds between passes over notifications still pending
SMTP_TIMEOUT = 10.0

_EMAIL = re.compile(r"[^@\s<>\"]+@[^@\s.<>\"]+(?:\.[^@\s.<>\"]+)+")
_PHONE = re.compile(r"\+?[0-9]{10,15}")


class NoticeError(ValueError):
    """A notification that cannot be made or delivered; the message says why."""


def plan_notice(key: DocumentKey, contact: str | None) -> Notice | None:
    """The notification a received document calls for: by its buyer contact (1008), if it has one."""
    if contact is None or not contact.strip():
        return None
    contact = contact.strip()
    if _EMAIL.fullmatch(contact):
        return Notice(key, Channel.EMAIL, contact)
    phone = re.sub(r"[\s()-]", "", contact)
    if _PHONE.fullmatch(phone):
        return Notice(key, Channel.SMS, phone)
    return Notice(
        key,
        Channel.EMAIL if "@" in contact else Channel.SMS,
        contact,
        NoticeState.FAILED,
        last_error=f"buyer contact (1008) {contact!r} is neither an e-mail address nor a phone number",
    )


def summary_text(view: DocumentView, link: str | None) -> str:
    """The plain-text receipt summary of an e-mail."""
    lines = [TEST_MARK, "", f"{view.title}"]
    if view.seller:
        lines.append(view.seller)
    if view.inn:
        lines.append(f"ИНН {view.inn}")
    if view.when is not None:
        lines.append(f"Дата, время: {view.when:%d.%m.%Y %H:%M}")
    if view.operation_label:
        lines.append(f"Признак расчёта: {view.operation_label}")
    lines.append("")
    for number, item in enumerate(view.items, start=1):
        quantity = f"{item.quantity:f} {item.measure}".strip() if item.quantity is not None else ""
        price = format_rub(item.price) if item.price is not None else ""
        total = format_rub(item.total) if item.total is not None else ""
        lines.append(f"{number}. {item.name}")
        lines.append(f"   {quantity} x {price} = {total}  ({item.vat})")
    if view.total is not None:
        lines += ["", f"ИТОГ: {format_rub(view.total)}"]
    lines += [f"{label}: {format_rub(amount)}" for label, amount in (*view.payments, *view.vat_totals)]
    lines += ["", f"ФН {view.fn}  ФД {view.fd}  ФП {view.fp}"]
    if view.qr is not None:
        lines.append(f"QR: {view.qr}")
    if link is not None:
        lines += ["", f"Чек: {link}"]
    return "\n".join(lines) + "\n"


def receipt_email(
    view: DocumentView, link: str | None, *, sender: str, to: str, when: datetime
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = Address(addr_spec=sender)
    message["To"] = to
    total = f" на {format_rub(view.total)} руб." if view.total is not None else ""
    date = f" от {view.when:%d.%m.%Y %H:%M}" if view.when is not None else ""
    message["Subject"] = f"[ТЕСТ] {view.title.capitalize()}{total}{date}"
    message["Date"] = format_datetime(when.astimezone())
    message["Message-ID"] = make_msgid(f"fn{view.fn}.fd{view.fd}", domain=MAIL_DOMAIN)
    message["X-OFD-FN"] = view.fn
    message["X-OFD-FD"] = str(view.fd)
    message["X-OFD-FP"] = str(view.fp)
    message.set_content(summary_text(view, link))
    message.add_alternative(receipt_page(view, link), subtype="html")
    return message


def sms_record(view: DocumentView, link: str | None, *, to: str, when: datetime) -> dict[str, object]:
    total = f" на {format_rub(view.total)} руб." if view.total is not None else ""
    date = f" от {view.when:%d.%m.%Y %H:%M}" if view.when is not None else ""
    text = f"ТЕСТ. Чек{total}{date}" + (f": {link}" if link else f", ФН {view.fn} ФД {view.fd} ФП {view.fp}")
    return {"at": when.isoformat(), "to": to, "fn": view.fn, "fd": view.fd, "fp": view.fp, "text": text}


def append_sms(outbox: Path, record: dict[str, object]) -> None:
    outbox.parent.mkdir(parents=True, exist_ok=True)
    with outbox.open("a", encoding="utf-8") as out:
        out.write(json.dumps(record, ensure_ascii=False) + "\n")
        out.flush()
        os.fsync(out.fileno())


class Notifier:
    """The background worker that delivers the store's pending notifications."""

    def __init__(
        self,
        store: OfdStore,
        *,
        describe: Callable[[DocumentKey], tuple[DocumentView, str | None, str]],
        smtp: tuple[str, int] | None,
        sms_outbox: Path,
        clock: Callable[[], datetime] = datetime.now,
        max_attempts: int = MAX_ATTEMPTS,
        retry_interval: float = RETRY_INTERVAL,
    ) -> None:
        """``describe(key)`` gives the document's view, its link and the sender address."""
        self._store = store
        self._describe = describe
        self._smtp = smtp
        self.sms_outbox = Path(sms_outbox)
        self._clock = clock
        self._max_attempts = max_attempts
        self._retry_interval = retry_interval
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._pass_done = threading.Condition()
        self._passes = 0
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="ofd-notifier", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def wake(self) -> None:
        self._wake.set()

    def wait_idle(self, timeout: float) -> bool:
        """Block until no notification is pending (all sent or failed for good); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._pass_done:
            while True:
                if not self._store.notices(NoticeState.PENDING):
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._thread is None:
                    return False
                self._wake.set()
                self._pass_done.wait_for(self._pass_ended(self._passes), timeout=remaining)

    def _pass_ended(self, seen: int) -> Callable[[], bool]:
        return lambda: self._passes != seen

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self._deliver_pending()
            except Exception:
                log.exception("OFD notifier: a pass failed")
            with self._pass_done:
                self._passes += 1
                self._pass_done.notify_all()
            self._wake.wait(self._retry_interval)
            self._wake.clear()

    def _deliver_pending(self) -> None:
        for notice in self._store.notices(NoticeState.PENDING):
            if self._stopping.is_set():
                return
            try:
                self._deliver(notice)
            except (NoticeError, OSError, smtplib.SMTPException, ValueError) as exc:
                final = notice.attempts + 1 >= self._max_attempts or isinstance(exc, NoticeError)
                log.warning("OFD notifier: %s to %s: %s", notice.channel, notice.recipient, exc)
                self._store.mark_attempt_failed(notice.key, str(exc), final=final, when=self._clock())
            else:
                self._store.mark_sent(notice.key, self._clock())

    def _deliver(self, notice: Notice) -> None:
        view, link, sender = self._describe(notice.key)
        now = self._clock()
        if notice.channel is Channel.SMS:
            append_sms(self.sms_outbox, sms_record(view, link, to=notice.recipient, when=now))
            return
        if self._smtp is None:
            raise NoticeError("no SMTP server configured for the OFD emulator")
        message = receipt_email(view, link, sender=sender, to=notice.recipient, when=now)
        host, port = self._smtp
        with smtplib.SMTP(host, port, timeout=SMTP_TIMEOUT, local_hostname=MAIL_DOMAIN) as smtp:
            smtp.send_message(message)
