"""The printer emulator over real byte channels: a pty, a TCP socket, and ``serve_printer`` as a process.

Status bytes are read with raw os.read / socket.recv (no project driver); expected values from escpos.md
§1.6. Reads wait for a deadline only so that a broken server fails the test instead of hanging it.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import time
import tty
from collections.abc import Iterator
from pathlib import Path

import escpos.printer
import PIL.Image
import pytest
import zxingcpp

from register.lab.printer_server import PrinterServer, parse_host_port

DEADLINE = 5.0
EOT = {n: bytes((0x10, 0x04, n)) for n in (1, 2, 3, 4)}
ALL_EOT = EOT[1] + EOT[2] + EOT[3] + EOT[4]
GS_R_PAPER = b"\x1d\x72\x01"
QR_PAYLOAD = "t=20260115T1432&s=1234.56&fn=9999078900004312&i=42&fp=3098173039&n=1"

# (faults, DLE EOT 1..4 answers): escpos.md §1.6 and the task's list for the default profile.
EOT_TABLE = [
    ((), "12 12 12 12"),
    (("paper-near-end",), "12 12 12 1E"),
    (("paper-out",), "1A 32 12 72"),
    (("paper-out", "paper-near-end"), "1A 32 12 7E"),
    (("cover-open",), "1A 16 12 12"),
    (("cutter-jam",), "1A 52 1A 12"),
]


# --- raw channel helpers -------------------------------------------------------------------------------


class PtyHost:
    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(self.fd)

    def write(self, data: bytes) -> None:
        os.write(self.fd, data)

    def read(self, size: int) -> bytes:
        data = b""
        end = time.monotonic() + DEADLINE
        while len(data) < size:
            ready, _, _ = select.select([self.fd], [], [], max(0.0, end - time.monotonic()))
            if not ready:
                raise TimeoutError(f"pty: {len(data)} of {size} bytes: {data.hex(' ')}")
            data += os.read(self.fd, size - len(data))
        return data

    def close(self) -> None:
        os.close(self.fd)


class TcpHost:
    def __init__(self, address: str) -> None:
        self.sock = socket.create_connection(parse_host_port(address), timeout=DEADLINE)

    def write(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = self.sock.recv(size - len(data))
            if not chunk:
                raise ConnectionError(f"tcp: closed after {len(data)} of {size} bytes")
            data += chunk
        return data

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(params=["pty", "tcp"])
def channel(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[PrinterServer, str]]:
    kind = request.param
    server = PrinterServer(tmp_path / "out", pty=kind == "pty", tcp="127.0.0.1:0" if kind == "tcp" else None)
    server.start()
    try:
        yield server, kind
    finally:
        server.stop()


def connect(server: PrinterServer, kind: str) -> PtyHost | TcpHost:
    assert server.address is not None
    return PtyHost(server.address) if kind == "pty" else TcpHost(server.address)


def wait_for(condition: object, what: str) -> None:
    end = time.monotonic() + DEADLINE
    while not condition():  # type: ignore[operator]
        if time.monotonic() > end:
            raise TimeoutError(f"waited for {what}")
        time.sleep(0.01)


# --- status over pty and TCP ---------------------------------------------------------------------------


@pytest.mark.parametrize(("faults", "answers"), EOT_TABLE)
def test_status_bytes_per_condition(
    channel: tuple[PrinterServer, str], faults: tuple[str, ...], answers: str
) -> None:
    server, kind = channel
    for fault in faults:
        server.set_fault(fault)
    host = connect(server, kind)
    try:
        host.write(ALL_EOT)
        assert host.read(4) == bytes.fromhex(answers)
    finally:
        host.close()


def test_faults_set_at_run_time_change_the_next_answer(channel: tuple[PrinterServer, str]) -> None:
    server, kind = channel
    host = connect(server, kind)
    try:
        host.write(EOT[4])
        assert host.read(1) == b"\x12"
        server.set_fault("paper-near-end")
        host.write(EOT[4])
        assert host.read(1) == b"\x1e"
        server.set_fault("cover-open")
        host.write(EOT[2])
        assert host.read(1) == b"\x16"
        server.clear_fault()
        host.write(EOT[2] + EOT[4])
        assert host.read(2) == b"\x12\x12"
    finally:
        host.close()


def test_gs_r_answered_in_order_after_data(channel: tuple[PrinterServer, str]) -> None:
    server, kind = channel
    server.set_fault("paper-near-end")
    host = connect(server, kind)
    try:
        host.write(b"\x1b\x40" + "Строка\n".encode("cp866") + GS_R_PAPER + EOT[4] + GS_R_PAPER)
        assert host.read(3) == bytes.fromhex("03 1E 03")
    finally:
        host.close()


def test_asb_on_enable_and_on_change(channel: tuple[PrinterServer, str]) -> None:
    server, kind = channel
    host = connect(server, kind)
    try:
        host.write(b"\x1d\x61\x0f")
        assert host.read(4) == bytes.fromhex("10 00 00 00")
        server.set_fault("paper-near-end")
        assert host.read(4) == bytes.fromhex("10 00 03 00")
        server.set_fault("cover-open")
        assert host.read(4) == bytes.fromhex("38 00 03 00")
    finally:
        host.close()


def test_offline_printer_does_not_answer(channel: tuple[PrinterServer, str]) -> None:
    server, kind = channel
    host = connect(server, kind)
    try:
        server.set_fault("paper-near-end")
        host.write(EOT[1])
        assert host.read(1) == b"\x12"
        if kind == "pty":
            server.set_fault("offline")
            host.write(EOT[4])  # would be answered 1E
            log = server.device.wire_log
            wait_for(lambda: any("switched off" in entry.note for entry in log.entries), "the EOT 4 read")
            server.clear_fault("offline")
            host.write(EOT[1])
            assert host.read(1) == b"\x12"  # the first byte after switching on answers the EOT 1
        else:
            server.set_fault("offline")
            assert host.sock.recv(1) == b""  # the connection is closed
    finally:
        host.close()


def test_no_answer_fault_keeps_silent_but_prints(channel: tuple[PrinterServer, str]) -> None:
    server, kind = channel
    server.set_fault("paper-near-end")
    server.set_fault("no-answer")
    host = connect(server, kind)
    try:
        host.write(EOT[4] + b"\x1b\x40\x1b\x74\x11" + "Печать\n".encode("cp866") + b"\x1d\x56\x00")
        wait_for(lambda: server.device.receipts, "the receipt")
        server.clear_fault("no-answer")
        host.write(EOT[1])
        assert host.read(1) == b"\x12"  # not 1E: EOT 4 sent under no-answer got nothing
        assert server.device.receipts[0].printed.text_lines == ["Печать"]
    finally:
        host.close()


def test_tcp_offline_refuses_connections(tmp_path: Path) -> None:
    with PrinterServer(tmp_path, tcp="127.0.0.1:0") as server:
        assert server.address is not None
        server.set_fault("offline")
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(parse_host_port(server.address), timeout=DEADLINE)
        server.clear_fault("offline")
        host = TcpHost(server.address)
        host.write(EOT[1])
        assert host.read(1) == b"\x12"
        host.close()


def test_tcp_serves_one_client_at_a_time_and_close_ends_the_receipt(tmp_path: Path) -> None:
    with PrinterServer(tmp_path, tcp="127.0.0.1:0", profile="POS-5890") as server:
        assert server.address is not None
        first, second = TcpHost(server.address), TcpHost(server.address)
        first.write(b"\x1b\x40\x1b\x74\x11" + "Первый\n".encode("cp866"))
        second.write(EOT[1])  # waits until the first client is done
        first.write(EOT[1])
        assert first.read(1) == b"\x12"
        assert server.device.receipts == []
        first.close()
        assert second.read(1) == b"\x12"
        assert server.device.receipts[0].printed.text_lines == ["Первый"]
        assert server.device.receipts[0].cut == "none"
        second.close()


def test_pty_survives_the_host_closing_and_reopening(tmp_path: Path) -> None:
    with PrinterServer(tmp_path, pty=True) as server:
        for _ in range(2):
            host = connect(server, "pty")
            host.write(EOT[1])
            assert host.read(1) == b"\x12"
            host.close()
        assert server.running


# --- python-escpos against the emulator ----------------------------------------------------------------


def dummy_receipt() -> bytes:
    dummy = escpos.printer.Dummy(profile="TM-T20II")
    dummy.hw("INIT")
    dummy.charcode("CP866")
    dummy.set(align="center", bold=True, double_height=True, double_width=True)
    dummy.text("ЧЕК №42\n")
    dummy.set_with_default()
    dummy.text("Молоко 3,2% 1 л      2 x 89.90 = 179.80\n")
    dummy.set(bold=True)
    dummy.text("ИТОГО: 179.80\n")
    dummy.set_with_default(align="center")
    dummy.qr(QR_PAYLOAD, native=True, size=6)
    dummy.cut()
    return bytes(dummy.output)


def test_python_escpos_network_receipt_prints_the_hand_written_text(tmp_path: Path) -> None:
    stream = dummy_receipt()
    # By hand: "ЧЕК №42" double width (14 of 48 columns: 17 spaces), the item line and the total at the
    # left, the QR (wider than the line as text, so no padding), then cut()'s 6 fed lines (ESC d 6).
    expected = (
        " " * 17
        + "ЧЕК №42\n"
        + "Молоко 3,2% 1 л      2 x 89.90 = 179.80\n"
        + "ИТОГО: 179.80\n"
        + f"[QR {QR_PAYLOAD}]\n"
        + "\n" * 6
    )
    out = tmp_path / "out"
    with PrinterServer(out, tcp="127.0.0.1:0") as server:
        assert server.address is not None
        host, port = parse_host_port(server.address)
        printer = escpos.printer.Network(host, port, timeout=DEADLINE, profile="TM-T20II")
        printer._raw(stream)
        printer._raw(GS_R_PAPER)  # answered only after everything before it was processed
        assert printer._read() == b"\x00"
        printer.close()
    assert (out / "0001.txt").read_text(encoding="utf-8") == expected
    decoded = zxingcpp.read_barcodes(PIL.Image.open(out / "0001.png"))
    assert [code.text for code in decoded] == [QR_PAYLOAD]


# --- serve_printer as a process ------------------------------------------------------------------------


def test_serve_printer_process_prints_its_address_and_exits_cleanly(tmp_path: Path) -> None:
    out = tmp_path / "out"
    command = [sys.executable, "-m", "register.lab.printer_server", "--tcp", "127.0.0.1:0", "--out", str(out)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("printer: 127.0.0.1:")
        host = TcpHost(first.removeprefix("printer: ").strip())
        host.write(b"\x1b\x40\x1b\x74\x11" + "Не дописан\n".encode("cp866") + GS_R_PAPER)
        assert host.read(1) == b"\x00"  # processed; the connection stays open, the receipt unfinished
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=DEADLINE * 2) == 0
        host.close()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.stdout.read() == ""
    assert "Не дописан" in (out / "0001.txt").read_text(encoding="utf-8")


def test_emulate_printer_warns_on_stderr_about_unknown_commands(tmp_path: Path) -> None:
    out = tmp_path / "out"
    command = [
        *[sys.executable, "-m", "register", "emulate", "printer"],
        *["--tcp", "127.0.0.1:0", "--out", str(out), "--profile", "TM-T20III"],
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("printer: 127.0.0.1:")
        host = TcpHost(first.removeprefix("printer: ").strip())
        # 0 ESC @, 2 ESC t 59 (not an Epson table), 5 "x" LF, 7 24 times ESC 0x99, GS V 0: 25 unknown
        host.write(b"\x1b@\x1bt\x3bx\n" + b"\x1b\x99" * 24 + b"\x1dV\x00" + GS_R_PAPER)
        assert host.read(1) == b"\x00"  # everything before GS r is processed
        host.close()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=DEADLINE * 2) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.stderr is not None
    warnings = process.stderr.read().splitlines()
    assert warnings[0] == "printer: warning: unknown ESC/POS command skipped (receipt 1, offset 2): 1b 74 3b"
    assert warnings[1] == "printer: warning: unknown ESC/POS command skipped (receipt 1, offset 7): 1b 99"
    assert len(warnings) == 21
    assert warnings[20].startswith(
        "printer: warning: more than 20 unknown ESC/POS commands, no more warnings"
    )
    assert (
        (out / "0001.txt")
        .read_text(encoding="utf-8")
        .splitlines()[-1]
        .startswith("[25 unknown ESC/POS commands skipped: 1b 74 3b, 1b 99,")
    )


def test_serve_printer_rejects_a_bad_fault() -> None:
    command = [sys.executable, "-m", "register.lab.printer_server", "--pty", "--out", "x", "--fault", "jam"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=DEADLINE * 4)
    assert result.returncode == 2
    assert "unknown printer fault 'jam'" in result.stderr


def test_server_rejects_two_channels(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="one printer channel"):
        PrinterServer(tmp_path, pty=True, tcp="127.0.0.1:0")
