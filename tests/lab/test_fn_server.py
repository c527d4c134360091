"""The FN emulator served over a real pty and a real TCP socket, in process and as a command."""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import serial

from register.fiscal.fn_protocol import FnStatus
from register.fiscal.frame import Frame, FrameReader, encode_frame
from register.lab.fn_server import FnServer, serve

STATUS_REQUEST = bytes.fromhex("04 01 00 30 FF CD")
NUMBER_REQUEST = bytes.fromhex("04 01 00 31 DE DD")
SAFETY_TIMEOUT = 20.0  # only bounds a hung test; nothing asserts on time


def read_frame(read: Callable[[], bytes]) -> Frame:
    """Read chunks with ``read()`` until one whole frame has arrived."""
    reader = FrameReader()
    deadline = time.monotonic() + SAFETY_TIMEOUT
    while time.monotonic() < deadline:
        for item in reader.feed(read()):
            assert isinstance(item, Frame), item
            return item
    raise AssertionError("no answer frame from the FN emulator")


def fd_reader(fd: int) -> Callable[[], bytes]:
    def read() -> bytes:
        ready, _, _ = select.select([fd], [], [], 0.5)
        return os.read(fd, 1024) if ready else b""

    return read


def test_command_line_server_on_a_pty(tmp_path: Path) -> None:
    state = tmp_path / "fn"
    proc = subprocess.Popen(
        [sys.executable, "-m", "register.lab.fn_server", "--pty", "--state", str(state)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("fn: /dev/"), line
        path = line.removeprefix("fn: ").strip()
        fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
        try:
            os.write(fd, STATUS_REQUEST)
            answer = read_frame(fd_reader(fd))
        finally:
            os.close(fd)
        assert answer.code == 0
        status = FnStatus.unpack(answer.data)
        assert (status.phase, status.last_fd) == (1, 0)
        assert status.fn_number.startswith("9999")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=SAFETY_TIMEOUT) == 0
        assert proc.stdout.read() == ""  # exactly one line on stdout
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert (state / "fn.sqlite3").is_file()


def test_command_line_server_on_tcp_reports_the_real_port(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "register.lab.fn_server", "--tcp", "127.0.0.1:0", "--state", str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        host, _, port = line.removeprefix("fn: ").rpartition(":")
        assert host == "127.0.0.1" and int(port) > 0
        with socket.create_connection((host, int(port)), timeout=SAFETY_TIMEOUT) as conn:
            conn.sendall(NUMBER_REQUEST)
            assert read_frame(lambda: conn.recv(1024)).code == 0
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=SAFETY_TIMEOUT) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_pty_survives_the_host_closing_and_reopening_it(tmp_path: Path) -> None:
    with FnServer(tmp_path, pty=True, fn_number="9999078900004312") as server:
        assert server.address is not None
        for _ in range(2):
            with serial.Serial(server.address, 115200, timeout=0.5) as port:
                port.write(NUMBER_REQUEST)
                answer = read_frame(lambda port=port: port.read(64))
                assert answer == Frame(0, b"9999078900004312")


def test_run_time_fault_injection_over_a_pty(tmp_path: Path) -> None:
    with (
        FnServer(tmp_path, fn_number="9999078900004312") as server,
        serial.Serial(server.address, 115200, timeout=0.5) as port,
    ):
        assert server.link is not None
        server.link.inject("drop-answer:31")
        port.write(NUMBER_REQUEST)
        port.write(b"\x05")  # the answer was lost: ask for it again
        assert read_frame(lambda: port.read(64)) == Frame(0, b"9999078900004312")
        notes = [entry.note for entry in server.link.wire_log.entries]
        assert "dropped by fault" in notes and "resent on ENQ" in notes


def test_partial_frame_is_dropped_after_silence(tmp_path: Path) -> None:
    with FnServer(tmp_path) as server, serial.Serial(server.address, 115200, timeout=0.5) as port:
        port.write(STATUS_REQUEST[:3])
        time.sleep(0.8)  # well over the 200 ms inter-byte timeout
        port.write(NUMBER_REQUEST)
        answer = read_frame(lambda: port.read(64))
        assert answer.code == 0 and len(answer.data) == 16


def test_tcp_serves_one_connection_at_a_time(tmp_path: Path) -> None:
    with FnServer(tmp_path, tcp="127.0.0.1:0") as server:
        assert server.address is not None
        host, _, port = server.address.rpartition(":")
        first = socket.create_connection((host, int(port)), timeout=SAFETY_TIMEOUT)
        first.sendall(NUMBER_REQUEST)
        assert read_frame(lambda: first.recv(1024)).code == 0
        second = socket.create_connection((host, int(port)), timeout=SAFETY_TIMEOUT)
        second.sendall(encode_frame(0x02))  # waits behind the first connection
        first.sendall(STATUS_REQUEST)
        status = FnStatus.unpack(read_frame(lambda: first.recv(1024)).data)
        assert status.current_doc == 0  # the second host's 02h has not run yet
        first.close()
        assert read_frame(lambda: second.recv(1024)) == Frame(0)
        second.sendall(b"\x05")
        assert read_frame(lambda: second.recv(1024)) == Frame(0)  # the FN's last answer: the 02h
        second.close()


def test_state_persists_across_server_restarts(tmp_path: Path) -> None:
    with FnServer(tmp_path, tcp="127.0.0.1:0") as server:
        host, _, port = (server.address or "").rpartition(":")
        with socket.create_connection((host, int(port)), timeout=SAFETY_TIMEOUT) as conn:
            conn.sendall(NUMBER_REQUEST)
            number = read_frame(lambda: conn.recv(1024)).data
    with FnServer(tmp_path, tcp="127.0.0.1:0") as server:
        host, _, port = (server.address or "").rpartition(":")
        with socket.create_connection((host, int(port)), timeout=SAFETY_TIMEOUT) as conn:
            conn.sendall(NUMBER_REQUEST)
            assert read_frame(lambda: conn.recv(1024)).data == number


def test_enq_on_a_new_connection_gets_the_fns_last_answer(tmp_path: Path) -> None:
    """The last answer is the FN's, not the connection's: a host that reconnects can still fetch it."""
    with FnServer(tmp_path, tcp="127.0.0.1:0", fn_number="9999078900004312") as server:
        host, _, port = (server.address or "").rpartition(":")
        assert server.link is not None
        server.link.inject("drop-answer:31")
        with socket.create_connection((host, int(port)), timeout=SAFETY_TIMEOUT) as first:
            first.sendall(NUMBER_REQUEST)  # executed; its answer is lost, and so is the connection
        with socket.create_connection((host, int(port)), timeout=SAFETY_TIMEOUT) as second:
            second.sendall(b"\x05")
            assert read_frame(lambda: second.recv(1024)) == Frame(0, b"9999078900004312")


def test_a_second_server_on_one_state_is_refused(tmp_path: Path) -> None:
    with FnServer(tmp_path / "fn", pty=True, fn_number="9999078900004312") as server:
        with pytest.raises(ValueError, match="in use by another FN emulator"):
            FnServer(tmp_path / "fn", tcp="127.0.0.1:0").start()
        with serial.Serial(server.address, 115200, timeout=0.5) as port:  # the first one still serves
            port.write(NUMBER_REQUEST)
            assert read_frame(lambda: port.read(64)) == Frame(0, b"9999078900004312")
    with FnServer(tmp_path / "fn", pty=True):  # released by stop()
        pass


def test_command_line_refuses_a_second_emulator_on_one_state(tmp_path: Path) -> None:
    state = tmp_path / "fn"
    first = subprocess.Popen(
        [sys.executable, "-m", "register", "emulate", "fn", "--pty", "--state", str(state)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert first.stdout is not None
        assert first.stdout.readline().startswith("fn: /dev/")
        for channel in (["--pty"], ["--tcp", "127.0.0.1:0"]):
            second = subprocess.run(
                [sys.executable, "-m", "register", "emulate", "fn", *channel, "--state", str(state)],
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert second.returncode == 2, second.stderr
            assert second.stdout == ""  # no ready line
            assert f"FN state in {state} is in use by another FN emulator (pid {first.pid})" in second.stderr
        assert first.poll() is None
    finally:
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=30) == 0
        assert first.stdout is not None
        first.stdout.close()


def test_restart_fn_keeps_the_channel_and_the_memory_but_not_the_open_document(tmp_path: Path) -> None:
    with (
        FnServer(tmp_path, fn_number="9999078900004312") as server,
        serial.Serial(server.address, 115200, timeout=0.5) as port,
    ):
        port.write(encode_frame(0x02))  # begin the registration report
        assert read_frame(lambda: port.read(64)) == Frame(0)
        port.write(STATUS_REQUEST)
        assert FnStatus.unpack(read_frame(lambda: port.read(64)).data).current_doc == 0x01
        server.restart_fn()
        port.write(b"\x05" + STATUS_REQUEST)  # a rebooted FN has no last answer: only 30h is answered
        status = FnStatus.unpack(read_frame(lambda: port.read(64)).data)
        assert (status.current_doc, status.fn_number, status.phase) == (0, "9999078900004312", 1)


@pytest.mark.parametrize(("pty", "tcp"), [(False, None), (True, "127.0.0.1:0")])
def test_serve_needs_exactly_one_channel(tmp_path: Path, pty: bool, tcp: str | None) -> None:
    with pytest.raises(ValueError, match="channel"):
        serve(tmp_path, pty=pty, tcp=tcp)


def test_bad_fault_spec_is_refused_before_serving(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="explode"):
        FnServer(tmp_path, faults=["explode"])


def test_taken_port_is_a_clear_error(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(ValueError, match=f"127.0.0.1:{port}"):
            FnServer(tmp_path, tcp=f"127.0.0.1:{port}").start()
