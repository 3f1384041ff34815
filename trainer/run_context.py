"""What a caller outside the command line (a sweep worker) hands to a training run, and the
cores the run may use.

The Hydra task function reads :func:`current` so that a sweep can add its pruning callback,
place the MLflow run under the sweep's parent run and tag it with the trial, without the
trainer importing the sweep engine (data flows sweep -> trainer, never back).

A run trains a large model on as many BLAS threads as there are cores free of other work
(:func:`idle_cores`): OpenBLAS splits each matrix product into equal parts, one per thread, and
waits for the slowest, so a thread whose core another process holds makes every product wait
for the scheduler (``benchmarks/blas_contention.py``: a medium epoch on 2 threads beside one
busy loop took several times as long as on 1 thread).
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from trainer.core.callbacks import Callback


@dataclass(frozen=True)
class RunContext:
    """Extra wiring for one training run.

    Attributes:
        callbacks: factories called once per run; each returns a callback added to the fit loop
            (the sweep's pruning bridge).
        tracking_uri: an absolute MLflow tracking URI that overrides ``mlflow.tracking_uri``.
        experiment_id: the MLflow experiment created beforehand by the parent process; workers
            never create experiments (concurrent ``set_experiment`` races).
        parent_run_id: the sweep's parent MLflow run; the run becomes its child.
        tags: extra MLflow tags (study name, trial number).
        blas_threads: BLAS threads this run may use (``None``: all cores).
        learning_curves: draws and logs the run's learning-curve picture instead of the run,
            called with ``(run_id, history, title, best_epoch)`` (a sweep with a free core hands
            its trials' pictures to one drawing process, so the next trial starts sooner).
        on_run_started: called with the MLflow run id as soon as the run exists (a sweep records
            it on the trial, so a crashed trial's run can be marked KILLED later).
    """

    callbacks: tuple[Callable[[], Callback], ...] = ()
    tracking_uri: str | None = None
    experiment_id: str | None = None
    parent_run_id: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    blas_threads: int | None = None
    learning_curves: Callable[[str, list[dict[str, float]], str, int | None], None] | None = None
    on_run_started: Callable[[str], None] | None = None


_current: ContextVar[RunContext | None] = ContextVar("trainer_run_context", default=None)


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


# Other work using more than this share of a core takes it: two BLAS threads beside a process
# busy half the time were still 12x slower than one (benchmarks/blas_contention.py)
TAKEN_FROM = 0.25

# Set by the command line as it starts (trainer/__main__.py): a run then judges other work over
# the whole start-up, a span long enough for /proc/stat's ticks, not only its own last moments.
command_start: CpuTimes | None = None


def mark_command_start() -> None:
    """Remember the CPU times as the command starts (see :data:`command_start`)."""
    global command_start
    command_start = cpu_times()


def idle_cores(since: CpuTimes | None, *, cores: int | None = None) -> int:
    """``cores`` (default :func:`available_cores`), or fewer when other processes used this
    process's cores since ``since``: each core's worth of their use beyond a quarter takes one
    core off (0.2 of a core: none; 0.3 or 1.2: one), and at least 1 is left. Without a reading
    (not Linux, no ``since``, a span too short to tell) all ``cores``."""
    cores = available_cores() if cores is None else cores
    now = cpu_times()
    if since is None or now is None or now.cpus != since.cpus or now.at - since.at < MIN_SPAN:
        return cores
    span = now.at - since.at
    others = ((now.all_processes - since.all_processes)
              - (now.this_process - since.this_process)) / span
    taken = max(0, math.ceil(others - TAKEN_FROM))
    return max(1, min(cores, now.cpus - taken))


# OpenBLAS splits a matrix product over threads from m*n*k >= 262,144; below a few million
# multiply-adds per product the threads' synchronization costs more than the second core saves
# (digits 64-256-128-64-10 at batch 16: 19-25 ms per epoch on 1 thread, 32-548 ms on 2;
# benchmarks/RESULTS.md). Such models train on one thread.
SMALL_MODEL_MULTIPLY_ADDS = 4_000_000


def blas_threads_for(widths: list[int], batch_size: int, *, available: int) -> int:
    """BLAS threads for training a network of layer ``widths``: one for a small model,
    ``available`` (all cores, or a sweep worker's share) otherwise."""
    largest = max(a * b for a, b in zip(widths, widths[1:], strict=False)) * batch_size
    return 1 if largest < SMALL_MODEL_MULTIPLY_ADDS else available


def current() -> RunContext:
    """The context of the run being started (an empty one for a plain command line run)."""
    return _current.get() or RunContext()


@contextlib.contextmanager
def use(context: RunContext) -> Iterator[RunContext]:
    """Make ``context`` current for the runs started inside the ``with`` block."""
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)
