"""Serve the emulated FN on a pty or a TCP port: ``register emulate fn --pty|--tcp HOST:PORT --state DIR``.

``serve`` prints one line ``fn: <address>`` once ready and runs until SIGTERM/SIGINT. ``FnServer`` does the
same in a background thread for tests, benchmarks and the embedded lab, with ``.link`` and ``.emulator``
reachable for run-time fault injection.
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
from datetime import datetime
from pathlib import Path

from register.lab.fn_emulator import FnConfig, FnEmulator
from register.lab.fn_link import Fault, FaultPlan, FnLink, WireLog
from register.lab.fn_store import FnStore
from register.lab.serving import serve_until_signalled

log = logging.getLogger(__name__)

INTER_BYTE_TIMEOUT = 0.2  # seconds of silence after which a partial frame is dropped
READ_SIZE = 4096
SEND_TIMEOUT = 5.0


class FnServerError(RuntimeError):
    """The server stopped unexpectedly or was started twice."""


class FnChannelError(ValueError):
    """The pty or TCP address could not be opened (e.g. the port is taken)."""


def parse_host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 0xFFFF:
        raise ValueError(f"TCP address {text!r} is not HOST:PORT")
    return host.strip("[]") or "127.0.0.1", int(port)


class FnServer:
    """The FN emulator behind a pty (default) or a TCP listener, served by a background thread."""

    def __init__(
        self,
        state_dir: Path,
        *,
        pty: bool = False,
        tcp: str | None = None,
        faults: Sequence[str | Fault] = (),
        drift_check: bool = True,
        wire_log: Path | None = None,
        config: FnConfig | None = None,
        clock: Callable[[], datetime] = datetime.now,
        fn_number: str | None = None,
        seed: int | str | None = None,
    ) -> None:
        """A pty unless ``tcp`` is given. ``config`` wins over ``drift_check``; ``fn_number``/``seed``
        only name a fresh FN (an existing state keeps its number)."""
        if pty and tcp is not None:
            raise ValueError("choose one FN channel: a pty or tcp HOST:PORT, not both")
        self.state_dir = Path(state_dir)
        self._tcp = parse_host_port(tcp) if tcp is not None else None
        self._faults = FaultPlan(Fault.parse(f) if isinstance(f, str) else f for f in faults)
        self._config = config or FnConfig(drift_check=drift_check)
        self._clock = clock
        self._fn_number = fn_number
        self._seed = seed
        self._wire_log_path = wire_log
        self.address: str | None = None
        self.emulator: FnEmulator | None = None
        self.link: FnLink | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._wake_r, self._wake_w = -1, -1
        self._fds: list[int] = []
        self._master = -1
        self._listener: socket.socket | None = None
        self._feed_lock = threading.Lock()  # a command runs to its end before the FN can be power-cycled

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> str:
        """Open the FN state, open the channel, start serving; return the address the host opens."""
        if self._thread is not None:
            raise FnServerError("FN server already started")
        store = FnStore.open(
            self.state_dir, fn_number=self._fn_number, seed=self._seed, today=self._clock().date()
        )
        self.emulator = FnEmulator(store, config=self._config, clock=self._clock)
        wire_log = WireLog(path=self._wire_log_path)
        self.link = FnLink(self.emulator, wire_log=wire_log, faults=self._faults)
        self._wake_r, self._wake_w = os.pipe()
        try:
            if self._tcp is None:
                self.address, target = self._open_pty(), self._serve_pty
            else:
                self.address, target = self._open_tcp(*self._tcp), self._serve_tcp
        except OSError as exc:
            self._close_resources()
            where = "a pty" if self._tcp is None else f"TCP {self._tcp[0]}:{self._tcp[1]}"
            raise FnChannelError(f"cannot open the FN channel on {where}: {exc}") from exc
        self._thread = threading.Thread(target=self._run, args=(target,), name="fn-server", daemon=True)
        self._thread.start()
        return self.address

    def restart_fn(self) -> None:
        """Power-cycle the FN behind the channel, as when a real FN loses power in its reader.

        The channel (pty or TCP connection) stays; the FN memory is reopened from the state directory, so
        the archive and counters survive while the open document, the last answer (ENQ gets nothing) and
        the OFD exchange state are lost. Pending faults stay.
        """
        if self.emulator is None or self.link is None:
            raise FnServerError("FN server not started")
        with self._feed_lock:
            self.emulator.close()
            store = FnStore.open(self.state_dir, today=self._clock().date())
            self.emulator = FnEmulator(store, config=self._config, clock=self._clock)
            self.link.emulator = self.emulator
            self.link.memory.forget()
            self.link.reset_partial()
            log.info("FN: power-cycled")

    def stop(self) -> None:
        """Stop serving, close the channel and the FN state. Safe to call twice."""
        self._stopping.set()
        if self._wake_w >= 0:
            with contextlib.suppress(OSError):
                os.write(self._wake_w, b"x")
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._close_resources()

    def __enter__(self) -> FnServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- channels ------------------------------------------------------------------------------

    def _open_pty(self) -> str:
        master, slave = os.openpty()
        self._fds += [master, slave]  # the slave stays open here so the master never sees EIO
        tty.setraw(slave)
        os.set_blocking(master, False)
        self._master = master
        return os.ttyname(slave)

    def _open_tcp(self, host: str, port: int) -> str:
        listener = socket.create_server((host, port), family=_family(host), backlog=4)
        listener.setblocking(False)
        self._listener = listener
        bound_host, bound_port = listener.getsockname()[:2]
        return f"{bound_host}:{bound_port}"

    def _run(self, target: Callable[[], None]) -> None:
        try:
            target()
        except Exception:
            log.exception("FN server stopped on an error")

    def _serve_pty(self) -> None:
        assert self.link is not None
        master = self._master
        selector = selectors.DefaultSelector()
        selector.register(master, selectors.EVENT_READ)
        selector.register(self._wake_r, selectors.EVENT_READ)
        last_rx = time.monotonic()
        while not self._stopping.is_set():
            events = selector.select(INTER_BYTE_TIMEOUT if self.link.mid_frame else None)
            if self._stopping.is_set():
                break
            if not events:
                if self.link.mid_frame and time.monotonic() - last_rx >= INTER_BYTE_TIMEOUT:
                    with self._feed_lock:
                        self.link.reset_partial()
                continue
            try:
                chunk = os.read(master, READ_SIZE)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError as exc:  # EIO cannot happen while we hold the slave; stop if it still does
                log.error("FN pty read failed: %s", exc)
                break
            last_rx = time.monotonic()
            with self._feed_lock:
                answer = self.link.feed(chunk)
            _write_all_fd(master, answer)
        selector.close()

    def _serve_tcp(self) -> None:
        assert self.link is not None and self._listener is not None
        selector = selectors.DefaultSelector()
        selector.register(self._listener, selectors.EVENT_READ)
        selector.register(self._wake_r, selectors.EVENT_READ)
        while not self._stopping.is_set():
            events = selector.select()
            if self._stopping.is_set():
                break
            if not any(key.fileobj is self._listener for key, _ in events):
                continue
            try:
                conn, peer = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                continue
            log.info("FN: host connected from %s", peer)
            selector.unregister(self._listener)  # one connection at a time: the next one waits
            self.link = self.link.fresh()
            with conn:
                self._serve_connection(conn, selector)
            selector.register(self._listener, selectors.EVENT_READ)
        selector.close()

    def _serve_connection(self, conn: socket.socket, selector: selectors.BaseSelector) -> None:
        assert self.link is not None
        conn.settimeout(SEND_TIMEOUT)
        selector.register(conn, selectors.EVENT_READ)
        last_rx = time.monotonic()
        try:
            while not self._stopping.is_set():
                events = selector.select(INTER_BYTE_TIMEOUT if self.link.mid_frame else None)
                if self._stopping.is_set():
                    break
                if not events:
                    if self.link.mid_frame and time.monotonic() - last_rx >= INTER_BYTE_TIMEOUT:
                        with self._feed_lock:
                            self.link.reset_partial()
                    continue
                if not any(key.fileobj is conn for key, _ in events):
                    continue
                try:
                    chunk = conn.recv(READ_SIZE)
                except OSError as exc:
                    log.info("FN: connection lost: %s", exc)
                    break
                if not chunk:
                    log.info("FN: host disconnected")
                    break
                last_rx = time.monotonic()
                with self._feed_lock:
                    answer = self.link.feed(chunk)
                if answer:
                    try:
                        conn.sendall(answer)
                    except OSError as exc:
                        log.info("FN: answer not sent: %s", exc)
                        break
        finally:
            selector.unregister(conn)

    def _close_resources(self) -> None:
        for fd in [*self._fds, self._wake_r, self._wake_w]:
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._fds = []
        self._wake_r = self._wake_w = -1
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        if self.link is not None:
            self.link.wire_log.close()
        if self.emulator is not None:
            self.emulator.close()
            self.emulator = None


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _write_all_fd(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            written = os.write(fd, view)
        except BlockingIOError:
            log.warning("FN pty: host is not reading, %d answer bytes lost", len(view))
            return
        view = view[written:]


def serve(
    state_dir: Path,
    *,
    pty: bool = False,
    tcp: str | None = None,
    faults: Sequence[str] = (),
    drift_check: bool = True,
    wire_log: Path | None = None,
) -> None:
    """Serve the FN until SIGTERM/SIGINT; print ``fn: <address>`` once ready. Main thread only."""
    if pty == (tcp is not None):
        raise ValueError("choose exactly one FN channel: a pty or tcp HOST:PORT")
    server = FnServer(state_dir, pty=pty, tcp=tcp, faults=faults, drift_check=drift_check, wire_log=wire_log)
    serve_until_signalled(
        lambda: f"fn: {server.start()}",
        server.stop,
        alive=lambda: server.running,
        died="FN server thread stopped unexpectedly",
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m register.lab.fn_server", description=__doc__)
    channel = parser.add_mutually_exclusive_group(required=True)
    channel.add_argument("--pty", action="store_true", help="serve on a new pseudo-terminal")
    channel.add_argument("--tcp", metavar="HOST:PORT", help="serve on a TCP port (0: any free port)")
    parser.add_argument("--state", type=Path, required=True, help="FN state directory")
    parser.add_argument(
        "--fault", action="append", default=[], help="e.g. drop-answer:16, corrupt:30, silent"
    )
    parser.add_argument("--no-drift-check", action="store_true", help="do not refuse 15h/17h on clock drift")
    parser.add_argument("--wire-log", type=Path, help="append every frame in and out to this file")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        serve(
            args.state,
            pty=args.pty,
            tcp=args.tcp,
            faults=args.fault,
            drift_check=not args.no_drift_check,
            wire_log=args.wire_log,
        )
    except (ValueError, FnServerError) as exc:
        print(f"fn: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
