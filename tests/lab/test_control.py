"""The emulators' control channel (register.lab.control) over real loopback TCP, and end to end: faults set
at run time on a `register emulate printer` process change what the real printer driver gets.

Reads wait for a deadline only so that a broken server fails the test instead of hanging it.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from register.lab.control import (
    ControlAddressError,
    ControlError,
    ControlServer,
    is_error,
    register_fault_commands,
    send_command,
)
from register.printing.printer_driver import PrinterDriver
from register.printing.printer_errors import CoverOpen, PaperOut, PrinterState

DEADLINE = 10.0


@pytest.fixture
def control() -> Iterator[ControlServer]:
    server = ControlServer("127.0.0.1:0", name="test control")
    faults: list[str] = []

    def set_fault(spec: str) -> None:
        if spec == "jam":
            raise ValueError("unknown fault 'jam'")
        faults.append(spec)

    def clear_fault(kind: str | None) -> None:
        if kind is None:
            faults.clear()
        else:
            faults.remove(kind)

    register_fault_commands(
        server,
        set_fault=set_fault,
        clear_fault=clear_fault,
        status=lambda: {"faults": list(faults), "counters": {"frames": 3}},
        fault_usage="fault KIND",
    )

    def boom(args: list[str]) -> None:
        raise RuntimeError("handler bug")

    def echo(args: list[str]) -> str:
        if not args:
            raise ControlError("say something")
        return " ".join(args)

    server.register("boom", boom)
    server.register("Echo", echo, usage="echo WORD…")
    server.start()
    yield server
    server.stop()


class LineClient:
    def __init__(self, address: str) -> None:
        host, _, port = address.rpartition(":")
        self.sock = socket.create_connection((host, int(port)), timeout=DEADLINE)
        self.lines = self.sock.makefile("rb")

    def ask(self, line: bytes) -> str:
        self.sock.sendall(line)
        return self.lines.readline().decode("utf-8")

    def close(self) -> None:
        self.lines.close()
        self.sock.close()


def test_one_reply_line_per_command_line_on_one_connection(control: ControlServer) -> None:
    assert control.address is not None
    client = LineClient(control.address)
    try:
        assert client.ask(b"fault paper-out\n") == "ok: fault paper-out\n"
        assert client.ask(b"fault cover-open paper-near-end\r\n") == "ok: fault cover-open, paper-near-end\n"
        assert json.loads(client.ask(b"status\n")) == {
            "faults": ["paper-out", "cover-open", "paper-near-end"],
            "counters": {"frames": 3},
        }
        assert client.ask(b"clear cover-open\n") == "ok: cleared cover-open\n"
        assert client.ask(b"CLEAR\n") == "ok: cleared all\n"
        assert json.loads(client.ask(b"status\n"))["faults"] == []
    finally:
        client.close()


def test_errors_name_the_command(control: ControlServer) -> None:
    assert control.address is not None
    ask = lambda line: send_command(control.address, line)  # noqa: E731
    assert (
        ask("bogus 1 2") == "error: unknown command 'bogus' (known: boom, clear, echo, fault, help, status)"
    )
    assert ask("") == "error: empty command (known: boom, clear, echo, fault, help, status)"
    assert ask("fault") == "error: fault: name a fault (usage: fault KIND)"
    assert ask("fault jam") == "error: fault: unknown fault 'jam'"
    assert ask("status now") == "error: status: takes no arguments (usage: status)"
    assert ask("echo") == "error: echo: say something (usage: echo WORD…)"
    assert ask("boom") == "error: boom: internal error: RuntimeError: handler bug"
    assert ask("echo привет мир") == "привет мир"
    assert ask(["echo", "a", "b"]) == "a b"
    assert ask("help") == (
        "commands: help; boom; clear [KIND …] (no KIND: all); echo WORD…; fault KIND; status"
    )
    assert is_error(ask("bogus")) and not is_error(ask("status"))


def test_bad_lines_are_refused(control: ControlServer) -> None:
    assert control.address is not None
    client = LineClient(control.address)
    try:
        assert client.ask(b"echo \xff\n") == "error: the command is not UTF-8\n"
        assert client.ask(b"x" * 5000 + b"\n") == "error: line longer than 4096 bytes\n"
        assert client.lines.readline() == b""  # and the connection is closed
    finally:
        client.close()


def test_several_clients_at_once(control: ControlServer) -> None:
    assert control.address is not None
    address = control.address
    first, second = LineClient(address), LineClient(address)
    try:
        assert first.ask(b"echo one\n") == "one\n"
        assert second.ask(b"echo two\n") == "two\n"
        replies: list[str] = []
        threads = [
            threading.Thread(target=lambda n=n: replies.append(send_command(address, f"echo {n}")))
            for n in range(8)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(replies) == [str(n) for n in range(8)]
        assert first.ask(b"echo still\n") == "still\n"
    finally:
        first.close()
        second.close()


def test_stop_drops_the_clients_and_refuses_new_ones() -> None:
    server = ControlServer()
    server.register("ping", lambda args: "pong")
    address = server.start()
    client = LineClient(address)
    assert client.ask(b"ping\n") == "pong\n"
    server.stop()
    assert client.lines.readline() == b""
    client.close()
    with pytest.raises(ConnectionRefusedError):
        send_command(address, "ping")
    server.stop()  # twice is fine


@pytest.mark.parametrize("address", ["0.0.0.0:0", "192.0.2.1:7000", "example.com:1", "nohost", "1.2.3.4:x"])
def test_only_loopback_host_port(address: str) -> None:
    with pytest.raises(ControlAddressError):
        ControlServer(address)


def test_command_names_are_one_word() -> None:
    server = ControlServer()
    for name in ("", "two words", "help"):
        with pytest.raises(ValueError, match="one word"):
            server.register(name, lambda args: None)


# --- end to end: `register emulate printer --pty --control` and `register emulate control` ---------------


def register_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "register", *args], capture_output=True, text=True, timeout=DEADLINE * 3
    )


@pytest.fixture
def printer_process(tmp_path: Path) -> Iterator[tuple[str, str, Path]]:
    out = tmp_path / "out"
    command = [
        *[sys.executable, "-m", "register", "emulate", "printer", "--pty"],
        *["--control", "127.0.0.1:0", "--out", str(out)],
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        printer_line = process.stdout.readline()
        control_line = process.stdout.readline()
        assert printer_line.startswith("printer: /dev/"), (printer_line, process.stderr)
        assert control_line.startswith("control: 127.0.0.1:"), control_line
        yield printer_line.split(": ", 1)[1].strip(), control_line.split(": ", 1)[1].strip(), out
        process.terminate()
        assert process.wait(timeout=DEADLINE) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


RECEIPT = b"\x1b@\x1bt\x11" + "Чек после замены\n".encode("cp866") + b"\x1dV\x00"


def test_faults_at_run_time_on_a_command_line_printer(printer_process: tuple[str, str, Path]) -> None:
    pty, control, out = printer_process
    uri = f"serial:{pty}"

    done = register_cli("emulate", "control", control, "fault", "paper-out")
    assert (done.returncode, done.stdout) == (0, "ok: fault paper-out\n")
    with PrinterDriver.open(uri) as driver:
        with pytest.raises(PaperOut):  # the specific error, before anything is sent
            driver.print_bytes(RECEIPT)
        assert driver.status().state is PrinterState.PAPER_OUT

    status = json.loads(register_cli("emulate", "control", control, "status").stdout)
    assert status["faults"] == ["paper-out"]
    assert status["counters"]["receipts"] == 0

    done = register_cli("emulate", "control", control, "fault", "cover-open")
    assert done.returncode == 0
    done = register_cli("emulate", "control", control, "clear", "paper-out")
    assert (done.returncode, done.stdout) == (0, "ok: cleared paper-out\n")
    with PrinterDriver.open(uri) as driver, pytest.raises(CoverOpen):
        driver.print_bytes(RECEIPT)

    done = register_cli("emulate", "control", control, "clear")
    assert (done.returncode, done.stdout) == (0, "ok: cleared all\n")
    with PrinterDriver.open(uri) as driver:
        result = driver.print_bytes(RECEIPT)
    assert result.printed
    assert (out / "0001.txt").read_text(encoding="utf-8") == "Чек после замены\n"

    status = json.loads(register_cli("emulate", "control", control, "status").stdout)
    assert status["faults"] == []
    assert status["profile"] == "TM-T20III"
    assert status["address"] == pty
    assert status["counters"]["receipts"] == 1
    assert status["counters"]["unfinished_receipts"] == 0


def test_control_client_errors_exit_non_zero(printer_process: tuple[str, str, Path]) -> None:
    _, control, _ = printer_process
    done = register_cli("emulate", "control", control, "bogus")
    assert done.returncode == 1
    assert done.stdout == "error: unknown command 'bogus' (known: clear, fault, help, status)\n"
    done = register_cli("emulate", "control", control, "fault", "jam")
    assert done.returncode == 1
    assert done.stdout.startswith("error: fault: unknown printer fault 'jam' (known: paper-near-end, ")
    done = register_cli("emulate", "control", control, "fault", "paper-out:after-bytes=300")
    assert (done.returncode, done.stdout) == (0, "ok: fault paper-out:after-bytes=300\n")
    status = json.loads(register_cli("emulate", "control", control, "status").stdout)
    assert status["faults"] == ["paper-out:after-bytes=300"]


def test_control_client_without_a_channel_exits_1() -> None:
    with socket.socket() as probe:  # a loopback port with nothing listening on it
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    done = register_cli("emulate", "control", f"127.0.0.1:{port}", "status")
    assert done.returncode == 1
    assert f"control channel 127.0.0.1:{port}:" in done.stderr
    assert "Traceback" not in done.stderr


def test_emulate_printer_control_only_on_loopback(tmp_path: Path) -> None:
    done = register_cli("emulate", "printer", "--pty", "--out", str(tmp_path), "--control", "0.0.0.0:0")
    assert done.returncode == 2
    assert "loopback only" in done.stderr
