"""Serving a lab party from the command line: start, print one ready line, run until SIGTERM/SIGINT."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable


def serve_until_signalled(
    start: Callable[[], str],
    stop: Callable[[], None],
    *,
    alive: Callable[[], bool] | None = None,
    died: str = "the server thread stopped unexpectedly",
) -> None:
    """``start()`` returns the ready line, printed flushed; then wait for SIGTERM/SIGINT and ``stop()``.

    ``alive`` is polled twice a second: a server whose thread died raises RuntimeError(``died``) instead of
    serving nothing. Main thread only (signal handlers); the previous handlers are restored.
    """
    stopping = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stopping.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        print(start(), flush=True)
        while not stopping.wait(0.5):
            if alive is not None and not alive():
                raise RuntimeError(died)
    finally:
        stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
