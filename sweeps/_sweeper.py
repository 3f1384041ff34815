"""The sweep: validate the keys, open the study, create the MLflow parent, run the workers, report.

``hydra_plugins.trainer_sweeper.OptunaSweeper`` (the shim Hydra discovers) hands everything to
:class:`OptunaSweep`. The sweep process runs one worker slot itself (the only one when
``n_jobs=1``) and starts a process for each other slot; it keeps the parent MLflow run current
and, at the end, logs the pictures and the command that reproduces the best trial. The parent
run ends FINISHED, FAILED (most trials failed, or a worker crashed) or KILLED (Ctrl-C, SIGTERM),
never RUNNING.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import optuna

from sweeps._fork_server import start_fork_server
from sweeps._settings import KEY, parse_settings
from sweeps.reporting._drawer import PictureDrawer
from sweeps.reporting._registry import RegisteredModel, register_best_model
from sweeps.reporting._tracking import (
    ROLE_TAG,
    STUDY_TAG,
    BestTrial,
    SweepMonitor,
    best_trial,
    fail_reasons,
    kill_orphan_trial_runs,
    kill_stale_parents,
    log_study_artifacts,
    mlflow_key,
)
from sweeps.search._space import SearchSpace, parse_search_space
from sweeps.study._budget import PARENT_RUN_ATTR, Budget, count_trials
from sweeps.study._factories import build_pruner, build_sampler, spec_name
from sweeps.study._storage import (
    StorageSpec,
    database_time,
    load_or_create_study,
    open_storage,
    recover_lost_trials,
    requeue_interrupted,
    resolve_storage_url,
)
from sweeps.study._template import copy_empty_study_storage
from sweeps.workers._launchers import (
    BASIC_LAUNCHER,
    FinishedTrialLog,
    await_trials_elsewhere,
    check_stores_reach_workers,
    launch_workers,
    launcher_target,
    shares_the_console,
)
from sweeps.workers._processes import (
    EXIT_INTERRUPTED,
    run_local_worker,
    run_processes,
)
from sweeps.workers._worker import HydraJob, TrackingTarget, WorkerPlan, WorkerReport
from trainer import cpu_load, run_context, startup_gc
from trainer.errors import ConfigError, TrainerError
from trainer.interrupts import sigterm_as_interrupt
from trainer.tracking.tags import DIRECTION_TAG, STORAGE_TAG

__all__ = ["OptunaSweep", "SweepResult"]

log = logging.getLogger("sweeps")

MONITOR_INTERVAL = 2.0  # seconds between the parent run's updates


@dataclass
class SweepResult:
    """What ``python -m trainer --multirun`` with the Optuna sweeper returns."""

    study_name: str
    storage: str
    budget: Budget
    best: BestTrial | None
    parent_run_id: str | None = None
    status: str = "FINISHED"
    artifacts: list[str] = field(default_factory=list)
    registered: RegisteredModel | None = None
    workers: list[WorkerReport] = field(default_factory=list)  # what each worker slot did


def local_share(n_workers: int) -> int:
    """BLAS threads for each of ``n_workers`` local worker slots: the cores split between them.
    A single slot (no fork server importing beside it) takes, as a single run does, only the
    cores other work left free since the command started (``trainer.cpu_load``): two threads
    beside a busy process stall each other at every matrix product."""
    cores = run_context.available_cores()
    if n_workers == 1:
        return cpu_load.idle_cores(cpu_load.command_start, cores=cores)
    return max(1, cores // n_workers)


def _redact(url: str) -> str:
    """The URL without its password (it ends up in MLflow and the logs)."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url


class OptunaSweep:
    """The Optuna sweep behind ``hydra/sweeper=optuna``; the keys are ``hydra.sweeper.*``.

    Args:
        sampler, pruner: see ``sweeps.study._factories``.
        params: the search space (Hydra sweep grammar, see ``sweeps.search._space``).
        conditions: ``{child: "parent=value[,value...]"}`` for conditional parameters.
        keys: the other keys, :class:`sweeps._settings.SweeperSettings` (``n_trials``,
            ``n_jobs``, ``storage`` ...), checked when the sweep starts.
    """

    def __init__(
        self,
        *,
        sampler: Any = "tpe",
        pruner: Any = "median",
        params: Mapping[str, Any] | None = None,
        conditions: Mapping[str, Any] | None = None,
        **keys: Any,
    ) -> None:
        self.keys = keys  # checked by sweep() (see sweeps._settings)
        self.sampler = sampler
        self.pruner = pruner
        self.params = params
        self.conditions = conditions
        self.config: Any = None
        self.hydra_context: Any = None
        self.task_function: Any = None
        self._launcher: str | None = None  # hydra.launcher's target, unless Hydra's basic one

    def setup(self, *, hydra_context: Any, task_function: Any, config: Any) -> None:
        self.hydra_context = hydra_context
        self.task_function = task_function
        self.config = config

    # ------------------------------------------------------------------ sweep

    def sweep(self, arguments: list[str]) -> SweepResult:
        """Run the study to ``n_trials``. A user error prints one line and exits 1."""
        try:
            with sigterm_as_interrupt():
                return self._sweep(arguments)
        except TrainerError as error:
            print(f"error: {error}", file=sys.stderr, flush=True)
            raise SystemExit(1) from None
        except KeyboardInterrupt:  # outside the trials (set-up, final plots)
            print("interrupted", file=sys.stderr, flush=True)
            raise SystemExit(EXIT_INTERRUPTED) from None

    def _sweep(self, arguments: list[str]) -> SweepResult:
        from omegaconf import OmegaConf

        config = self.config
        start_dir = Path(str(config.hydra.runtime.cwd))
        space = parse_search_space(self.params, arguments, self.conditions,
                                   config_loader=self.hydra_context.config_loader)
        if not space.params:
            raise ConfigError(f"{KEY}.params", "at least one searched parameter (e.g. "
                              "'optimizer.lr=tag(log, interval(1e-4, 1e-1))')", "none")
        settings = parse_settings(self.keys)
        objective = config.get("objective")
        direction = self._direction(settings.direction, objective)
        n_trials = settings.n_trials
        n_jobs = run_context.available_cores() if settings.n_jobs == -1 else settings.n_jobs
        role = settings.role
        target = launcher_target(config)
        self._launcher = None if target == BASIC_LAUNCHER else target
        if self._launcher is not None and role == "worker":
            raise ConfigError(f"{KEY}.role", "controller with hydra/launcher="
                              f"{target.rsplit('.', 1)[-1]} (a joining worker runs its n_jobs "
                              "workers itself, with Hydra's basic launcher)", role)
        if n_jobs > 1 and self._launcher is None:
            start_fork_server()  # a no-op when the sweeper plugin started it already
        seed = settings.seed if settings.seed is not None else config.get("seed")

        # Fail on a bad sampler/pruner now, not in every worker.
        build_sampler(self.sampler, seed=seed, grid=space.grid)
        build_pruner(self.pruner)
        if spec_name(self.sampler, "tpe") == "grid":
            size = space.grid_size()
            if size < n_trials:
                log.info("grid of %d points: n_trials lowered from %d", size, n_trials)
                n_trials = size

        tracking_uri = self._tracking_uri(start_dir)
        register_as = self._registered_model_name(settings.register_model, tracking_uri)
        storage_spec = StorageSpec(
            url=resolve_storage_url(settings.storage, start_dir),
            heartbeat_interval=settings.heartbeat_interval,
            grace_period=settings.grace_period,
            max_retry=settings.max_retry,
            tracking_uri=tracking_uri,
        )
        check_stores_reach_workers(target, storage_spec.url, tracking_uri)
        study_name = settings.study_name or self._default_study_name(space, direction,
                                                                     objective)
        _check_sqlite_storage(storage_spec.url)
        db = _sqlite_file(storage_spec.url)
        if db is not None:  # a new database: copied (0.05 s), not created by Optuna (0.6 s)
            copy_empty_study_storage(db)
        storage = open_storage(storage_spec)  # creates the tables before any worker starts
        study = load_or_create_study(storage, study_name, direction=direction,
                                     metric_name=None if objective is None else str(objective))
        recover_lost_trials(study, storage_spec)  # a killed earlier run's trials: queue again

        sweep_dir = Path(str(config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(config, sweep_dir / "multirun.yaml")

        budget = count_trials(study.get_trials(deepcopy=False), n_trials)
        log.info("%sstudy %r in %s: %d of %d trials finished, %d to run (%d at a time%s)",
                 "joining " if role == "worker" else "", study_name, _redact(storage_spec.url),
                 budget.finished, n_trials, n_trials - budget.finished, n_jobs,
                 " here" if role == "worker" else "")
        if budget.done:
            if tracking_uri is not None:  # a dead earlier sweep's runs end here too
                self._end_dead_runs(tracking_uri, study, storage_spec)
            best = best_trial(study, space.overrides)
            self._print_best(best, study_name)
            log.info("the study has its %d trials; raise hydra.sweeper.n_trials to run more",
                     n_trials)
            result = SweepResult(study_name, storage_spec.url, budget, best)
            if register_as is not None and tracking_uri is not None and role != "worker":
                result.registered = self._register(tracking_uri, register_as, best, study_name,
                                                   objective=objective, direction=direction)
            return result

        n_workers = max(1, min(n_jobs, n_trials - budget.finished))
        plan = WorkerPlan(
            study_name=study_name, sampler=self.sampler,
            storage=replace(storage_spec, create_schema=False),  # created above
            pruner=self.pruner, seed=seed, space=space, n_trials=n_trials, objective=objective,
            max_failure_rate=settings.max_failure_rate, tracking=None,
            # Local workers never oversubscribe the cores; a launched worker sizes itself.
            blas_threads=local_share(n_workers) if self._launcher is None else None,
            poll_interval=min(2.0, float(storage_spec.heartbeat_interval or 2)),
        )
        if role == "worker":
            return self._join(plan, study, n_workers, tracking_uri)
        if tracking_uri is None:
            return self._run(plan, study, n_workers, tracker=None)
        result = self._run_tracked(plan, study, n_workers, tracking_uri, space, direction,
                                   storage_spec)
        if register_as is not None and result.status == "FINISHED":
            result.registered = self._register(tracking_uri, register_as, result.best,
                                               study_name, objective=objective,
                                               direction=direction)
        return result

    def _run_tracked(self, plan: WorkerPlan, study: optuna.Study, n_workers: int, uri: str,
                     space: SearchSpace, direction: str, storage: StorageSpec) -> SweepResult:

        # With a core to spare, one process draws the trials' pictures while the next trials
        # train (sweeps/reporting/_drawer.py); started first, it imports while the sweep sets up.
        drawer = (PictureDrawer(uri) if n_workers == 1 and self._launcher is None
                  and run_context.available_cores() > 1 else None)
        try:
            return self._run_tracked_with(plan, study, n_workers, uri, space, direction,
                                          storage, drawer)
        finally:
            if drawer is not None:
                drawer.finish()

    def _run_tracked_with(self, plan: WorkerPlan, study: optuna.Study, n_workers: int, uri: str,
                          space: SearchSpace, direction: str, storage: StorageSpec,
                          drawer: PictureDrawer | None) -> SweepResult:
        from trainer.tracking import RunTracker

        # the store and experiment exist before any worker starts
        experiment_id, stale_after = self._end_dead_runs(uri, study, storage)
        tracker = RunTracker.start(
            uri, experiment_id, run_name=plan.study_name,
            tags={STUDY_TAG: plan.study_name, ROLE_TAG: "parent",
                  STORAGE_TAG: _redact(storage.url), DIRECTION_TAG: direction},
        )
        with tracker:
            tracker.log_params({
                **{mlflow_key(f"space.{k}"): v for k, v in space.describe().items()},
                **{mlflow_key(f"fixed.{k}"): v for k, v in space.fixed_values().items()},
                "n_trials": plan.n_trials, "n_jobs": n_workers, "direction": direction,
                "objective": plan.objective, "sampler": spec_name(self.sampler, "tpe"),
                "pruner": spec_name(self.pruner, "median"), "seed": plan.seed,
                "study_name": plan.study_name,
            })
            target = TrackingTarget(uri, experiment_id, tracker.run_id)
            plan = replace(plan, tracking=target)
            study.set_user_attr(PARENT_RUN_ATTR, tracker.run_id)  # joining workers use it
            result = self._run(plan, study, n_workers, tracker=tracker, drawer=drawer)
            kill_orphan_trial_runs(uri, experiment_id, study)
            kill_stale_parents(uri, experiment_id, plan.study_name, stale_after,
                               now=database_time(study), keep=tracker.run_id)
            result.parent_run_id = tracker.run_id
            if result.status != "FINISHED":
                tracker.end(result.status, failure_reason=self._status_reason(result))
        if result.status == "FAILED":
            raise SystemExit(1)
        return result

    def _run(self, plan: WorkerPlan, study: optuna.Study, n_workers: int, *,
             tracker: Any, drawer: PictureDrawer | None = None) -> SweepResult:
        startup_gc.resume()  # the stores are open: collect from the first trial on
        job = HydraJob(self.task_function, self.hydra_context, self.config)
        monitor = (SweepMonitor(tracker, study, plan.n_trials, fallback=plan.space.overrides,
                                interval=MONITOR_INTERVAL)
                   if tracker is not None else contextlib.nullcontext())
        status, crashed = "FINISHED", False
        pids = [os.getpid()]  # slot 0 runs here
        reports: list[WorkerReport] = []
        with monitor:
            try:
                if self._launcher is not None:
                    trial_log = (contextlib.nullcontext() if shares_the_console(self._launcher)
                                 else FinishedTrialLog(study, interval=MONITOR_INTERVAL))
                    with trial_log:
                        reports += launch_workers(plan, job, n_workers,
                                                  hydra_context=self.hydra_context,
                                                  config=self.config)
                        # The launcher's word on its jobs is not trusted: the study's is.
                        crashed = not await_trials_elsewhere(study, plan).done
                elif n_workers == 1:
                    reports.append(run_local_worker(plan, job, draw=None if drawer is None
                                                    else drawer.draw))
                else:
                    crashed = run_processes(plan, job, n_workers, pids, reports)
            except KeyboardInterrupt:
                status = "KILLED"
                # Each worker queues its interrupted trial again; one that could not (killed
                # after the grace period, a storage error) is covered here.
                host = socket.gethostname()
                requeue_interrupted(study, plan.storage.max_retry, {f"{host}:{p}" for p in pids})
        if drawer is not None:
            drawer.finish()  # every trial's picture is logged before the sweep reports
        trials = study.get_trials(deepcopy=False)
        budget = count_trials(trials, plan.n_trials)
        best = best_trial(study, plan.space.overrides)
        result = SweepResult(plan.study_name, plan.storage.url, budget, best, status=status,
                             workers=reports)
        for report in reports:
            log.debug("worker %d (pid %d) ran trials %s%s", report.index, report.pid,
                      report.trials, ", stopped: most trials failed"
                      if report.stopped_for_failures else "")
        summary = self._summary(plan, budget)
        if tracker is not None:
            result.artifacts = log_study_artifacts(tracker, study, best, summary=summary,
                                                   metric=plan.objective or "objective")
        result.status, message = _verdict(status, budget, plan, crashed, best is not None,
                                          fail_reasons(trials), launched=self._launcher)
        if message:
            print(message, file=sys.stderr, flush=True)
        self._print_best(best, plan.study_name)
        if result.status == "KILLED":
            if tracker is not None:
                tracker.end("KILLED", failure_reason="interrupted (Ctrl-C or SIGTERM)")
            raise SystemExit(EXIT_INTERRUPTED)
        if result.status == "FAILED" and tracker is None:
            raise SystemExit(1)
        return result

    def _join(self, plan: WorkerPlan, study: optuna.Study, n_workers: int,
              uri: str | None) -> SweepResult:
        """``role=worker``: run ``n_workers`` local workers on the study, with no parent run
        of their own: their trial runs are children of the study's parent run when a
        controller recorded one."""
        if uri is not None:
            from trainer.tracking import get_or_create_experiment, prepare_store

            prepare_store(uri)
            experiment_id = get_or_create_experiment(uri, str(self.config.mlflow.experiment))
            parent = study.user_attrs.get(PARENT_RUN_ATTR)
            plan = replace(plan, tracking=TrackingTarget(uri, experiment_id, parent))
        return self._run(plan, study, n_workers, tracker=None)

    # ------------------------------------------------------------------ helpers

    def _end_dead_runs(self, uri: str, study: optuna.Study, storage: StorageSpec
                       ) -> tuple[str, float]:
        """Open the store and the experiment (ending the runs dead processes left RUNNING), end
        this study's parent runs whose sweep stopped and its trial runs whose trial ended;
        returns the experiment id and how old a parent's heartbeat must be to count as dead."""
        from trainer.tracking.store import created_here
        from trainer.tracking.store_checks import open_experiment

        experiment_id = open_experiment(uri, self.config.mlflow.experiment)
        # A parent's heartbeat is refreshed every MONITOR_INTERVAL seconds while its sweep lives.
        stale_after = max(3 * MONITOR_INTERVAL, storage.grace_period or 0)
        if not created_here(uri):  # a store created just now holds no earlier sweep's runs
            kill_stale_parents(uri, experiment_id, study.study_name, stale_after,
                               now=database_time(study))
            kill_orphan_trial_runs(uri, experiment_id, study)
        return experiment_id, stale_after

    @staticmethod
    def _direction(direction: str, objective: str | None) -> str:
        if direction == "auto":
            if objective is None:
                raise ConfigError(f"{KEY}.direction", "minimize or maximize (the app has no "
                                  "`objective` to follow)", direction)
            from trainer.core.callbacks import metric_mode

            return "minimize" if metric_mode(str(objective)) == "min" else "maximize"
        return direction

    def _tracking_uri(self, start_dir: Path) -> str | None:
        mlflow_cfg = self.config.get("mlflow")
        if mlflow_cfg is None or "tracking_uri" not in mlflow_cfg:  # an app without tracking
            return None
        from trainer.tracking import resolve_tracking_uri
        from trainer.tracking.store_checks import check_tracking_uri

        return resolve_tracking_uri(check_tracking_uri(mlflow_cfg.tracking_uri), start_dir)

    def _registered_model_name(self, name: str | None, tracking_uri: str | None) -> str | None:
        """``register_model`` checked against what registering needs (tracking, models)."""
        if name is None:
            return None
        if tracking_uri is None:
            raise ConfigError("mlflow.tracking_uri", "a tracking URI when "
                              f"{KEY}.register_model is set", None)
        log_model = self.config.get("mlflow", {}).get("log_model", True)
        if not log_model:
            raise ConfigError("mlflow.log_model", f"true when {KEY}.register_model is set "
                              "(the best trial's model is registered)", log_model)
        return name

    @staticmethod
    def _register(uri: str, name: str, best: BestTrial | None, study_name: str, *,
                  objective: str | None, direction: str) -> RegisteredModel | None:
        """Register the best trial's model as the next version of ``name`` (the alias
        ``champion`` follows the best version), saying so."""
        if best is None or best.run_id is None:
            log.warning("no completed trial with an MLflow run: no model registered as %r", name)
            return None
        from mlflow.exceptions import MlflowException

        from trainer.tracking import get_client

        try:
            registered = register_best_model(get_client(uri), name, run_id=best.run_id,
                                             study_name=study_name, trial_number=best.number,
                                             value=best.value,
                                             objective=objective or "objective",
                                             direction=direction)
        except MlflowException as error:
            first_line = str(error.message).strip().splitlines()[0]
            raise TrainerError(f"{KEY}.register_model: could not register the best trial's "
                               f"model as {name!r}: {first_line}") from None
        if registered is not None:
            verb = "registered" if registered.new else "already registered"
            log.info("best model (trial %d) %s as %r version %s: %s", best.number, verb,
                     name, registered.version, registered.uri)
            if registered.is_champion:
                log.info("%s is version %s, the best registered so far: serve it with "
                         "`mlflow models serve -m %s`", registered.champion_uri,
                         registered.version, registered.champion_uri)
            else:
                log.info("%s stays at version %s (at least as good)", registered.champion_uri,
                         registered.champion)
        return registered

    def _default_study_name(self, space: SearchSpace, direction: str,
                            objective: str | None) -> str:
        """``<sweep or app name>-<hash>``: the same command resumes its study; a changed search
        space, fixed override or objective starts a new one."""
        from omegaconf import OmegaConf

        choices = OmegaConf.select(self.config, "hydra.runtime.choices", default={}) or {}
        base = (choices.get("sweep") or OmegaConf.select(self.config, "mlflow.experiment")
                or str(self.config.hydra.job.name))
        extra = SearchSpace(space.params, (*space.fixed, f"objective={objective}",
                                           f"direction={direction}"))
        return f"{base}-{extra.signature()}"

    @staticmethod
    def _summary(plan: WorkerPlan, budget: Budget) -> list[str]:
        return [
            f"study: {plan.study_name}  ({_redact(plan.storage.url)})",
            f"objective: {plan.objective}  trials: {budget.complete} complete, "
            f"{budget.pruned} pruned, {budget.failed} failed of n_trials={plan.n_trials}",
        ]

    @staticmethod
    def _status_reason(result: SweepResult) -> str:
        if result.status == "KILLED":
            return "interrupted (Ctrl-C or SIGTERM)"
        return (f"{result.budget.failed} of {result.budget.finished} finished trials failed, or "
                "a worker stopped unexpectedly")

    @staticmethod
    def _print_best(best: BestTrial | None, study_name: str) -> None:
        if best is None:
            return
        log.info("best of study %r: trial %d, value %.6g\n  reproduce it: %s",
                 study_name, best.number, best.value, best.command)


def _sqlite_file(url: str) -> Path | None:
    """The database file of a file-backed SQLite URL, else None (in memory, other backends)."""
    if not url.startswith("sqlite:///"):
        return None
    path = url.removeprefix("sqlite:///").partition("?")[0]
    return Path(path) if path and path != ":memory:" else None


def _check_sqlite_storage(url: str) -> None:
    """A SQLite study file that is damaged, not SQLite, or sits in a "directory" that is a
    file: one line naming ``hydra.sweeper.storage``, before Optuna answers with a traceback."""
    db = _sqlite_file(url)
    if db is None:
        return
    from trainer.tracking.store_checks import sqlite_file_problem

    for parent in db.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ConfigError(f"{KEY}.storage", f"a SQLite file in a directory ({parent} is "
                                  "a file)", _redact(url))
            break
    problem = None
    if db.is_dir():
        problem = f"{db} is a directory"
    elif db.exists():
        problem = sqlite_file_problem(db)
    if problem is not None:
        raise ConfigError(f"{KEY}.storage", f"an Optuna SQLite database ({problem}; move it "
                          "away to start the study afresh)", _redact(url))


def _verdict(status: str, budget: Budget, plan: WorkerPlan, crashed: bool, has_best: bool,
             reasons: Sequence[str], *, launched: str | None = None) -> tuple[str, str | None]:
    """The sweep's final status and the one line that explains it (None when all is well)."""
    last = reasons[0] if reasons else "see the log above"
    if status == "KILLED":
        return status, (f"interrupted: {budget.finished} of {plan.n_trials} trials finished; "
                        "run the same command again to resume the study")
    if budget.too_many_failures(plan.max_failure_rate):
        return "FAILED", (f"error: sweep stopped: {budget.failed} of {budget.finished} finished "
                          f"trials failed (more than max_failure_rate={plan.max_failure_rate}); "
                          f"last: {last}")
    if crashed and launched is not None:
        return "FAILED", (f"error: the launched workers stopped with {budget.finished} of "
                          f"{plan.n_trials} trials finished (see their logs under "
                          "hydra.sweep.dir); run the same command again to resume")
    if crashed and budget.done:  # the others ran its lost trial again: nothing is missing
        return status, ("a sweep worker stopped unexpectedly (see above); the other workers "
                        f"finished the study: it has its {plan.n_trials} trials")
    if crashed:
        return "FAILED", ("error: a sweep worker stopped unexpectedly (see its output above); "
                          "run the same command again to resume")
    if not has_best and budget.finished:
        return "FAILED", (f"error: no trial completed ({budget.pruned} pruned, {budget.failed} "
                          f"failed); last: {last}")
    return status, None
