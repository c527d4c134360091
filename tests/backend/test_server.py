"""``serve`` as the lead's CLI runs it: one line with the address once accepting, SIGTERM exits 0."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import psutil
import pytest

from register.backend import BackendServer, BackendServerError, BackendSettings
from register.backend.server import default_workers
from register.backend.settings import SettingsError
from tests.backend.support import CARD_ANNA, LabClient, SmtpSink

SERVE = "from register.backend import serve; import sys; serve(sys.argv[1], '127.0.0.1', 0, 'lab')"


def test_serve_prints_its_address_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'loyalty.sqlite3'}"
    process = subprocess.Popen(
        [sys.executable, "-c", SERVE, db_url], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert line.startswith("loyalty: http://127.0.0.1:"), line
        base_url = line.removeprefix("loyalty: ")
        schema = httpx.get(f"{base_url}/openapi.json", timeout=10)
        balance = httpx.post(
            f"{base_url}/pos/v1/balance",
            json={
                "requestId": "0b0e5c55-0c1a-4b7e-9d6b-2a7e9a1e0c01",
                "identifier": {"type": "CardNumber", "value": "7000000000001"},
            },
            auth=("POS-1", "lab"),
            timeout=10,
        )
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert schema.status_code == 200
    assert balance.json()["member"]["name"] == "Анна Смирнова"


def test_backend_server_on_a_busy_port_says_so(tmp_path: Path) -> None:
    first = BackendServer(BackendSettings(db_url=f"sqlite:///{tmp_path / 'a.sqlite3'}", port=0))
    base_url = first.start()
    try:
        port = int(base_url.rsplit(":", 1)[1])
        second = BackendServer(BackendSettings(db_url=f"sqlite:///{tmp_path / 'b.sqlite3'}", port=port))
        with pytest.raises(BackendServerError, match=str(port)):
            second.start()
    finally:
        first.stop()


@pytest.mark.parametrize(
    "settings",
    [{"port": 70000}, {"seed": "demo"}, {"token_ttl_seconds": 0}, {"smtp_port": 0}],
)
def test_bad_settings_are_refused_by_name(settings: dict[str, object]) -> None:
    with pytest.raises(SettingsError, match=next(iter(settings)).split("_")[0]):
        BackendSettings(**settings)  # type: ignore[arg-type]


def test_smtp_address_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGISTER_LOYALTY_SMTP_HOST", "10.0.0.5")
    monkeypatch.setenv("REGISTER_LOYALTY_SMTP_PORT", "2525")

    settings = BackendSettings().with_smtp_from_env()

    assert (settings.smtp_host, settings.smtp_port) == ("10.0.0.5", 2525)


def test_serve_deals_the_connections_evenly_to_its_worker_processes(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'loyalty.sqlite3'}"
    env = {**os.environ, "REGISTER_LOYALTY_WORKERS": "2"}
    process = subprocess.Popen(
        [sys.executable, "-c", SERVE, db_url], stdout=subprocess.PIPE, text=True, env=env
    )
    clients: list[httpx.Client] = []
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip().removeprefix("loyalty: ")
        port = int(base_url.rsplit(":", 1)[1])
        for _ in range(24):  # each its own connection, kept open
            client = httpx.Client(base_url=base_url, timeout=10)
            assert client.get("/openapi.json").status_code == 200
            clients.append(client)
        parent = psutil.Process(process.pid)
        serving = {
            proc.pid: sum(
                1 for c in proc.net_connections("tcp") if c.laddr.port == port and c.status == "ESTABLISHED"
            )
            for proc in [parent, *parent.children()]
        }
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        for client in clients:
            client.close()
        if process.poll() is None:
            process.kill()
            process.wait()
    assert sorted(serving.values()) == [12, 12], serving  # dealt in turn


def test_serve_runs_one_worker_on_sqlite_and_one_per_core_up_to_two_on_postgresql(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("REGISTER_LOYALTY_WORKERS", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    assert default_workers("sqlite:////tmp/loyalty.sqlite3") == 1
    assert default_workers("postgresql://u@127.0.0.1/db") == 2
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    assert default_workers("postgresql://u@127.0.0.1/db") == 1
    monkeypatch.setenv("REGISTER_LOYALTY_WORKERS", "3")
    assert default_workers("sqlite:////tmp/loyalty.sqlite3") == 3
    monkeypatch.setenv("REGISTER_LOYALTY_WORKERS", "none")
    with pytest.raises(ValueError, match="REGISTER_LOYALTY_WORKERS"):
        default_workers("postgresql://u@127.0.0.1/db")


def test_serve_with_one_worker_sends_from_a_second_process_and_stops_if_it_dies(
    tmp_path: Path, smtp_sink: SmtpSink
) -> None:
    db_url = f"sqlite:///{tmp_path / 'loyalty.sqlite3'}"
    env = {
        **os.environ,
        "REGISTER_LOYALTY_SMTP_HOST": "127.0.0.1",
        "REGISTER_LOYALTY_SMTP_PORT": str(smtp_sink.port),
    }
    env.pop("REGISTER_LOYALTY_WORKERS", None)
    process = subprocess.Popen(
        [sys.executable, "-c", SERVE, db_url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None and process.stderr is not None
        base_url = process.stdout.readline().strip().removeprefix("loyalty: ")
        lab = LabClient(base_url, db_url, smtp_sink)
        try:
            purchase_id, fiscal = lab.sale(CARD_ANNA)
            lab.link(purchase_id, fiscal)
            (mail,) = smtp_sink.wait_for(1)
        finally:
            lab.close()
        (sender,) = psutil.Process(process.pid).children()
        sender.kill()
        code = process.wait(timeout=30)
        errors = process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert mail["To"] == "anna@example.ru"
    assert code != 0
    assert f"message sender process {sender.pid} stopped unexpectedly" in errors
