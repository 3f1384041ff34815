"""What a caller outside the command line (a sweep worker) hands to a training run.

The Hydra task function reads :func:`current` so that a sweep can add its pruning callback,
place the MLflow run under the sweep's parent run and tag it with the trial, without the
trainer importing the sweep engine (data flows sweep -> trainer, never back).
"""

from __future__ import annotations

import contextlib
import os
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
