"""The message sender in a process of its own: the worker hands over the ids it commits over a Unix
datagram socket, the sender delivers them without waiting for its poll, and a full socket costs a scan,
never a message."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from register.backend import BackendServer, BackendSettings
from register.backend.sender_process import (
    IDS_PER_DATAGRAM,
    SenderChannel,
    run_sender,
    sender_channel_pair,
)
from tests.backend.conftest import SQLITE_NAME
from tests.backend.support import CARD_ANNA, LabClient, SmtpSink

NO_POLL_SECONDS = 3600.0  # the sender scans at start only: what it sends later came by the channel


def _received(sock: socket.socket) -> list[bytes]:
    datagrams = []
    with contextlib.suppress(BlockingIOError):
        while True:
            datagrams.append(sock.recv(65536))
    return datagrams


@pytest.fixture
def channel() -> Iterator[tuple[socket.socket, socket.socket]]:
    worker, sender = sender_channel_pair()
    sender.setblocking(False)
    try:
        yield worker, sender
    finally:
        worker.close()
        sender.close()


def test_ids_go_one_datagram_per_wake_and_no_ids_ask_for_a_scan(
    channel: tuple[socket.socket, socket.socket],
) -> None:
    worker, sender = channel
    waker = SenderChannel(worker)
    many = [f"m{n}" for n in range(IDS_PER_DATAGRAM + 1)]

    waker.wake(["a", "b"])
    waker.wake()
    waker.wake(many)

    assert _received(sender) == [
        b"a\nb",
        b"",
        "\n".join(many[:IDS_PER_DATAGRAM]).encode(),
        many[-1].encode(),
    ]


def test_a_full_socket_makes_the_next_wake_ask_for_a_scan_first(
    channel: tuple[socket.socket, socket.socket],
) -> None:
    worker, sender = channel
    waker = SenderChannel(worker)
    sent = 0
    with contextlib.suppress(BlockingIOError):
        while True:  # nobody reads: fill the socket
            worker.send(b"filler")
            sent += 1
    waker.wake(["lost"])  # not sent, and not waited for
    assert len(_received(sender)) == sent  # the fillers only

    waker.wake(["next"])

    assert _received(sender) == [b"", b"next"]


@pytest.fixture
def worker_and_sender(
    seeded_sqlite: Path, tmp_path: Path, smtp_sink: SmtpSink
) -> Iterator[tuple[LabClient, Callable[[], None]]]:
    """A lab backend whose messages go over the channel, and ``run_sender`` at its other end (in a
    thread here; ``serve`` forks a process for it). Yields the client and what stops the sender."""
    for file in seeded_sqlite.iterdir():
        (tmp_path / file.name).write_bytes(file.read_bytes())
    db_url = f"sqlite:///{tmp_path / SQLITE_NAME}"
    settings = BackendSettings(
        db_url=db_url,
        port=0,
        smtp_host="127.0.0.1",
        smtp_port=smtp_sink.port,
        sender_poll_seconds=NO_POLL_SECONDS,
    )
    worker_end, sender_end = sender_channel_pair()
    stop = threading.Event()
    started = threading.Event()
    thread = threading.Thread(
        target=run_sender, args=(settings, sender_end, stop, os.getppid(), started.set), daemon=True
    )

    def stop_sender() -> None:
        stop.set()
        thread.join(20)
        assert not thread.is_alive()

    try:
        with BackendServer(settings, sender_channel=worker_end) as server:
            thread.start()
            assert started.wait(20)
            assert server.base_url is not None
            client = LabClient(server.base_url, db_url, smtp_sink)
            try:
                yield client, stop_sender
            finally:
                client.close()
    finally:
        if thread.is_alive():
            stop_sender()
        worker_end.close()
        sender_end.close()


def test_the_sender_process_delivers_what_the_worker_hands_over(
    worker_and_sender: tuple[LabClient, Callable[[], None]], smtp_sink: SmtpSink
) -> None:
    lab, _stop_sender = worker_and_sender
    purchase_id, fiscal = lab.sale(CARD_ANNA)

    answer = lab.link(purchase_id, fiscal)

    (mail,) = smtp_sink.wait_for(1)  # within the deadline: long before the sender's next poll
    assert mail["To"] == "anna@example.ru"
    settled = {m["channel"]: m["status"] for m in lab.settled_messages()}
    assert settled == {"email": "sent", "sms": "failed"}  # Анна has no confirmed phone
    assert {m["channel"] for m in answer["messages"]} == {"email", "sms"}


def test_with_the_sender_process_stopped_the_messages_stay_queued(
    worker_and_sender: tuple[LabClient, Callable[[], None]], smtp_sink: SmtpSink
) -> None:
    lab, stop_sender = worker_and_sender
    stop_sender()
    purchase_id, fiscal = lab.sale(CARD_ANNA)

    lab.link(purchase_id, fiscal)  # the wake is not waited for: the answer comes all the same

    statuses = {m["channel"]: m["status"] for m in lab.staff_get("messages")["items"]}
    assert statuses == {"email": "queued", "sms": "failed"}
    assert smtp_sink.messages == []
