"""Workers placed by Hydra's configured launcher: submitit (SLURM or local jobs), joblib, Ray.

With a launcher other than Hydra's basic one, the sweep process is a *controller*: it creates
the schema, the study and the MLflow parent run, then hands ``n_jobs`` worker jobs to the
launcher in one batch. A launcher's ``launch()`` returns only when its whole batch has ended, so
each job is a long-lived worker looping ask -> run -> tell on the shared study
(:func:`sweeps.workers._worker.run_worker`) until the study has ``n_trials``: no batch barrier,
pruning in every worker. What the launcher reports about its jobs is not trusted (submitit
reports some failed jobs COMPLETED, hydra#1928): the controller reads the study afterwards.

A worker decides its own resources (:func:`runkit.process.available_cores`: its CPU
affinity, ``SLURM_CPUS_PER_TASK``). Signals in a worker job: SIGINT and SIGTERM end its running
trial as interrupted (FAIL, parameters queued again, MLflow run KILLED); submitit's preemption
signal (SIGUSR2) does the same, then hands over to submitit, which requeues the job.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import socket
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import optuna

from runkit._private_apis import HYDRA_BASIC_LAUNCHER, job_error
from runkit.errors import ConfigError
from runkit.process import available_cores
from runkit.redact import scrub
from runkit.signals import STOP_SIGNALS, interrupts
from sweeps._fork_server import launcher_target
from sweeps._poller import Poller
from sweeps.study._budget import Budget, count_trials
from sweeps.study._storage import recover_lost_trials
from sweeps.workers import _ray
from sweeps.workers._worker import HydraJob, WorkerPlan, WorkerReport, run_worker
from sweeps.workers._worker import _log_finished as log_finished

__all__ = [
    "BASIC_LAUNCHER",
    "FinishedTrialLog",
    "JobFailure",
    "LaunchResult",
    "LaunchedWorker",
    "await_trials_elsewhere",
    "check_stores_reach_workers",
    "first_error_line",
    "launch_workers",
    "launched_workers_failure",
    "launcher_target",
    "places_work_elsewhere",
    "prepare_launcher",
    "shares_the_console",
]

log = logging.getLogger("sweeps")

BASIC_LAUNCHER = HYDRA_BASIC_LAUNCHER
_JOBLIB = "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher"
# Launchers whose jobs run on the controller's machine: local SQLite files reach them.
_SAME_MACHINE = frozenset({
    BASIC_LAUNCHER,
    _JOBLIB,
    "hydra_plugins.hydra_submitit_launcher.submitit_launcher.LocalLauncher",
})


def shares_the_console(target: str, config: Any = None) -> bool:
    """Whether the launcher's jobs print to the controller's own console (joblib's processes
    do, and Ray forwards its workers' output unless ``log_to_driver`` is false; submitit's
    jobs write to files under ``.submitit/``)."""
    if _ray.is_ray(target):
        return _ray.forwards_output(config)
    return target == _JOBLIB


def prepare_launcher(target: str, config: Any) -> None:
    """What a launcher needs before the sweep records anything: Ray's connection (see
    :mod:`sweeps.workers._ray`).

    Raises:
        ConfigError: naming the launcher's key that keeps it from starting.
    """
    if _ray.is_ray(target):
        _ray.connect(config)


def places_work_elsewhere(target: str) -> bool:
    """Whether a launcher may run its jobs on other machines (unknown launchers may)."""
    return target not in _SAME_MACHINE


def _local_file(uri: str | None) -> bool:
    return uri is not None and uri.startswith(("sqlite:", "file:"))


def check_stores_reach_workers(target: str, storage_url: str, tracking_uri: str | None, *,
                               tracking_key: str = "hydra.sweeper.mlflow.tracking_uri") -> None:
    """Refuse a local-file study or tracking store when the launcher places work elsewhere.

    Raises:
        ConfigError: naming the key that points at a file other machines cannot share (the
            tracking store's is ``tracking_key``, the key it was given under).
    """
    if not places_work_elsewhere(target):
        return
    launcher = target.rsplit(".", 1)[-1]
    if _local_file(storage_url):
        raise ConfigError("hydra.sweeper.storage", f"a database server URL such as "
                          f"postgresql+psycopg2://user:password@host/db (hydra/launcher "
                          f"{launcher} runs workers on other machines)", storage_url)
    if _local_file(tracking_uri):
        raise ConfigError(tracking_key, f"an MLflow tracking server such as "
                          f"http://host:5000 (hydra/launcher {launcher} runs workers on other "
                          f"machines)", tracking_uri)


# A launched job's stopping signals: submitit's preemption signal (SIGUSR2) too; its trial is
# recorded interrupted, then submitit's own handler requeues the job.
_JOB_SIGNALS = (*STOP_SIGNALS, *((signal.SIGUSR2,) if hasattr(signal, "SIGUSR2") else ()))


@dataclass
class LaunchedWorker:
    """The task function of one launched job: a worker loop on the shared study.

    Attributes:
        plan: the sweep's worker plan (``blas_threads`` is decided here, in the worker).
        job: runs one trial as a Hydra job.
        workers_per_host: how many of the batch's workers share a machine (all of them for the
            launchers that stay on the controller's machine; else 1).
    """

    plan: WorkerPlan
    job: HydraJob
    workers_per_host: int = 1

    def __call__(self, cfg: Any) -> dict[str, Any]:
        from hydra.core.hydra_config import HydraConfig

        from runkit.mlflow import end_open_runs

        index = int(HydraConfig.get().job.num)
        cores = available_cores()
        cores = min(cores, _ray.assigned_cpus() or cores)  # a Ray task: what Ray assigned it
        threads = max(1, cores // max(1, self.workers_per_host))
        plan = replace(self.plan, blas_threads=threads)
        log.info("worker %d on %s:%d: %d BLAS thread%s per trial", index, socket.gethostname(),
                 os.getpid(), threads, "" if threads == 1 else "s")
        report = None
        try:
            # Interrupted: the trial was recorded so and queued again; the job ends.
            with interrupts(_JOB_SIGNALS, once=True) as signals, \
                    contextlib.suppress(KeyboardInterrupt):
                report = run_worker(plan, self.job, index)
        except Exception as error:
            # Hydra keeps the error in the job's result, for the controller: the job's own log
            # says it too.
            log.error("worker %d stopped: %s", index, scrub(
                first_error_line(error), plan.storage.url, plan.storage.tracking_uri))
            raise
        finally:
            end_open_runs()  # a run whose own handler could not end it ends KILLED
        preemption = getattr(signal, "SIGUSR2", None)
        if preemption in signals.received and callable(signals.previous.get(preemption)):
            log.info("worker %d preempted: its trial is queued again, submitit requeues the job",
                     index)
            signals.previous[preemption](preemption, None)  # submitit's: requeue, then exit
        # the report as a worker process writes it (plain data: the launcher may pickle it)
        return asdict(report or WorkerReport(index, interrupted=True))


@dataclass(frozen=True)
class JobFailure:
    """A launched job that failed: the first line of its error, as its log has it.

    Attributes:
        line: e.g. ``ModuleNotFoundError: No module named 'mypackage'``.
        killed: the job was ended from outside (cancelled, timed out, its node lost) and left no
            result; otherwise its own code raised, and would again.
        log: the job's error log, when the launcher names it.
    """

    line: str
    killed: bool = False
    log: str | None = None


@dataclass
class LaunchResult:
    """What the launcher's batch gave back: the reports of the jobs that completed and the
    failures it told of (submitit stops at the first failed job of its batch)."""

    reports: list[WorkerReport] = field(default_factory=list)
    failures: list[JobFailure] = field(default_factory=list)
    stopped_early: bool = False  # the launcher raised: the batch's other jobs may still run


def launch_workers(plan: WorkerPlan, job: HydraJob, n_workers: int, *, hydra_context: Any,
                   config: Any) -> LaunchResult:
    """Launch ``n_workers`` worker jobs through the configured launcher; returns when the
    launcher's batch has ended (or the launcher failed: the study tells the rest), with the
    reports of the jobs that completed and the failures the launcher reported."""
    from hydra.core.plugins import Plugins
    from hydra.core.utils import JobStatus

    target = launcher_target(config)
    same_host = n_workers if not places_work_elsewhere(target) else 1
    config = _with_absolute_sweep_dir(config)
    task = LaunchedWorker(plan, replace(job, config=config), workers_per_host=same_host)
    launcher = Plugins.instance().instantiate_launcher(
        hydra_context=hydra_context, task_function=task, config=config)
    # The launcher composes each job's config again, in run mode, from the command's hydra
    # overrides plus the job's own (Hydra's load_sweep_config): the task overrides that are not
    # searched (``sweep=digits``, whose defaults select this sweeper) must be among the job's,
    # or the job's config lacks the sweeper and every ``hydra.sweeper.*`` override fails.
    overrides = [[*plan.space.fixed, f"hydra.sweep.subdir=worker_{i}"] for i in range(n_workers)]
    log.info("launching %d worker jobs through %s", n_workers, target.rsplit(".", 1)[-1])
    stopping = (_ray.tasks_stopped_on_interrupt() if _ray.is_ray(target)
                else contextlib.nullcontext())
    result = LaunchResult()
    try:
        with stopping:
            returns = launcher.launch(overrides, initial_job_idx=0)
    except KeyboardInterrupt:
        raise
    except Exception as error:  # a job failed or died (killed, preempted for good)
        failure = _failure(error, plan)
        log.warning("a worker job failed: %s", failure.line)
        result.failures.append(failure)
        result.stopped_early = True
        return result
    for job_return in returns:
        if job_return.status == JobStatus.COMPLETED:
            result.reports.append(_report(job_return))
        else:  # the worker's own code raised (e.g. the study could not be opened there)
            result.failures.append(_failure(job_error(job_return), plan))
    return result


_TRACEBACK = "Traceback (most recent call last):"
_ERROR_LOG = re.compile(r"(\S+_log\.err)\b")


def _exception_line(text: str) -> str | None:
    """The exception line that ends the last traceback printed in ``text``."""
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if line.strip() == _TRACEBACK]
    if not starts:
        return None
    for line in lines[starts[-1] + 1:]:
        if line.strip() and not line.startswith((" ", "\t")):
            return line.strip()
    return None


def first_error_line(error: BaseException) -> str:
    """The first line of what a failed job raised: the exception line of the job's own
    traceback when the launcher's error carries it (submitit's ``FailedJobError``, joblib's
    remote traceback), else ``Type: first line of the message``."""
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and all(current is not seen for seen in chain):
        chain.append(current)
        current = current.__cause__ or current.__context__
    for link in reversed(chain):  # the job's own error is the innermost
        line = _exception_line(str(link))
        if line is not None:
            return line
    message = str(error).strip().splitlines()
    return f"{type(error).__name__}: {message[0]}" if message else type(error).__name__


def _failure(error: BaseException, plan: WorkerPlan) -> JobFailure:
    """The failure a launcher reported, without the stores' passwords (on a cluster, the
    controller's output lands in logs others may read)."""
    log_file = _ERROR_LOG.search(str(error))
    # submitit's UncompletedJobError: the job ended (cancelled, timed out, node lost) without a
    # result of its own
    killed = type(error).__name__ == "UncompletedJobError"
    line = scrub(first_error_line(error), plan.storage.url, plan.storage.tracking_uri)
    return JobFailure(line, killed=killed, log=log_file.group(1) if log_file else None)


def launched_workers_failure(launch: LaunchResult, *, finished: int, n_trials: int,
                             started: bool, logs: str) -> str:
    """The controller's one line when its launched workers stopped short of ``n_trials``.
    Workers whose own code failed before their first trial would fail the same way again: the
    line quotes the error, and asks for no rerun."""
    failure = launch.failures[0] if launch.failures else None
    where = failure.log if failure is not None and failure.log else logs
    if failure is not None and not started and not any(f.killed for f in launch.failures):
        return (f"error: the launched workers failed before their first trial: {failure.line} "
                f"(see {where})")
    quoted = f"first error: {failure.line}; " if failure is not None else ""
    return (f"error: the launched workers stopped with {finished} of {n_trials} trials finished "
            f"({quoted}see {where}); run the same command again to resume")


def _with_absolute_sweep_dir(config: Any) -> Any:
    """A copy of the sweep's config whose ``hydra.sweep.dir`` is absolute, among its hydra
    overrides too (every job's and trial's config is composed again from them): a job may start
    in another directory (a Ray worker starts where its node's ``ray start`` ran) and would put
    its folders there."""
    import copy

    from omegaconf import open_dict

    absolute = str(Path(str(config.hydra.runtime.cwd)) / str(config.hydra.sweep.dir))
    config = copy.deepcopy(config)
    with open_dict(config):
        config.hydra.sweep.dir = absolute
        config.hydra.overrides.hydra = [
            *(o for o in config.hydra.overrides.hydra if not o.startswith("hydra.sweep.dir=")),
            f"hydra.sweep.dir={_quoted(absolute)}"]
    return config


def _quoted(value: str) -> str:
    """``value`` as a quoted value of Hydra's override grammar (a path may hold spaces, commas,
    quotes or ``${``)."""
    value = re.sub(r"(\\+)(?='|$)", r"\1\1", value)  # backslashes before a quote or the end
    return "'" + value.replace("'", "\\'").replace("${", "\\${") + "'"


def _report(job_return: Any) -> WorkerReport:
    """The report a launched worker job returned (see ``LaunchedWorker.__call__``)."""
    return WorkerReport(**job_return.return_value)


def await_trials_elsewhere(study: optuna.Study, plan: WorkerPlan, launch: LaunchResult, *,
                           first_new: int = 0) -> Budget:
    """What the launched workers left: wait while any trial still runs somewhere (a job the
    launcher reports ended may still be running, and a crashed one's trial goes stale), failing
    and re-queueing stale trials; returns the study's budget then.

    Nothing running for two polls means the workers are gone: a live worker is never that
    long between two trials. But when the launcher stopped at a failed job (submitit gives up
    its batch at the first one) while the workers had run trials (numbered ``first_new`` on),
    the batch's other jobs may still run and be between trials, or about to run a trial that a
    dead job lost: then the study must have been quiet for the grace period."""
    settle = 2 * plan.poll_interval
    quiet_since: float | None = None
    while True:
        trials = study.get_trials(deepcopy=False)
        budget = count_trials(trials, plan.n_trials)
        if budget.done or plan.storage.heartbeat_interval is None:
            return budget
        if launch.stopped_early and any(t.number >= first_new for t in trials):
            settle = max(settle, float(plan.storage.grace_period or 0))
        if budget.running > 0:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= settle:
            return budget
        recover_lost_trials(study, plan.storage)
        time.sleep(plan.poll_interval)


class FinishedTrialLog(Poller):
    """Prints each trial of the study once it has finished, from a daemon thread: the
    controller's console follows the launched workers' trials as a local sweep's does (and
    leaving it prints those that finished since the last poll)."""

    def __init__(self, study: optuna.Study, *, interval: float = 2.0) -> None:
        super().__init__(interval=interval, name="sweep-trial-log")
        self.study = study
        self._seen: set[int] = {t.number for t in study.get_trials(deepcopy=False)
                                if t.state.is_finished()}

    def poll(self) -> None:
        try:
            trials = self.study.get_trials(deepcopy=False)
        except Exception as error:  # a busy database must not stop the sweep: next poll
            log.warning("sweep: could not read the study: %s", error)
            return
        for trial in trials:
            if trial.state.is_finished() and trial.number not in self._seen:
                self._seen.add(trial.number)
                log_finished(self.study, trial)
