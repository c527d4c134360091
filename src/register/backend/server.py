"""Serving the backend with uvicorn: ``serve`` for the ``register loyalty serve`` command, and
``BackendServer`` (uvicorn in a thread) for tests and the embedded lab."""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import signal
import socket
import sys
import threading
import time
from types import FrameType

import uvicorn

from register.backend.app import make_app
from register.backend.coalesced_http import CoalescingHttpToolsProtocol
from register.backend.database import normalise_url
from register.backend.handoff import ConnectionDealer, HandedServer, handoff_pair
from register.backend.sender_process import SenderChannel, run_sender, sender_channel_pair
from register.backend.settings import BackendSettings

START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
GIL_SWITCH_INTERVAL = 0.0005
WORKERS_ENV = "REGISTER_LOYALTY_WORKERS"
MAX_DEFAULT_WORKERS = 2
MALLOC_ARENAS = 2
_M_ARENA_MAX = -8  # glibc's mallopt parameter


class BackendServerError(RuntimeError):
    """The server did not start, or stopped on its own."""


class BackendServer:
    """The loyalty backend on uvicorn in a background thread; ``start()`` returns its base URL."""

    def __init__(
        self,
        settings: BackendSettings,
        listener: socket.socket | None = None,
        *,
        handoff: socket.socket | None = None,
        address: tuple[str, int] | None = None,
        sender_channel: socket.socket | None = None,
    ) -> None:
        """``listener``: a bound socket to serve on. ``handoff``: serve instead the connections a
        ``ConnectionDealer`` accepts at ``address`` and passes over this Unix socket.
        ``sender_channel``: the messages are sent by a sender process at the other end of this socket
        (``sender_process``), not by a thread of this one."""
        self.settings = settings
        self._listener = listener
        self._handoff = handoff
        self._address = address
        self._sender_channel = sender_channel
        self.base_url: str | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> str:
        """Start serving (port 0: any free port) and return ``http://HOST:PORT`` once accepting."""
        if self._thread is not None:
            raise BackendServerError("the backend server is already running")
        handoff = self._handoff
        listener = None if handoff else self._listener or _listen(self.settings.host, self.settings.port)
        try:
            sender = SenderChannel(self._sender_channel) if self._sender_channel is not None else None
            app = make_app(self.settings, sender=sender)
        except BaseException:
            if listener is not None:
                listener.close()
            raise
        # No proxy in front: X-Forwarded-For from a local client is not trusted, and not parsed per request.
        config = uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            proxy_headers=False,
            http=CoalescingHttpToolsProtocol,
        )
        server = uvicorn.Server(config) if handoff is None else HandedServer(config, handoff)
        failure: list[BaseException] = []

        def run() -> None:
            try:
                server.run(sockets=[listener] if listener is not None else None)
            except BaseException as exc:  # uvicorn ends a failed start-up with SystemExit
                failure.append(exc)
            finally:
                if listener is not None:
                    listener.close()

        thread = threading.Thread(target=run, name="loyalty-backend", daemon=True)
        thread.start()
        # uvicorn sets `started` once it accepts on the socket; `run` returning first means it failed.
        while not server.started:
            thread.join(0.01)
            if not thread.is_alive():
                raise BackendServerError(f"the loyalty backend did not start: {failure or 'stopped'}")
        self._server, self._thread = server, thread
        host, port = listener.getsockname()[:2] if listener is not None else self._address or ("", 0)
        shown_host = self.settings.host if self.settings.host not in ("", "0.0.0.0", "::") else host
        if ":" in shown_host:
            shown_host = f"[{shown_host}]"
        self.base_url = f"http://{shown_host}:{port}"
        return self.base_url

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self) -> None:
        if self._server is None or self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(STOP_TIMEOUT)
        if self._thread.is_alive():
            self._server.force_exit = True
            self._thread.join(STOP_TIMEOUT)
        self._server = self._thread = None

    def __enter__(self) -> BackendServer:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def _listen(host: str, port: int) -> socket.socket:
    """A bound TCP socket for uvicorn, so that a busy port is an error of ``start()``, not of a thread."""
    try:
        family, kind, proto, _name, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        listener = socket.socket(family, kind, proto)
    except OSError as exc:
        raise BackendServerError(f"cannot listen on {host}:{port}: {exc}") from None
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(address)
    except OSError as exc:
        listener.close()
        raise BackendServerError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    listener.set_inheritable(True)
    return listener


def _limit_malloc_arenas(arenas: int) -> None:
    """glibc gives each thread that allocates its own arena and keeps what is freed there: the request,
    sender and sweeper threads of a worker kept 30 MB more than two arenas do (one: slower, the threads
    queue for it). Before any thread starts; nothing to do on another C library."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    mallopt(_M_ARENA_MAX, arenas)


def default_workers(db_url: str) -> int:
    """Worker processes of ``serve``: $REGISTER_LOYALTY_WORKERS, else one on SQLite and one per core up
    to two on PostgreSQL.

    SQLite has one writer: two processes took turns on the file's lock, and each began every
    transaction by reading again the pages the other had written, which cost more than a second core
    gave (20 registers: one process 323-326 purchases/s, two 260-267). PostgreSQL needs the second
    (one process 162/s, two 251)."""
    raw = os.environ.get(WORKERS_ENV, "").strip()
    if not raw:
        if normalise_url(db_url).get_backend_name() == "sqlite":
            return 1
        return max(1, min(MAX_DEFAULT_WORKERS, os.cpu_count() or 1))
    try:
        workers = int(raw)
    except ValueError:
        workers = 0
    if workers < 1:
        raise ValueError(f"${WORKERS_ENV} must be a whole number of processes, at least 1, not {raw!r}")
    return workers


def serve(db_url: str | None, host: str, port: int, seed: str | None, workers: int | None = None) -> None:
    """Serve until SIGTERM or SIGINT, printing ``loyalty: http://HOST:PORT`` once accepting. Main thread
    only. The SMTP server is taken from $REGISTER_LOYALTY_SMTP_HOST / $REGISTER_LOYALTY_SMTP_PORT.

    ``workers`` processes (default: ``default_workers``) serve one port: this one accepts and deals the
    connections to them in turn (``handoff``). One Python process runs on one core at a time (the GIL),
    so a second process is what puts the second core to work. The extra workers are forked before any
    engine or thread exists; each builds its own app (migration and seeding are serialised by the
    start-up lock), and they stop with this process. The message senders of the workers share the queue
    safely: a message is claimed by a conditional UPDATE. With one worker, the messages are sent by a
    process of their own instead (``sender_process``): the second core is free for it.
    """
    settings = BackendSettings(db_url=db_url or "", host=host, port=port, seed=seed).with_smtp_from_env()
    workers = workers if workers is not None else default_workers(settings.db_url)
    # A request thread back from the database waits for the GIL up to the switch interval (5 ms by
    # default) while the event loop or another request runs Python: with a dozen round trips a request
    # that wait, not the CPU, bounded the throughput on PostgreSQL.
    sys.setswitchinterval(GIL_SWITCH_INTERVAL)
    _limit_malloc_arenas(MALLOC_ARENAS)
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    listener = _listen(settings.host, settings.port) if workers > 1 else None
    pairs = [handoff_pair() for _ in range(workers)] if listener is not None else []
    address = listener.getsockname()[:2] if listener is not None else None
    children: dict[int, int] = {}  # pid -> the read end of its "ready" pipe
    names: dict[int, str] = {}  # pid -> what it is, for the reports
    dealer = ConnectionDealer(listener, [dealt for dealt, _ in pairs]) if listener is not None else None
    channel: socket.socket | None = None
    go_write = -1  # the sender process starts once the worker has migrated the database
    try:
        if workers == 1:
            channel, sender_end = sender_channel_pair()
            go_read, go_write = os.pipe()
            ready_read, ready_write = os.pipe()
            pid = os.fork()
            if pid == 0:  # pragma: no cover - runs in the forked sender process
                os.close(ready_read)
                os.close(go_write)
                channel.close()
                _run_sender_process(settings, sender_end, go_read, ready_write, stop)
            os.close(go_read)
            os.close(ready_write)
            sender_end.close()
            children[pid] = ready_read
            names[pid] = "message sender process"
        for _dealt, taken in pairs[1:]:
            ready_read, ready_write = os.pipe()
            pid = os.fork()
            if pid == 0:  # pragma: no cover - runs in the forked worker
                os.close(ready_read)
                assert listener is not None
                listener.close()
                for dealt, other in pairs:
                    dealt.close()
                    if other is not taken:
                        other.close()
                _run_worker(settings, taken, address, ready_write, stop)
            os.close(ready_write)
            taken.close()  # the worker's end
            children[pid] = ready_read
            names[pid] = "worker"
        if pairs:
            server = BackendServer(settings, handoff=pairs[0][1], address=address)
        else:
            server = BackendServer(settings, sender_channel=channel)
        try:
            base_url = server.start()
            if go_write >= 0:
                os.write(go_write, b"1")
                os.close(go_write)
                go_write = -1
            _await_ready(children, names)
            if dealer is not None:
                dealer.start()
            print(f"loyalty: {base_url}", flush=True)
            while not stop.wait(0.5):
                if not server.running:
                    raise BackendServerError("the loyalty backend stopped unexpectedly")
                for pid in children:
                    if os.waitpid(pid, os.WNOHANG)[0] == pid:
                        children[pid] = -1
                        raise BackendServerError(f"loyalty backend {names[pid]} {pid} stopped unexpectedly")
        finally:
            if go_write >= 0:  # the worker did not start: the waiting sender process reads the end
                os.close(go_write)
                go_write = -1
            if dealer is not None:
                dealer.stop()
            _stop_workers(children)
            server.stop()
    finally:
        for each in [listener] if listener is not None else []:
            each.close()
        for dealt, taken in pairs:
            dealt.close()
            taken.close()
        if channel is not None:
            channel.close()
        if go_write >= 0:
            os.close(go_write)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _run_worker(
    settings: BackendSettings,
    handoff: socket.socket,
    address: tuple[str, int] | None,
    ready: int,
    stop: threading.Event,
) -> None:  # pragma: no cover - runs in the forked worker
    """A forked worker: serve the connections dealt to it until SIGTERM or until the parent is gone."""
    code = 0
    parent = os.getppid()
    try:
        server = BackendServer(settings, handoff=handoff, address=address)
        server.start()
        os.write(ready, b"1")
        os.close(ready)
        while not stop.wait(0.5):
            if os.getppid() != parent or not server.running:
                code = 0 if os.getppid() != parent else 1
                break
        server.stop()
    except BaseException as exc:  # the parent reports the worker that did not start
        print(f"loyalty backend worker {os.getpid()}: {exc}", file=sys.stderr, flush=True)
        code = 1
    finally:
        sys.stdout.flush()
        os._exit(code)


def _run_sender_process(
    settings: BackendSettings, channel: socket.socket, go: int, ready: int, stop: threading.Event
) -> None:  # pragma: no cover - runs in the forked sender process
    """The forked sender process: once the worker has started (the database migrated), deliver the
    messages it reports over ``channel`` until SIGTERM or until the parent is gone."""
    code = 0
    parent = os.getppid()
    try:
        if os.read(go, 1) == b"1":  # nothing: the parent failed to start its worker

            def started() -> None:
                os.write(ready, b"1")
                os.close(ready)

            run_sender(settings, channel, stop, parent, started)
    except BaseException as exc:  # the parent reports the process that did not start or stopped
        print(f"loyalty backend message sender {os.getpid()}: {exc}", file=sys.stderr, flush=True)
        code = 1
    finally:
        sys.stdout.flush()
        os._exit(code)


def _await_ready(children: dict[int, int], names: dict[int, str]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    for pid, ready in children.items():
        readable, _, _ = select.select([ready], [], [], max(0.0, deadline - time.monotonic()))
        signalled = os.read(ready, 1) if readable else b""
        os.close(ready)
        if not signalled:
            raise BackendServerError(f"loyalty backend {names[pid]} {pid} did not start")


def _stop_workers(children: dict[int, int]) -> None:
    running = [pid for pid, state in children.items() if state != -1]
    for pid in running:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    for pid in running:
        while True:
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                break
            if done == pid:
                break
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                break
            time.sleep(0.05)


__all__ = ["BackendServer", "BackendServerError", "serve"]
