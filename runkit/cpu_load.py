"""How much of this process's cores other work uses: a run's BLAS threads follow what is free.

OpenBLAS splits each matrix product into equal parts, one per thread, and waits for the slowest,
so a thread whose core another process holds makes every product wait for the scheduler: beside
a busy loop, or a process busy only half the time, a 784-256-128-10 epoch on 2 threads took
5-12x as long as on 1 (``benchmarks/blas_contention.py``, on a machine others shared). A run
therefore asks :func:`idle_cores` how many of its cores other processes left free while it
started, from the CPU time /proc/stat counts on those cores less its own.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass

__all__ = ["CpuTimes", "command_start", "cpu_times", "idle_cores", "mark_command_start"]


@dataclass(frozen=True)
class CpuTimes:
    """CPU seconds spent so far on the cores this process may use: by every process (non-idle
    time in /proc/stat) and by this process (all its threads)."""

    at: float  # time.monotonic()
    cpus: int  # the cores counted
    all_processes: float
    this_process: float


# A shorter span says little: /proc/stat counts in ticks of 10 ms per core
MIN_SPAN = 0.1
# Other work using more than this share of a core takes it: two BLAS threads beside a process
# busy half the time were still 12x slower than one
TAKEN_FROM = 0.25

# Set by the command line as it starts (trainer/__main__.py): a run then judges other work over
# the whole start-up, a span long enough for /proc/stat's ticks, not only its own last moments.
command_start: CpuTimes | None = None


def cpu_times() -> CpuTimes | None:
    """Now, or None where the OS keeps no /proc/stat (not Linux)."""
    try:
        with open("/proc/stat") as stat:
            lines = stat.read().splitlines()
        ours = os.sched_getaffinity(0)
    except (OSError, AttributeError):
        return None
    busy, cpus = 0, 0
    for line in lines:
        name, _, rest = line.partition(" ")
        if not name.startswith("cpu") or not name[3:].isdigit() or int(name[3:]) not in ours:
            continue
        user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, rest.split()[:8])
        busy += user + nice + system + irq + softirq + steal
        cpus += 1
    own = os.times()
    return CpuTimes(time.monotonic(), cpus, busy / os.sysconf("SC_CLK_TCK"),
                    own.user + own.system)


def mark_command_start() -> None:
    """Remember the CPU times as the command starts (see :data:`command_start`)."""
    global command_start
    command_start = cpu_times()


def idle_cores(since: CpuTimes | None, *, cores: int) -> int:
    """``cores``, or fewer when other processes used this process's cores since ``since``:
    each core's worth of their use beyond a quarter takes one core off (0.2 of a core: none;
    0.3 or 1.2: one), and at least 1 is left. Without a reading (not Linux, no ``since``, a span
    too short to tell) all ``cores``."""
    now = cpu_times()
    if since is None or now is None or now.cpus != since.cpus or now.at - since.at < MIN_SPAN:
        return cores
    span = now.at - since.at
    others = ((now.all_processes - since.all_processes)
              - (now.this_process - since.this_process)) / span
    taken = max(0, math.ceil(others - TAKEN_FROM))
    return max(1, min(cores, now.cpus - taken))
