"""`register bench sale`: sales end to end on the lab, and the loyalty backend under 20 registers at once.

Every party runs in its own process, as in a shop: the lab (`register lab`) or the backend
(`register loyalty serve`) in a child process, the register or the load generator in this one.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil
import uvloop

from register.backend.settings import SMTP_HOST_ENV, SMTP_PORT_ENV
from register.config import RegisterConfig
from register.domain.decision import BuyerAnswer
from register.sale import Identifier, Register, SaleEvent, SaleRequest

LOAD_CARDS = ("7000000000001", "7000000000002", "7000000000004", None)
LOAD_MEMBERS = 300


@contextmanager
def child(
    command: list[str],
    ready_prefix: str,
    timeout: float = 60,
    *,
    module: str = "register",
    env: dict[str, str] | None = None,
) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """Run ``python -m register …`` (or another ``module``) in a child process until its line starting
    with ``ready_prefix``; yield the rest. ``env``: variables added to this process's environment."""
    proc = subprocess.Popen(
        [sys.executable, "-m", module, *command],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, **env} if env else None,
    )
    assert proc.stdout is not None
    value = None
    deadline = time.monotonic() + timeout
    try:
        while value is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError(f"`register {' '.join(command)}` exited before it was ready")
            if line.startswith(ready_prefix):
                value = line.removeprefix(ready_prefix).strip()
        if value is None:
            raise RuntimeError(f"`register {' '.join(command)}` was not ready within {timeout:g} s")
        threading.Thread(target=proc.stdout.read, daemon=True).start()  # keep its pipe drained
        yield proc, value
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


# --- sales on the lab ---------------------------------------------------------------------------------


def bench_lab_sales(sales: int, echo: Callable[[str], None]) -> None:
    with (
        tempfile.TemporaryDirectory(prefix="register-bench-sale-") as tmp,
        child(["lab", "--data", tmp], "config: ") as (_proc, config_path),
    ):
        cfg = RegisterConfig.load(Path(config_path))
        marks: dict[str, dict[str, float]] = {}

        def observe(event: SaleEvent) -> None:
            marks.setdefault(event.sale_id, {})[event.step] = time.perf_counter()

        catalogue = cfg.catalogue
        lines = (
            catalogue.scan("4600000000011x2"),
            catalogue.scan("2000000000015x1.355"),
            catalogue.scan("BAG"),
        )
        printed = suppressed = 0
        with Register.open(cfg, observer=observe) as register:
            register.ensure_shift()
            for _ in range(5):  # warm-up
                register.sell(SaleRequest(lines=lines))
            marks.clear()
            started = time.perf_counter()
            for i in range(sales):
                card = LOAD_CARDS[i % len(LOAD_CARDS)]
                buyer = None if card in ("7000000000001", "7000000000002") else BuyerAnswer(False, None)
                outcome = register.sell(
                    SaleRequest(
                        lines=lines,
                        identifier=Identifier("CardNumber", card) if card else None,
                        buyer=buyer,
                    )
                )
                printed += outcome.printed
                suppressed += not outcome.decision.print_paper
            elapsed = time.perf_counter() - started
            drained = register.drain_ofd()
        to_delivered = [m["delivered"] - m["started"] for m in marks.values() if "delivered" in m]
        whole = [m["done"] - m["started"] for m in marks.values() if "done" in m]
        echo(f"sales on the lab: {sales} sales (loyalty over HTTP on loopback, FN and printer over ptys)")
        echo(f"  printed {printed}, not printed (e-receipt) {suppressed}")
        echo(f"  sales per second:                  {sales / elapsed:10.1f}")
        echo(
            f"  pay -> delivered:  median {statistics.median(to_delivered) * 1000:8.1f} ms, "
            f"p99 {_percentile(to_delivered, 99) * 1000:8.1f} ms   (target: median <= 50 ms)"
        )
        echo(
            f"  pay -> confirmed:  median {statistics.median(whole) * 1000:8.1f} ms, "
            f"p99 {_percentile(whole, 99) * 1000:8.1f} ms"
        )
        if drained is not None:
            echo(f"  OFD queue drained afterwards: {len(drained.confirmed)} documents")


# --- the backend under load ---------------------------------------------------------------------------


@dataclass
class LoadResult:
    purchases: int
    seconds: float
    request_latencies: list[float]
    purchase_latencies: list[float]
    errors: list[str]


class LoadError(Exception):
    """A request of the load that did not get a 2xx answer."""


class _Connection:
    """One register's keep-alive HTTP/1.1 connection: a minimal JSON client, so that the load generator
    (on the same cores as the backend) spends little CPU per request. Each request is timed from just
    before it is written to when its whole answer is read."""

    def __init__(self, host: str, port: int, authorization: str) -> None:
        self._host, self._port = host, port
        self._head = f"Host: {host}:{port}\r\nAuthorization: {authorization}\r\n".encode("ascii")
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: dict[str, Any], latencies: list[float]) -> dict[str, Any]:
        payload = json.dumps(body, ensure_ascii=False).encode()
        request = (
            f"POST {path} HTTP/1.1\r\n".encode("ascii")
            + self._head
            + f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n".encode("ascii")
            + payload
        )
        started = time.perf_counter()
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self._host, self._port)
        assert self._reader is not None
        self._writer.write(request)
        status_line = await self._reader.readline()
        length = None
        while (line := await self._reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        if not status_line or length is None:
            await self.close()
            raise LoadError(f"POST {path}: no complete answer ({status_line!r})")
        answer = await self._reader.readexactly(length)
        latencies.append(time.perf_counter() - started)
        status = int(status_line.split()[1])
        if not 200 <= status < 300:
            raise LoadError(f"POST {path}: {status} {answer[:200].decode(errors='replace')}")
        return json.loads(answer)

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._reader = self._writer = None


@dataclass(frozen=True)
class LoadShop:
    """Who the load is: each register's (code, password), and the members' cards."""

    registers: list[tuple[str, str]]
    cards: list[str]


def prepare_load_shop(db_url: str, registers: int, members: int) -> LoadShop:
    """A new database, migrated with the lab seed, plus ``registers`` registers and ``members`` members
    of its own (``seed.seed_load``): twenty registers are twenty devices, each of whose buyers is a
    member of their own, not one register and three members shared by all."""
    from register.backend import BackendSettings, make_app
    from register.backend.database import Database
    from register.backend.seed import load_cards, seed_load

    make_app(BackendSettings(db_url=db_url, seed="lab")).state.backend.db.dispose()
    db = Database(db_url)
    try:
        with db.write() as conn:
            credentials = seed_load(conn, registers, members)
    finally:
        db.dispose()
    return LoadShop(credentials, load_cards(members))


def _card_of(shop: LoadShop, worker: int, purchase: int, purchases: int) -> str | None:
    """Every fourth buyer has no card; the others are members, no two registers' the same at once."""
    if purchase % 4 == 3:
        return None
    return shop.cards[(worker * purchases + purchase) % len(shop.cards)]


async def _one_register(
    base_url: str, shop: LoadShop, fn: str, purchases: int, worker: int, out: LoadResult
) -> None:
    """One register: its purchases one after another, each calculate, confirm, cheque-link."""
    url = urlsplit(base_url)
    code, secret = shop.registers[worker % len(shop.registers)]
    token = base64.b64encode(f"{code}:{secret}".encode()).decode("ascii")
    connection = _Connection(url.hostname or "127.0.0.1", url.port or 80, f"Basic {token}")
    try:
        for i in range(purchases):
            card = _card_of(shop, worker, i, purchases)
            when = datetime.now().astimezone().isoformat()
            body = {
                "requestId": str(uuid.uuid4()),
                "chequeNumber": f"{worker}-{i}",
                "chequeDateTime": when,
                "identifier": {"type": "CardNumber", "value": card} if card else None,
                "lines": [
                    {
                        "position": 1,
                        "sku": "MILK-1L",
                        "name": "Молоко",
                        "price": 8990,
                        "quantity": "2",
                        "amount": 17980,
                    }
                ],
                "total": 17980,
            }
            fiscal = {
                "fn": fn,
                "fd": worker * 100000 + i + 1,
                "fp": 1234567,
                "operation": 1,
                "total": 17980,
                "dateTime": when,
            }
            started = time.perf_counter()
            try:
                answer = await connection.post("/pos/v1/calculate", body, out.request_latencies)
                purchase = answer["purchaseId"]
                await connection.post(
                    "/pos/v1/confirm",
                    {"requestId": str(uuid.uuid4()), "purchaseId": purchase, "fiscal": fiscal},
                    out.request_latencies,
                )
                await connection.post(
                    "/pos/v1/cheque-link",
                    {
                        "requestId": str(uuid.uuid4()),
                        "purchaseId": purchase,
                        "fiscal": fiscal,
                        "url": f"http://127.0.0.1/rec/{fiscal['fd']}",
                        "qr": "t=1",
                    },
                    out.request_latencies,
                )
            except (LoadError, ValueError, KeyError) as exc:
                out.errors.append(f"{type(exc).__name__}: {exc}")
                continue
            except (OSError, asyncio.IncompleteReadError) as exc:
                out.errors.append(f"{type(exc).__name__}: {exc}")
                await connection.close()  # broken: the next purchase connects again
                continue
            out.purchase_latencies.append(time.perf_counter() - started)
            out.purchases += 1
    finally:
        await connection.close()


def load_backend(base_url: str, shop: LoadShop, registers: int, purchases_each: int) -> LoadResult:
    """``registers`` registers at once (asyncio tasks, one connection each), each doing its purchases
    one after another."""
    result = LoadResult(0, 0.0, [], [], [])
    fn = f"9999{secrets.randbelow(10**12):012d}"  # a fiscal document is attached to one purchase only

    async def run_all() -> None:
        await asyncio.gather(
            *(_one_register(base_url, shop, fn, purchases_each, w, result) for w in range(registers))
        )

    started = time.perf_counter()
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:  # its loop costs less CPU
        runner.run(run_all())
    result.seconds = time.perf_counter() - started
    return result


def bench_backend(
    db_url: str,
    label: str,
    registers: int,
    purchases_each: int,
    echo: Callable[[str], None],
    *,
    local_server: bool = False,
) -> None:
    """``local_server``: the PostgreSQL server of ``db_url`` runs on this machine (the temporary
    cluster): its CPU is counted too."""
    shop = prepare_load_shop(db_url, registers, LOAD_MEMBERS)
    with (
        child([], "smtp: ", module="register.bench_smtp") as (mail_server, smtp_port),
        child(
            ["loyalty", "serve", "--db", db_url, "--port", "0", "--seed", "lab"],
            "loyalty: ",
            env={SMTP_HOST_ENV: "127.0.0.1", SMTP_PORT_ENV: smtp_port},
        ) as (proc, url),
    ):
        load_backend(url, shop, registers, 2)  # warm-up: every register's credentials checked once
        parties = {"backend": _tree(proc.pid), "mail server": [psutil.Process(mail_server.pid)]}
        parties["load generator"] = [psutil.Process()]
        if local_server:
            parties["database server"] = _postgres_processes(db_url)
        before = {name: _cpu_by_process(processes) for name, processes in parties.items()}
        result = load_backend(url, shop, registers, purchases_each)
        emails = _emails_settled(db_url)
        cpu = {
            name: _cpu_since(before[name], _cpu_by_process(processes)) for name, processes in parties.items()
        }
        rss, pss, processes = _memory_of_tree(proc.pid)
    echo(
        f"backend on {label}: {registers} registers at once, calculate + confirm + cheque-link per purchase "
        f"({LOAD_MEMBERS} members, a quarter of the buyers without a card)"
    )
    echo(f"  purchases per second:              {result.purchases / result.seconds:10.1f}   (target >= 300)")
    if result.request_latencies:
        echo(
            f"  request latency:   median {statistics.median(result.request_latencies) * 1000:8.1f} ms, "
            f"p99 {_percentile(result.request_latencies, 99) * 1000:8.1f} ms   (target p99 <= 100 ms)"
        )
        echo(
            f"  purchase latency:  median {statistics.median(result.purchase_latencies) * 1000:8.1f} ms, "
            f"p99 {_percentile(result.purchase_latencies, 99) * 1000:8.1f} ms"
        )
    echo(
        f"  backend resident memory:           {rss / 2**20:10.1f} MB   (target < 200 MB; RSS summed over "
        f"its {processes} processes, pages they share counted once per process)"
    )
    if pss is not None and processes > 1:
        echo(f"  backend proportional memory (PSS): {pss / 2**20:10.1f} MB   (shared pages split among them)")
    echo(
        "  e-mails by status:                 "
        + ", ".join(f"{status} {count}" for status, count in sorted(emails.items()))
        + "   (sent: taken by the mail server; failed: mostly offers to members without the contact)"
    )
    if result.purchases:
        shares = ", ".join(f"{name} {seconds * 1000 / result.purchases:.2f}" for name, seconds in cpu.items())
        uncounted = (
            "" if local_server or db_url.startswith("sqlite") else " (the database server's not counted)"
        )
        echo(f"  CPU ms per purchase: {shares}{uncounted}")
    if result.errors:
        echo(f"  errors: {len(result.errors)}, first: {result.errors[0]}")


def _postgres_processes(db_url: str) -> list[psutil.Process]:
    """The local server's processes: its postmaster and every child (the backends' sessions as well)."""
    import psycopg

    from register.backend.pg_cluster import libpq_uri

    with psycopg.connect(libpq_uri(db_url)) as conn:
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
    assert row is not None
    postmaster = psutil.Process(row[0]).parent()
    assert postmaster is not None
    return [postmaster, *postmaster.children()]


def _tree(pid: int) -> list[psutil.Process]:
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def _cpu_by_process(processes: list[psutil.Process]) -> dict[int, float]:
    """Each process's CPU seconds so far (one gone already, a database session that ended, is left out)."""
    seconds = {}
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        seconds[process.pid] = times.user + times.system
    return seconds


def _cpu_since(before: dict[int, float], after: dict[int, float]) -> float:
    """The CPU seconds used between the two readings by the processes in both."""
    return sum(after[pid] - seconds for pid, seconds in before.items() if pid in after)


def _emails_settled(db_url: str, timeout: float = 30) -> dict[str, int]:
    """How many e-mails are in each status once none is waiting to be sent (or after ``timeout``)."""
    from sqlalchemy import func, select

    from register.backend.database import Database
    from register.backend.schema import messages

    db = Database(db_url)
    deadline = time.monotonic() + timeout
    try:
        while True:
            with db.read() as conn:
                counts = dict(
                    conn.execute(
                        select(messages.c.status, func.count())
                        .where(messages.c.channel == "email")
                        .group_by(messages.c.status)
                    ).all()
                )
            waiting = counts.get("queued", 0) + counts.get("sending", 0)
            if not waiting or time.monotonic() > deadline:
                return counts
            time.sleep(0.1)
    finally:
        db.dispose()


def _memory_of_tree(pid: int) -> tuple[int, int | None, int]:
    """RSS summed over the backend process and its worker processes, their PSS sum when readable, and
    how many processes there are."""
    tree = _tree(pid)
    rss = sum(p.memory_info().rss for p in tree)
    try:
        pss: int | None = sum(p.memory_full_info().pss for p in tree)
    except (psutil.AccessDenied, AttributeError):
        pss = None
    return rss, pss, len(tree)


def run_sale_bench(
    *, sales: int, registers: int, purchases: int, pg_url: str | None, echo: Callable[[str], None]
) -> None:
    bench_lab_sales(sales, echo)
    with tempfile.TemporaryDirectory(prefix="register-bench-backend-") as tmp:
        bench_backend(f"sqlite:///{tmp}/loyalty.sqlite3", "SQLite", registers, purchases, echo)
    if pg_url:
        bench_backend(pg_url, "PostgreSQL", registers, purchases, echo)
    else:
        from register.backend.pg_cluster import temporary_cluster

        with temporary_cluster() as url:
            bench_backend(
                url, "PostgreSQL (a temporary cluster)", registers, purchases, echo, local_server=True
            )
