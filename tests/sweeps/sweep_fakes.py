"""Stand-ins for an app, so the worker loop can be tested fast and without MLflow.

``FakeJob`` plays ``sweeps.workers.HydraJob``: it reads the trial's overrides, reports a few
"epochs" through ``sweeps.report`` as an app does, and returns a Hydra ``JobReturn``. The loss
curve of a trial is ``x / epoch`` (``x`` is the searched value), so a large ``x`` is a bad
trial a pruner should cut.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import optuna
from hydra.core.utils import JobReturn, JobStatus

import sweeps
from sweeps.search import parse_search_space
from sweeps.study import StorageSpec, load_or_create_study, open_storage
from sweeps.workers import WorkerPlan


@dataclass
class FakeJob:
    """A task as any app writes it: a "training" of ``epochs`` epochs whose loss is
    ``x / epoch``, reported each epoch through ``sweeps.report``, with ``optuna.TrialPruned``
    left to propagate; Hydra's ``run_job`` turns what the task raises into a FAILED
    ``JobReturn``, as here.

    Args:
        epochs: epochs per trial.
        fail_above: a trial with ``x`` above it fails (its task raises ValueError).
        interrupt_trial: the trial number whose job is interrupted (KeyboardInterrupt).
        prune_itself_at: the epoch at which the task raises ``optuna.TrialPruned`` on its own.
        epoch_seconds: sleep per epoch (to overlap processes).
        runs: the numbers of the trials whose task ran.
        seen: (the job's number, ``sweeps.current_trial()``'s number and params) per trial.
        returns: what the task returns, given ``x`` and its last loss (default: the loss).
    """

    epochs: int = 5
    fail_above: float | None = None
    interrupt_trial: int | None = None
    prune_itself_at: int | None = None
    epoch_seconds: float = 0.0
    runs: list[int] = field(default_factory=list)
    seen: list[tuple[int, int, dict]] = field(default_factory=list)
    returns: Callable[[float, float], object] | None = None

    def run(self, overrides: Sequence[str], number: int) -> JobReturn:
        x = float(dict(o.split("=", 1) for o in overrides)["x"])
        self.runs.append(number)
        trial = sweeps.current_trial()
        assert trial is not None
        self.seen.append((number, trial.number, dict(trial.params)))
        if self.interrupt_trial == number:
            raise KeyboardInterrupt("test interrupt")
        try:
            if self.fail_above is not None and x > self.fail_above:
                raise ValueError(f"x={x} too big")
            loss = x
            for epoch in range(1, self.epochs + 1):
                time.sleep(self.epoch_seconds)
                loss = x / epoch
                if epoch == self.prune_itself_at:
                    raise optuna.TrialPruned("the task's own decision")
                sweeps.report(loss, step=epoch)
        except Exception as error:
            return _job_return(JobStatus.FAILED, error)
        return _job_return(JobStatus.COMPLETED,
                           loss if self.returns is None else self.returns(x, loss))


def _job_return(status: JobStatus, value: object) -> JobReturn:
    """What Hydra's run_job returns: a status and the task's value (or the exception it raised),
    set through the public setter."""
    result = JobReturn(status=status)
    result.return_value = value
    return result


def make_plan(db: Path, *, n_trials: int, study_name: str = "test", sampler: object = "random",
              pruner: object = "none", params: dict | None = None,
              heartbeat_interval: int | None = 1, grace_period: int | None = 1,
              max_failure_rate: float = 0.5,
              direction: str | Sequence[str] = "minimize") -> WorkerPlan:
    """A plan over ``x`` in [0, 1] on a SQLite file, with its study created."""
    storage = StorageSpec(f"sqlite:///{db}", heartbeat_interval=heartbeat_interval,
                          grace_period=grace_period, max_retry=3)
    load_or_create_study(open_storage(storage), study_name, direction=direction)
    return WorkerPlan(
        study_name=study_name, storage=storage, sampler=sampler, pruner=pruner, seed=0,
        space=parse_search_space(params or {"x": "interval(0.0, 1.0)"}), n_trials=n_trials,
        objective="val_loss", max_failure_rate=max_failure_rate, poll_interval=0.2,
    )


def load(plan: WorkerPlan) -> optuna.Study:
    return optuna.load_study(study_name=plan.study_name, storage=open_storage(plan.storage))


def worker_pid() -> int:
    return os.getpid()
