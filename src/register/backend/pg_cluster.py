"""A throw-away PostgreSQL cluster (initdb in a temp dir, 127.0.0.1, a free port) for tests and benchmarks.

The server refuses to run as root, so as root it runs as the ``postgres`` OS user via ``runuser``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

PG_BIN_CANDIDATES = (Path("/usr/lib/postgresql/15/bin"), Path("/usr/lib/postgresql/16/bin"))
PG_USER = "postgres"
DROP_TIMEOUT = 30.0


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL binaries on this machine and no REGISTER_TEST_PG_URL to use instead."""


def _bin_dir() -> Path:
    for candidate in PG_BIN_CANDIDATES:
        if (candidate / "initdb").exists():
            return candidate
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    raise PostgresUnavailable(
        "PostgreSQL server binaries not found (apt-get install postgresql) and REGISTER_TEST_PG_URL is unset"
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def temporary_cluster() -> Iterator[str]:
    """Start a cluster and yield its superuser URL (``postgresql+psycopg://postgres@127.0.0.1:PORT/postgres``)."""
    bin_dir = _bin_dir()
    as_user = ["runuser", "-u", PG_USER, "--"] if os.geteuid() == 0 else []
    root = Path(tempfile.mkdtemp(prefix="register-pg-"))
    root.chmod(0o755)
    data, log = root / "data", root / "server.log"
    data.mkdir()
    log.touch()
    if as_user:
        shutil.chown(data, PG_USER)
        shutil.chown(log, PG_USER)
    port = _free_port()
    user = PG_USER if as_user else os.environ.get("USER", "postgres")

    def run(*command: str) -> None:
        subprocess.run([*as_user, *command], check=True, capture_output=True, cwd=root)

    run(str(bin_dir / "initdb"), "-D", str(data), "-U", user, "--auth=trust", "-E", "UTF8", "--no-locale")
    options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
    run(str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60", "-o", options, "start")
    try:
        yield f"postgresql+psycopg://{user}@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
            check=False,
            cwd=root,
        )
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def fresh_database(admin_url: str, template: str | None = None) -> Iterator[str]:
    """A new database on the server of ``admin_url`` (its role may CREATE DATABASE), dropped after:
    empty, or a copy of the database named ``template``."""
    admin = make_url(admin_url)
    name = f"register_test_{uuid.uuid4().hex[:12]}"
    conninfo = libpq_uri(admin_url)
    copy = f' TEMPLATE "{template}" STRATEGY FILE_COPY' if template else ""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"{copy}')
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        _drop(conninfo, name)


def _drop(conninfo: str, name: str) -> None:
    """Drop the database, its sessions cut. A role that is not superuser cannot cut an autovacuum
    worker's (the server's own) session: that one ends soon by itself, so the drop is tried again."""
    deadline = time.monotonic() + DROP_TIMEOUT
    with psycopg.connect(conninfo, autocommit=True) as conn:
        while True:
            try:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                return
            except psycopg.errors.InsufficientPrivilege:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)


def libpq_uri(url: str) -> str:
    """The SQLAlchemy URL as a libpq URI for psycopg."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
