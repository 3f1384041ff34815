"""One worker slot: a loop of ask -> run the Hydra job -> tell, until the study's budget is spent.

Each of the ``n_jobs`` slots runs this loop in its own long-lived process (``n_jobs=1`` runs it in
the sweep's own process). There is no batch barrier: a slot whose trial finished or was pruned
asks for the next one at once. The loop runs each trial through ``study.optimize(objective,
n_trials=1)`` because Optuna records heartbeats (how a crashed trial is detected) only there.

A worker asks only while the study is short of ``n_trials`` counted trials (see
``sweeps.study._budget``). When only other workers' trials are still running it waits for them,
failing the stale ones (their parameters are queued again and it runs them), so a crash
anywhere is repaired by whoever is left.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optuna
from optuna.trial import TrialState

from sweeps.reporting._tracking import STUDY_TAG, TRIAL_NUMBER_TAG
from sweeps.search._space import SearchSpace
from sweeps.study._budget import (
    FAIL_REASON_ATTR,
    OVERRIDES_ATTR,
    RUN_ID_ATTR,
    SURPLUS_ATTR,
    WORKER_ATTR,
    count_trials,
    fail_reason,
    within_budget,
)
from sweeps.study._factories import build_pruner, build_sampler
from sweeps.study._storage import (
    StorageSpec,
    open_storage,
    recover_lost_trials,
    requeue_interrupted,
)
from sweeps.workers._bridge import PruningBridge
from sweeps.workers._compose import TrialConfigs
from sweeps.workers._interrupt import stop_if_interrupted
from trainer import run_context
from trainer._private_apis import OPTUNA_OPTIMIZE_LOGGER, job_error

__all__ = [
    "HydraJob",
    "TrackingTarget",
    "WorkerPlan",
    "WorkerReport",
    "run_worker",
]

log = logging.getLogger("sweeps")
_REASON_LIMIT = 500
_WAIT_POLL = 0.25  # seconds between budget checks while only others' trials are running


class TrialFailedError(Exception):
    """The trial's job raised or returned no usable value (the reason is on the trial)."""


class SurplusTrialError(Exception):
    """The study already had ``n_trials`` counted trials when this one was created."""


@dataclass(frozen=True)
class TrackingTarget:
    """Where trial runs go: created by the sweep process before any worker starts."""

    tracking_uri: str
    experiment_id: str
    parent_run_id: str | None


@dataclass(frozen=True)
class WorkerPlan:
    """Everything a worker needs besides the Hydra job (small and picklable).

    Attributes:
        study_name, storage: the shared study.
        sampler, pruner: specs for ``sweeps.study._factories`` (names, mappings or objects).
        seed: base seed of the sampler; each worker derives its own (see :func:`worker_seed`).
        space: the search space.
        n_trials: the study's total.
        objective: the metric reported each epoch for pruning (None: no pruning bridge).
        max_failure_rate: stop asking when more than this share of finished trials failed.
        tracking: the MLflow target of trial runs (None: the app's own settings).
        blas_threads: BLAS threads per trial (``sweeps._sweeper.local_share``).
        poll_interval: seconds between searches for stale trials while waiting for others' trials.
    """

    study_name: str
    storage: StorageSpec
    sampler: Any
    pruner: Any
    seed: int | None
    space: SearchSpace
    n_trials: int
    objective: str | None
    max_failure_rate: float = 0.5
    tracking: TrackingTarget | None = None
    blas_threads: int | None = None
    poll_interval: float = 1.0


@dataclass
class HydraJob:
    """Runs one Hydra job with a trial's overrides, as Hydra's launchers do."""

    task_function: Any
    hydra_context: Any
    config: Any  # the sweep's master DictConfig
    _configs: TrialConfigs | None = field(default=None, init=False, repr=False, compare=False)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_configs": None}  # each worker process caches its own

    def run(self, overrides: Sequence[str], number: int) -> Any:
        """Compose the job's config and run the task; returns Hydra's ``JobReturn``."""
        from hydra.core.utils import configure_log, run_job
        from omegaconf import open_dict

        if self._configs is None:
            self._configs = TrialConfigs(self.hydra_context.config_loader, self.config)
        config = self._configs.compose(overrides)
        with open_dict(config):
            config.hydra.job.id = f"{config.hydra.job.name}_{number}"
            config.hydra.job.num = number
        # Hydra's basic launcher also calls HydraConfig.set_config here; run_job does it first
        # thing itself, and each call deep-copies the whole config (~10 ms a trial).
        try:
            return run_job(
                hydra_context=self.hydra_context,
                task_function=self.task_function,
                config=config,
                job_dir_key="hydra.sweep.dir",
                job_subdir_key="hydra.sweep.subdir",
            )
        finally:  # the job logged to its own file: the sweep's lines go back to the console
            configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)


@dataclass
class WorkerReport:
    """What one worker did."""

    index: int
    pid: int = field(default_factory=os.getpid)
    trials: list[int] = field(default_factory=list)  # numbers of the trials it ran
    stopped_for_failures: bool = False
    interrupted: bool = False


def worker_seed(seed: int | None, index: int, n_existing: int) -> int | None:
    """A sampler seed per worker and per start: workers must not draw the same random
    start-up points, nor must a resumed sweep replay the first run's draws."""
    if seed is None:
        return None
    return int(np.random.SeedSequence([seed, index, n_existing]).generate_state(1)[0])


def _reason(error: BaseException) -> str:
    """The trial's failure reason: one line of at most _REASON_LIMIT characters."""
    from trainer.tracking import failure_reason

    return failure_reason(error, _REASON_LIMIT)


class _TrialRunner:
    """The objective given to ``study.optimize``: one trial = one Hydra job."""

    def __init__(self, plan: WorkerPlan, job: HydraJob, study: optuna.Study,
                 draw: Callable[..., None] | None = None) -> None:
        self.plan = plan
        self.job = job
        self.study = study
        self.draw = draw  # draws the trials' pictures elsewhere (None: each trial draws its own)
        self.worker = f"{socket.gethostname()}:{os.getpid()}"
        self.current: int | None = None  # the trial asked last
        self.ran: bool = False  # whether it was within the budget (not a surplus)

    def __call__(self, trial: optuna.Trial) -> float:
        self.current, self.ran = trial.number, False
        try:
            try:
                return self._run(trial)
            except Exception as error:
                stop_if_interrupted()  # an interrupt a library turned into an exception
                if not isinstance(error, (TrialFailedError, SurplusTrialError, optuna.TrialPruned)):
                    # e.g. the storage failed mid-trial: say so, or the trial reads as lost
                    with contextlib.suppress(Exception):
                        trial.set_user_attr(FAIL_REASON_ATTR, _reason(error))
                raise
        except KeyboardInterrupt:
            with contextlib.suppress(Exception):  # the reason is a courtesy; the state is not
                trial.set_user_attr(FAIL_REASON_ATTR, "interrupted (Ctrl-C or SIGTERM)")
                # An interrupt just after Optuna handed the trial over comes before _run's
                # first act: without its worker, neither this worker nor the sweep would find
                # the trial to queue it again (requeue_interrupted looks trials up by worker).
                trial.set_user_attr(WORKER_ATTR, self.worker)
            raise

    def _run(self, trial: optuna.Trial) -> float:
        # First act: a RUNNING trial without a worker never got here (see recover_lost_trials).
        trial.set_user_attr(WORKER_ATTR, self.worker)
        trials = self.study.get_trials(deepcopy=False)
        if not within_budget(trials, trial.number, self.plan.n_trials):
            trial.set_user_attr(SURPLUS_ATTR, True)
            raise SurplusTrialError(f"trial {trial.number} is beyond n_trials={self.plan.n_trials}")
        self.ran = True
        try:
            values = self.plan.space.suggest(trial)
            overrides = self.plan.space.overrides(values)
        except ValueError as error:  # a retried trial from an incompatible search space
            trial.set_user_attr(FAIL_REASON_ATTR, _reason(error))
            raise TrialFailedError(_reason(error)) from error
        trial.set_user_attr(OVERRIDES_ATTR, overrides)

        bridge = PruningBridge(trial, self.plan.objective) if self.plan.objective else None
        context = self._context(trial, bridge)
        try:
            with run_context.use(context):
                result = self.job.run(overrides, trial.number)
        except Exception as error:  # the config did not compose (e.g. a bad sampled combination)
            trial.set_user_attr(FAIL_REASON_ATTR, _reason(error))
            raise TrialFailedError(_reason(error)) from error

        from hydra.core.utils import JobStatus

        if result.status != JobStatus.COMPLETED:
            failure = job_error(result)
            trial.set_user_attr(FAIL_REASON_ATTR, _reason(failure))
            raise TrialFailedError(_reason(failure)) from failure
        if bridge is not None and bridge.pruned:
            raise optuna.TrialPruned(f"pruned at epoch {bridge.pruned_epoch}")
        try:
            value = float(result.return_value)
        except (TypeError, ValueError):
            value = math.nan
        if not math.isfinite(value):
            reason = f"the job returned {result.return_value!r}, not a finite number"
            trial.set_user_attr(FAIL_REASON_ATTR, reason)
            raise TrialFailedError(reason)
        return value

    def _context(self, trial: optuna.Trial, bridge: PruningBridge | None
                 ) -> run_context.RunContext:
        target = self.plan.tracking

        def on_run_started(run_id: str) -> None:
            trial.set_user_attr(RUN_ID_ATTR, run_id)

        return run_context.RunContext(
            callbacks=(bridge.factory,) if bridge is not None else (),
            tracking_uri=target.tracking_uri if target else None,
            experiment_id=target.experiment_id if target else None,
            parent_run_id=target.parent_run_id if target else None,
            tags={STUDY_TAG: self.plan.study_name, TRIAL_NUMBER_TAG: str(trial.number)},
            blas_threads=self.plan.blas_threads,
            learning_curves=self.draw,
            on_run_started=on_run_started,
        )


def _log_finished(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
    """One line per finished trial (Optuna's own failure warning is silenced: it prints a
    traceback for every failed trial)."""
    if trial.user_attrs.get(SURPLUS_ATTR):
        log.info("trial %d not run: the study already has its n_trials", trial.number)
        return
    params = " ".join(f"{k}={v}" for k, v in trial.params.items())
    if trial.state == TrialState.COMPLETE:
        try:
            best_trial = study.best_trial  # one read of the study (best_value is another)
            best = f" (best {best_trial.value:.6g}, trial {best_trial.number})"
        except ValueError:
            best = ""
        log.info("trial %d COMPLETE %.6g%s  %s", trial.number, trial.value, best, params)
    elif trial.state == TrialState.PRUNED:
        log.info("trial %d PRUNED at epoch %s  %s", trial.number, trial.last_step, params)
    else:
        log.warning("trial %d FAIL: %s  %s", trial.number, fail_reason(trial), params)


class _DropOptunaFailureWarnings(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.name == OPTUNA_OPTIMIZE_LOGGER and record.levelno == logging.WARNING)


@contextlib.contextmanager
def _quiet_optuna() -> Iterator[None]:
    """Optuna's per-trial lines are replaced by :func:`_log_finished`; its warnings stay."""
    handler_filter = _DropOptunaFailureWarnings()
    optuna_logger = logging.getLogger("optuna")
    handlers = list(optuna_logger.handlers)
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    for handler in handlers:
        handler.addFilter(handler_filter)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(handler_filter)
        optuna.logging.set_verbosity(verbosity)


def run_worker(plan: WorkerPlan, job: HydraJob, index: int = 0, *,
               draw: Callable[..., None] | None = None) -> WorkerReport:
    """Run trials until the study has ``n_trials`` finished (or most fail); returns a report.
    ``draw`` takes over the trials' learning-curve pictures (see
    ``trainer.run_context.RunContext.learning_curves``).

    Raises:
        KeyboardInterrupt: Ctrl-C / SIGTERM; the running trial was recorded FAIL, its
            parameters queued to run again, its MLflow run ended KILLED.
    """
    report = WorkerReport(index)
    storage = open_storage(plan.storage)
    study = optuna.load_study(study_name=plan.study_name, storage=storage)
    study.sampler = build_sampler(plan.sampler,
                                  seed=worker_seed(plan.seed, index, len(study.trials)),
                                  grid=plan.space.grid)
    study.pruner = build_pruner(plan.pruner)
    runner = _TrialRunner(plan, job, study, draw)
    heartbeats = plan.storage.heartbeat_interval is not None
    next_recovery = time.monotonic() + plan.poll_interval

    with _quiet_optuna():
        while True:
            budget = count_trials(study.get_trials(deepcopy=False), plan.n_trials)
            if budget.too_many_failures(plan.max_failure_rate):
                report.stopped_for_failures = True
                break
            if budget.remaining > 0 or budget.waiting > 0:
                runner.current = None
                try:
                    study.optimize(runner, n_trials=1, catch=(Exception,),
                                   callbacks=[_log_finished])
                    stop_if_interrupted()  # swallowed outside the trial (Optuna's own writes)
                except KeyboardInterrupt:
                    report.interrupted = True
                    requeue_interrupted(study, plan.storage.max_retry, {runner.worker})
                    raise
                if runner.ran and runner.current is not None:
                    report.trials.append(runner.current)
                continue
            if budget.running > 0 and heartbeats:
                # Others' trials: run them again if they die. Their end is noticed within
                # _WAIT_POLL (the sweep exits only when every worker has), while the costlier
                # search for stale trials runs every poll_interval.
                time.sleep(_WAIT_POLL)
                if time.monotonic() >= next_recovery:
                    recover_lost_trials(study, plan.storage)
                    next_recovery = time.monotonic() + plan.poll_interval
                continue
            break
    return report
