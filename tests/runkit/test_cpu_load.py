"""How many cores other work leaves free: from /proc/stat's busy time less this process's own."""

from __future__ import annotations

import os

from runkit import cpu_load


def _times(at: float, all_processes: float, this_process: float,
           cpus: int = 2) -> cpu_load.CpuTimes:
    return cpu_load.CpuTimes(at, cpus, all_processes, this_process)


def test_cpu_times_count_this_process_s_cores():
    # Linux: every core the process may run on, busy time that grows with this process's work
    first = cpu_load.cpu_times()
    if first is None:
        return  # no /proc/stat here: idle_cores then gives every core (tested below)
    assert first.cpus == len(os.sched_getaffinity(0))
    sum(i * i for i in range(300_000))
    second = cpu_load.cpu_times()
    assert second is not None and second.all_processes >= first.all_processes
    assert second.this_process >= first.this_process and second.at > first.at


def test_idle_cores_take_off_the_cores_other_work_used(monkeypatch):
    # Over 0.5 s on 2 cores: other processes used (all - this process) / span cores; each
    # core's worth beyond a quarter is not free; this process's own work never counts; at
    # least 1 core is left.
    def idle_after(all_processes: float, this_process: float, *, span: float = 0.5,
                   cpus: int = 2, cores: int = 2) -> int:
        now = _times(10.0 + span, all_processes, this_process, cpus)
        monkeypatch.setattr(cpu_load, "cpu_times", lambda: now)
        return cpu_load.idle_cores(_times(10.0, 100.0, 5.0, cpus), cores=cores)

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
    monkeypatch.setattr(cpu_load, "cpu_times", lambda: None)  # not Linux
    assert cpu_load.idle_cores(_times(10.0, 100.0, 5.0), cores=2) == 2
    assert cpu_load.idle_cores(None, cores=3) == 3  # no reading: every core


def test_the_command_marks_its_start_for_its_runs(monkeypatch):
    # `python -m trainer` reads the CPU times first thing, so a run judges other work over the
    # whole start-up (imports, the store), a span long enough to tell
    from trainer import __main__ as command

    reading = cpu_load.CpuTimes(1.0, 2, 3.0, 0.5)
    monkeypatch.setattr(cpu_load, "cpu_times", lambda: reading)
    monkeypatch.setattr(cpu_load, "command_start", None)
    monkeypatch.setattr(command, "main", lambda: None)  # the start-up only, no Hydra app
    # nor its collector pause and final freeze (tests/trainer/test_startup_gc.py has those)
    monkeypatch.setattr(command.startup_gc, "pause", lambda: None)
    monkeypatch.setattr(command.gc, "freeze", lambda: None)
    command.cli()
    assert cpu_load.command_start is reading
