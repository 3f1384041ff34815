"""What a user waits for besides training: one small run, a sweep's start-up, a trial's cost.

Every figure comes from commands run as a user runs them, each in a fresh start directory and
timed from outside (wall time), all of them once per repeat so a slow spell hits all alike:

- ``import optuna, mlflow``: ``python -c "import optuna, mlflow"``, the floor of any script that
  tunes with Optuna and tracks with MLflow; the sweep's start-up (command start to the first
  trial's start, from the study) is compared with it;
- one small run: ``python -m trainer`` (the default digits run, tracked with its model) against
  ``python benchmarks/reference_sklearn.py`` (the bare scikit-learn script: load digits,
  ``MLPClassifier`` fit, score; no tracking);
- per-trial cost: a sweep of identical small trials (:func:`sweep_command`) against
  ``benchmarks/reference_sweep.py``, the Optuna + MLflow script a user would write around the
  same FitLoop, each at 4 and 20 trials: (T(20) - T(4)) / 16 cancels the start-up;
- one small run on a busy machine: the same two commands again while busy loops keep every core
  busy (:func:`busy_loops`), as other commands would.
"""

from __future__ import annotations

import contextlib
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
IMPORTS = "import optuna, mlflow"
SKLEARN_SCRIPT = REPO / "benchmarks" / "reference_sklearn.py"
REFERENCE_SWEEP = REPO / "benchmarks" / "reference_sweep.py"
FEW, MANY = 4, 20  # trials of the short and the long sweep

IMPORT = "python -c \"import optuna, mlflow\""
SKLEARN = "scikit-learn script"
TRAINER_RUN = "python -m trainer"
TRAINER_SWEEP = "trainer sweep"
REFERENCE = "reference script"
BUSY = ", beside busy loops on every core"


def sweep_command(n_trials: int) -> list[str]:
    """A sweep of ``n_trials`` identical trials: the default run (digits, 64-32, Adam, batch 64)
    for 10 epochs without early stopping, TPE and the median pruner as shipped; only
    ``optimizer.lr`` is 'searched', over one value, as in the reference script."""
    return [sys.executable, "-m", "trainer", "--multirun", "hydra/sweeper=optuna",
            "optimizer.lr=choice(0.001)", "epochs=10", "early_stopping.enabled=false",
            f"hydra.sweeper.n_trials={n_trials}", "hydra.sweeper.n_jobs=1",
            "hydra.sweeper.seed=0", "progress=none"]


def reference_command(n_trials: int, start_dir: Path) -> list[str]:
    return [sys.executable, str(REFERENCE_SWEEP), "--trials", str(n_trials),
            "--dir", str(start_dir)]


@dataclass
class OverheadResult:
    """Wall seconds of every command, one entry per repeat."""

    seconds: dict[str, list[float]] = field(default_factory=dict)
    # CPU seconds (user + system, the command and the children it waited for): steadier than
    # wall time on a machine others share, shown beside it
    cpu_seconds: dict[str, list[float]] = field(default_factory=dict)
    startups: list[float] = field(default_factory=list)  # the trainer sweeps' start-ups
    few: int = FEW  # trials of the short and the long sweep
    many: int = MANY
    skipped: str | None = None

    def median(self, name: str) -> float | None:
        values = self.seconds.get(name)
        return statistics.median(values) if values else None

    def per_trial(self, who: str, *, cpu: bool = False) -> float | None:
        """Median over repeats of (T(many) - T(few)) / (many - few) seconds (wall, or CPU)."""
        times = self.cpu_seconds if cpu else self.seconds
        few = times.get(f"{who}, {self.few} trials")
        many = times.get(f"{who}, {self.many} trials")
        if not few or not many:
            return None
        return statistics.median((b - a) / (self.many - self.few)
                                 for a, b in zip(few, many, strict=False))

    def ratio(self, name: str, reference: str) -> float | None:
        a, b = self.median(name), self.median(reference)
        return None if a is None or not b else a / b


@contextlib.contextmanager
def busy_loops() -> Iterator[int]:
    """One process per core spinning in Python, for as long as the block runs; yields their
    count."""
    count = os.cpu_count() or 1
    loops = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        time.sleep(0.5)  # running before the measured command starts
        yield count
    finally:
        for loop in loops:
            loop.kill()
            loop.wait()


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(command: list[str], cwd: Path, timeout: float = 600.0) -> tuple[float, float, float]:
    """(POSIX start time, wall seconds, CPU seconds) of ``command`` run in ``cwd``; raises if
    it fails."""
    cpu, launched, begin = _children_cpu(), time.time(), time.perf_counter()
    proc = subprocess.run(command, cwd=cwd, env=_env(), capture_output=True, text=True,
                          timeout=timeout, check=False)
    wall = time.perf_counter() - begin
    cpu = _children_cpu() - cpu
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-5:])
        raise RuntimeError(f"`{' '.join(command)}` failed (exit {proc.returncode}): {tail}")
    return launched, wall, cpu


def _first_trial_start(start_dir: Path) -> float:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = f"sqlite:///{start_dir / 'mlruns' / 'optuna.db'}"
    (name,) = optuna.get_all_study_names(storage=storage)
    trials = optuna.load_study(study_name=name, storage=storage).trials
    return min(t.datetime_start.timestamp() for t in trials if t.datetime_start is not None)


def run_overhead(*, repeats: int, workdir: Path, few: int = FEW, many: int = MANY,
                 progress: Callable[[str], None] | None = None) -> OverheadResult:
    """Every command once per repeat, in a fresh directory under ``workdir`` each time; the
    sweeps at ``few`` and ``many`` trials."""
    result = OverheadResult(few=few, many=many)

    def record(name: str, times: tuple[float, float, float]) -> None:
        result.seconds.setdefault(name, []).append(times[1])
        result.cpu_seconds.setdefault(name, []).append(times[2])

    try:
        for r in range(repeats):
            def fresh(label: str, r: int = r) -> Path:
                path = workdir / f"{label}-{r}"
                path.mkdir(parents=True)
                return path

            record(IMPORT, timed([sys.executable, "-c", IMPORTS], fresh("import")))
            record(SKLEARN, timed([sys.executable, str(SKLEARN_SCRIPT)], fresh("sklearn")))
            record(TRAINER_RUN, timed([sys.executable, "-m", "trainer"], fresh("run")))
            with busy_loops():
                record(SKLEARN + BUSY, timed([sys.executable, str(SKLEARN_SCRIPT)],
                                             fresh("sklearn-busy")))
                record(TRAINER_RUN + BUSY, timed([sys.executable, "-m", "trainer"],
                                                 fresh("run-busy")))
            for n in (few, many):
                start_dir = fresh(f"sweep{n}")
                times = timed(sweep_command(n), start_dir)
                record(f"{TRAINER_SWEEP}, {n} trials", times)
                result.startups.append(_first_trial_start(start_dir) - times[0])
                start_dir = fresh(f"reference{n}")
                record(f"{REFERENCE}, {n} trials", timed(reference_command(n, start_dir),
                                                         start_dir))
            if progress is not None:
                progress(f"overhead repeat {r + 1}/{repeats}: " + ", ".join(
                    f"{name} {values[-1]:.1f} s" for name, values in result.seconds.items()))
    except (RuntimeError, subprocess.TimeoutExpired) as error:
        result.skipped = str(error)
    return result
