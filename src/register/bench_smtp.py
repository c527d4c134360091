"""The mail server of ``register bench sale``: SMTP that accepts every message and keeps none.

In a shop the mail server is another machine; in the benchmark it shares the backend's two cores, so it
must cost little. The lab's sink (aiosmtpd, a file per message) took 0.8 ms of CPU a message, as much as
a fifth of a purchase; this one answers from one asyncio protocol, about 0.1 ms. It speaks enough SMTP
for any client (smtplib's ``sendmail`` and ``send_message`` included): EHLO/HELO, MAIL, RCPT, DATA,
RSET, NOOP, QUIT.

``python -m register.bench_smtp`` listens on a free loopback port and prints ``smtp: PORT``; on SIGTERM
it prints ``accepted: N`` (messages taken) and exits.
"""

from __future__ import annotations

import asyncio
import signal
from typing import cast

import uvloop

_END_OF_DATA = b"\r\n.\r\n"


class DiscardingSmtp(asyncio.Protocol):
    """One SMTP session; ``counter[0]`` counts the messages accepted by every session."""

    def __init__(self, counter: list[int]) -> None:
        self._counter = counter
        self._buffer = b""
        self._in_data = False
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not the class, but is one
        self._transport.write(b"220 bench-smtp ESMTP\r\n")

    def data_received(self, data: bytes) -> None:
        assert self._transport is not None
        self._buffer += data
        replies: list[bytes] = []
        while True:
            if self._in_data:
                end = self._buffer.find(_END_OF_DATA)
                if end < 0:
                    # Keep what could be the start of the terminator split across reads.
                    self._buffer = self._buffer[-(len(_END_OF_DATA) - 1) :]
                    break
                self._buffer = self._buffer[end + len(_END_OF_DATA) :]
                self._in_data = False
                self._counter[0] += 1
                replies.append(b"250 2.0.0 accepted\r\n")
                continue
            end = self._buffer.find(b"\r\n")
            if end < 0:
                break
            line, self._buffer = self._buffer[:end], self._buffer[end + 2 :]
            verb = line.split(b" ", 1)[0].upper()
            if verb == b"EHLO":
                replies.append(b"250-bench-smtp\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n")
            elif verb in (b"HELO", b"MAIL", b"RCPT", b"RSET", b"NOOP"):
                replies.append(b"250 OK\r\n")
            elif verb == b"DATA":
                replies.append(b"354 end with <CRLF>.<CRLF>\r\n")
                self._in_data = True
                self._buffer = b"\r\n" + self._buffer  # a message may start with the lone "."
            elif verb == b"QUIT":
                replies.append(b"221 bye\r\n")
                self._transport.write(b"".join(replies))
                self._transport.close()
                return
            else:
                replies.append(b"502 5.5.2 not implemented\r\n")
        if replies:
            self._transport.write(b"".join(replies))


async def _serve() -> None:
    loop = asyncio.get_running_loop()
    counter = [0]
    server = await loop.create_server(lambda: DiscardingSmtp(counter), "127.0.0.1", 0)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    print(f"smtp: {server.sockets[0].getsockname()[1]}", flush=True)
    await stop.wait()
    server.close()
    print(f"accepted: {counter[0]}", flush=True)


if __name__ == "__main__":
    uvloop.run(_serve())
