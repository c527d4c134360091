"""The expiry sweep: calculated purchases never confirmed nor cancelled within their lifetime are
released (status EXPIRED).

A register whose calculate timed out goes on offline and may never cancel that calculation; without the
sweep it would stay CALCULATED (holding what it blocked) for ever. The sweep runs in a thread at start
and every ``expiry_sweep_seconds``; confirm and cheque-link also refuse a calculation past its lifetime
on their own, so the result does not depend on when the sweep last ran.
"""

from __future__ import annotations

import logging
import threading

from register.backend.database import Database
from register.backend.purchases import expire_calculations
from register.backend.settings import BackendSettings

log = logging.getLogger(__name__)


class ExpirySweeper:
    """Expires old calculations in a background thread; ``sweep()`` runs one pass in the caller's."""

    def __init__(self, db: Database, settings: BackendSettings) -> None:
        self._db = db
        self._settings = settings
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sweep(self) -> int:
        """Expire every calculation past its lifetime now; return how many."""
        with self._db.write() as conn:
            expired = expire_calculations(conn, self._settings.calculation_lifetime_seconds)
        if expired:
            log.info(
                "expired %d calculated purchase(s) older than %.0f s",
                expired,
                self._settings.calculation_lifetime_seconds,
            )
        return expired

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="loyalty-expiry", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.sweep()
            except Exception:  # a database hiccup: the next pass tries again
                log.exception("expiry sweep failed")
            self._stop.wait(self._settings.expiry_sweep_seconds)
