"""Serve the emulated ESC/POS printer on a pty, a TCP port or a fake USB device:
``register emulate printer --pty | --tcp HOST:PORT | --usb [--profile NAME] --out DIR [--fault KIND]``.

``serve_printer`` prints one line ``printer: <address>`` once ready (and ``control: <host:port>`` with a
control channel, ``register.lab.control``: ``fault SPEC``, ``clear [KIND]``, ``status``) and serves until
SIGTERM/SIGINT; each unknown ESC/POS command gets a warning line on stderr (the first 20).
``PrinterServer`` does the same in a background thread for tests and the embedded lab; ``.device`` is the
``EscposDevice`` for run-time faults (``PrinterServer.set_fault`` also waits until the transport has
followed, e.g. stopped accepting connections when switched off).

Addresses: a pty path (the slave stays open here, so the master never sees EIO between host sessions);
``host:port`` for TCP (port 9100 style, one client at a time, a closed connection ends the receipt in
progress); for USB the device URI ``usb:VVVV:PPPP?backend=register.lab.usb_backend&bridge=HOST:PORT``,
whose bridge is a loopback TCP listener that ``register.lab.usb_backend`` connects to (several handles
may be open at once; each gets the greeting line first). Switched off (fault ``offline``), the TCP and
bridge listeners are closed, so connections are refused, and the pty stays silent.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import selectors
import socket
import sys
import threading
import time
import tty
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from register.lab.control import ControlServer, register_fault_commands
from register.lab.escpos_device import (
    EscposDevice,
    Fault,
    FaultKind,
    FaultSpecError,
    WireLog,
    fault_kind,
    parse_fault,
)
from register.lab.serving import serve_until_signalled
from register.lab.usb_backend import BridgeHello
from register.profiles import DEFAULT_PRINTER, ProfileError, load_profile

log = logging.getLogger(__name__)

READ_SIZE = 65536
SEND_TIMEOUT = 5.0
IDLE_FLUSH = 3.0
"""Seconds of silence after which a receipt in progress is ended (cutter-less printers get no cut)."""
REBIND_RETRY = 0.5
APPLY_TIMEOUT = 5.0
USB_BACKEND_MODULE = "register.lab.usb_backend"


class PrinterServerError(RuntimeError):
    """The printer server could not start or stopped unexpectedly."""


def parse_host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.strip().rpartition(":")
    if not sep or not port.isdigit() or int(port) > 0xFFFF:
        raise ValueError(f"TCP address {text!r} is not HOST:PORT")
    return host.strip("[]") or "127.0.0.1", int(port)


@dataclass(eq=False, slots=True)
class _Client:
    sock: socket.socket
    peer: str
    sent_data: bool = False


class PrinterServer:
    """The printer emulator behind a pty (default), a TCP listener or a USB bridge, in a background thread."""

    def __init__(
        self,
        out_dir: Path | None,
        *,
        profile: str = DEFAULT_PRINTER,
        pty: bool = False,
        tcp: str | None = None,
        usb: bool = False,
        bridge: str | None = None,
        faults: Sequence[str | Fault] = (),
        wire_log: Path | None = None,
        render_png: bool = True,
        idle_flush: float | None = IDLE_FLUSH,
        on_unknown: Callable[[bytes, int, int], None] | None = None,
    ) -> None:
        """A pty unless ``tcp`` or ``usb`` is given. ``bridge`` fixes the USB bridge's HOST:PORT (default:
        a free loopback port). ``idle_flush``: seconds of silence that end a receipt in progress (None:
        never). ``on_unknown``: see ``EscposDevice``."""
        if pty + (tcp is not None) + usb > 1:
            raise ValueError("choose one printer channel: a pty, tcp HOST:PORT or usb")
        if bridge is not None and not usb:
            raise ValueError("a USB bridge address needs the usb channel")
        self.profile = load_profile(profile)
        self.mode = "usb" if usb else "tcp" if tcp is not None else "pty"
        if usb:
            self._hello = BridgeHello.of(self.profile).encode()
        self._bind = (
            parse_host_port(tcp)
            if tcp is not None
            else parse_host_port(bridge)
            if bridge is not None
            else ("127.0.0.1", 0)
        )
        self.device = EscposDevice(
            self.profile,
            out_dir,
            render_png=render_png,
            faults=faults,
            wire_log=WireLog(path=wire_log),
            on_unknown=on_unknown,
        )
        self._idle_flush = idle_flush
        self.address: str | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._wake_r, self._wake_w = -1, -1
        self._master, self._slave = -1, -1
        self._listener: socket.socket | None = None
        self._bound: tuple[str, int] | None = None
        self._clients: list[_Client] = []
        self._selector: selectors.BaseSelector | None = None
        self._rebind_at = 0.0
        self._last_rx = time.monotonic()
        self._applied = threading.Condition()
        self._requested = 0
        self._served = 0

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> str:
        """Open the channel and start serving; return the address the host opens."""
        if self._thread is not None:
            raise PrinterServerError("printer server already started")
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._wake_r, selectors.EVENT_READ, "wake")
        try:
            if self.mode == "pty":
                self.address = self._open_pty()
            else:
                self.address = self._open_listener()
                if self.device.offline:  # switched off from the start: refuse connections at once
                    self._close_listener()
        except OSError as exc:
            self._close_resources()
            raise PrinterServerError(f"cannot open the printer channel: {exc}") from exc
        self.device.set_notifier(self._wake)
        self._thread = threading.Thread(target=self._run, name="printer-server", daemon=True)
        self._thread.start()
        return self.address

    def stop(self) -> None:
        """Stop serving, end a receipt in progress, close the channel. Safe to call twice."""
        self._stopping.set()
        self._wake()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.device.set_notifier(None)
        self.device.connection_closed()
        self._close_resources()

    def __enter__(self) -> PrinterServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- run-time faults that the transport must follow --------------------------------------------

    def set_fault(self, kind: FaultKind | str, **params: int | None) -> None:
        """``device.set_fault`` and wait until the serving thread applied it (listeners closed, …)."""
        self.device.set_fault(kind, **params)
        self._wait_applied()

    def clear_fault(self, kind: FaultKind | str | None = None) -> None:
        self.device.clear_fault(kind)
        self._wait_applied()

    def apply_fault(self, spec: str | Fault) -> Fault:
        """Set a fault from its text form (``paper-out:after-bytes=300``); FaultSpecError if malformed."""
        fault = parse_fault(spec) if isinstance(spec, str) else spec
        self.set_fault(fault.kind, after_bytes=fault.after_bytes, after_receipts=fault.after_receipts)
        return fault

    def status(self) -> dict[str, object]:
        """The control channel's ``status``: profile, address, the faults in force and the counters."""
        return {
            "device": "printer",
            "profile": self.profile.name,
            "address": self.address,
            "faults": [str(fault) for fault in self.device.faults],
            "counters": self.device.counters(),
        }

    def _wait_applied(self) -> None:
        if not self.running:
            return
        with self._applied:
            self._requested += 1
            target = self._requested
        self._wake()
        with self._applied:
            if not self._applied.wait_for(lambda: self._served >= target or not self.running, APPLY_TIMEOUT):
                raise PrinterServerError("the printer server did not apply the change in time")

    def _wake(self) -> None:
        if self._wake_w >= 0:
            with contextlib.suppress(OSError):
                os.write(self._wake_w, b"x")

    # --- channels ----------------------------------------------------------------------------------

    def _open_pty(self) -> str:
        master, slave = os.openpty()
        self._master, self._slave = master, slave  # the slave stays open: no EIO between host sessions
        tty.setraw(slave)
        os.set_blocking(master, False)
        assert self._selector is not None
        self._selector.register(master, selectors.EVENT_READ, "pty")
        return os.ttyname(slave)

    def _open_listener(self) -> str:
        host, port = self._bound or self._bind
        listener = socket.create_server((host, port), family=_family(host), backlog=8)
        listener.setblocking(False)
        self._listener = listener
        self._bound = listener.getsockname()[:2]
        self._sync_listener_registration()
        bound_host, bound_port = self._bound
        if self.mode == "usb":
            usb_id = self.profile.usb[0]
            return f"usb:{usb_id}?backend={USB_BACKEND_MODULE}&bridge={bound_host}:{bound_port}"
        return f"{bound_host}:{bound_port}"

    def _close_listener(self) -> None:
        if self._listener is None:
            return
        assert self._selector is not None
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(self._listener)
        self._listener.close()
        self._listener = None
        log.info("printer: switched off, %s closed", self.mode)

    def _sync_listener_registration(self) -> None:
        """TCP serves one client at a time: the listener is watched only while no client is connected."""
        if self._listener is None or self._selector is None:
            return
        wanted = self.mode == "usb" or not self._clients
        registered = self._listener in {key.fileobj for key in self._selector.get_map().values()}
        if wanted and not registered:
            self._selector.register(self._listener, selectors.EVENT_READ, "listener")
        elif not wanted and registered:
            self._selector.unregister(self._listener)

    # --- the serving loop --------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._serve()
        except Exception:
            log.exception("printer server stopped on an error")
        finally:
            with self._applied:
                self._applied.notify_all()

    def _serve(self) -> None:
        assert self._selector is not None
        while not self._stopping.is_set():
            with self._applied:
                requested = self._requested
            self._follow_power()
            self._send_unsolicited()
            with self._applied:
                self._served = requested
                self._applied.notify_all()
            events = self._selector.select(self._select_timeout())
            if self._stopping.is_set():
                break
            if not events:
                self._on_idle()
                continue
            for key, _ in events:
                if key.data == "wake":
                    with contextlib.suppress(BlockingIOError):
                        os.read(self._wake_r, 4096)
                elif key.data == "pty":
                    self._read_pty()
                elif key.data == "listener":
                    self._accept()
                elif isinstance(key.data, _Client) and key.data in self._clients:
                    self._read_client(key.data)

    def _select_timeout(self) -> float | None:
        timeouts: list[float] = []
        now = time.monotonic()
        if self._idle_flush is not None and self.device.printing:
            timeouts.append(max(0.0, self._last_rx + self._idle_flush - now))
        if self.mode != "pty" and self._listener is None and not self.device.offline:
            timeouts.append(max(0.0, self._rebind_at - now))
        return min(timeouts) if timeouts else None

    def _on_idle(self) -> None:
        if (
            self._idle_flush is not None
            and self.device.printing
            and time.monotonic() - self._last_rx >= self._idle_flush
        ):
            log.info("printer: idle for %.1f s, ending the receipt in progress", self._idle_flush)
            self.device.flush()

    def _follow_power(self) -> None:
        """Switched off: close the listener and the clients (connections refused); back on: listen again."""
        if self.mode == "pty":
            return
        if self.device.offline:
            for client in list(self._clients):
                self._drop_client(client, flush=False)
            self._close_listener()
        elif self._listener is None and time.monotonic() >= self._rebind_at:
            try:
                self._open_listener()
                log.info("printer: switched on, listening on %s:%s", *self._bound or ("?", "?"))
            except OSError as exc:
                log.warning("printer: cannot listen again on %s: %s", self._bound, exc)
                self._rebind_at = time.monotonic() + REBIND_RETRY

    def _send_unsolicited(self) -> None:
        out = self.device.take_output()
        if not out:
            return
        if self.mode == "pty":
            _write_all_fd(self._master, out)
            return
        targets = [c for c in self._clients if c.sent_data] or self._clients
        if not targets:
            log.info("printer: no host connected, %d status bytes dropped", len(out))
            return
        self._send(targets[-1], out)

    # --- pty ---------------------------------------------------------------------------------------

    def _read_pty(self) -> None:
        try:
            chunk = os.read(self._master, READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:  # EIO cannot happen while we hold the slave; stop if it still does
            log.error("printer pty read failed: %s", exc)
            self._stopping.set()
            return
        self._last_rx = time.monotonic()
        reply = self.device.receive(chunk)
        if reply:
            _write_all_fd(self._master, reply)

    # --- sockets -----------------------------------------------------------------------------------

    def _accept(self) -> None:
        if self._listener is None:
            return
        try:
            conn, peer = self._listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        conn.settimeout(SEND_TIMEOUT)
        client = _Client(conn, f"{peer[0]}:{peer[1]}")
        log.info("printer: host connected from %s", client.peer)
        self._clients.append(client)
        assert self._selector is not None
        self._selector.register(conn, selectors.EVENT_READ, client)
        self._sync_listener_registration()
        if self.mode == "usb":
            self._send(client, self._hello)

    def _read_client(self, client: _Client) -> None:
        try:
            chunk = client.sock.recv(READ_SIZE)
        except OSError as exc:
            log.info("printer: connection from %s lost: %s", client.peer, exc)
            chunk = b""
        if not chunk:
            log.info("printer: host %s disconnected", client.peer)
            self._drop_client(client, flush=client.sent_data)
            return
        client.sent_data = True
        self._last_rx = time.monotonic()
        reply = self.device.receive(chunk)
        if reply:
            self._send(client, reply)

    def _send(self, client: _Client, data: bytes) -> None:
        try:
            client.sock.sendall(data)
        except OSError as exc:
            log.info("printer: answer to %s not sent: %s", client.peer, exc)
            self._drop_client(client, flush=client.sent_data)

    def _drop_client(self, client: _Client, *, flush: bool) -> None:
        if client not in self._clients:
            return
        self._clients.remove(client)
        assert self._selector is not None
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(client.sock)
        client.sock.close()
        if flush:
            self.device.connection_closed()
        self._sync_listener_registration()

    def _close_resources(self) -> None:
        for client in list(self._clients):
            client.sock.close()
        self._clients = []
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        if self._selector is not None:
            self._selector.close()
            self._selector = None
        for fd in (self._master, self._slave, self._wake_r, self._wake_w):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = self._wake_r = self._wake_w = -1
        self.device.wire_log.close()


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _write_all_fd(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            written = os.write(fd, view)
        except BlockingIOError:
            log.warning("printer pty: host is not reading, %d answer bytes lost", len(view))
            return
        except OSError as exc:
            log.warning("printer pty: write failed: %s", exc)
            return
        view = view[written:]


UNKNOWN_WARNINGS = 20
"""Unknown commands warned about on stderr by ``serve_printer``; after that one line says so."""


class UnknownCommandWarnings:
    """``on_unknown`` for a command-line printer: one warning line per unknown command, the first ``limit``
    of them, then one line saying that the rest go to the receipts' .txt notes and the wire log only."""

    def __init__(self, stream: TextIO | None = None, limit: int = UNKNOWN_WARNINGS) -> None:
        self._stream = stream
        self._limit = limit
        self.count = 0

    def __call__(self, command: bytes, offset: int, receipt: int) -> None:
        self.count += 1
        if self.count > self._limit + 1:
            return
        if self.count == self._limit + 1:
            line = (
                f"printer: warning: more than {self._limit} unknown ESC/POS commands, no more warnings "
                "(each receipt's .txt counts them, the wire log lists them)"
            )
        else:
            shown = command[:16].hex(" ") + (" ..." if len(command) > 16 else "")
            where = f"receipt {receipt}, offset {offset}"
            line = f"printer: warning: unknown ESC/POS command skipped ({where}): {shown}"
        stream = self._stream or sys.stderr
        print(line, file=stream, flush=True)


def printer_control(server: PrinterServer, address: str = "127.0.0.1:0") -> ControlServer:
    """The printer's control channel (not started): ``fault SPEC…``, ``clear [KIND…]``, ``status``."""
    control = ControlServer(address, name="printer control")

    def clear(kind: str | None) -> None:
        server.clear_fault(None if kind is None else fault_kind(kind))

    register_fault_commands(
        control,
        set_fault=server.apply_fault,
        clear_fault=clear,
        status=server.status,
        fault_usage="fault KIND[:after-bytes=N|:after-receipts=N] … (KIND: "
        + ", ".join(kind.value for kind in FaultKind)
        + ")",
    )
    return control


def serve_printer(
    out_dir: Path | None,
    *,
    pty: bool = False,
    tcp: str | None = None,
    usb: bool = False,
    profile: str = DEFAULT_PRINTER,
    faults: Sequence[str] = (),
    wire_log: Path | None = None,
    render_png: bool = True,
    control: str | None = None,
) -> None:
    """Serve the printer until SIGTERM/SIGINT; print ``printer: <address>`` once ready, then with
    ``control`` (HOST:PORT on loopback) ``control: <host:port>`` of its control channel. Main thread only."""
    if pty + (tcp is not None) + usb != 1:
        raise ValueError("choose exactly one printer channel: --pty, --tcp HOST:PORT or --usb")
    server = PrinterServer(
        out_dir,
        profile=profile,
        pty=pty,
        tcp=tcp,
        usb=usb,
        faults=[parse_fault(f) for f in faults],
        wire_log=wire_log,
        render_png=render_png,
        on_unknown=UnknownCommandWarnings(),
    )
    channel = printer_control(server, control) if control is not None else None

    def start() -> str:
        ready = f"printer: {server.start()}"
        if channel is None:
            return ready
        try:
            return f"{ready}\ncontrol: {channel.start()}"
        except OSError as exc:
            raise PrinterServerError(f"cannot open the control channel {control}: {exc}") from exc

    def stop() -> None:
        if channel is not None:
            channel.stop()
        server.stop()

    serve_until_signalled(
        start,
        stop,
        alive=lambda: server.running,
        died="printer server thread stopped unexpectedly",
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m register.lab.printer_server", description=__doc__)
    channel = parser.add_mutually_exclusive_group(required=True)
    channel.add_argument("--pty", action="store_true", help="serve on a new pseudo-terminal")
    channel.add_argument("--tcp", metavar="HOST:PORT", help="serve on a TCP port (0: any free port)")
    channel.add_argument("--usb", action="store_true", help="a fake USB printer (pyusb backend + bridge)")
    parser.add_argument("--out", type=Path, required=True, help="directory for NNNN.txt / NNNN.png")
    parser.add_argument("--profile", default=DEFAULT_PRINTER, help="printer model (drivers/printers/*.toml)")
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        help="paper-near-end, paper-out[:after-bytes=N|:after-receipts=N], cover-open, cutter-jam, "
        "offline, no-answer, drawer-open",
    )
    parser.add_argument("--wire-log", type=Path, help="append every chunk in and out to this file")
    parser.add_argument("--no-png", action="store_true", help="write NNNN.txt only")
    parser.add_argument("--control", metavar="HOST:PORT", help="run-time control channel (loopback)")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        serve_printer(
            args.out,
            pty=args.pty,
            tcp=args.tcp,
            usb=args.usb,
            profile=args.profile,
            faults=args.fault,
            wire_log=args.wire_log,
            render_png=not args.no_png,
            control=args.control,
        )
    except (ValueError, FaultSpecError, ProfileError, PrinterServerError) as exc:
        print(f"printer: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
