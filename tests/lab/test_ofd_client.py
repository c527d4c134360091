"""OfdClient (register.fiscal.ofd_client) against a plain TCP peer that answers scripted bytes.

The peer is a real listening socket: the tests check the frame layout on the wire and every way an
exchange can fail.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Callable, Iterator

import pytest

from register.fiscal.ofd_client import (
    OfdClient,
    OfdProtocolError,
    OfdRefused,
    OfdUnavailable,
    encode_frame,
    error_frame,
)
from register.uri import UriError


class ScriptedPeer:
    """Accepts one connection, records the request bytes, answers with ``reply(request)``."""

    def __init__(self, reply: Callable[[bytes], bytes | None]) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._reply = reply
        self.request = b""
        self.release = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        conn, _ = self._listener.accept()
        with conn:
            header = _read(conn, 4)
            (length,) = struct.unpack("<I", header)
            self.request = header + _read(conn, length)
            answer = self._reply(self.request)
            if answer is None:  # stay silent until released
                self.release.wait(10)
                return
            conn.sendall(answer)

    def close(self) -> None:
        self.release.set()
        self._thread.join(10)
        self._listener.close()


def _read(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


PeerFactory = Callable[[Callable[[bytes], bytes | None]], ScriptedPeer]


@pytest.fixture
def peer_factory() -> Iterator[PeerFactory]:
    peers: list[ScriptedPeer] = []

    def make(reply: Callable[[bytes], bytes | None]) -> ScriptedPeer:
        peers.append(ScriptedPeer(reply))
        return peers[-1]

    yield make
    for peer in peers:
        peer.close()


def test_request_and_answer_frames_on_the_wire(peer_factory: PeerFactory) -> None:
    peer = peer_factory(lambda request: b"\x05\x00\x00\x00OFDR1")
    answer = OfdClient(f"tcp:127.0.0.1:{peer.port}", timeout=5).exchange(b"FNOFD1-message")
    assert peer.request == b"\x0e\x00\x00\x00FNOFD1-message"  # Uint32 LE 14, then the message
    assert answer == b"OFDR1"


def test_an_error_frame_is_a_refusal_with_its_text(peer_factory: PeerFactory) -> None:
    peer = peer_factory(lambda request: error_frame("документ не читается"))
    with pytest.raises(OfdRefused, match="refused the message: документ не читается") as caught:
        OfdClient(f"tcp:127.0.0.1:{peer.port}", timeout=5).exchange(b"x")
    assert caught.value.reason == "документ не читается"


def test_an_answer_over_the_limit_is_a_protocol_error(peer_factory: PeerFactory) -> None:
    peer = peer_factory(lambda request: struct.pack("<I", 0x10000))
    with pytest.raises(OfdProtocolError, match="65536-byte answer"):
        OfdClient(f"tcp:127.0.0.1:{peer.port}", timeout=5).exchange(b"x")


def test_an_empty_answer_is_a_protocol_error(peer_factory: PeerFactory) -> None:
    peer = peer_factory(lambda request: encode_frame(b""))
    with pytest.raises(OfdProtocolError, match="empty frame"):
        OfdClient(f"tcp:127.0.0.1:{peer.port}", timeout=5).exchange(b"x")


def test_a_connection_closed_mid_answer(peer_factory: PeerFactory) -> None:
    peer = peer_factory(lambda request: b"\x0a\x00\x00\x00OFD")
    with pytest.raises(OfdUnavailable, match="closed the connection after 3 of 10 answer bytes"):
        OfdClient(f"tcp:127.0.0.1:{peer.port}", timeout=5).exchange(b"x")


def test_a_silent_ofd_times_out(peer_factory: PeerFactory) -> None:
    peer = peer_factory(lambda request: None)
    with pytest.raises(OfdUnavailable, match=r"no answer within 0\.3 s"):
        OfdClient(f"tcp:127.0.0.1:{peer.port}", timeout=0.3).exchange(b"x")


def test_nobody_listening() -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    with pytest.raises(OfdUnavailable, match=f"OFD at tcp:127.0.0.1:{port} unreachable"):
        OfdClient(f"tcp:127.0.0.1:{port}", timeout=5).exchange(b"x")


@pytest.mark.parametrize(
    ("uri", "error", "match"),
    [
        ("serial:/dev/ttyS0", UriError, "expected tcp:HOST:PORT"),
        ("tcp:localhost", UriError, "tcp:HOST:PORT"),
        ("ofd.lab:7777", UriError, "device URI"),
    ],
)
def test_bad_addresses(uri: str, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        OfdClient(uri)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="timeout must be positive"):
        OfdClient("tcp:127.0.0.1:7777", timeout=0)
    with pytest.raises(ValueError, match="cannot be empty"):
        OfdClient("tcp:127.0.0.1:7777").exchange(b"")
    with pytest.raises(ValueError, match="over the 65535-byte limit"):
        OfdClient("tcp:127.0.0.1:7777").exchange(bytes(0x10000))
