"""What a process may use and whether another process lives: its cores (CPU affinity, a SLURM
task's share) and its threads (``OMP_NUM_THREADS``), and a process told apart from a later one
that got its pid (its start time)."""

from __future__ import annotations

import atexit
import contextlib
import os
from collections.abc import Callable

__all__ = ["available_cores", "done", "process_alive", "process_start_time", "thread_budget",
           "when_done"]


def available_cores() -> int:
    """Cores this process may run on: its CPU affinity where the OS tells it, and no more than
    a SLURM job step's ``SLURM_CPUS_PER_TASK`` (which is not always enforced by affinity)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    slurm = os.environ.get("SLURM_CPUS_PER_TASK", "")
    if slurm.isdigit() and int(slurm) > 0:
        cores = min(cores, int(slurm))
    return max(1, cores)


_pending: list[Callable[[], None]] = []  # work to complete when this process's work is done


def when_done(finish: Callable[[], None]) -> None:
    """Have ``finish`` run once this process's work is done: when :func:`done` is called (a
    sweep's worker calls it as its loop of trials ends, whatever ended it), else at exit. For
    work handed to a helper that must be complete by then (pictures drawn elsewhere)."""
    _pending.append(finish)


@atexit.register
def done() -> None:
    """Run the pending work (:func:`when_done`), each once, in order; one that fails does not
    stop the others (it reports its own failure)."""
    while _pending:
        finish = _pending.pop(0)
        with contextlib.suppress(Exception):  # each one reports what it could not do
            finish()


if hasattr(os, "register_at_fork"):  # a forked child does not inherit its parent's helpers
    os.register_at_fork(after_in_child=_pending.clear)


def thread_budget() -> int:
    """Threads this process's numerical work may use: its cores, or fewer when
    ``OMP_NUM_THREADS`` says so (a sweep gives each worker its share that way, as Ray Tune gives
    each trial its CPUs)."""
    cores = available_cores()
    limit = os.environ.get("OMP_NUM_THREADS", "")
    return min(cores, int(limit)) if limit.isdigit() and int(limit) > 0 else cores


def _boot_time() -> float | None:
    try:
        with open("/proc/stat") as stat:
            for line in stat:
                if line.startswith("btime "):
                    return float(line.split()[1])
    except OSError:
        pass
    return None


def _stat(pid: int) -> tuple[str, str | None] | None:
    """(state, start time) of process ``pid`` from Linux ``/proc``; None when it does not exist
    or the system does not tell. The start time is unix seconds with two decimals."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rpartition(")")[2].split()
    except OSError:
        return None
    if len(fields) < 20:
        return None
    boot = _boot_time()
    ticks = int(fields[19])  # field 22 of stat(5), counted after the command name
    started = None if boot is None else f"{boot + ticks / os.sysconf('SC_CLK_TCK'):.2f}"
    return fields[0], started


def process_start_time(pid: int) -> str | None:
    """When process ``pid`` started, as unix seconds with two decimals (Linux ``/proc``); None
    when the process does not exist or the system does not tell."""
    stat = _stat(pid)
    return None if stat is None else stat[1]


def process_alive(pid: int, started: str | None) -> bool:
    """Whether process ``pid`` of this host lives and, when ``started`` is known, is the same
    process that started then (not a later one that got its pid)."""
    if pid <= 0:
        return False
    stat = _stat(pid)
    if stat is not None:
        state, now_started = stat
        if state in ("Z", "X"):  # exited, not yet reaped by its parent
            return False
        return started is None or now_started is None or now_started == started
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True
