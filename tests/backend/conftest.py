"""Fixtures: every storage test runs on SQLite and on PostgreSQL (REGISTER_TEST_PG_URL, or a cluster the
fixture starts itself), against a real backend on 127.0.0.1 with a real SMTP sink.

A lab-seeded database is built once per session (migrated and seeded by ``make_app`` itself) and each
test gets a copy; the migration tests start from empty databases instead.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from register.backend import BackendSettings, make_app
from register.backend.pg_cluster import fresh_database, temporary_cluster
from tests.backend.support import LabClient, SmtpSink, lab_backend, running_smtp_sink

PG_URL_ENV = "REGISTER_TEST_PG_URL"
SQLITE_NAME = "loyalty.sqlite3"


def _migrate_and_seed(db_url: str) -> None:
    make_app(BackendSettings(db_url=db_url, seed="lab")).state.backend.db.dispose()


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    """A PostgreSQL URL whose role may create databases."""
    given = os.environ.get(PG_URL_ENV)
    if given:
        yield given
        return
    with temporary_cluster() as url:
        yield url


@pytest.fixture(scope="session")
def seeded_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("seeded")
    _migrate_and_seed(f"sqlite:///{directory / SQLITE_NAME}")
    return directory


@pytest.fixture(scope="session")
def seeded_pg_template(pg_admin_url: str) -> Iterator[str]:
    with fresh_database(pg_admin_url) as url:
        _migrate_and_seed(url)
        yield url.rsplit("/", 1)[1]


@pytest.fixture(params=["sqlite", "postgresql"])
def db_kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def db_url(db_kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: a SQLite file, or a fresh PostgreSQL database."""
    if db_kind == "sqlite":
        yield f"sqlite:///{tmp_path / SQLITE_NAME}"
        return
    with fresh_database(request.getfixturevalue("pg_admin_url")) as url:
        yield url


@pytest.fixture
def seeded_db_url(db_kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A copy of the lab-seeded database."""
    if db_kind == "sqlite":
        seeded: Path = request.getfixturevalue("seeded_sqlite")
        for file in seeded.iterdir():
            shutil.copy(file, tmp_path / file.name)
        yield f"sqlite:///{tmp_path / SQLITE_NAME}"
        return
    template = request.getfixturevalue("seeded_pg_template")
    with fresh_database(request.getfixturevalue("pg_admin_url"), template=template) as url:
        yield url


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    with running_smtp_sink() as sink:
        yield sink


@pytest.fixture
def lab(seeded_db_url: str, smtp_sink: SmtpSink) -> Iterator[LabClient]:
    with lab_backend(seeded_db_url, smtp_sink) as client:
        yield client


@pytest.fixture
def lab_sqlite(seeded_sqlite: Path, tmp_path: Path, smtp_sink: SmtpSink) -> Iterator[LabClient]:
    """For tests of the HTTP surface only (validation, authentication): no storage difference to cover."""
    for file in seeded_sqlite.iterdir():
        shutil.copy(file, tmp_path / file.name)
    with lab_backend(f"sqlite:///{tmp_path / SQLITE_NAME}", smtp_sink) as client:
        yield client
