"""Send the FN's queue of fiscal documents to the OFD, as a KKT does (fn-protocol.md §9.5).

20h; if anything is queued: 21h(1), then per document 22h, 23h…, 25h (the FN's message), the message to
the OFD, the OFD's answer back to the FN with 26h; 21h(0) at the end. The FN keeps every document queued
until it accepts an OFD receipt for it, so a failure at any step loses nothing: the same document is
read again on the next drain.

Meant for a background worker. Each driver call takes the driver's lock, and reading one message
(22h…25h) holds it throughout, but the network round trip holds no FN lock: sales go on meanwhile.
Drains of one FN are serialised among themselves.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from dataclasses import dataclass

from register.fiscal.fn_driver import FnDriver
from register.fiscal.fn_errors import FnCommandError, FnDriverError, FnOfdRejected
from register.fiscal.ofd_client import OfdClient, OfdError


@dataclass(frozen=True, slots=True)
class DrainResult:
    """What one drain did: the FDs the FN now holds OFD receipts for, and what is still queued (42h)."""

    confirmed: tuple[int, ...]
    remaining: int
    operator_messages: tuple[tuple[int, bytes], ...] = ()  # (FD, STLV) for 26h answers that carried one

    @property
    def sent(self) -> int:
        return len(self.confirmed)


class OfdDrainError(Exception):
    """The drain stopped; ``fd`` (when known) is the document that stays queued for the next drain."""

    def __init__(self, text: str, *, fd: int | None, confirmed: tuple[int, ...]) -> None:
        super().__init__(text)
        self.fd = fd
        self.confirmed = confirmed


_drain_locks: weakref.WeakKeyDictionary[FnDriver, threading.Lock] = weakref.WeakKeyDictionary()
_drain_locks_guard = threading.Lock()


def _drain_lock(fn: FnDriver) -> threading.Lock:
    with _drain_locks_guard:
        lock = _drain_locks.get(fn)
        if lock is None:
            lock = _drain_locks[fn] = threading.Lock()
        return lock


def drain_ofd(fn: FnDriver, client: OfdClient, *, limit: int | None = None) -> DrainResult:
    """Send up to ``limit`` queued documents (all queued at the start when None), oldest first.

    Raises OfdDrainError on the first failure (the FN refuses a command, the OFD is down or refuses,
    the FN rejects the OFD's receipt); the documents confirmed before it stay confirmed.
    """
    if limit is not None and limit < 0:
        raise ValueError(f"drain limit must not be negative, got {limit}")
    with _drain_lock(fn):
        return _Drain(fn, client).run(limit)


class _Drain:
    def __init__(self, fn: FnDriver, client: OfdClient) -> None:
        self.fn = fn
        self.client = client
        self.confirmed: list[int] = []
        self.operator_messages: list[tuple[int, bytes]] = []

    def fail(
        self, text: str, fd: int | None, cause: BaseException | None = None, *, still_queued: bool = True
    ) -> OfdDrainError:
        queued = (
            f"; FD {fd} stays in the FN queue for the next drain" if fd is not None and still_queued else ""
        )
        error = OfdDrainError(f"OFD exchange stopped: {text}{queued}", fd=fd, confirmed=tuple(self.confirmed))
        error.__cause__ = cause
        return error

    def run(self, limit: int | None) -> DrainResult:
        fn = self.fn
        try:
            status = fn.ofd_status()
        except FnDriverError as exc:
            raise self.fail(f"20h: {exc}", None, exc) from exc
        budget = status.queued if limit is None else min(limit, status.queued)
        if budget == 0:
            return DrainResult((), self._remaining(status.queued), ())
        try:
            if status.reading:  # a read left half-done (by a crash): start the message afresh
                with contextlib.suppress(FnCommandError):
                    fn.cancel_read_message()
            fn.set_transport(True)
        except FnDriverError as exc:
            raise self.fail(f"21h: {exc}", status.first_fd or None, exc) from exc
        try:
            self._send(budget)
        except BaseException:
            with contextlib.suppress(FnDriverError):
                fn.set_transport(False)
            raise
        try:
            fn.set_transport(False)
        except FnDriverError as exc:
            raise self.fail(f"21h(0) after the exchange: {exc}", None, exc) from exc
        return DrainResult(tuple(self.confirmed), self._remaining(None), tuple(self.operator_messages))

    def _send(self, budget: int) -> None:
        fn = self.fn
        previous: int | None = None
        for _ in range(budget):
            try:
                status = fn.ofd_status()
            except FnDriverError as exc:
                raise self.fail(f"20h: {exc}", None, exc) from exc
            if status.queued == 0:
                return
            fd = status.first_fd
            if fd == previous:
                raise self.fail(f"the FN accepted the OFD receipt for FD {fd} but still queues it", fd)
            try:
                message = fn.read_ofd_message()
            except FnDriverError as exc:
                raise self.fail(f"reading FD {fd} from the FN (22h-25h): {exc}", fd, exc) from exc
            try:
                answer = self.client.exchange(message)
            except OfdError as exc:
                raise self.fail(f"FD {fd}: {exc}", fd, exc) from exc
            try:
                code, operator_message = fn.pass_ofd_receipt(answer)
            except FnOfdRejected as exc:
                raise self.fail(
                    f"the FN rejected the OFD's receipt for FD {fd} (26h, reason {exc.reason}): {exc}",
                    fd,
                    exc,
                ) from exc
            except FnDriverError as exc:
                raise self.fail(f"passing the OFD receipt for FD {fd} (26h): {exc}", fd, exc) from exc
            if operator_message:
                self.operator_messages.append((fd, operator_message))
            if code != 0:
                raise self.fail(
                    f"the FN took the OFD receipt for FD {fd} but the OFD's answer code is {code} (26h); "
                    "42h tells whether it is still queued",
                    fd,
                    still_queued=False,
                )
            self.confirmed.append(fd)
            previous = fd

    def _remaining(self, known: int | None) -> int:
        if known is not None:
            return known
        try:
            return self.fn.unconfirmed_count()
        except FnDriverError as exc:
            raise self.fail(f"42h after the exchange: {exc}", None, exc) from exc
