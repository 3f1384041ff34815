"""Sweep efficiency: a fixed Optuna sweep run as a user runs it, then read back from its stores.

Each variant is ``python -m trainer --multirun sweep=<name> hydra.sweeper.n_trials=N
hydra.sweeper.n_jobs=J hydra.sweeper.seed=0 progress=none [hydra.sweeper.pruner=none]`` in a
fresh start directory, timed from the outside. Afterwards the study (Optuna storage
``<start dir>/mlruns/optuna.db``) gives each trial's state, value and start/complete times, and
MLflow (``<start dir>/mlruns/mlflow.db``) gives each trial run's per-epoch metrics, whose
timestamps (taken when an epoch's metrics are logged) give the time spent in epochs.

Variants (see :func:`plan`): pruned and unpruned at n_jobs=1 for several sampler seeds (one
seed's pair is one sample: TPE's later proposals follow the first pruned trial's shortened
results, so a single pair swings by 15% either way); the shipped config at n_jobs=2; and
back-to-back pairs of the same trials at n_jobs=1 and 2 (QMC sampler, no pruner) for the
parallel speed-up, repeated because the machine's speed drifts between runs.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sweeps.tracking._tags import TRIAL_NUMBER_TAG

REPO = Path(__file__).resolve().parent.parent

EPOCH_METRIC = "train_loss"  # logged once per epoch by every run
FAIL_REASON_ATTR = "fail_reason"  # the trial user attribute where the sweep engine says why


@dataclass
class TrialRecord:
    """One trial as its stores recorded it."""

    number: int
    state: str  # COMPLETE, PRUNED, FAIL ...
    value: float | None
    start: float  # POSIX seconds (Optuna's datetime_start)
    complete: float | None  # POSIX seconds (datetime_complete)
    epochs: int  # epochs trained (MLflow's per-epoch metric count)
    epoch_seconds: float  # estimated time spent in those epochs
    fail_reason: str | None = None  # what the sweep engine recorded for a failed trial

    @property
    def duration(self) -> float | None:
        return None if self.complete is None else self.complete - self.start


@dataclass
class SweepRun:
    """One sweep variant: its command, wall time and trials."""

    label: str
    pruner: bool
    n_jobs: int
    command: list[str]
    wall_seconds: float
    returncode: int
    launched: float = 0.0  # POSIX seconds when the command started
    finished: float = 0.0  # ... and when it exited
    trials: list[TrialRecord] = field(default_factory=list)
    best_value: float | None = None
    error: str | None = None  # the tail of stderr when the sweep failed

    @property
    def startup_seconds(self) -> float | None:
        """From the command's start to the first trial's start (imports, study, MLflow parent,
        worker processes)."""
        starts = [t.start for t in self.trials if t.start == t.start]  # NaN: never started
        return min(starts) - self.launched if starts else None

    @property
    def teardown_seconds(self) -> float | None:
        """From the last trial's completion to the command's exit (the sweep's artifacts)."""
        ends = [t.complete for t in self.trials if t.complete is not None]
        return self.finished - max(ends) if ends else None

    @property
    def epochs(self) -> int:
        return sum(t.epochs for t in self.trials)

    @property
    def epoch_seconds(self) -> float:
        return sum(t.epoch_seconds for t in self.trials)

    def count(self, state: str) -> int:
        return sum(t.state == state for t in self.trials)

    def overheads(self) -> list[float]:
        """Per-trial overhead in a running sweep: for each trial after the first of its worker
        slot, the time since the previous trial of the sweep completed, minus its epochs.

        With n_jobs=1 consecutive trials share one slot, so this counts everything a trial
        costs besides training: sampling, storage, the MLflow run, data loading, artifacts, the
        gap before the next trial. For n_jobs > 1 use :meth:`inside_overheads`.
        """
        finished = sorted((t for t in self.trials if t.complete is not None),
                          key=lambda t: t.complete or 0.0)
        return [
            (cur.complete or 0.0) - (prev.complete or 0.0) - cur.epoch_seconds
            for prev, cur in zip(finished[:-1], finished[1:], strict=True)
        ]

    def inside_overheads(self) -> list[float]:
        """Each trial's own duration (Optuna start to complete) minus its epochs."""
        return [t.duration - t.epoch_seconds for t in self.trials if t.duration is not None]


@dataclass
class SweepResult:
    """Every variant that ran, or why the benchmark could not run."""

    sweep: str
    n_trials: int
    runs: dict[str, SweepRun]
    seeds: int = 0  # pruning pairs, one per sampler seed 0 .. seeds-1
    repeats: int = 0  # speed-up pairs
    skipped: str | None = None

    def pairs(self, make: Callable[[int], tuple[Variant, Variant]],
              count: int) -> list[tuple[int, SweepRun, SweepRun]]:
        """``(i, first, second)`` for the pairs ``make(i)``, i in 0 .. count-1, whose two runs
        both finished without error."""
        found = []
        for i in range(count):
            first, second = (self.runs.get(v.label) for v in make(i))
            if first and second and first.error is None and second.error is None:
                found.append((i, first, second))
        return found


@dataclass(frozen=True)
class Variant:
    """One sweep command: its label, slots, pruner, sampler (None: the config's) and seed."""

    label: str
    n_jobs: int
    pruner: bool
    sampler: str | None = None
    seed: int = 0


def pruning_pair(seed: int) -> tuple[Variant, Variant]:
    """The config's sampler with and without its pruner, n_jobs=1 (deterministic per seed)."""
    return (Variant(f"pruned, n_jobs=1, seed {seed}", 1, True, seed=seed),
            Variant(f"no pruner, n_jobs=1, seed {seed}", 1, False, seed=seed))


def speedup_pair(repeat: int) -> tuple[Variant, Variant]:
    """The same trials at n_jobs=1 and n_jobs=2. TPE proposes different trials when two run at
    once (it has fewer results to learn from), so the speed-up is measured with QMC (unscrambled
    Sobol points, numbered through the study), whose proposals do not depend on other trials'
    results; with no pruner both runs train about the same epochs."""
    return (Variant(f"same trials (qmc), n_jobs=1, #{repeat + 1}", 1, False, "qmc"),
            Variant(f"same trials (qmc), n_jobs=2, #{repeat + 1}", 2, False, "qmc"))


DEFAULT_PARALLEL = Variant("pruned, n_jobs=2, seed 0", 2, True)  # the sweep config as shipped


def plan(seeds: int, repeats: int) -> list[Variant]:
    """Pruning pairs for ``seeds`` sampler seeds, the shipped config at n_jobs=2, and
    ``repeats`` speed-up pairs (each pair back to back, so both see the same machine)."""
    variants = [v for seed in range(seeds) for v in pruning_pair(seed)]
    variants.append(DEFAULT_PARALLEL)
    variants += [v for repeat in range(repeats) for v in speedup_pair(repeat)]
    return variants


def sweep_engine_missing() -> str | None:
    """None when the sweep engine (issue 3) can be imported, else why not."""
    try:
        import hydra_plugins.optuna_sweeps  # noqa: F401
        import sweeps  # noqa: F401
        from sweeps._sweeper import OptunaSweep  # noqa: F401
    except ImportError as error:
        return f"the sweep engine is not importable yet ({error})"
    if not (REPO / "conf" / "hydra" / "sweeper" / "optuna.yaml").exists():
        return "conf/hydra/sweeper/optuna.yaml is missing"
    return None


def sweep_override(sweep: str) -> str:
    """``sweep=NAME`` when ``conf/config.yaml`` lists the ``sweep`` group in its defaults (the
    documented command), else ``+sweep=NAME`` (Hydra's syntax for a group not listed there)."""
    from omegaconf import OmegaConf

    defaults = OmegaConf.load(REPO / "conf" / "config.yaml").get("defaults", [])
    for entry in defaults:
        keys = entry.keys() if hasattr(entry, "keys") else []
        if any(str(k).split()[-1] == "sweep" for k in keys):  # "sweep" or "optional sweep"
            return f"sweep={sweep}"
    return f"+sweep={sweep}"


def _epoch_seconds(timestamps_ms: list[int]) -> float:
    """Time spent in the epochs whose metrics were logged at ``timestamps_ms`` (one per epoch):
    the span from the first to the last log plus one median epoch for the first epoch."""
    if not timestamps_ms:
        return 0.0
    ts = sorted(timestamps_ms)
    gaps = [b - a for a, b in zip(ts[:-1], ts[1:], strict=True)]
    first = statistics.median(gaps) if gaps else 0.0
    return (ts[-1] - ts[0] + first) / 1000.0


def read_sweep(start_dir: Path) -> tuple[list[TrialRecord], float | None]:
    """The trials of the single study under ``start_dir/mlruns`` and its best value."""
    import optuna
    from mlflow.tracking import MlflowClient

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = f"sqlite:///{start_dir / 'mlruns' / 'optuna.db'}"
    names = optuna.get_all_study_names(storage=storage)
    if len(names) != 1:
        raise RuntimeError(f"expected one study in {storage}, found {names}")
    study = optuna.load_study(study_name=names[0], storage=storage)

    client = MlflowClient(tracking_uri=f"sqlite:///{start_dir / 'mlruns' / 'mlflow.db'}")
    experiments = client.search_experiments()
    runs = client.search_runs([e.experiment_id for e in experiments], max_results=10_000)
    timestamps: dict[int, list[int]] = {}
    for run in runs:
        number = run.data.tags.get(TRIAL_NUMBER_TAG)
        if number is None:
            continue  # the sweep's parent run
        history = client.get_metric_history(run.info.run_id, EPOCH_METRIC)
        # a crashed trial is run again: keep the run that trained most
        if len(history) >= len(timestamps.get(int(number), [])):
            timestamps[int(number)] = [m.timestamp for m in history]

    trials = []
    for trial in study.trials:
        ts = timestamps.get(trial.number, [])
        trials.append(TrialRecord(
            number=trial.number,
            state=trial.state.name,
            value=trial.value,
            start=trial.datetime_start.timestamp() if trial.datetime_start else float("nan"),
            complete=trial.datetime_complete.timestamp() if trial.datetime_complete else None,
            epochs=len(ts),
            epoch_seconds=_epoch_seconds(ts),
            fail_reason=trial.user_attrs.get(FAIL_REASON_ATTR),
        ))
    completed = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    best = study.best_value if completed else None
    return trials, best


def run_sweep(
    label: str,
    *,
    sweep: str,
    n_trials: int,
    n_jobs: int,
    pruner: bool,
    workdir: Path,
    sampler: str | None = None,
    seed: int = 0,
    extra: list[str] | None = None,
    timeout: float = 900.0,
) -> SweepRun:
    """Run one variant as a subprocess in a fresh start directory under ``workdir``."""
    start_dir = workdir / "".join(c if c.isalnum() else "-" for c in label)
    start_dir.mkdir(parents=True)
    command = [
        sys.executable, "-m", "trainer", "--multirun", sweep_override(sweep),
        f"hydra.sweeper.n_trials={n_trials}", f"hydra.sweeper.n_jobs={n_jobs}",
        f"hydra.sweeper.seed={seed}", "progress=none",
        *([] if pruner else ["hydra.sweeper.pruner=none"]),
        *([f"hydra.sweeper.sampler={sampler}"] if sampler else []),
        *(extra or []),
    ]
    env = dict(os.environ)
    # the repository's own packages, whether or not (and however) it is pip-installed
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    launched, begin = time.time(), time.perf_counter()
    proc = subprocess.run(command, cwd=start_dir, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)
    wall = time.perf_counter() - begin
    (start_dir / "sweep.log").write_text(proc.stdout + proc.stderr)
    result = SweepRun(label, pruner, n_jobs, command[1:], wall, proc.returncode,
                      launched=launched, finished=launched + wall)
    if proc.returncode != 0:
        result.error = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-5:])
        return result
    result.trials, result.best_value = read_sweep(start_dir)
    return result


def run_sweeps(
    *,
    sweep: str,
    n_trials: int,
    workdir: Path,
    seeds: int = 3,
    repeats: int = 3,
    extra: list[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> SweepResult:
    """The variants of :func:`plan`, one after the other (never at once: they would share the
    cores)."""
    missing = sweep_engine_missing()
    if missing is not None:
        return SweepResult(sweep, n_trials, {}, skipped=missing)
    runs: dict[str, SweepRun] = {}
    for variant in plan(seeds, repeats):
        run = run_sweep(variant.label, sweep=sweep, n_trials=n_trials, n_jobs=variant.n_jobs,
                        pruner=variant.pruner, workdir=workdir, sampler=variant.sampler,
                        seed=variant.seed, extra=extra)
        runs[variant.label] = run
        if progress is not None:
            status = (f"{run.epochs} epochs, best {run.best_value}" if run.error is None
                      else f"FAILED (exit {run.returncode}): {run.error}")
            progress(f"sweep {variant.label}: {run.wall_seconds:.1f} s, {status}")
        if run.error is not None:
            return SweepResult(sweep, n_trials, runs, seeds, repeats,
                               skipped=f"`{' '.join(run.command)}` failed: {run.error}")
    return SweepResult(sweep, n_trials, runs, seeds, repeats)
