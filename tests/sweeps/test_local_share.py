"""Each local worker slot's BLAS threads: the cores split between the slots; a single slot, as
a single run, only the cores other work left free."""

from __future__ import annotations

from runkit import cpu_load
from sweeps import _sweeper


def test_workers_split_the_cores_and_a_single_worker_leaves_the_busy_ones(monkeypatch):
    monkeypatch.setattr(_sweeper, "available_cores", lambda: 4)
    start = cpu_load.CpuTimes(0.0, 4, 0.0, 0.0)
    monkeypatch.setattr(cpu_load, "command_start", start)
    # since the command started (1 s), other processes kept one of the 4 cores busy
    monkeypatch.setattr(cpu_load, "cpu_times", lambda: cpu_load.CpuTimes(1.0, 4, 1.5, 0.5))
    assert _sweeper.local_share(1) == 3
    assert [_sweeper.local_share(n) for n in (2, 3, 4, 8)] == [2, 1, 1, 1]
    # a quiet machine: the single worker has every core
    monkeypatch.setattr(cpu_load, "cpu_times", lambda: cpu_load.CpuTimes(1.0, 4, 0.5, 0.5))
    assert _sweeper.local_share(1) == 4
    # an app whose command marks no start: from when its sweeper was made
    monkeypatch.setattr(cpu_load, "command_start", None)
    monkeypatch.setattr(cpu_load, "cpu_times", lambda: cpu_load.CpuTimes(1.0, 4, 1.5, 0.5))
    assert _sweeper.local_share(1, start) == 3
    assert _sweeper.local_share(1) == 4  # no reading at all: every core
