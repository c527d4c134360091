"""Tiny HTTP servers on 127.0.0.1 that misbehave on purpose: silent (slower than any timeout) or
answering a fixed status and body. Each keeps the JSON bodies it received."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class TinyServer:
    def __init__(self, status: int | None, body: bytes = b"") -> None:
        """``status`` None: read the request and never answer (until the server stops)."""
        self._status = status
        self._body = body
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.received: list[dict[str, Any]] = []
        self.base_url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def start(self) -> None:
        self._listener.settimeout(0.05)
        thread = threading.Thread(target=self._accept, daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(5)
        self._listener.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            worker = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            worker.start()
            self._threads.append(worker)

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            self.received.append(json.loads(_read_body(conn) or b"null"))
            if self._status is None:
                self._stop.wait()
                return
            head = (
                f"HTTP/1.1 {self._status} X\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(self._body)}\r\nConnection: close\r\n\r\n"
            )
            conn.sendall(head.encode() + self._body)


def _read_body(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            return b""
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = conn.recv(4096)
        if not chunk:
            break
        body += chunk
    return body


@contextmanager
def tiny_server(status: int | None, body: bytes = b"") -> Iterator[TinyServer]:
    server = TinyServer(status, body)
    server.start()
    try:
        yield server
    finally:
        server.stop()
