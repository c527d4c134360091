"""`register bench fn`: FN receipts per second over a pty against the emulator in its own process."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import psutil

from register.demo_receipts import sample_receipt
from register.fiscal import fn_documents, kkt_documents
from register.fiscal.fn_driver import FnDriver, WireEvent
from register.fiscal.receipt_tlv import build_receipt_tlv

LINE_BAUD = 115200
BITS_PER_BYTE = 10  # 8N1: start + 8 data + stop


def start_emulator_process(state: Path, *extra: str) -> tuple[subprocess.Popen[str], str]:
    """`register emulate fn --pty` in a child process; returns it and its pty path."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "register", "emulate", "fn", "--pty", "--state", str(state), *extra],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("fn: "):
        proc.kill()
        raise RuntimeError(f"the FN emulator did not start: {line!r}")
    return proc, line.removeprefix("fn: ")


class WireCounter:
    def __init__(self) -> None:
        self.out = 0
        self.into = 0
        self.frames = 0

    def __call__(self, event: WireEvent) -> None:
        if event.direction == "out":
            self.out += len(event.raw)
        else:
            self.into += len(event.raw)
        self.frames += 1


def run_fn_bench(*, receipts: int, items: int, echo: Callable[[str], None]) -> None:
    with tempfile.TemporaryDirectory(prefix="register-bench-fn-") as tmp:
        proc, pty_path = start_emulator_process(Path(tmp) / "fn", "--no-drift-check")
        child = psutil.Process(proc.pid)
        counter = WireCounter()
        try:
            with FnDriver.open(f"serial:{pty_path}", on_wire=counter) as fn:
                when = datetime.now().replace(second=0, microsecond=0)
                kkt_documents.register(fn, when)
                kkt_documents.open_shift(fn, when)
                receipt = sample_receipt(when, items=items)
                for _ in range(10):  # warm-up
                    fn_documents.fiscalise_receipt(
                        fn, when, receipt.operation, receipt.total, build_receipt_tlv(receipt)
                    )
                counter.__init__()  # type: ignore[misc]
                own_cpu0 = sum(os.times()[:2])
                child_cpu0 = sum(child.cpu_times()[:2])
                started = time.perf_counter()
                for _ in range(receipts):
                    tlv = build_receipt_tlv(receipt)
                    fn_documents.fiscalise_receipt(fn, when, receipt.operation, receipt.total, tlv)
                elapsed = time.perf_counter() - started
                own_cpu = sum(os.times()[:2]) - own_cpu0
                child_cpu = sum(child.cpu_times()[:2]) - child_cpu0
            rss = child.memory_info().rss
        finally:
            proc.terminate()
            proc.wait(timeout=10)

    per_receipt = elapsed / receipts
    wire_bytes = (counter.out + counter.into) / receipts
    wire_time = wire_bytes * BITS_PER_BYTE / LINE_BAUD
    echo(f"FN benchmark: {receipts} receipts of {items} items, 15h/07h/16h over a pty")
    echo("  (the driver in this process, the emulator in its own: `register emulate fn --pty`)")
    echo(f"  receipts per second:          {receipts / elapsed:10.1f}")
    echo(
        f"  software time per receipt:    {per_receipt * 1000:10.3f} ms wall "
        f"(driver CPU {own_cpu / receipts * 1000:.3f} ms, emulator CPU {child_cpu / receipts * 1000:.3f} ms)"
    )
    echo(
        f"  bytes on the wire per receipt:{wire_bytes:10.0f} "
        f"(to FN {counter.out / receipts:.0f}, from FN {counter.into / receipts:.0f}, "
        f"{counter.frames / receipts:.0f} frames)"
    )
    echo(f"  wire time at 115200 8N1:      {wire_time * 1000:10.3f} ms per receipt (the physical floor)")
    echo(f"  software / wire time:         {per_receipt / wire_time:10.3f}   (target <= 0.100)")
    echo(f"  emulator resident memory:     {rss / 2**20:10.1f} MB (target < 60 MB)")
