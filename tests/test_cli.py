"""The `register` command as a user runs it: real processes, real pty."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from register.cli import main

REGISTER = [sys.executable, "-m", "register"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*REGISTER, *args], capture_output=True, text=True, timeout=60)


def test_help_lists_subcommands() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for name in ("emulate", "fn", "bench"):
        assert name in result.output


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["fn", "status", "--device", "com1"], "expected one of serial:"),
        (["fn", "status"], "Missing option '--device'"),
        (["emulate", "fn", "--state", "x"], "exactly one of --pty and --tcp"),
        (["emulate", "fn", "--tcp", "nohost", "--state", "x"], "is not HOST:PORT"),
        (["fn", "documents", "-d", "tcp:127.0.0.1:1", "--fd", "0"], "0 is not in the range"),
        (["nosuch"], "No such command"),
    ],
)
def test_bad_arguments_exit_non_zero_with_a_message(args: list[str], needle: str) -> None:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert needle in result.output


def test_every_subcommand_has_help() -> None:
    runner = CliRunner()
    for path in (
        ["emulate", "fn"],
        ["fn", "status"],
        ["fn", "register-kkt"],
        ["fn", "open-shift"],
        ["fn", "close-shift"],
        ["fn", "documents"],
        ["fn", "ofd"],
        ["bench", "fn"],
    ):
        result = runner.invoke(main, [*path, "--help"])
        assert result.exit_code == 0, path
        assert "Usage:" in result.output


def test_unreachable_device_is_a_clear_error() -> None:
    result = run("fn", "status", "--device", "serial:/dev/nonexistent-fn", "--timeout", "0.2")
    assert result.returncode == 1
    assert "cannot open the serial port" in result.stderr


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[str]:
    proc = subprocess.Popen(
        [*REGISTER, "emulate", "fn", "--pty", "--state", str(tmp_path / "fn"), "--no-drift-check"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    assert line.startswith("fn: /dev/pts/")
    yield "serial:" + line.removeprefix("fn: ")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0


def test_fn_commands_against_the_emulator(emulator: str) -> None:
    status = run("fn", "status", "-d", emulator)
    assert status.returncode == 0, status.stderr
    assert "ready for fiscalisation" in status.stdout
    assert "debug FN" in status.stdout

    reg = run("fn", "register-kkt", "-d", emulator)
    assert reg.returncode == 0, reg.stderr
    assert "registration report: FD 1" in reg.stdout
    assert "QR: t=" in reg.stdout

    opened = run("fn", "open-shift", "-d", emulator, "--cashier", "Петров П.П.")
    assert "shift opened: shift 1 FD 2" in opened.stdout

    again = run("fn", "open-shift", "-d", emulator)
    assert again.returncode == 1
    assert "FN error 02h" in again.stderr

    docs = run("fn", "documents", "-d", emulator, "--tlv")
    assert docs.returncode == 0, docs.stderr
    assert "registration report" in docs.stdout and "shift open report" in docs.stdout
    assert "Петров П.П." in docs.stdout

    ofd = run("fn", "ofd", "-d", emulator)
    assert "queued for OFD:    2" in ofd.stdout

    closed = run("fn", "close-shift", "-d", emulator)
    assert "shift closed: shift 1 FD 3" in closed.stdout
