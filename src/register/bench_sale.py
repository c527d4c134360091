"""`register bench sale`: sales end to end on the lab, and the loyalty backend under 20 registers at once.

Every party runs in its own process, as in a shop: the lab (`register lab`) or the backend
(`register loyalty serve`) in a child process, the register or the load generator in this one.
"""

from __future__ import annotations

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

import httpx
import psutil

from register.config import RegisterConfig
from register.domain.decision import BuyerAnswer
from register.sale import Identifier, Register, SaleEvent, SaleRequest

LOAD_CARDS = ("7000000000001", "7000000000002", "7000000000004", None)


@contextmanager
def child(
    command: list[str], ready_prefix: str, timeout: float = 60
) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """Run ``register …`` in a child process until its line starting with ``ready_prefix``; yield the rest."""
    proc = subprocess.Popen([sys.executable, "-m", "register", *command], stdout=subprocess.PIPE, text=True)
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


def _one_register(
    base_url: str, fn: str, purchases: int, worker: int, out: LoadResult, lock: threading.Lock
) -> None:
    requests: list[float] = []
    whole: list[float] = []
    errors: list[str] = []
    with httpx.Client(base_url=base_url, auth=("POS-1", "lab"), timeout=10.0) as client:
        for i in range(purchases):
            card = LOAD_CARDS[(worker + i) % len(LOAD_CARDS)]
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
                t0 = time.perf_counter()
                answer = client.post("/pos/v1/calculate", json=body)
                requests.append(time.perf_counter() - t0)
                answer.raise_for_status()
                purchase = answer.json()["purchaseId"]
                t0 = time.perf_counter()
                client.post(
                    "/pos/v1/confirm",
                    json={"requestId": str(uuid.uuid4()), "purchaseId": purchase, "fiscal": fiscal},
                ).raise_for_status()
                requests.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                client.post(
                    "/pos/v1/cheque-link",
                    json={
                        "requestId": str(uuid.uuid4()),
                        "purchaseId": purchase,
                        "fiscal": fiscal,
                        "url": f"http://127.0.0.1/rec/{fiscal['fd']}",
                        "qr": "t=1",
                    },
                ).raise_for_status()
                requests.append(time.perf_counter() - t0)
            except httpx.HTTPError as exc:
                errors.append(str(exc))
                continue
            whole.append(time.perf_counter() - started)
    with lock:
        out.request_latencies += requests
        out.purchase_latencies += whole
        out.errors += errors
        out.purchases += len(whole)


def load_backend(base_url: str, registers: int, purchases_each: int) -> LoadResult:
    result = LoadResult(0, 0.0, [], [], [])
    lock = threading.Lock()
    fn = f"9999{secrets.randbelow(10**12):012d}"  # a fiscal document is attached to one purchase only
    threads = [
        threading.Thread(target=_one_register, args=(base_url, fn, purchases_each, w, result, lock))
        for w in range(registers)
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.seconds = time.perf_counter() - started
    return result


def bench_backend(
    db_url: str, label: str, registers: int, purchases_each: int, echo: Callable[[str], None]
) -> None:
    with child(["loyalty", "serve", "--db", db_url, "--port", "0", "--seed", "lab"], "loyalty: ") as (
        proc,
        url,
    ):
        load_backend(url, 2, 10)  # warm-up
        result = load_backend(url, registers, purchases_each)
        rss = psutil.Process(proc.pid).memory_info().rss
    echo(f"backend on {label}: {registers} registers at once, calculate + confirm + cheque-link per purchase")
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
    echo(f"  backend resident memory:           {rss / 2**20:10.1f} MB   (target < 200 MB)")
    if result.errors:
        echo(f"  errors: {len(result.errors)}, first: {result.errors[0]}")


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
            bench_backend(url, "PostgreSQL (a temporary cluster)", registers, purchases, echo)
