"""The sweep: validate the keys, open the study, create the MLflow parent, run the workers, report.

``hydra_plugins.optuna_sweeps.OptunaSweeper`` (the shim Hydra discovers) hands everything to
:class:`OptunaSweep`. The sweep process runs one worker slot itself (the only one when
``n_jobs=1``) and starts a process for each other slot; it keeps the parent MLflow run current
and, at the end, logs the pictures and the command that reproduces the best trial. The parent
run ends FINISHED, FAILED (most trials failed, or a worker crashed) or KILLED (Ctrl-C, SIGTERM),
never RUNNING.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import os
import socket
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import BaseStorage

from runkit import cpu_load, startup_gc
from runkit.errors import ConfigError, UserError
from runkit.process import available_cores
from runkit.redact import redact_url, scrub_hydra_node
from runkit.signals import sigterm_as_interrupt
from runkit.sqlite import anchored_sqlite_url, check_sqlite_file, sqlite_path
from sweeps._fork_server import app_modules, start_fork_server
from sweeps._settings import KEY, SweeperSettings, parse_settings
from sweeps.search._space import SearchSpace, parse_search_space
from sweeps.study._budget import PARENT_RUN_ATTR, Budget, count_trials
from sweeps.study._factories import (
    build_pruner,
    build_sampler,
    is_grid,
    pruner_for,
    spec_name,
    split_seed,
)
from sweeps.study._storage import (
    StorageSpec,
    database_time,
    load_or_create_study,
    open_storage,
    recover_lost_trials,
    requeue_interrupted,
    resolve_storage_url,
    storage_error,
)
from sweeps.study._template import copy_empty_study_storage
from sweeps.tracking._front import (
    front_lines,
    log_front,
    pareto_front,
    write_optimization_results,
)
from sweeps.tracking._parent import (
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
from sweeps.tracking._registry import RegisteredModel, register_best_model
from sweeps.tracking._tags import DIRECTION_TAG, STORAGE_TAG
from sweeps.tracking._trial_run import TrackingTarget
from sweeps.workers._launchers import (
    BASIC_LAUNCHER,
    FinishedTrialLog,
    LaunchResult,
    await_trials_elsewhere,
    check_stores_reach_workers,
    launch_workers,
    launched_workers_failure,
    launcher_target,
    prepare_launcher,
    shares_the_console,
)
from sweeps.workers._processes import (
    EXIT_INTERRUPTED,
    run_local_worker,
    run_processes,
)
from sweeps.workers._worker import HydraJob, WorkerPlan, WorkerReport

__all__ = ["OptunaSweep", "SweepResult"]

log = logging.getLogger("sweeps")

MONITOR_INTERVAL = 2.0  # seconds between the parent run's updates
# The sweep's MLflow store when neither the config nor MLFLOW_TRACKING_URI names one (MLflow 3's
# default kind, SQLite), anchored at the start directory beside the study's optuna.db.
DEFAULT_TRACKING = "sqlite:///mlruns/mlflow.db"


@dataclass
class SweepResult:
    """What a sweep returns (Hydra's ``--multirun`` with the Optuna sweeper)."""

    study_name: str
    storage: str
    budget: Budget
    best: BestTrial | None  # one objective: the best trial
    parent_run_id: str | None = None
    status: str = "FINISHED"
    artifacts: list[str] = field(default_factory=list)
    registered: RegisteredModel | None = None
    workers: list[WorkerReport] = field(default_factory=list)  # what each worker slot did
    reason: str | None = None  # why it did not finish: the line it printed (the parent's reason)
    front: list[BestTrial] = field(default_factory=list)  # several objectives: the Pareto front


def local_share(n_workers: int, since: cpu_load.CpuTimes | None = None) -> int:
    """BLAS threads for each of ``n_workers`` local worker slots: the cores split between them.
    A single slot (no fork server importing beside it) takes, as a single run does, only the
    cores other work left free since the command started (``runkit.cpu_load``; ``since``: when
    the sweeper was made, for an app whose command does not mark its start): two threads
    beside a busy process stall each other at every matrix product."""
    cores = available_cores()
    if n_workers == 1:
        return cpu_load.idle_cores(cpu_load.command_start or since, cores=cores)
    return max(1, cores // n_workers)


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
        pruner: Any = None,
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
        self.experiment = ""  # the MLflow experiment of the sweep's runs
        self._tracking_key = f"{KEY}.mlflow.tracking_uri"  # the key its store was given under
        self._storage: BaseStorage | None = None  # the study's, opened by sweep()
        self._shown_config: Any = None  # the config without the storage's password
        # any app's sweep judges other work on the cores from here to its first trial
        self._made = cpu_load.cpu_times()

    def setup(self, *, hydra_context: Any, task_function: Any, config: Any) -> None:
        self.hydra_context = hydra_context
        self.task_function = task_function
        self.config = config

    # ------------------------------------------------------------------ sweep

    def sweep(self, arguments: list[str]) -> SweepResult:
        """Run the study to ``n_trials``. A user error prints one line and exits 1."""
        startup_gc.skip_exit_collection()  # the process's exit: 1.3 s less after a sweep
        try:
            with sigterm_as_interrupt():
                return self._sweep(arguments)
        except UserError as error:
            print(f"error: {error}", file=sys.stderr, flush=True)
            raise SystemExit(1) from None
        except Exception as error:
            failed = storage_error(error, str(getattr(self._storage, "url", "")))
            if failed is None:
                raise
            print(f"error: {failed}", file=sys.stderr, flush=True)  # the server failed us
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
        # one direction as it is ("minimize"), several joined ("minimize,maximize"): the
        # parent run's tag and param, part of the study name's hash
        direction = ",".join(settings.directions)
        objective = ", ".join(settings.metric_names) if settings.metric_names else None
        self.pruner = pruner_for(self.pruner, len(settings.directions))
        n_trials = settings.n_trials
        n_jobs = available_cores() if settings.n_jobs == -1 else settings.n_jobs
        role = settings.role
        target = launcher_target(config)
        self._launcher = None if target == BASIC_LAUNCHER else target
        if self._launcher is not None and role == "worker":
            raise ConfigError(f"{KEY}.role", "controller with hydra/launcher="
                              f"{target.rsplit('.', 1)[-1]} (a joining worker runs its n_jobs "
                              "workers itself, with Hydra's basic launcher)", role)
        if n_jobs > 1 and self._launcher is None:  # a no-op when the plugin started it already
            start_fork_server(app_modules(self.task_function, settings.preload))
        # A seed written in the sampler's node is the base of every worker's seed, as
        # hydra.sweeper.seed is: the same seed in every worker would draw the same points.
        sampler, seed = split_seed(self.sampler, settings.seed)
        custom = settings.custom_search_space
        if custom is not None:
            if is_grid(sampler):
                raise ConfigError(f"{KEY}.custom_search_space", "null with the grid sampler "
                                  "(its grid is params' values only)", custom.path)
            custom.function()  # a path that does not import fails here, not in every trial

        # Fail on a bad sampler/pruner now, not in every worker.
        build_sampler(sampler, seed=seed, grid=space.grid)
        build_pruner(self.pruner)
        if is_grid(sampler):
            size = space.grid_size()
            if size < n_trials:
                log.info("grid of %d points: n_trials lowered from %d", size, n_trials)
                n_trials = size

        tracking_uri = self._tracking_uri(settings, start_dir)
        self.experiment = self._experiment(settings)
        register_as = settings.register_model
        storage_spec = StorageSpec(
            url=resolve_storage_url(settings.storage, start_dir),
            heartbeat_interval=settings.heartbeat_interval,
            grace_period=settings.grace_period,
            max_retry=settings.max_retry,
            tracking_uri=tracking_uri,
        )
        check_stores_reach_workers(target, storage_spec.url, tracking_uri,
                                   tracking_key=settings.tracking.source if settings.tracking
                                   else "")
        prepare_launcher(target, config)  # e.g. Ray's connection: fails before anything starts
        study_name = self._study_name(settings.study_name, space, direction, objective,
                                      custom=None if custom is None else custom.path)
        db = sqlite_path(storage_spec.url)
        if db is not None:
            check_sqlite_file(db, key=f"{KEY}.storage", what="an Optuna SQLite database",
                              shown=redact_url(storage_spec.url))
            # a new database: copied (0.05 s), not created by Optuna (0.6 s)
            copy_empty_study_storage(db)
        storage = open_storage(storage_spec)  # creates the tables before any worker starts
        self._storage = storage  # the slot run here shares it: one connection pool a process
        study = load_or_create_study(storage, study_name, direction=settings.directions,
                                     metric_name=settings.metric_names)
        recover_lost_trials(study, storage_spec)  # a killed earlier run's trials: queue again

        sweep_dir = Path(str(config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        # What Hydra writes (multirun.yaml here, each launched job's .hydra/hydra.yaml) holds
        # the storage URL without its password; workers get the URL with their plan.
        self._shown_config = copy.deepcopy(config)
        scrub_hydra_node(self._shown_config)
        OmegaConf.save(self._shown_config, sweep_dir / "multirun.yaml")

        budget = count_trials(study.get_trials(deepcopy=False), n_trials)
        log.info("%sstudy %r in %s: %d of %d trials finished, %d to run (%d at a time%s)",
                 "joining " if role == "worker" else "", study_name, redact_url(storage_spec.url),
                 budget.finished, n_trials, n_trials - budget.finished, n_jobs,
                 " here" if role == "worker" else "")
        if budget.done:
            if tracking_uri is not None:  # a dead earlier sweep's runs end here too
                self._end_dead_runs(tracking_uri, study, storage_spec)
            best, front = self._results(study, space, sweep_dir)
            log.info("the study has its %d trials; raise hydra.sweeper.n_trials to run more",
                     n_trials)
            result = SweepResult(study_name, storage_spec.url, budget, best, front=front)
            if register_as is not None and tracking_uri is not None and role != "worker":
                result.registered = self._register(tracking_uri, register_as, best, study_name,
                                                   objective=objective, direction=direction)
            return result

        n_workers = max(1, min(n_jobs, n_trials - budget.finished))
        plan = WorkerPlan(
            study_name=study_name, sampler=sampler, custom_search_space=custom,
            storage=replace(storage_spec, create_schema=False),  # created above
            pruner=self.pruner, seed=seed, space=space, n_trials=n_trials, objective=objective,
            max_failure_rate=settings.max_failure_rate, tracking=None,
            # Local workers never oversubscribe the cores; a launched worker sizes itself.
            blas_threads=local_share(n_workers, self._made) if self._launcher is None else None,
            poll_interval=min(2.0, float(storage_spec.heartbeat_interval or 2)),
        )
        if role == "worker":
            return self._join(plan, study, n_workers, tracking_uri)
        if tracking_uri is None:
            return self._run(plan, study, n_workers, tracker=None)
        result = self._run_tracked(plan, study, n_workers, tracking_uri, space, direction,
                                   storage_spec)
        if register_as is not None:  # (a sweep that did not finish has left already)
            result.registered = self._register(tracking_uri, register_as, result.best,
                                               study_name, objective=objective,
                                               direction=direction)
        return result

    def _run_tracked(self, plan: WorkerPlan, study: optuna.Study, n_workers: int, uri: str,
                     space: SearchSpace, direction: str, storage: StorageSpec) -> SweepResult:
        from runkit.mlflow import RunTracker

        # the store and experiment exist before any worker starts
        experiment_id, stale_after = self._end_dead_runs(uri, study, storage)
        tracker = RunTracker.start(
            uri, experiment_id, run_name=plan.study_name,
            tags={STUDY_TAG: plan.study_name, ROLE_TAG: "parent",
                  STORAGE_TAG: redact_url(storage.url), DIRECTION_TAG: direction},
        )
        with tracker:
            tracker.log_params({
                **{mlflow_key(f"space.{k}"): v for k, v in space.describe().items()},
                **{mlflow_key(f"fixed.{k}"): v for k, v in space.fixed_values().items()},
                "n_trials": plan.n_trials, "n_jobs": n_workers, "direction": direction,
                "objective": plan.objective, "sampler": spec_name(plan.sampler, "tpe"),
                "pruner": spec_name(self.pruner, "none"), "seed": plan.seed,
                "study_name": plan.study_name,
            })
            target = TrackingTarget(uri, experiment_id, tracker.run_id)
            plan = replace(plan, tracking=target)
            study.set_user_attr(PARENT_RUN_ATTR, tracker.run_id)  # joining workers use it
            result = self._run(plan, study, n_workers, tracker=tracker)
            kill_orphan_trial_runs(uri, experiment_id, study)
            kill_stale_parents(uri, experiment_id, plan.study_name, stale_after,
                               now=database_time(study), keep=tracker.run_id)
            result.parent_run_id = tracker.run_id
            if result.status != "FINISHED":
                # the line the sweep printed, which says what happened
                tracker.end(result.status, failure_reason=result.reason or result.status)
        if result.status == "FAILED":
            raise SystemExit(1)
        return result

    def _run(self, plan: WorkerPlan, study: optuna.Study, n_workers: int, *,
             tracker: Any) -> SweepResult:
        startup_gc.resume()  # the stores are open: collect from the first trial on
        job = HydraJob(self.task_function, self.hydra_context, self.config)
        monitor = (SweepMonitor(tracker, study, plan.n_trials, fallback=plan.space.overrides,
                                interval=MONITOR_INTERVAL)
                   if tracker is not None else contextlib.nullcontext())
        status, crashed = "FINISHED", False
        pids = [os.getpid()]  # slot 0 runs here
        reports: list[WorkerReport] = []
        launch: LaunchResult | None = None
        first_new = len(study.get_trials(deepcopy=False))  # the first trial this sweep asks
        with monitor:
            try:
                if self._launcher is not None:
                    trial_log = (contextlib.nullcontext()
                                 if shares_the_console(self._launcher, self.config)
                                 else FinishedTrialLog(study, interval=MONITOR_INTERVAL))
                    with trial_log:
                        launch = launch_workers(plan, job, n_workers,
                                                hydra_context=self.hydra_context,
                                                config=self._shown_config)
                        reports += launch.reports
                        # The launcher's word on its jobs is not trusted: the study's is.
                        crashed = not await_trials_elsewhere(study, plan, launch,
                                                             first_new=first_new).done
                elif n_workers == 1:
                    reports.append(run_local_worker(plan, job, storage=self._storage))
                else:
                    crashed = run_processes(plan, job, n_workers, pids, reports,
                                            storage=self._storage)
            except KeyboardInterrupt:
                status = "KILLED"
                # Each worker queues its interrupted trial again; one that could not (killed
                # after the grace period, a storage error) is covered here.
                host = socket.gethostname()
                requeue_interrupted(study, plan.storage.max_retry, {f"{host}:{p}" for p in pids})
        trials = study.get_trials(deepcopy=False)
        budget = count_trials(trials, plan.n_trials)
        best = best_trial(study, plan.space.overrides)
        front = (pareto_front(study, plan.space.overrides) if len(study.directions) > 1
                 else [])
        result = SweepResult(plan.study_name, plan.storage.url, budget, best, status=status,
                             workers=reports, front=front)
        for report in reports:
            log.debug("worker %d (pid %d) ran trials %s%s", report.index, report.pid,
                      report.trials, ", stopped: most trials failed"
                      if report.stopped_for_failures else "")
        summary = self._summary(plan, budget)
        if tracker is not None:
            result.artifacts = log_study_artifacts(tracker, study, best, summary=summary,
                                                   metric=plan.objective or "objective")
            if len(study.directions) > 1:
                result.artifacts += log_front(tracker, study, front,
                                              [*summary, *front_lines(study, front)])
        launched = None if launch is None else launched_workers_failure(
            launch, finished=budget.finished, n_trials=plan.n_trials,
            started=any(t.number >= first_new for t in trials),
            logs=f"their logs under {self.config.hydra.sweep.dir}")
        result.status, message = _verdict(status, budget, plan, crashed,
                                          best is not None or bool(front),
                                          fail_reasons(trials), launched=launched)
        result.reason = message.removeprefix("error: ") if message else None
        if message:
            print(message, file=sys.stderr, flush=True)
        self._results(study, plan.space, Path(str(self.config.hydra.sweep.dir)), best, front)
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
            from runkit.mlflow import get_or_create_experiment, prepare_store

            prepare_store(uri)
            experiment_id = get_or_create_experiment(uri, self.experiment)
            parent = study.user_attrs.get(PARENT_RUN_ATTR)
            plan = replace(plan, tracking=TrackingTarget(uri, experiment_id, parent))
        return self._run(plan, study, n_workers, tracker=None)

    # ------------------------------------------------------------------ helpers

    def _end_dead_runs(self, uri: str, study: optuna.Study, storage: StorageSpec
                       ) -> tuple[str, float]:
        """Open the store and the experiment (ending the runs dead processes left RUNNING), end
        this study's parent runs whose sweep stopped and its trial runs whose trial ended;
        returns the experiment id and how old a parent's heartbeat must be to count as dead."""
        from runkit.mlflow.store import created_here
        from runkit.mlflow.store_checks import open_experiment

        experiment_id = open_experiment(uri, self.experiment, key=self._tracking_key,
                                        experiment_key=f"{KEY}.mlflow.experiment")
        # A parent's heartbeat is refreshed every MONITOR_INTERVAL seconds while its sweep lives.
        stale_after = max(3 * MONITOR_INTERVAL, storage.grace_period or 0)
        if not created_here(uri):  # a store created just now holds no earlier sweep's runs
            kill_stale_parents(uri, experiment_id, study.study_name, stale_after,
                               now=database_time(study))
            kill_orphan_trial_runs(uri, experiment_id, study)
        return experiment_id, stale_after

    def _tracking_uri(self, settings: SweeperSettings, start_dir: Path) -> str | None:
        """The store of the sweep's runs, absolute (None: ``mlflow: null``, no tracking):
        ``mlflow.tracking_uri``, else MLflow's own ``MLFLOW_TRACKING_URI``, else the local store
        ``sqlite:///mlruns/mlflow.db`` in the start directory."""
        tracking = settings.tracking
        if tracking is None:
            return None
        self._tracking_key = tracking.source
        uri = tracking.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING
        from runkit.mlflow.store_checks import check_tracking_uri

        return anchored_sqlite_url(check_tracking_uri(uri, tracking.source), start_dir)

    def _experiment(self, settings: SweeperSettings) -> str:
        """The MLflow experiment of the sweep's runs: ``mlflow.experiment``, else the app's
        name (``hydra.job.name``)."""
        named = settings.tracking.experiment if settings.tracking else None
        return named or str(self.config.hydra.job.name)

    @staticmethod
    def _register(uri: str, name: str, best: BestTrial | None, study_name: str, *,
                  objective: str | None, direction: str) -> RegisteredModel | None:
        """Register the best trial's model as the next version of ``name`` (the alias
        ``champion`` follows the best version), saying so."""
        if best is None or best.run_id is None:
            log.warning("no completed trial with an MLflow run: no model registered as %r", name)
            return None
        from mlflow.exceptions import MlflowException

        from runkit.mlflow import get_client

        try:
            registered = register_best_model(get_client(uri), name, run_id=best.run_id,
                                             study_name=study_name, trial_number=best.number,
                                             value=best.value,
                                             objective=objective or "objective",
                                             direction=direction)
        except MlflowException as error:
            first_line = str(error.message).strip().splitlines()[0]
            raise UserError(f"{KEY}.register_model: could not register the best trial's "
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

    def _study_name(self, name: str | None, space: SearchSpace, direction: str,
                    objective: str | None, *, custom: str | None = None) -> str:
        """``study_name`` with ``{hash}`` replaced by the hash of the search space, the fixed
        overrides, the objective, the direction and the custom search space's path (the same
        command resumes its study, a changed one starts a new one); null is
        ``<app name>-{hash}``."""
        name = name or f"{self.config.hydra.job.name}-{{hash}}"
        if "{hash}" not in name:
            return name
        extra = SearchSpace(space.params, (*space.fixed, f"objective={objective}",
                                           f"direction={direction}",
                                           *([f"custom_search_space={custom}"] if custom else [])))
        return name.replace("{hash}", extra.signature())

    @staticmethod
    def _summary(plan: WorkerPlan, budget: Budget) -> list[str]:
        return [
            f"study: {plan.study_name}  ({redact_url(plan.storage.url)})",
            f"objective: {plan.objective}  trials: {budget.complete} complete, "
            f"{budget.pruned} pruned, {budget.failed} failed of n_trials={plan.n_trials}",
        ]

    @staticmethod
    def _results(study: optuna.Study, space: SearchSpace, sweep_dir: Path,
                 best: BestTrial | None = None, front: list[BestTrial] | None = None
                 ) -> tuple[BestTrial | None, list[BestTrial]]:
        """Print the best trial (one objective) or the Pareto front (several), each with the
        command that reproduces it, and write ``optimization_results.yaml`` in the sweep
        directory; returns them (read from the study when not given)."""
        several = len(study.directions) > 1
        if best is None and not several:
            best = best_trial(study, space.overrides)
        if front is None:
            front = pareto_front(study, space.overrides) if several else []
        if best is not None:
            log.info("best of study %r: trial %d, value %.6g\n  reproduce it: %s",
                     study.study_name, best.number, best.value, best.command)
        elif front:
            log.info("%s", "\n".join(front_lines(study, front)))
        write_optimization_results(sweep_dir, study, best, front)
        return best, front


def _verdict(status: str, budget: Budget, plan: WorkerPlan, crashed: bool, has_best: bool,
             reasons: Sequence[str], *, launched: str | None = None) -> tuple[str, str | None]:
    """The sweep's final status and the one line that explains it (None when all is well);
    ``launched`` is the line for launched workers that stopped short of the study."""
    last = reasons[0] if reasons else "see the log above"
    if status == "KILLED":
        return status, (f"interrupted: {budget.finished} of {plan.n_trials} trials finished; "
                        "run the same command again to resume the study")
    if budget.too_many_failures(plan.max_failure_rate):
        return "FAILED", (f"error: sweep stopped: {budget.failed} of {budget.finished} finished "
                          f"trials failed (more than max_failure_rate={plan.max_failure_rate}); "
                          f"last: {last}")
    if crashed and launched is not None:
        return "FAILED", launched
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
