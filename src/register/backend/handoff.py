"""Connections dealt to the worker processes in turn, so that each serves its share of the registers.

A register keeps one connection open for all its requests, and a worker runs its requests one at a
time (``api.direct``): whichever worker holds more registers' connections is the bottleneck. Left to
the kernel (one socket shared by the workers, or one socket each with SO_REUSEPORT) 20 registers came
out 13 to 7 or worse as often as not. ``ConnectionDealer`` accepts on the one listening socket and
passes each connection (its descriptor, over a Unix socket) to the next worker in turn; each worker's
``HandedServer`` takes them into uvicorn as if it had accepted them itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
import threading
from typing import Any

import uvicorn

ACCEPT_POLL_SECONDS = 0.2
_MAX_FDS = 64


def handoff_pair() -> tuple[socket.socket, socket.socket]:
    """(dealer's end, worker's end) of the Unix socket connections are passed over."""
    return socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)


class ConnectionDealer:
    """Accepts on ``listener`` in a thread; each connection goes to the next of ``workers`` in turn."""

    def __init__(self, listener: socket.socket, workers: list[socket.socket]) -> None:
        self._listener = listener
        self._workers = workers
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._deal, name="loyalty-dealer", daemon=True)

    def start(self) -> None:
        self._listener.listen(socket.SOMAXCONN)
        self._listener.settimeout(ACCEPT_POLL_SECONDS)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _deal(self) -> None:
        turns = itertools.cycle(range(len(self._workers)))
        while not self._stop.is_set():
            try:
                connection, _address = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:  # the listener is closed
                return
            with connection:
                for _ in range(len(self._workers)):  # a worker gone takes no connection: the next does
                    try:
                        socket.send_fds(self._workers[next(turns)], [b"c"], [connection.fileno()])
                        break
                    except OSError:
                        continue


class HandedServer(uvicorn.Server):
    """uvicorn serving the connections a ``ConnectionDealer`` passes it, instead of accepting."""

    def __init__(self, config: uvicorn.Config, handoff: socket.socket) -> None:
        super().__init__(config)
        self._handoff = handoff
        self._loop: asyncio.AbstractEventLoop | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=[])  # no socket of its own to accept on
        self._loop = asyncio.get_running_loop()
        self._handoff.setblocking(False)
        self._loop.add_reader(self._handoff.fileno(), self._take)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self._loop is not None:
            self._loop.remove_reader(self._handoff.fileno())
        await super().shutdown(sockets)

    def _take(self) -> None:
        assert self._loop is not None
        try:
            message, fds, _flags, _address = socket.recv_fds(self._handoff, _MAX_FDS, _MAX_FDS)
        except BlockingIOError:
            return
        except OSError:
            message, fds = b"", []
        if not message and not fds:  # the dealer is gone: no more connections come
            self._loop.remove_reader(self._handoff.fileno())
            return
        for fd in fds:
            connection = socket.socket(fileno=fd)
            connection.setblocking(False)
            self._loop.create_task(self._serve_connection(connection))

    async def _serve_connection(self, connection: socket.socket) -> None:
        assert self._loop is not None
        try:
            await self._loop.connect_accepted_socket(self._protocol, connection)
        except OSError:  # the register hung up before it was taken in
            with contextlib.suppress(OSError):
                connection.close()

    def _protocol(self) -> Any:
        config = self.config
        return config.http_protocol_class(  # type: ignore[call-arg]
            config=config, server_state=self.server_state, app_state=self.lifespan.state
        )
