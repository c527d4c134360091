"""Serving the backend with uvicorn: ``serve`` for the ``register loyalty serve`` command, and
``BackendServer`` (uvicorn in a thread) for tests and the embedded lab."""

from __future__ import annotations

import signal
import socket
import sys
import threading
from types import FrameType

import uvicorn

from register.backend.app import make_app
from register.backend.settings import BackendSettings

START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
GIL_SWITCH_INTERVAL = 0.0005


class BackendServerError(RuntimeError):
    """The server did not start, or stopped on its own."""


class BackendServer:
    """The loyalty backend on uvicorn in a background thread; ``start()`` returns its base URL."""

    def __init__(self, settings: BackendSettings) -> None:
        self.settings = settings
        self.base_url: str | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> str:
        """Start serving (port 0: any free port) and return ``http://HOST:PORT`` once accepting."""
        if self._thread is not None:
            raise BackendServerError("the backend server is already running")
        listener = _listen(self.settings.host, self.settings.port)
        try:
            app = make_app(self.settings)
        except BaseException:
            listener.close()
            raise
        config = uvicorn.Config(app, log_level="warning", access_log=False)
        server = uvicorn.Server(config)
        failure: list[BaseException] = []

        def run() -> None:
            try:
                server.run(sockets=[listener])
            except BaseException as exc:  # uvicorn ends a failed start-up with SystemExit
                failure.append(exc)
            finally:
                listener.close()

        thread = threading.Thread(target=run, name="loyalty-backend", daemon=True)
        thread.start()
        # uvicorn sets `started` once it accepts on the socket; `run` returning first means it failed.
        while not server.started:
            thread.join(0.01)
            if not thread.is_alive():
                raise BackendServerError(f"the loyalty backend did not start: {failure or 'stopped'}")
        self._server, self._thread = server, thread
        host, port = listener.getsockname()[:2]
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


def serve(db_url: str | None, host: str, port: int, seed: str | None) -> None:
    """Serve until SIGTERM or SIGINT, printing ``loyalty: http://HOST:PORT`` once accepting. Main thread
    only. The SMTP server is taken from $REGISTER_LOYALTY_SMTP_HOST / $REGISTER_LOYALTY_SMTP_PORT."""
    settings = BackendSettings(db_url=db_url or "", host=host, port=port, seed=seed).with_smtp_from_env()
    # A request thread back from the database waits for the GIL up to the switch interval (5 ms by
    # default) while the event loop or another request runs Python: with a dozen round trips a request
    # that wait, not the CPU, bounded the throughput on PostgreSQL.
    sys.setswitchinterval(GIL_SWITCH_INTERVAL)
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    server = BackendServer(settings)
    try:
        print(f"loyalty: {server.start()}", flush=True)
        while not stop.wait(0.5):
            if not server.running:
                raise BackendServerError("the loyalty backend stopped unexpectedly")
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


__all__ = ["BackendServer", "BackendServerError", "serve"]
