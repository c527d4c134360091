"""The message sender in a process of its own, beside a backend of one worker process.

One worker is one Python process, on one core at a time (the GIL). Its sender thread took 15 % of that
core under load (the SMTP dialogue, the claims and outcomes), and the second core was idle of backend
work: with the sender in a second process, SQLite's one worker served 7 % more purchases a second.

The worker tells the sender which messages it committed over a Unix datagram socket: one datagram of
their ids (a line each) per transaction, an empty one to ask for a scan of the queue. A datagram is never
waited for: when the socket is full, the worker asks for a scan with its next one instead; the messages
are in the database whatever happens here, and the sender scans the queue every poll interval anyway.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import threading
from collections.abc import Callable, Iterable

from register.backend.database import Database
from register.backend.sender import MessageSender
from register.backend.settings import BackendSettings

IDS_PER_DATAGRAM = 500  # 37 bytes an id: well under a datagram's limit
_RECEIVE_BYTES = 64 * 1024
_PARENT_CHECK_SECONDS = 0.5
_DATAGRAMS_PER_ROUND = 1000


def sender_channel_pair() -> tuple[socket.socket, socket.socket]:
    """(the worker's end, the sender process's end)."""
    worker, sender = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    worker.setblocking(False)
    return worker, sender


class SenderChannel:
    """The worker's side: what its routes call in place of a ``MessageSender`` of their own."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._scan_owed = False  # a datagram could not be sent: the next one is a scan request

    def start(self) -> None:
        """The sender process starts on its own."""

    def stop(self) -> None:
        """The sender process is stopped by the one that started it."""

    def wake(self, message_ids: Iterable[str] = ()) -> None:
        """As ``MessageSender.wake``: these messages were committed (none given: scan the queue)."""
        ids = list(message_ids)
        if self._scan_owed or not ids:
            self._scan_owed = not self._send(b"")
            if not ids:
                return
        for start in range(0, len(ids), IDS_PER_DATAGRAM):
            if not self._send("\n".join(ids[start : start + IDS_PER_DATAGRAM]).encode()):
                self._scan_owed = True
                return

    def _send(self, datagram: bytes) -> bool:
        try:
            self._sock.send(datagram)
        except OSError:  # full (not waited for), or the sender process gone (its parent stops then)
            return False
        return True


def run_sender(
    settings: BackendSettings,
    sock: socket.socket,
    stop: threading.Event,
    parent: int,
    started: Callable[[], None],
) -> None:
    """The sender process's work: deliver, woken by what arrives on ``sock``, until ``stop`` is set or
    the process ``parent`` is gone. ``started``: called once the sender runs."""
    db = Database(settings.db_url)
    sender = MessageSender(db, settings)
    sender.start()
    started()
    sock.setblocking(False)
    try:
        while not stop.is_set() and os.getppid() == parent:
            readable, _, _ = select.select([sock], [], [], _PARENT_CHECK_SECONDS)
            if not readable:
                continue
            ids: list[str] = []
            scan = False
            with contextlib.suppress(BlockingIOError, InterruptedError):
                for _ in range(_DATAGRAMS_PER_ROUND):  # those waiting: one wake for all of them
                    datagram = sock.recv(_RECEIVE_BYTES)
                    if datagram:
                        ids.extend(datagram.decode().split("\n"))
                    else:
                        scan = True
            if ids:
                sender.wake(ids)
            if scan:
                sender.wake()
    finally:
        sender.stop()
        db.dispose()
