"""The client against the real backend on loopback (SQLite, lab seed)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from register.backend import BackendServer, BackendSettings
from register.loyalty import HttpLoyaltyAdapter


@pytest.fixture
def backend_url(tmp_path: Path) -> Iterator[str]:
    settings = BackendSettings(
        db_url=f"sqlite:///{tmp_path / 'loyalty.sqlite3'}", port=0, seed="lab", smtp_host=None
    )
    with BackendServer(settings) as server:
        assert server.base_url is not None
        yield server.base_url


@pytest.fixture
def adapter(backend_url: str) -> Iterator[HttpLoyaltyAdapter]:
    with HttpLoyaltyAdapter(backend_url, "POS-1", "lab") as client:
        yield client
