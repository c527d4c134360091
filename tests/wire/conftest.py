from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from register.fiscal.fn_driver import FnDriver
from register.lab.fn_server import FnServer

WHEN = datetime(2026, 3, 2, 10, 0)


@pytest.fixture
def pty_server(tmp_path: Path) -> Iterator[FnServer]:
    server = FnServer(tmp_path / "fn", pty=True, drift_check=False)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def fn(pty_server: FnServer) -> Iterator[FnDriver]:
    with FnDriver.open(f"serial:{pty_server.address}", timeout=0.5) as drv:
        yield drv
