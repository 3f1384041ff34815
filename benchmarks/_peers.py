"""Section 6, against other sweep tools: the same sweeps through ours, hydra-optuna-sweeper 1.3.0,
Ray Tune and plain Optuna with a hand-written MLflow run per trial.

Every tool gets the same search space, trial budget and data, and runs the trainer's task
(``FitLoop``) in every trial, so only the sweep machinery differs:

- ours, as a user runs it: ``python -m trainer --multirun sweep=digits ...`` (or the medium
  workload's overrides), read back from its study and MLflow store as section 4 does;
- the peers (``benchmarks/peers/``) call ``peer_task.train``, the trainer's task built from its
  core exactly as ``trainer.app`` builds it, with the resolved config a trial of ours runs
  (composed here with Hydra and written to a workload file each peer reads); every trial appends
  its start, epochs and end to a JSON-lines file (``peers/peer_records.py``).

Workloads (:func:`workloads`): (a) ``digits``, the ``sweep=digits`` config (its search space,
sampler and pruner settings); (b) ``medium``, 784-256-128-10 on synthetic rows (10 Gaussian
classes, 10% of labels flipped so that regularization and early stopping matter), 20 epochs;
(c) ``foreign``, a Hydra app that is not the trainer (``peers/foreign_app.py``), swept by
hydra-optuna-sweeper and by ours (it reports each epoch through ``sweeps.report``). Each at
``n_jobs`` 1 and 2 and for several sampler seeds; every command runs alone, in a fresh start
directory, timed from outside.

Figures per run: wall time, epochs trained, the best value (of trials the tool completed, not
pruned or stopped), the wall time until it first completed a trial at least as good as the
weakest tool's best in the same (workload, n_jobs, seed) group (time to a common target), the
per-trial overhead besides training, the start-up, and the load average before it ran.
"""

from __future__ import annotations

import functools
import importlib.util
import itertools
import json
import os
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import _env, _peer_venv, _sweep
from benchmarks.peers import peer_records, peer_space

REPO = Path(__file__).resolve().parent.parent
PEERS = REPO / "benchmarks" / "peers"

TRAINER = "trainer (ours)"
HOS = "hydra-optuna-sweeper 1.3.0"
RAY = "Ray Tune"
OPTUNA = "Optuna + MLflow script"
# Ours with hydra.sweeper.mlflow=null: what the sweep machinery costs without the per-trial MLflow
# run hydra-optuna-sweeper does not make (an app's own choice; the trainer's runs always log)
UNTRACKED = "trainer (ours, untracked)"
TOOLS = (TRAINER, HOS, RAY, OPTUNA, UNTRACKED)

DIGITS, MEDIUM, FOREIGN = "digits", "medium", "foreign"
RAY_MISSING = ("`ray[tune]` is not installed (Ray alone is not enough); "
               "`pip install -e \".[bench]\"` adds it")

# Both sweeps' shared settings (conf/sweep/digits.yaml's): TPE with 8 random start-up trials,
# the median pruner from 5 finished trials and epoch 3 on
SAMPLER = {"n_startup_trials": 8}
PRUNER = {"n_startup_trials": 5, "n_warmup_steps": 3}
MEDIUM_PARAMS = {
    "optimizer.lr": "tag(log, interval(1e-4, 1e-2))",
    "batch_size": "choice(64, 128, 256)",
    "regularization.dropout": "interval(0.0, 0.5)",
    "regularization.l2": "tag(log, interval(1e-6, 1e-2))",
}
FOREIGN_PARAMS = {
    "lr": "tag(log, interval(1e-3, 1.0))",
    "momentum": "interval(0.5, 0.99)",
    "hidden": "choice(32, 64, 128)",
    "batch_size": "choice(16, 32, 64)",
    "l2": "tag(log, interval(1e-6, 1e-2))",
}


@dataclass(frozen=True)
class PeerSettings:
    """Sizes of section 6."""

    seeds: int = 3  # sampler seeds: one run per tool, workload, n_jobs and seed
    n_jobs: tuple[int, ...] = (1, 2)
    workloads: tuple[str, ...] = (DIGITS, MEDIUM, FOREIGN)
    digits_trials: int = 40
    medium_trials: int = 16
    medium_epochs: int = 20
    medium_rows: int = 20_000  # training rows (the split adds 20% each for validation, test)
    foreign_trials: int = 24
    foreign_epochs: int = 20
    tools: tuple[str, ...] = TOOLS


FULL = PeerSettings()
QUICK = PeerSettings(seeds=1, digits_trials=12, medium_trials=6, medium_epochs=8,
                     medium_rows=5_000, foreign_trials=8, foreign_epochs=8)
# Within about half an hour on two shared cores: (a) and (c) at the sizes on one seed,
# the medium model cut down (at full size one tool's sweep takes 5-8 minutes there)
BOUNDED = PeerSettings(seeds=1, medium_trials=8, medium_epochs=10, medium_rows=5_000)
SIZES = {"full": FULL, "bounded": BOUNDED, "quick": QUICK}


@dataclass
class Workload:
    """One sweep every tool runs: the trainer's fixed overrides, the search space and budget."""

    name: str
    n_trials: int
    max_epochs: int
    params: dict[str, str]
    conditions: dict[str, str] = field(default_factory=dict)
    overrides: list[str] = field(default_factory=list)  # the trainer's, besides the space
    file: Path | None = None  # the workload file the peers read (written by prepare())


@dataclass
class PeerRun:
    """One tool's sweep of one workload at one n_jobs and sampler seed."""

    tool: str
    workload: str
    n_jobs: int
    seed: int
    run: _sweep.SweepRun
    load_before: float | None = None  # the 1-minute load average when it started
    command: str = ""  # as a user types it (the run's directory shown as $WORKDIR)
    compute_seconds: float | None = None  # the epochs' own time, without per-epoch reporting

    @property
    def ok(self) -> bool:
        return self.run.error is None


@dataclass
class PeersResult:
    settings: PeerSettings
    workloads: dict[str, Workload]
    runs: list[PeerRun] = field(default_factory=list)
    skipped: dict[tuple[str, str], str] = field(default_factory=dict)  # (tool, workload): why

    def group(self, workload: str, n_jobs: int, seed: int) -> dict[str, PeerRun]:
        return {r.tool: r for r in self.runs
                if (r.workload, r.n_jobs, r.seed) == (workload, n_jobs, seed) and r.ok}


# --------------------------------------------------------------------------- figures


def completed(run: _sweep.SweepRun) -> list[_sweep.TrialRecord]:
    """Trials the tool completed (not pruned, stopped or failed), by completion time."""
    done = [t for t in run.trials if t.state == "COMPLETE" and t.value is not None
            and t.complete is not None]
    return sorted(done, key=lambda t: t.complete or 0.0)


def best_value(run: _sweep.SweepRun) -> float | None:
    values = [t.value for t in completed(run) if t.value is not None]
    return min(values) if values else None


def time_to(run: _sweep.SweepRun, target: float) -> float | None:
    """Seconds from the command's start until it first completed a trial with a value at or
    below ``target`` (None: never)."""
    for t in completed(run):
        if t.value is not None and t.value <= target:
            return (t.complete or 0.0) - run.launched
    return None


def common_target(group: dict[str, PeerRun]) -> float | None:
    """The best value the weakest tool of the group reached (values are minimized)."""
    bests = [best_value(r.run) for r in group.values()]
    found = [b for b in bests if b is not None]
    return max(found) if found and len(found) == len(bests) else None


def slot_seconds_per_trial(run: _sweep.SweepRun, n_jobs: int) -> float | None:
    """(n_jobs x wall - time in epochs) / trials: the worker-slot time each trial cost besides
    training, start-up, waits at a batch barrier and idle slots included."""
    if not run.trials:
        return None
    return (n_jobs * run.wall_seconds - run.epoch_seconds) / len(run.trials)


def gap_overhead(run: _sweep.SweepRun) -> float | None:
    """Median of (completion - previous completion - the trial's epochs), n_jobs=1: what a
    trial costs besides training once the sweep runs (section 4's measure)."""
    gaps = run.overheads()
    return statistics.median(gaps) if gaps else None


def ratios(result: PeersResult, workload: str, peer: str, n_jobs: int,
           measure: str, *, ours_as: str = TRAINER) -> list[float]:
    """Ours (``ours_as``: tracked, or :data:`UNTRACKED`) / ``peer`` per seed where both ran:
    ``measure`` is ``target`` (time to the group's common target) or ``wall``."""
    found = []
    for seed in range(result.settings.seeds):
        group = result.group(workload, n_jobs, seed)
        if ours_as not in group or peer not in group:
            continue
        ours, theirs = group[ours_as].run, group[peer].run
        if measure == "wall":
            a, b = ours.wall_seconds, theirs.wall_seconds
        else:
            target = common_target(group)
            if target is None:
                continue
            a, b = time_to(ours, target), time_to(theirs, target)  # type: ignore[assignment]
        if a is not None and b:
            found.append(a / b)
    return found


def median_ratio(result: PeersResult, workload: str, peer: str, n_jobs: int,
                 measure: str, *, ours_as: str = TRAINER) -> float | None:
    found = ratios(result, workload, peer, n_jobs, measure, ours_as=ours_as)
    return statistics.median(found) if found else None


def best_difference(result: PeersResult, workload: str, peer: str) -> float | None:
    """Median over seeds and n_jobs of (our best - the peer's best) / |the peer's best|."""
    found = []
    for n_jobs, seed in itertools.product(result.settings.n_jobs, range(result.settings.seeds)):
        group = result.group(workload, n_jobs, seed)
        if TRAINER in group and peer in group:
            ours, theirs = best_value(group[TRAINER].run), best_value(group[peer].run)
            if ours is not None and theirs:
                found.append((ours - theirs) / abs(theirs))
    return statistics.median(found) if found else None


# --------------------------------------------------------------------------- workloads


def _compose(overrides: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The trainer's resolved config for ``overrides`` (as ``python -m trainer`` composes it,
    without its ``hydra`` node) and its resolved ``hydra.sweeper`` node."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    import trainer.hydra_resolvers  # noqa: F401  (${trainer.direction:...} in the sweeper's node)
    from trainer import CONFIG_DIR

    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"), warnings.catch_warnings():
        # as python -m trainer: the trainer's sweeper file extends the plugin's schema of the
        # same name on purpose (trainer/__main__.py)
        warnings.filterwarnings("ignore", message=r"\s*'hydra/sweeper/optuna' is validated",
                                category=UserWarning)
        sweeper = compose("config", overrides=overrides, return_hydra_config=True).hydra.sweeper
        config = compose("config", overrides=overrides)
        return (OmegaConf.to_container(config, resolve=True),  # type: ignore[return-value]
                OmegaConf.to_container(sweeper, resolve=True))


def write_medium_data(path: Path, train_rows: int, *, seed: int = 0) -> None:
    """``train_rows`` / 0.6 rows (the split keeps 60% for training) of 784 float32 features in
    10 Gaussian classes (centres 0.1 sigma apart per feature), 10% of the labels flipped."""
    from benchmarks import _data

    rows = int(round(train_rows / 0.6))
    problem = _data.medium(rows, 0, seed=seed)
    rng = np.random.default_rng(seed + 1)
    y = problem.y_train.copy()
    flip = rng.random(rows) < 0.1
    y[flip] = rng.integers(0, 10, size=int(flip.sum()))
    np.savez(path, X=problem.X_train, y=y)


def write_foreign_data(path: Path) -> None:
    """The 8x8 digits (scikit-learn's copy, bundled with the trainer) for the foreign app."""
    from trainer.data.loaders import BUNDLED_DIR

    with np.load(BUNDLED_DIR / "digits.npz") as bundled:
        np.savez(path, X=bundled["X"], y=bundled["y"])


def workloads(settings: PeerSettings, workdir: Path) -> dict[str, Workload]:
    """The selected workloads, their data written under ``workdir``."""
    found: dict[str, Workload] = {}
    if DIGITS in settings.workloads:
        _, sweeper = _compose(["sweep=digits"])
        params = {str(k): str(v) for k, v in sweeper["params"].items()}
        epochs = next(p for p in peer_space.parse(params, {}) if p.name == "epochs")
        found[DIGITS] = Workload(DIGITS, settings.digits_trials, int(epochs.args[1]), params,
                                 {str(k): str(v) for k, v in sweeper["conditions"].items()},
                                 ["sweep=digits"])
    if MEDIUM in settings.workloads:
        data = workdir / "medium.npz"
        write_medium_data(data, settings.medium_rows)
        found[MEDIUM] = Workload(MEDIUM, settings.medium_trials, settings.medium_epochs,
                                 dict(MEDIUM_PARAMS), overrides=[
                                     "hydra/sweeper=optuna", "data=npz", f"data.path={data}",
                                     "model.hidden=[256,128]", f"epochs={settings.medium_epochs}",
                                     "early_stopping.patience=5"])
    if FOREIGN in settings.workloads:
        data = workdir / "digits.npz"
        write_foreign_data(data)
        found[FOREIGN] = Workload(FOREIGN, settings.foreign_trials, settings.foreign_epochs,
                                  dict(FOREIGN_PARAMS), overrides=[
                                      f"data={data}", f"epochs={settings.foreign_epochs}"])
    for workload in found.values():
        workload.file = workdir / f"{workload.name}.json"
        workload.file.write_text(json.dumps(workload_file(workload)))
    return found


def workload_file(workload: Workload) -> dict[str, Any]:
    """What the peers read (``peers/peer_task.py``): the resolved config before a trial's
    parameters, every optimizer group's node, the search space and the sweep's settings."""
    content: dict[str, Any] = {
        "name": workload.name, "params": workload.params, "conditions": workload.conditions,
        "n_trials": workload.n_trials, "max_epochs": workload.max_epochs,
        "objective": "val_loss", "direction": "minimize", "sampler": SAMPLER, "pruner": PRUNER}
    if workload.name == FOREIGN:  # not the trainer: no trainer config
        return content
    base = [o for o in workload.overrides if not o.startswith("hydra/")]
    content["config"], _ = _compose(base)
    content["optimizers"] = {name: _compose([*base, f"optimizer={name}"])[0]["optimizer"]
                             for name in ("sgd", "momentum", "rmsprop", "adam")}
    return content


# --------------------------------------------------------------------------- commands


def _quoted(args: list[str]) -> str:
    return " ".join(f"'{a}'" if any(c in a for c in " ()[]{},") else a for a in args)


def trainer_command(workload: Workload, n_jobs: int, seed: int, records: Path) -> list[str]:
    """Ours, as a user runs it."""
    if workload.name == FOREIGN:
        head = [str(PEERS / "foreign_app.py"), "--multirun", "hydra/sweeper=optuna"]
        tail = [f"hydra.sweeper.n_trials={workload.n_trials}", f"hydra.sweeper.n_jobs={n_jobs}",
                f"hydra.sweeper.seed={seed}", "hydra.sweeper.direction=minimize",
                _dict("hydra.sweeper.sampler", "tpe", SAMPLER),
                _dict("hydra.sweeper.pruner", "median", PRUNER)]
        return [sys.executable, *head, *workload.overrides, f"records={records}",
                *(f"{k}={v}" for k, v in workload.params.items()), *tail]
    space = [] if workload.name == DIGITS else [f"{k}={v}" for k, v in workload.params.items()]
    settings = [] if workload.name == DIGITS else [_dict("hydra.sweeper.sampler", "tpe", SAMPLER),
                                                   _dict("hydra.sweeper.pruner", "median", PRUNER)]
    return [sys.executable, "-m", "trainer", "--multirun", *workload.overrides, *space,
            f"hydra.sweeper.n_trials={workload.n_trials}", f"hydra.sweeper.n_jobs={n_jobs}",
            f"hydra.sweeper.seed={seed}", *settings, "progress=none"]


def _dict(key: str, name: str, values: dict[str, int]) -> str:
    return f"{key}={{name:{name}," + ",".join(f"{k}:{v}" for k, v in values.items()) + "}"


def hos_command(python: Path, workload: Workload, n_jobs: int, seed: int,
                records: Path) -> list[str]:
    """hydra-optuna-sweeper's: the trainer's task (``hos_app.py``) or the foreign app, the same
    search space on the command line, TPE seeded; two at a time through the joblib launcher
    (its basic launcher would run a batch one trial after the other)."""
    if workload.name == FOREIGN:
        app = [str(PEERS / "foreign_app.py"), "--multirun", "hydra/sweeper=optuna",
               *workload.overrides, f"records={records}"]
        space = [f"{k}={v}" for k, v in workload.params.items()]
    else:
        app = [str(PEERS / "hos_app.py"), "--multirun", f"workload={workload.file}",
               f"records={records}", f"blas_threads={_cores() // n_jobs}"]
        space = [f"{'optimizer.name' if k == 'optimizer' else k}={v}"
                 for k, v in workload.params.items()]
    parallel = ["hydra/launcher=joblib", f"hydra.launcher.n_jobs={n_jobs}"] if n_jobs > 1 else []
    # a diverged trial fails alone, as in ours (whose limit is 0.5); the plugin's default, 0.0,
    # would end the sweep at the first
    return [str(python), *app, *space, f"hydra.sweeper.n_trials={workload.n_trials}",
            f"hydra.sweeper.n_jobs={n_jobs}", f"hydra.sweeper.sampler.seed={seed}",
            f"hydra.sweeper.sampler.n_startup_trials={SAMPLER['n_startup_trials']}",
            "hydra.sweeper.max_failure_rate=0.5", *parallel]


def script_command(script: str, workload: Workload, n_jobs: int, seed: int, start_dir: Path,
                   records: Path) -> list[str]:
    """The plain Optuna script's or the Ray Tune script's."""
    command = [sys.executable, str(PEERS / script), "--workload", str(workload.file),
               "--dir", str(start_dir), "--n-jobs", str(n_jobs), "--seed", str(seed),
               "--records", str(records)]
    if script == "ray_tune.py":
        return [*command, "--cores", str(_cores())]
    return [*command, "--blas-threads", str(max(1, _cores() // n_jobs))]


def _cores() -> int:
    from runkit.process import available_cores

    return available_cores()


# --------------------------------------------------------------------------- running


def _environment(*paths: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in paths)
    return env


def _timed(label: str, command: list[str], cwd: Path, env: dict[str, str], n_jobs: int,
           timeout: float) -> _sweep.SweepRun:
    launched, begin = time.time(), time.perf_counter()
    try:
        proc = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=timeout, check=False)
        out, code = proc.stdout + proc.stderr, proc.returncode
    except subprocess.TimeoutExpired as expired:
        out, code = f"timed out after {timeout:.0f} s: {expired}", -1
    wall = time.perf_counter() - begin
    (cwd / "sweep.log").write_text(out)
    run = _sweep.SweepRun(label, True, n_jobs, command[1:], wall, code, launched=launched,
                          finished=launched + wall)
    if code != 0:
        run.error = "\n".join(out.strip().splitlines()[-5:])
    return run


def from_records(run: _sweep.SweepRun, path: Path) -> float | None:
    """Fill ``run`` with the trials its task recorded in ``path``; returns the epochs' own
    seconds (without the tool's per-epoch reporting) where every epoch recorded them."""
    compute, complete = 0.0, True
    for number, trial in enumerate(peer_records.read(path)):
        compute += sum(trial.compute)
        complete = complete and len(trial.compute) == len(trial.epoch_times)
        done = trial.state == "COMPLETE"
        run.trials.append(_sweep.TrialRecord(
            number=number, state=trial.state if trial.state in ("COMPLETE", "FAIL") else "PRUNED",
            value=trial.value if done else None,
            start=trial.start if trial.start is not None else float("nan"),
            complete=trial.finished, epochs=len(trial.epoch_times),
            epoch_seconds=_sweep._epoch_seconds([round(t * 1000) for t in trial.epoch_times])))
    run.best_value = best_value(run)
    return compute if complete and run.trials else None


def run_tool(tool: str, workload: Workload, n_jobs: int, seed: int, workdir: Path, *,
             hos_python: Path | None, timeout: float = 1800.0) -> PeerRun:
    """One sweep of ``tool``, its trials read back; ``command`` as a user types it."""
    label = f"{tool}, {workload.name}, n_jobs={n_jobs}, seed {seed}"
    start_dir = workdir / "".join(c if c.isalnum() else "-" for c in label)
    start_dir.mkdir(parents=True)
    records = start_dir / "trials.jsonl"
    env = _environment(REPO, PEERS)
    if tool in (TRAINER, UNTRACKED):
        command = trainer_command(workload, n_jobs, seed, records)
        if tool == UNTRACKED:
            command.append("hydra.sweeper.mlflow=null")
    elif tool == HOS:
        assert hos_python is not None
        command = hos_command(hos_python, workload, n_jobs, seed, records)
        env = _environment(_peer_venv.core_path(workdir), PEERS)
    else:
        script = "ray_tune.py" if tool == RAY else "optuna_mlflow.py"
        command = script_command(script, workload, n_jobs, seed, start_dir, records)
    load = _env.load_average()
    run = _timed(label, command, start_dir, env, n_jobs, timeout)
    peer = PeerRun(tool, workload.name, n_jobs, seed, run, load_before=load,
                   command=_quoted(["python", *command[1:]]).replace(str(workdir), "$WORKDIR")
                   .replace(str(REPO) + "/", ""))
    if run.error is not None:
        return peer
    if tool == TRAINER and workload.name != FOREIGN:  # the trainer's own study and store
        run.trials, run.best_value = _sweep.read_sweep(start_dir)
    else:
        peer.compute_seconds = from_records(run, records)
    return peer


@functools.cache
def ray_tune_importable() -> bool:
    """Whether ``ray.tune`` imports here: Ray itself may be installed without Tune's extra
    dependencies (the ``ray`` extra, for Hydra's Ray launcher, brings Ray core only). Asked in
    a child process: importing Ray costs seconds and starts threads this process does not want."""
    if importlib.util.find_spec("ray") is None:
        return False
    return subprocess.run([sys.executable, "-c", "import ray.tune"], capture_output=True,
                          timeout=300, check=False).returncode == 0


def unavailable(tool: str, workload: str) -> str | None:
    """Why ``tool`` cannot run ``workload`` here (None: it can)."""
    if tool == RAY and workload != FOREIGN and not ray_tune_importable():
        return RAY_MISSING
    if workload == FOREIGN and tool in (RAY, OPTUNA):
        return "measured against hydra-optuna-sweeper only (the issue's comparison)"
    if workload != FOREIGN and tool == UNTRACKED:
        return "the trainer's runs always log to MLflow (an app without tracking: (c))"
    return None


def run_peers(settings: PeerSettings, *, workdir: Path,
              progress: Callable[[str], None] | None = None) -> PeersResult:
    """Every selected tool on every workload, n_jobs and seed, one command at a time; the
    order of the tools rotates with the seed, so a slow spell of the machine hits each alike."""
    say = progress or (lambda message: None)
    found = workloads(settings, workdir)
    result = PeersResult(settings, found)
    hos_python: Path | None = None
    if HOS in settings.tools:
        try:
            hos_python = _peer_venv.ensure(progress=say)
        except _peer_venv.EnvironmentUnavailable as error:
            for name in found:
                result.skipped[(HOS, name)] = str(error)
    for workload in found.values():
        tools = [t for t in settings.tools if (t, workload.name) not in result.skipped]
        for tool in list(tools):
            why = unavailable(tool, workload.name)
            if why is not None:
                result.skipped[(tool, workload.name)] = why
                tools.remove(tool)
        for n_jobs in settings.n_jobs:
            for seed in range(settings.seeds):
                shift = seed % max(1, len(tools))
                for tool in tools[shift:] + tools[:shift]:
                    peer = run_tool(tool, workload, n_jobs, seed, workdir,
                                    hos_python=hos_python)
                    result.runs.append(peer)
                    run = peer.run
                    status = (f"{len(run.trials)} trials, {run.epochs} epochs, best "
                              f"{run.best_value}" if run.error is None
                              else f"FAILED (exit {run.returncode}): {run.error}")
                    say(f"peers {run.label}: {run.wall_seconds:.1f} s, {status}")
    return result
