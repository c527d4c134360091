"""The register's link to the OFD (оператор фискальных данных): one FN message out, one OFD answer back.

Wire protocol (the lab's own; the real KKT <-> OFD session layer is not specified in fn-protocol.md §9.5):

- TCP. The register connects, sends one request frame, reads one answer frame and closes; the server
  also serves several request/answer pairs on one connection, in order.
- A frame is ``Uint32 LE length | body``; a body is at most MAX_BODY (65535) bytes, the largest message
  22h can announce (its length is a Uint16).
- Request body: the FN's message exactly as 22h/23h handed it out (opaque to the register).
- Answer body: either the OFD receipt (квитанция), to be passed to the FN with 26h as it is, or an
  error frame ``b"OFDERR" | UTF-8 text`` saying why the OFD refused the request. An OFD receipt that the
  FN will reject is still an answer: only the FN judges a receipt.
- A request whose length prefix is over MAX_BODY gets an error frame and the connection is closed; a
  well-framed request the OFD cannot read gets an error frame and the connection stays usable. A
  connection closed before a whole frame arrives is dropped silently.
"""

from __future__ import annotations

import socket
import struct
import time

from register.uri import UriError, parse_uri

LENGTH = struct.Struct("<I")
MAX_BODY = 0xFFFF
ERROR_MAGIC = b"OFDERR"
DEFAULT_TIMEOUT = 10.0


class OfdError(Exception):
    """The exchange with the OFD failed; the message was not confirmed."""


class OfdUnavailable(OfdError):
    """The OFD cannot be reached, or the connection broke or timed out before a whole answer."""


class OfdProtocolError(OfdError):
    """The OFD answered with bytes that are not a frame of this protocol."""


class OfdRefused(OfdError):
    """The OFD answered with an error frame; ``reason`` is its text."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"OFD at {where} refused the message: {reason}")
        self.reason = reason


def encode_frame(body: bytes) -> bytes:
    if len(body) > MAX_BODY:
        raise ValueError(f"OFD frame body of {len(body)} bytes is over the {MAX_BODY}-byte limit")
    return LENGTH.pack(len(body)) + body


def error_frame(reason: str) -> bytes:
    return encode_frame(ERROR_MAGIC + reason.encode("utf-8")[: MAX_BODY - len(ERROR_MAGIC)])


class OfdClient:
    """Sends FN messages to an OFD at ``tcp:HOST:PORT``; one connection per exchange, thread-safe."""

    def __init__(self, uri: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        parsed = parse_uri(uri)
        if parsed.scheme != "tcp":
            raise UriError(f"OFD address {uri!r}: expected tcp:HOST:PORT")
        if timeout <= 0:
            raise ValueError(f"OFD timeout must be positive, got {timeout}")
        self.uri = str(parsed)
        self.host, self.port = parsed.host_port
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"OfdClient({self.uri!r}, timeout={self.timeout:g})"

    def exchange(self, message: bytes) -> bytes:
        """Send one FN message, return the OFD's answer (the receipt for 26h). The whole exchange,
        connection included, ends within ``timeout`` seconds or raises OfdUnavailable."""
        if not message:
            raise ValueError("an OFD message cannot be empty")
        request = encode_frame(message)
        deadline = time.monotonic() + self.timeout
        try:
            with socket.create_connection((self.host, self.port), timeout=self.timeout) as conn:
                conn.settimeout(self._remaining(deadline))
                conn.sendall(request)
                (length,) = LENGTH.unpack(self._receive(conn, LENGTH.size, deadline))
                if length > MAX_BODY:
                    raise OfdProtocolError(
                        f"OFD at {self.uri} announced a {length}-byte answer, over the {MAX_BODY}-byte limit"
                    )
                body = self._receive(conn, length, deadline)
        except TimeoutError:
            raise OfdUnavailable(f"OFD at {self.uri}: no answer within {self.timeout:g} s") from None
        except OSError as exc:
            raise OfdUnavailable(f"OFD at {self.uri} unreachable: {exc}") from None
        if body.startswith(ERROR_MAGIC):
            raise OfdRefused(self.uri, body[len(ERROR_MAGIC) :].decode("utf-8", "replace"))
        if not body:
            raise OfdProtocolError(f"OFD at {self.uri} answered with an empty frame")
        return body

    def _remaining(self, deadline: float) -> float:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        return remaining

    def _receive(self, conn: socket.socket, size: int, deadline: float) -> bytes:
        data = bytearray()
        while len(data) < size:
            conn.settimeout(self._remaining(deadline))
            chunk = conn.recv(size - len(data))
            if not chunk:
                raise OfdUnavailable(
                    f"OFD at {self.uri} closed the connection after {len(data)} of {size} answer bytes"
                )
            data += chunk
        return bytes(data)
