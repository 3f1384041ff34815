"""Scale-out: what sharing one study through PostgreSQL costs per trial, next to SQLite.

Two measurements, each at 1, 2 and 4 workers:

- **coordination**: worker processes run the sweep's own loop (``sweeps.run_worker``: ask, the
  budget check, the worker and run attributes, one pruning report per epoch with the shipped
  median pruner, tell, Optuna's heartbeat thread) with a job that trains nothing, on a fresh
  study in PostgreSQL and in a SQLite file. Everything a trial costs there is coordination: the
  worker-seconds per trial and the SQL statements per trial are the figures, and the statements
  give the database's load for N workers.
- **sweeps**: ``python -m trainer --multirun`` with ``n_jobs`` workers and tiny trials, the
  study on PostgreSQL and the runs on an MLflow tracking server (what a cluster sweep does),
  timed from outside: trials per minute, end to end.
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WORKERS = (1, 2, 4)


@dataclass(frozen=True)
class CoordinationResult:
    """One coordination run: ``workers`` processes sharing ``trials`` no-work trials."""

    backend: str  # "PostgreSQL" or "SQLite"
    workers: int
    trials: int
    epochs: int  # pruning reports per trial
    wall_seconds: float
    worker_seconds: float  # summed over the workers' loops
    statements: int  # SQL statements the workers sent

    @property
    def seconds_per_trial(self) -> float:
        """Worker-seconds of coordination per trial."""
        return self.worker_seconds / self.trials

    @property
    def statements_per_trial(self) -> float:
        return self.statements / self.trials

    @property
    def trials_per_minute(self) -> float:
        return 60.0 * self.trials / self.wall_seconds


@dataclass(frozen=True)
class SweepRun:
    """One ``python -m trainer --multirun`` sweep on PostgreSQL and an MLflow server."""

    workers: int
    trials: int
    wall_seconds: float

    @property
    def trials_per_minute(self) -> float:
        return 60.0 * self.trials / self.wall_seconds


class _NoWorkJob:
    """Plays ``sweeps.HydraJob``: reports ``epochs`` values with ``sweeps.report`` (pruned when
    the pruner says so) and returns, training nothing (so a trial's cost is its coordination
    alone)."""

    def __init__(self, epochs: int) -> None:
        self.epochs = epochs

    def run(self, overrides: Sequence[str], number: int) -> object:
        from hydra.core.utils import JobReturn, JobStatus

        import sweeps

        x = float(dict(o.split("=", 1) for o in overrides)["x"])
        result = JobReturn(status=JobStatus.COMPLETED)
        loss = x
        try:
            for epoch in range(1, self.epochs + 1):
                loss = x / epoch
                sweeps.report(loss, step=epoch)
        except Exception as pruned:  # optuna.TrialPruned, as Hydra's run_job keeps it
            result.status, result.return_value = JobStatus.FAILED, pruned
            return result
        result.return_value = loss
        return result


def _plan(url: str, study_name: str, n_trials: int, index: int) -> object:
    from sweeps.search import parse_search_space
    from sweeps.study import StorageSpec
    from sweeps.workers import WorkerPlan

    return WorkerPlan(
        study_name=study_name, storage=StorageSpec(url, create_schema=False), sampler="random",
        pruner={"name": "median", "n_startup_trials": 5, "n_warmup_steps": 2}, seed=index,
        space=parse_search_space({"x": "interval(0.0, 1.0)"}), n_trials=n_trials,
        objective="val_loss", blas_threads=1, poll_interval=0.5,
    )


def _coordination_worker(url: str, study_name: str, n_trials: int, epochs: int, index: int,
                         start_at: float, results: multiprocessing.Queue) -> None:
    import logging

    import optuna
    import sqlalchemy

    from sweeps.study import open_storage
    from sweeps.workers import run_worker

    logging.getLogger("sweeps").setLevel(logging.WARNING)  # no line per trial
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    statements = [0]

    def count(*args: object) -> None:
        statements[0] += 1

    plan = _plan(url, study_name, n_trials, index)
    open_storage(plan.storage).engine.dispose()  # modules and driver loaded before the clock
    sqlalchemy.event.listen(sqlalchemy.engine.Engine, "before_cursor_execute", count)
    while time.time() < start_at:  # every worker starts at one moment
        time.sleep(0.002)
    began = time.time()
    run_worker(plan, _NoWorkJob(epochs), index)
    results.put((began, time.time(), statements[0]))


def run_coordination(url: str, backend: str, *, workers: int, n_trials: int, epochs: int
                     ) -> CoordinationResult:
    """``workers`` processes run ``n_trials`` no-work trials of a fresh study on ``url``."""
    from sweeps.study import StorageSpec, load_or_create_study, open_storage

    study_name = f"coordination-{uuid.uuid4().hex[:8]}"
    load_or_create_study(open_storage(StorageSpec(url)), study_name, direction="minimize")
    context = multiprocessing.get_context("spawn")
    results: multiprocessing.Queue = context.Queue()
    start_at = time.time() + 6.0  # after every spawned interpreter has imported the engine
    procs = [context.Process(target=_coordination_worker,
                             args=(url, study_name, n_trials, epochs, i, start_at, results))
             for i in range(workers)]
    for proc in procs:
        proc.start()
    reports = [results.get(timeout=600) for _ in procs]
    for proc in procs:
        proc.join()
        if proc.exitcode != 0:
            raise RuntimeError(f"a coordination worker exited {proc.exitcode}")
    began = min(r[0] for r in reports)
    ended = max(r[1] for r in reports)
    return CoordinationResult(backend, workers, n_trials, epochs, ended - began,
                              sum(r[1] - r[0] for r in reports), sum(r[2] for r in reports))


def run_sweep(pg_url: str, server: str, *, workers: int, n_trials: int, workdir: Path,
              overrides: Sequence[str] = ()) -> SweepRun:
    """The CLI sweep with ``workers`` local workers, study on ``pg_url``, runs on ``server``."""
    name = f"scale-out-{workers}-{uuid.uuid4().hex[:8]}"
    start_dir = workdir / name
    start_dir.mkdir(parents=True)
    command = [sys.executable, "-m", "trainer", "--multirun", "hydra/sweeper=optuna",
               "optimizer.lr=tag(log, interval(1e-3, 1e-1))", "model.hidden=[32]", "epochs=10",
               "progress=none", "mlflow.log_model=false", f"hydra.sweeper.n_trials={n_trials}",
               f"hydra.sweeper.n_jobs={workers}", f"hydra.sweeper.storage={pg_url}",
               f"hydra.sweeper.study_name={name}", f"mlflow.tracking_uri={server}",
               f"mlflow.experiment={name}", *overrides]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    began = time.perf_counter()
    done = subprocess.run(command, cwd=start_dir, env=env, capture_output=True, text=True,
                          timeout=900)
    seconds = time.perf_counter() - began
    if done.returncode != 0:
        raise RuntimeError(f"the sweep failed ({done.returncode}): {done.stderr[-2000:]}")
    return SweepRun(workers, n_trials, seconds)


def run_all(pg_url: str, server: str, workdir: Path, *, coordination_trials: int,
            epochs: int, sweep_trials: int, progress: Callable[[str], None]
            ) -> tuple[list[CoordinationResult], list[SweepRun]]:
    coordination: list[CoordinationResult] = []
    for workers in WORKERS:
        for backend, url in (("SQLite", f"sqlite:///{workdir}/coordination-{workers}.db"),
                             ("PostgreSQL", pg_url)):
            progress(f"coordination: {backend}, {workers} workers, {coordination_trials} trials")
            coordination.append(run_coordination(url, backend, workers=workers,
                                                  n_trials=coordination_trials, epochs=epochs))
    sweeps = []
    for workers in WORKERS:
        progress(f"sweep: {workers} workers, {sweep_trials} trials")
        sweeps.append(run_sweep(pg_url, server, workers=workers, n_trials=sweep_trials,
                                workdir=workdir))
    return coordination, sweeps


def render(coordination: Sequence[CoordinationResult], sweeps: Sequence[SweepRun], *,
           when: str, machine: str) -> str:
    """The Markdown of the scale-out section."""
    by = {(r.backend, r.workers): r for r in coordination}
    lines = [
        "| workers | SQLite ms / trial | PostgreSQL ms / trial | ratio | PostgreSQL statements "
        "/ trial | PostgreSQL no-work trials / min |",
        "|---|---|---|---|---|---|",
    ]
    for workers in WORKERS:
        sqlite, pg = by.get(("SQLite", workers)), by.get(("PostgreSQL", workers))
        if sqlite is None or pg is None:
            continue
        lines.append(
            f"| {workers} | {1000 * sqlite.seconds_per_trial:.1f} | "
            f"{1000 * pg.seconds_per_trial:.1f} | "
            f"{pg.seconds_per_trial / sqlite.seconds_per_trial:.2f}x | "
            f"{pg.statements_per_trial:.0f} | {pg.trials_per_minute:.0f} |")
    sweep_lines = ["| workers (n_jobs) | trials | wall s | trials / min |", "|---|---|---|---|"]
    sweep_lines += [f"| {s.workers} | {s.trials} | {s.wall_seconds:.1f} | "
                    f"{s.trials_per_minute:.1f} |" for s in sweeps]
    epochs = coordination[0].epochs if coordination else 0
    trials = coordination[0].trials if coordination else 0
    return "\n".join([
        f"Measured {when} on {machine} by `python -m benchmarks.scale_out` "
        "(PostgreSQL 15 and an MLflow 3 server on this machine, started by "
        "`.ci/services.sh`; the machine was shared with other work, so figures swing).",
        "",
        f"Coordination per trial ({trials} trials of the sweep's own worker loop with a job that "
        f"trains nothing: ask, budget check, attributes, {epochs} pruning reports to the median "
        "pruner, tell, heartbeat; worker-seconds per trial):",
        "",
        *lines,
        "",
        "Sweeps end to end (`python -m trainer --multirun` with `n_jobs` local workers, a "
        "32-unit MLP on digits, 10 epochs, study on PostgreSQL, runs on the MLflow server):",
        "",
        *sweep_lines,
    ])
