"""The coalescing transport under uvicorn's protocol: the writes of one event-loop turn go out as one,
in order, and nothing pending is lost when the connection is closed. (Every API test goes through it:
``BackendServer`` serves with this protocol.)"""

from __future__ import annotations

import asyncio
import socket

from register.backend.coalesced_http import CoalescingTransport


class _Recorder:
    """A stand-in transport recording each write (pure logic: when the writes are passed on)."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_write_buffer_size(self) -> int:
        return 0


def test_the_writes_of_one_turn_go_as_one_write_in_order() -> None:
    async def run() -> tuple[list[bytes], list[bytes], int]:
        recorder = _Recorder()
        transport = CoalescingTransport(recorder, asyncio.get_running_loop())  # type: ignore[arg-type]
        transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
        transport.write(b"")
        transport.write(b"{}")
        pending = transport.get_write_buffer_size()
        before = list(recorder.writes)
        await asyncio.sleep(0)  # the loop comes round
        transport.write(b"next")
        await asyncio.sleep(0)
        return before, recorder.writes, pending

    before, writes, pending = asyncio.run(run())

    assert before == []
    assert writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}", b"next"]
    assert pending == len(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")


def test_closing_sends_what_is_pending_first() -> None:
    ours, theirs = socket.socketpair()

    async def run() -> None:
        loop = asyncio.get_running_loop()
        real, _protocol = await loop.connect_accepted_socket(asyncio.Protocol, ours)
        transport = CoalescingTransport(real, loop)  # type: ignore[arg-type]
        transport.write(b"head ")
        transport.write(b"body")
        transport.close()  # in the same turn: before any flush was due
        await asyncio.sleep(0.05)

    asyncio.run(run())
    theirs.settimeout(5)
    received = b""
    while chunk := theirs.recv(1024):
        received += chunk
    theirs.close()

    assert received == b"head body"
