"""What a training run learns about its surroundings: the cores it may use."""

from __future__ import annotations

import os

from trainer import run_context


def test_available_cores_follow_affinity_and_slurm_cpus_per_task(monkeypatch):
    # a SLURM task sizes its BLAS threads from its own allocation, not the node's core count
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    monkeypatch.delenv("SLURM_CPUS_PER_TASK", raising=False)
    if affinity is not None:
        assert run_context.available_cores() == affinity
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3, 4, 5, 6, 7},
                        raising=False)
    assert run_context.available_cores() == 8
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "3")
    assert run_context.available_cores() == 3
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "16")  # never more than the affinity allows
    assert run_context.available_cores() == 8
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "lots")  # not a count: ignored
    assert run_context.available_cores() == 8
