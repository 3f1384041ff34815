"""What a training run learns about its surroundings: the cores it may use, and those other
work leaves free."""

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


def _times(at: float, all_processes: float, this_process: float,
           cpus: int = 2) -> run_context.CpuTimes:
    return run_context.CpuTimes(at, cpus, all_processes, this_process)


def test_cpu_times_count_this_process_s_cores():
    # Linux: every core the process may run on, busy time that grows with this process's work
    first = run_context.cpu_times()
    if first is None:
        return  # no /proc/stat here: idle_cores then gives every core (tested below)
    assert first.cpus == len(os.sched_getaffinity(0))
    sum(i * i for i in range(300_000))
    second = run_context.cpu_times()
    assert second is not None and second.all_processes >= first.all_processes
    assert second.this_process >= first.this_process and second.at > first.at


def test_idle_cores_take_off_the_cores_other_work_used(monkeypatch):
    # Over 0.5 s on 2 cores: other processes used (all - this process) / span cores; those,
    # rounded, are not free; this process's own work never counts; at least 1 core is left.
    start = _times(10.0, 100.0, 5.0)

    def idle_after(all_processes: float, this_process: float, *, span: float = 0.5,
                   cpus: int = 2, cores: int | None = 2) -> int:
        now = _times(10.0 + span, all_processes, this_process, cpus)
        monkeypatch.setattr(run_context, "cpu_times", lambda: now)
        return run_context.idle_cores(_times(10.0, 100.0, 5.0, cpus), cores=cores)

    assert idle_after(100.5, 5.5) == 2  # only this process ran: both cores free
    assert idle_after(100.6, 5.5) == 2  # others used 0.2 of a core: background noise
    assert idle_after(100.65, 5.5) == 1  # 0.3 of one: a core taken (it would stall 2 threads)
    assert idle_after(101.0, 5.5) == 1  # others used one core
    assert idle_after(101.1, 5.5) == 1  # ... 1.2
    assert idle_after(102.0, 5.0) == 1  # others kept both busy: still one thread
    assert idle_after(101.0, 5.5, cores=1) == 1  # never more than asked for
    assert idle_after(102.0, 5.5, cpus=8, cores=2) == 2  # 8 cores, 3 busy: the 2 asked are free
    assert idle_after(104.0, 5.5, cpus=8, cores=4) == 1  # 8 cores, 7 busy
    assert idle_after(101.0, 5.5, span=0.05) == 2  # too short to tell
    monkeypatch.setattr(run_context, "cpu_times", lambda: None)  # not Linux
    assert run_context.idle_cores(start, cores=2) == 2
    monkeypatch.setattr(run_context, "available_cores", lambda: 3)
    assert run_context.idle_cores(None) == 3  # no reading: every core


def test_the_command_marks_its_start_for_its_runs(monkeypatch):
    # `python -m trainer` reads the CPU times first thing, so a run judges other work over the
    # whole start-up (imports, the store), a span long enough to tell
    from trainer import __main__ as command

    reading = run_context.CpuTimes(1.0, 2, 3.0, 0.5)
    monkeypatch.setattr(run_context, "cpu_times", lambda: reading)
    monkeypatch.setattr(run_context, "command_start", None)
    monkeypatch.setattr(command, "main", lambda: None)  # the start-up only, no Hydra app
    # nor its collector pause and final freeze (tests/trainer/test_startup_gc.py has those)
    monkeypatch.setattr(command.startup_gc, "pause", lambda: None)
    monkeypatch.setattr(command.gc, "freeze", lambda: None)
    command.cli()
    assert run_context.command_start is reading
