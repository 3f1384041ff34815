"""What a process learns about its surroundings: the cores it may use."""

from __future__ import annotations

import os

from runkit import process


def test_available_cores_follow_affinity_and_slurm_cpus_per_task(monkeypatch):
    # a SLURM task sizes its BLAS threads from its own allocation, not the node's core count
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    monkeypatch.delenv("SLURM_CPUS_PER_TASK", raising=False)
    if affinity is not None:
        assert process.available_cores() == affinity
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3, 4, 5, 6, 7},
                        raising=False)
    assert process.available_cores() == 8
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "3")
    assert process.available_cores() == 3
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "16")  # never more than the affinity allows
    assert process.available_cores() == 8
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "lots")  # not a count: ignored
    assert process.available_cores() == 8


def test_the_thread_budget_is_the_cores_or_omp_num_threads_below_them(monkeypatch):
    # a sweep worker's share (OMP_NUM_THREADS), never more than the process's cores
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    monkeypatch.delenv("SLURM_CPUS_PER_TASK", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert process.thread_budget() == 4
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert process.thread_budget() == 2
    monkeypatch.setenv("OMP_NUM_THREADS", "16")
    assert process.thread_budget() == 4
    monkeypatch.setenv("OMP_NUM_THREADS", "0")  # not a budget: ignored
    assert process.thread_budget() == 4


def test_pending_work_is_done_once_in_order_when_the_work_is_done():
    # a sweep's worker calls done() as its trials end: pictures still being drawn elsewhere are
    # in place by then; one that fails does not stop the others, and nothing runs twice
    ran: list[str] = []

    def fails() -> None:
        ran.append("fails")
        raise RuntimeError("no picture")

    process.when_done(lambda: ran.append("first"))
    process.when_done(fails)
    process.when_done(lambda: ran.append("last"))
    process.done()
    process.done()
    assert ran == ["first", "fails", "last"]
