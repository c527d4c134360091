"""A tiny ESC/POS status responder for driver tests, on a pty or a loopback TCP socket.

It answers ``DLE EOT n`` with the byte of the current row of escpos.md §1.6 and ``GS r 1`` with the row's
``GS r`` byte (none while offline); everything else is only recorded. Not the lab's emulator: no printing.
"""

from __future__ import annotations

import os
import select
import socket
import threading
import tty
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Row:
    """Replies to DLE EOT 1..4 and to GS r 1 (None: no reply)."""

    eot: dict[int, int | None]
    gs_r: int | None


# escpos.md §1.6, "Replies the emulator should give" (EOT 2/3 of online rows: 12, the idle pattern).
READY = Row({1: 0x12, 2: 0x12, 3: 0x12, 4: 0x12}, 0x00)
DRAWER_HIGH = Row({1: 0x16, 2: 0x12, 3: 0x12, 4: 0x12}, 0x00)
NEAR_END = Row({1: 0x12, 2: 0x12, 3: 0x12, 4: 0x1E}, 0x03)
PAPER_END = Row({1: 0x1A, 2: 0x32, 3: 0x12, 4: 0x72}, None)
PAPER_END_BOTH_SENSORS = Row({1: 0x1A, 2: 0x32, 3: 0x12, 4: 0x7E}, None)
COVER_OPEN = Row({1: 0x1A, 2: 0x16, 3: 0x12, 4: 0x12}, None)
CUTTER_JAM = Row({1: 0x1A, 2: 0x52, 3: 0x1A, 4: 0x12}, None)
HEAD_OVERHEAT = Row({1: 0x1A, 2: 0x52, 3: 0x52, 4: 0x12}, None)
SILENT = Row({}, None)
GARBAGE = Row({1: 0x00, 2: 0x00, 3: 0x00, 4: 0x00}, None)


@dataclass
class FakePrinter:
    row: Row
    after_job: Row | None = None
    """The row once job data (anything but a status query) arrives: a printer that stops mid-receipt."""
    received: bytearray = field(default_factory=bytearray)
    asked: list[int] = field(default_factory=list)
    """n of every DLE EOT n received, in order."""
    _scanned: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def feed(self, data: bytes) -> bytes:
        """Take bytes from the host, return the reply bytes."""
        with self._lock:
            self.received += data
            out = bytearray()
            buf, i = self.received, self._scanned
            while i < len(buf):
                if buf[i] in (0x10, 0x1D) and i + 2 >= len(buf):
                    break  # a query split across reads: wait for the rest
                if buf[i] == 0x10 and buf[i + 1] == 0x04:
                    self.asked.append(buf[i + 2])
                    reply = self.row.eot.get(buf[i + 2])
                    if reply is not None:
                        out.append(reply)
                    i += 3
                    continue
                if buf[i] == 0x1D and buf[i + 1] == 0x72 and buf[i + 2] in (0x01, 0x31):
                    if self.row.gs_r is not None:
                        out.append(self.row.gs_r)
                    i += 3
                    continue
                if self.after_job is not None:
                    self.row, self.after_job = self.after_job, None
                i += 1
            self._scanned = i
            return bytes(out)


@dataclass(frozen=True)
class Pty:
    path: str
    """The side the driver opens: serial:PATH."""
    master: int
    """The printer's side: what is written here arrives at the driver."""


@contextmanager
def pty_printer(fake: FakePrinter) -> Iterator[Pty]:
    """Serve ``fake`` on a new pty."""
    master, slave = os.openpty()
    tty.setraw(slave)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            ready, _, _ = select.select([master], [], [], 0.02)
            if not ready:
                continue
            try:
                data = os.read(master, 4096)
            except OSError:
                return
            reply = fake.feed(data)
            if reply:
                os.write(master, reply)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield Pty(os.ttyname(slave), master)
    finally:
        stop.set()
        thread.join()
        os.close(master)
        os.close(slave)


@contextmanager
def tcp_printer(fake: FakePrinter, *, hang_up: bool = False) -> Iterator[tuple[str, int]]:
    """Serve ``fake`` on 127.0.0.1 (any port); ``hang_up`` closes every connection at once."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.05)
    stop = threading.Event()

    def serve_client(conn: socket.socket) -> None:
        with conn:
            if hang_up:
                return
            conn.settimeout(0.05)
            while not stop.is_set():
                try:
                    data = conn.recv(4096)
                except TimeoutError:
                    continue
                except OSError:
                    return
                if not data:
                    return
                reply = fake.feed(data)
                if reply:
                    conn.sendall(reply)

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=serve_client, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[:2]
    finally:
        stop.set()
        thread.join()
        server.close()
