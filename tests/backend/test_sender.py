"""The message sender: exactly once even with several senders, and never a second copy after a crash
between claim and outcome. Messages are queued through the service functions, with no sender running."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import select, update

from register.backend import BackendSettings, make_app
from register.backend.api.pos_models import CalculateRequest
from register.backend.api.wire import Fiscal
from register.backend.cheque_links import store_link
from register.backend.context import Backend
from register.backend.database import Database
from register.backend.purchases import calculate
from register.backend.schema import devices, messages, tokens
from register.backend.sender import MessageSender
from tests.backend.support import CARD_ANNA, LINES, TOTAL, WHEN, LabClient, SmtpSink, new_id


@pytest.fixture
def quiet_backend(seeded_db_url: str, smtp_sink: SmtpSink) -> Iterator[Backend]:
    """The service's parts without its lifespan: nothing sends until a test runs a sender itself."""
    settings = BackendSettings(db_url=seeded_db_url, smtp_host="127.0.0.1", smtp_port=smtp_sink.port)
    backend: Backend = make_app(settings).state.backend
    try:
        yield backend
    finally:
        backend.db.dispose()


def _linked_sales(backend: Backend, count: int) -> None:
    with backend.db.write() as conn:
        device_id = conn.execute(select(devices.c.id).where(devices.c.code == "POS-1")).scalar_one()
        for n in range(count):
            cheque = CalculateRequest.model_validate(
                {
                    "requestId": new_id(),
                    "chequeNumber": str(n),
                    "chequeDateTime": WHEN,
                    "identifier": {"type": "CardNumber", "value": CARD_ANNA},
                    "lines": LINES,
                    "total": TOTAL,
                }
            )
            purchase_id = calculate(conn, device_id, cheque).purchase_id
            fiscal = Fiscal.model_validate(
                {
                    "fn": "9999078900004312",
                    "fd": 500 + n,
                    "fp": 1,
                    "operation": 1,
                    "total": TOTAL,
                    "dateTime": WHEN,
                }
            )
            store_link(conn, purchase_id, fiscal, f"https://check.ofd.lab/r/{n}", "t")


def test_two_senders_deliver_every_message_exactly_once(quiet_backend: Backend, smtp_sink: SmtpSink) -> None:
    _linked_sales(quiet_backend, 5)
    senders = [MessageSender(quiet_backend.db, quiet_backend.settings) for _ in range(2)]
    start = threading.Barrier(len(senders))

    def run(sender: MessageSender) -> None:
        start.wait()
        sender.drain()

    threads = [threading.Thread(target=run, args=(sender,)) for sender in senders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Five purchases of Анна: five e-mails (her SMS offers fail at once: no confirmed phone).
    assert sorted(mail["To"] for mail in smtp_sink.messages) == ["anna@example.ru"] * 5
    assert len({mail["Message-ID"] for mail in smtp_sink.messages}) == 5
    with quiet_backend.db.read() as conn:
        statuses = conn.execute(select(messages.c.channel, messages.c.status)).all()
    assert sorted(statuses) == [("email", "sent")] * 5 + [("sms", "failed")] * 5


def test_messages_handed_over_by_id_are_delivered_once_and_no_others(
    quiet_backend: Backend, smtp_sink: SmtpSink
) -> None:
    _linked_sales(quiet_backend, 2)
    with quiet_backend.db.read() as conn:
        made = conn.execute(select(messages.c.id, messages.c.purchase_id, messages.c.status)).all()
    first, second = sorted({message.purchase_id for message in made})
    handed = [message.id for message in made if message.purchase_id == first]  # her SMS failed already
    queued = [message.id for message in made if message.purchase_id == first and message.status == "queued"]
    sender = MessageSender(quiet_backend.db, quiet_backend.settings)

    assert sender.deliver([*handed, "no-such-message"]) == len(queued) == 1
    assert sender.deliver(handed) == 0  # taken already: not a second copy

    with quiet_backend.db.read() as conn:
        statuses = dict(
            conn.execute(
                select(messages.c.purchase_id, messages.c.status).where(messages.c.channel == "email")
            ).all()
        )
    assert statuses == {first: "sent", second: "queued"}
    assert len(smtp_sink.messages) == 1


def test_a_message_claimed_before_a_crash_is_failed_not_sent_again(
    quiet_backend: Backend, smtp_sink: SmtpSink
) -> None:
    _linked_sales(quiet_backend, 1)
    with quiet_backend.db.write() as conn:
        conn.execute(
            update(messages)
            .where(messages.c.channel == "email")
            .values(status="sending", claimed_at="2000-01-01T00:00:00.000000+00:00")
        )

    sender = MessageSender(quiet_backend.db, quiet_backend.settings)
    sender.start()
    sender.stop()

    with quiet_backend.db.read() as conn:
        status, error = conn.execute(
            select(messages.c.status, messages.c.error).where(messages.c.channel == "email")
        ).one()
    assert status == "failed"
    assert "не повторяется" in error
    assert smtp_sink.messages == []


def test_an_expired_token_is_401(lab: LabClient) -> None:
    headers = lab.member_headers(CARD_ANNA)
    assert lab.http.get("/member/v1/profile", headers=headers).status_code == 200
    db = Database(lab.db_url)
    try:
        with db.write() as conn:
            conn.execute(update(tokens).values(expires_at="2000-01-01T00:00:00.000000+00:00"))
            stored = conn.execute(select(tokens.c.digest)).scalars().all()
    finally:
        db.dispose()

    answer = lab.http.get("/member/v1/profile", headers=headers)

    assert answer.status_code == 401
    assert answer.json()["errorCode"] == "UNAUTHORIZED"
    assert headers["Authorization"].removeprefix("Bearer ") not in stored  # only digests are kept
