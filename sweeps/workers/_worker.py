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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optuna
from optuna.storages import BaseStorage
from optuna.trial import TrialState

from runkit._private_apis import job_error
from runkit.errors import one_line
from runkit.process import done
from runkit.redact import scrub, scrub_hydra_node
from runkit.signals import stop_if_interrupted
from sweeps._optuna_logging import quiet_trials
from sweeps._session import TrialSession, running
from sweeps.search._custom import CustomSearchSpace, CustomSearchSpaceError
from sweeps.search._space import SearchSpace
from sweeps.study._budget import (
    FAIL_REASON_ATTR,
    OVERRIDES_ATTR,
    RUN_ID_ATTR,
    SLURM_JOB_ATTR,
    SURPLUS_ATTR,
    WORKER_ATTR,
    count_trials,
    fail_reason,
    within_budget,
)
from sweeps.study._factories import build_pruner, build_sampler, is_grid
from sweeps.study._storage import (
    StorageSpec,
    open_study,
    recover_lost_trials,
    requeue_interrupted,
)
from sweeps.tracking._tags import SLURM_JOB_TAG
from sweeps.tracking._trial_run import TrackingTarget, TrialRun
from sweeps.workers._compose import TrialConfigs
from sweeps.workers._threads import ThreadBudget

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


class PrunedAt(optuna.TrialPruned):
    """``optuna.TrialPruned`` (the trial ends PRUNED) with the step it was pruned at: the one
    the pruner stopped it at, or the last one reported (None before any)."""

    def __init__(self, step: int | None, message: str) -> None:
        super().__init__(message)
        self.step = step


class SurplusTrialError(Exception):
    """The study already had ``n_trials`` counted trials when this one was created."""


@dataclass(frozen=True)
class WorkerPlan:
    """Everything a worker needs besides the Hydra job (small and picklable).

    Attributes:
        study_name, storage: the shared study.
        sampler, pruner: specs for ``sweeps.study._factories`` (names, mappings or objects).
        seed: base seed of the sampler; each worker derives its own (see :func:`sampler_seed`).
        space: the search space.
        n_trials: the study's total.
        objective: the metric reported each epoch for pruning (None: no pruning bridge).
        max_failure_rate: stop asking when more than this share of finished trials failed.
        tracking: the MLflow target of trial runs (None: the app's own settings).
        blas_threads: threads per trial (``sweeps._sweeper.local_share``; None: no limit), see
            ``sweeps.workers._threads``.
        poll_interval: seconds between searches for stale trials while waiting for others' trials.
        custom_search_space: suggests further parameters after ``space``'s (None: none).
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
    custom_search_space: CustomSearchSpace | None = None


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
        scrub_hydra_node(config)  # the job's .hydra/hydra.yaml: no storage password
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


def slurm_job_id() -> str | None:
    """The SLURM job this process runs in, as ``squeue``, ``sacct`` and ``scancel`` name it:
    ``ARRAYJOB_TASK`` for a task of an array (submitit's jobs, ``sbatch --array``; its
    ``SLURM_JOB_ID`` alone is the whole array's id for one of the tasks, and ``scancel`` of it
    would end them all), else ``SLURM_JOB_ID``; None outside SLURM."""
    array, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    if array and task:
        return f"{array}_{task}"
    return os.environ.get("SLURM_JOB_ID") or None


def worker_seed(seed: int | None, index: int, n_existing: int) -> int | None:
    """A sampler seed per worker and per start: workers must not draw the same random
    start-up points, nor must a resumed sweep replay the first run's draws."""
    if seed is None:
        return None
    return int(np.random.SeedSequence([seed, index, n_existing]).generate_state(1)[0])


# The grid sampler's seed when none is given: every worker must shuffle the grid alike.
GRID_SEED = 0


def sampler_seed(plan: WorkerPlan, index: int, n_existing: int) -> int | None:
    """The seed worker ``index`` builds its sampler with, the study holding ``n_existing``
    trials: its own (:func:`worker_seed`), except for the grid sampler. That one gives trial
    number n the n-th point of the grid as its seed shuffled it, so every worker, and every
    later run of the study, must shuffle it with the same seed, or two trials get one point."""
    if is_grid(plan.sampler):
        return GRID_SEED if plan.seed is None else plan.seed
    return worker_seed(plan.seed, index, n_existing)


class _TrialRunner:
    """The objective given to ``study.optimize``: one trial = one Hydra job."""

    def __init__(self, plan: WorkerPlan, job: HydraJob, study: optuna.Study) -> None:
        self.plan = plan
        self.job = job
        self.study = study
        self.worker = f"{socket.gethostname()}:{os.getpid()}"
        self.threads = ThreadBudget(plan.blas_threads)
        self.slurm_job = slurm_job_id()
        self.current: int | None = None  # the trial asked last
        self.ran: bool = False  # whether it was within the budget (not a surplus)

    def _reason(self, error: BaseException) -> str:
        """The trial's failure reason: one line of at most _REASON_LIMIT characters, without
        the storage URL's password (a library's error may quote the URL)."""
        return scrub(one_line(error, _REASON_LIMIT), self.plan.storage.url)

    def __call__(self, trial: optuna.Trial) -> float | list[float]:
        self.current, self.ran = trial.number, False
        try:
            try:
                return self._run(trial)
            except Exception as error:
                stop_if_interrupted()  # an interrupt a library turned into an exception
                if not isinstance(error, (TrialFailedError, SurplusTrialError, optuna.TrialPruned)):
                    # e.g. the storage failed mid-trial: say so, or the trial reads as lost
                    with contextlib.suppress(Exception):
                        trial.set_user_attr(FAIL_REASON_ATTR, self._reason(error))
                raise
        except KeyboardInterrupt:
            with contextlib.suppress(Exception):  # the reason is a courtesy; the state is not
                trial.set_user_attr(FAIL_REASON_ATTR, "interrupted (Ctrl-C or SIGTERM)")
                # An interrupt just after Optuna handed the trial over comes before _run's
                # first act: without its worker, neither this worker nor the sweep would find
                # the trial to queue it again (requeue_interrupted looks trials up by worker).
                trial.set_user_attr(WORKER_ATTR, self.worker)
            raise

    def _run(self, trial: optuna.Trial) -> float | list[float]:
        # First act: a RUNNING trial without a worker never got here (see recover_lost_trials).
        trial.set_user_attr(WORKER_ATTR, self.worker)
        if self.slurm_job is not None:
            trial.set_user_attr(SLURM_JOB_ATTR, self.slurm_job)
        trials = self.study.get_trials(deepcopy=False)
        if not within_budget(trials, trial.number, self.plan.n_trials):
            trial.set_user_attr(SURPLUS_ATTR, True)
            raise SurplusTrialError(f"trial {trial.number} is beyond n_trials={self.plan.n_trials}")
        self.ran = True
        space, custom = self.plan.space, self.plan.custom_search_space
        try:
            values = space.suggest(trial)
            overrides, params = space.overrides(values), space.assignments(values)
            if custom is not None:
                added = custom.suggest(self.job.config, trial, values, space.fixed_values())
                overrides += custom.overrides(added)
                params.update(custom.assignments(added))
        except (ValueError, CustomSearchSpaceError) as error:
            # a retried trial from an incompatible search space, a custom space that failed
            trial.set_user_attr(FAIL_REASON_ATTR, self._reason(error))
            raise TrialFailedError(self._reason(error)) from error
        trial.set_user_attr(OVERRIDES_ATTR, overrides)

        run = TrialRun.start(self.plan.tracking, study_name=self.plan.study_name,
                             number=trial.number, params=params,
                             tags=None if self.slurm_job is None
                             else {SLURM_JOB_TAG: self.slurm_job})
        try:
            if run.run_id is not None:  # a crashed trial's run is found by it and ended KILLED
                trial.set_user_attr(RUN_ID_ATTR, run.run_id)
            outcome = self._task(trial, overrides, run)
        except PrunedAt as pruned:
            run.prune(pruned.step)
            raise
        except TrialFailedError as error:
            run.fail(str(error))
            raise
        except KeyboardInterrupt as interrupt:
            run.interrupt(interrupt)
            raise
        except BaseException as error:
            run.fail(self._reason(error))
            raise
        run.complete(outcome)
        return outcome[0] if len(outcome) == 1 else outcome

    def _task(self, trial: optuna.Trial, overrides: list[str], run: TrialRun) -> list[float]:
        """Run the Hydra job as ``trial``, its MLflow run handed over; returns its values.

        Raises:
            PrunedAt: the task raised ``optuna.TrialPruned`` (``sweeps.report`` does when the
                pruner stops the trial).
            TrialFailedError: the job failed or returned no usable value.
        """
        from hydra.core.utils import JobStatus

        session = TrialSession(trial, on_report=run.record)
        try:
            with running(session), run.handed_over(), self.threads.applied():
                result = self.job.run(overrides, trial.number)
        except Exception as error:  # the config did not compose (e.g. a bad sampled combination)
            trial.set_user_attr(FAIL_REASON_ATTR, self._reason(error))
            raise TrialFailedError(self._reason(error)) from error
        if result.status != JobStatus.COMPLETED:
            failure = job_error(result)
            if isinstance(failure, optuna.TrialPruned):  # the task's, or report()'s
                step = session.pruned_at if session.pruned_at is not None else session.last_step
                raise PrunedAt(step, str(failure)) from failure
            trial.set_user_attr(FAIL_REASON_ATTR, self._reason(failure))
            raise TrialFailedError(self._reason(failure)) from failure
        values = _values(result.return_value, len(self.study.directions))
        if values is None:
            reason = _bad_return(result.return_value, len(self.study.directions))
            trial.set_user_attr(FAIL_REASON_ATTR, reason)
            raise TrialFailedError(reason)
        return values


def _values(returned: Any, n_objectives: int) -> list[float] | None:
    """The task's return value as the study's values (one float, or a tuple or list of as
    many as it has objectives), or None when it is not that many finite numbers."""
    if n_objectives > 1 and isinstance(returned, str | bytes | Mapping):
        return None  # iterable, but not values
    candidates = [returned] if n_objectives == 1 else returned
    try:
        values = [float(v) for v in candidates]
    except (TypeError, ValueError):
        return None
    if len(values) != n_objectives or not all(math.isfinite(v) for v in values):
        return None
    return values


def _bad_return(returned: Any, n_objectives: int) -> str:
    """The failure reason of a trial whose task returned no usable value: what was expected
    (after the key that says how many) and what came back."""
    shown = repr(returned)
    if len(shown) > 200:
        shown = shown[:197] + "..."
    if n_objectives == 1:
        return f"the task returned {shown}: expected a finite number (one direction)"
    return (f"the task returned {shown}: expected a tuple or list of {n_objectives} finite "
            f"numbers, one per direction of hydra.sweeper.direction")


def _values_text(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> str:
    """A finished trial's values and the study's best so far, for its line in the log."""
    if len(study.directions) == 1:
        try:
            best_trial = study.best_trial  # one read of the study (best_value is another)
            best = f" (best {best_trial.value:.6g}, trial {best_trial.number})"
        except ValueError:
            best = ""
        return f"{trial.value:.6g}{best}"
    values = ", ".join(f"{v:.6g}" for v in trial.values)
    front = study.best_trials
    where = ("on the Pareto front" if any(t.number == trial.number for t in front)
             else "dominated")
    return f"[{values}] ({where}: {len(front)} trial{'s' if len(front) != 1 else ''})"


def _log_finished(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
    """One line per finished trial (Optuna's own failure warning is silenced: it prints a
    traceback for every failed trial)."""
    if trial.user_attrs.get(SURPLUS_ATTR):
        log.info("trial %d not run: the study already has its n_trials", trial.number)
        return
    params = " ".join(f"{k}={v}" for k, v in trial.params.items())
    if trial.state == TrialState.COMPLETE:
        log.info("trial %d COMPLETE %s  %s", trial.number, _values_text(study, trial), params)
    elif trial.state == TrialState.PRUNED:
        log.info("trial %d PRUNED at step %s  %s", trial.number, trial.last_step, params)
    else:
        log.warning("trial %d FAIL: %s  %s", trial.number, fail_reason(trial), params)


def run_worker(plan: WorkerPlan, job: HydraJob, index: int = 0, *,
               storage: BaseStorage | None = None) -> WorkerReport:
    """Run trials until the study has ``n_trials`` finished (or most fail); returns a report.
    ``storage``: the study's storage opened already in this process (the sweep's own slot),
    else it is opened here. Work the trials left pending in this process
    (``runkit.process.when_done``: e.g. pictures a helper process still draws) is done before
    it returns, whatever ended the loop.

    Raises:
        KeyboardInterrupt: Ctrl-C / SIGTERM; the running trial was recorded FAIL, its
            parameters queued to run again, its MLflow run ended KILLED.
    """
    report = WorkerReport(index)
    study = open_study(plan.storage, plan.study_name, storage)
    study.sampler = build_sampler(plan.sampler, seed=sampler_seed(plan, index, len(study.trials)),
                                  grid=plan.space.grid)
    if study.sampler is plan.sampler and index > 0:
        # a ready sampler object (Python callers): its seed is its own, the same in every
        # worker's copy; Optuna reseeds it so for its own threads (study.optimize(n_jobs=...))
        study.sampler.reseed_rng()
    study.pruner = build_pruner(plan.pruner)
    runner = _TrialRunner(plan, job, study)
    try:
        with quiet_trials():
            _run_trials(plan, study, runner, report)
    finally:
        done()  # e.g. the trials' pictures still being drawn elsewhere
    return report


def _run_trials(plan: WorkerPlan, study: optuna.Study, runner: _TrialRunner,
                report: WorkerReport) -> None:
    """Ask, run and tell while the study is short of its trials; then wait for the others'."""
    heartbeats = plan.storage.heartbeat_interval is not None
    next_recovery = time.monotonic() + plan.poll_interval
    while True:
        budget = count_trials(study.get_trials(deepcopy=False), plan.n_trials)
        if budget.too_many_failures(plan.max_failure_rate):
            report.stopped_for_failures = True
            return
        if budget.remaining > 0 or budget.waiting > 0:
            runner.current = None
            try:
                study.optimize(runner, n_trials=1, catch=(Exception,), callbacks=[_log_finished])
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
        return
