"""The `register` command as a user runs it: real processes, real pty."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from register.cli import main
from register.lab.fn_server import FnServer

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


@pytest.mark.parametrize(
    ("args", "uri", "reason"),
    [
        (["fn", "status", "-d", "usb:04b8:0e27"], "usb:04b8:0e27", "an FN is not reached over usb:"),
        (["fn", "status", "-d", "file:/x"], "file:/x", "an FN is not reached over file:"),
        (["fn", "status", "-d", "lab:"], "lab:", "an FN is not reached over lab:"),
        (["fn", "documents", "-d", "lab:"], "lab:", "an FN is not reached over lab:"),
        (
            ["fn", "status", "-d", "serial:/dev/ttyACM0?baud=abc"],
            "serial:/dev/ttyACM0?baud=abc",
            "baud='abc' is not a positive whole number",
        ),
        (["print-test", "-p", "lab:"], "lab:", "a printer is not reached over lab:"),
        (["printer-status", "-p", "lab:"], "lab:", "a printer is not reached over lab:"),
        (
            ["printer-status", "-p", "serial:/dev/ttyS0?baud=0"],
            "serial:/dev/ttyS0?baud=0",
            "baud='0' is not a positive whole number",
        ),
    ],
)
def test_a_bad_device_uri_is_a_usage_error_naming_it(args: list[str], uri: str, reason: str) -> None:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)  # click's usage error, not a traceback
    assert f"device URI {uri!r}" in result.output
    assert reason in result.output


def test_a_bad_device_uri_gives_no_traceback_from_the_command_line() -> None:
    result = run("fn", "status", "-d", "usb:04b8:0e27")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "Invalid value for '--device' / '-d': device URI 'usb:04b8:0e27'" in result.stderr


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


TEST_MARK = "ТЕСТОВЫЙ / НЕ ФИСКАЛЬНЫЙ ДОКУМЕНТ"  # fn-protocol.md §15: how a debug FN's documents are shown


def test_fn_commands_against_the_emulator(emulator: str) -> None:
    status = run("fn", "status", "-d", emulator)
    assert status.returncode == 0, status.stderr
    assert "ready for fiscalisation" in status.stdout
    assert "debug FN" in status.stdout

    reg = run("fn", "register-kkt", "-d", emulator)
    assert reg.returncode == 0, reg.stderr
    assert "registration report: FD 1" in reg.stdout
    assert "QR: t=" in reg.stdout
    assert reg.stdout.startswith(TEST_MARK)

    opened = run("fn", "open-shift", "-d", emulator, "--cashier", "Петров П.П.")
    assert "shift opened: shift 1 FD 2" in opened.stdout
    assert opened.stdout.startswith(TEST_MARK)

    again = run("fn", "open-shift", "-d", emulator)
    assert again.returncode == 1
    assert "FN error 02h" in again.stderr

    docs = run("fn", "documents", "-d", emulator, "--tlv")
    assert docs.returncode == 0, docs.stderr
    assert "registration report" in docs.stdout and "shift open report" in docs.stdout
    assert "Петров П.П." in docs.stdout
    assert docs.stdout.startswith(TEST_MARK)

    missing = run("fn", "documents", "-d", emulator, "--fd", "2", "--fd", "99")
    assert missing.returncode == 1
    assert "shift open report" in missing.stdout  # what the FN has is still shown
    assert "FD     99" in missing.stdout and "FN error 08h" in missing.stdout
    assert "FD 99" in missing.stderr

    ofd = run("fn", "ofd", "-d", emulator)
    assert "queued for OFD:    2" in ofd.stdout

    closed = run("fn", "close-shift", "-d", emulator)
    assert "shift closed: shift 1 FD 3" in closed.stdout
    assert closed.stdout.startswith(TEST_MARK)


def test_a_serial_fns_documents_carry_no_test_mark(tmp_path: Path) -> None:
    """The mark follows the FN's number: an FN whose number is not 9999… is shown as is."""
    with FnServer(tmp_path / "fn", pty=True, drift_check=False, fn_number="8710000100000001") as server:
        device = f"serial:{server.address}"
        runner = CliRunner()
        for args, needle in [
            (["fn", "register-kkt", "-d", device], "registration report: FD 1"),
            (["fn", "open-shift", "-d", device], "shift opened: shift 1 FD 2"),
            (["fn", "documents", "-d", device], "shift open report"),
            (["fn", "close-shift", "-d", device], "shift closed: shift 1 FD 3"),
        ]:
            result = runner.invoke(main, args)
            assert result.exit_code == 0, result.output
            assert needle in result.output
            assert TEST_MARK not in result.output


def test_printer_options_only_the_driver_knows_are_usage_errors_too() -> None:
    for command in ("printer-status", "print-test"):
        done = CliRunner().invoke(main, [command, "-p", "serial:/dev/null?flow=zzz"])
        assert done.exit_code == 2, done.output
        assert "flow='zzz', expected one of none, rtscts, xonxoff" in done.output
        assert "Traceback" not in done.output


def test_journal_shows_each_decision_with_its_reason_and_the_delivery(tmp_path: Path) -> None:
    from register.config import RegisterConfig
    from register.journal import Journal, Stage

    config = RegisterConfig(fn="serial:/dev/null", printer="file:/dev/null", journal=tmp_path / "j.sqlite3")
    config_file = tmp_path / "register.toml"
    config_file.write_text(config.to_toml(), encoding="utf-8")
    missing = CliRunner().invoke(main, ["journal", "--config", str(config_file)])
    assert missing.exit_code == 1 and "no journal at" in missing.output

    book = Journal(config.journal)
    suppressed = book.start("sale", {"lines": []})
    book.advance(
        suppressed,
        Stage.DECIDED,
        decision={"reason": "refused-paper-loyalty", "customer_contact": "anna@example.ru"},
    )
    book.advance(suppressed, Stage.FISCALISED, fiscal={"fd": 7})
    book.advance(suppressed, Stage.DELIVERED, delivery={"printed": False, "reprintPending": False})
    owed = book.start("sale", {"lines": []})
    book.advance(owed, Stage.DECIDED, decision={"reason": "buyer-declined", "customer_contact": None})
    book.advance(owed, Stage.FISCALISED, fiscal={"fd": 8})
    book.advance(owed, Stage.DELIVERED, delivery={"printed": False, "reprintPending": True})
    book.close()

    listed = CliRunner().invoke(main, ["journal", "--config", str(config_file)])
    assert listed.exit_code == 0, listed.output
    first, second = listed.output.splitlines()
    assert "FD 7" in first and "refused-paper-loyalty" in first
    assert "paper: suppressed" in first and "1008: anna@example.ru" in first
    assert "FD 8" in second and "paper: OWED (reprint)" in second and "1008: -" in second

    steps = CliRunner().invoke(main, ["journal", "--config", str(config_file), "--sale", suppressed])
    assert [line.split()[1] for line in steps.output.splitlines()[1:]] == [
        "started",
        "decided",
        "fiscalised",
        "delivered",
    ]
    rows = json.loads(CliRunner().invoke(main, ["journal", "--config", str(config_file), "--json"]).output)
    assert [row["fiscal"]["fd"] for row in rows] == [8, 7]  # newest first
