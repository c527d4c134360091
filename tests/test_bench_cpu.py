"""The benchmark's CPU shares: a process that ends during the run (a database session) is not counted
as giving CPU back."""

from __future__ import annotations

import os

import psutil

from register.bench_sale import _cpu_by_process, _cpu_since


def test_only_the_processes_read_both_times_count() -> None:
    before = {1: 1.0, 2: 2.0, 3: 0.5}
    after = {1: 1.25, 3: 0.75, 4: 9.0}  # 2 ended, 4 began after the first reading

    assert _cpu_since(before, after) == 0.5


def test_a_process_gone_is_left_out_of_a_reading() -> None:
    child = psutil.Popen(["true"])
    child.wait()

    seconds = _cpu_by_process([psutil.Process(os.getpid()), child])

    assert list(seconds) == [os.getpid()]
    assert seconds[os.getpid()] > 0
