"""A wire log: every exchange on a device's channel, newest last, bounded in memory, optionally in a file."""

from __future__ import annotations

import threading
from collections import deque
from pathlib import Path
from typing import Generic, Protocol, TextIO, TypeVar

DEFAULT_WIRE_LOG_SIZE = 2000


class _Entry(Protocol):
    def line(self) -> str: ...


EntryT = TypeVar("EntryT", bound=_Entry)


class BoundedWireLog(Generic[EntryT]):
    """The last ``size`` entries in memory; with ``path``, every entry as one line appended to the file."""

    def __init__(self, size: int = DEFAULT_WIRE_LOG_SIZE, path: Path | None = None) -> None:
        self._entries: deque[EntryT] = deque(maxlen=size)
        self._lock = threading.Lock()
        self._file: TextIO | None = path.open("a", encoding="ascii", buffering=1) if path else None

    def add(self, entry: EntryT) -> None:
        with self._lock:
            self._entries.append(entry)
            if self._file is not None:
                self._file.write(entry.line() + "\n")

    @property
    def entries(self) -> list[EntryT]:
        with self._lock:
            return list(self._entries)

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
