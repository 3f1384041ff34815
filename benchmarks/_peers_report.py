"""Section 6 of RESULTS.md (ours against other sweep tools) and its targets."""

from __future__ import annotations

import statistics

from benchmarks import _peers
from benchmarks._peers import (
    DIGITS,
    FOREIGN,
    HOS,
    MEDIUM,
    OPTUNA,
    RAY,
    TRAINER,
    UNTRACKED,
    PeersResult,
)
from benchmarks._report import Target, _table

TITLE = "6. Against other sweep tools"
NAMES = {DIGITS: "(a) sweep=digits", MEDIUM: "(b) the medium model, 784-256-128-10",
         FOREIGN: "(c) an app that is not the trainer"}


def targets(result: PeersResult | None) -> list[Target]:
    """Ours over each peer, median over sampler seeds, at n_jobs 1 and 2. Time to the common
    target where the algorithms differ (no pruning, ASHA); wall time where they are the same
    (plain Optuna: the same TPE and median pruner) or the issue asks for it (the foreign app)."""
    def ratio(workload: str, peer: str, n_jobs: int, measure: str,
              ours_as: str = TRAINER) -> float | None:
        if result is None:
            return None
        return _peers.median_ratio(result, workload, peer, n_jobs, measure, ours_as=ours_as)

    rows = []
    for j in (1, 2):
        rows += [
            Target(f"sweep=digits, time to the common target: ours / hydra-optuna-sweeper "
                   f"(n_jobs={j})", 0.5, ratio(DIGITS, HOS, j, "target"), how="6"),
            Target(f"sweep=digits, time to the common target: ours / Ray Tune (n_jobs={j})",
                   0.5, ratio(DIGITS, RAY, j, "target"), how="6"),
            Target(f"sweep=digits, wall time: ours / Optuna + MLflow script (n_jobs={j})", 1.0,
                   ratio(DIGITS, OPTUNA, j, "wall"), how="6"),
            Target(f"Medium model, time to the common target: ours / Ray Tune (n_jobs={j})",
                   0.8, ratio(MEDIUM, RAY, j, "target"), how="6"),
            Target(f"Medium model, wall time: ours / Optuna + MLflow script (n_jobs={j})", 1.0,
                   ratio(MEDIUM, OPTUNA, j, "wall"), how="6"),
            Target(f"An app that is not the trainer, wall time: ours / hydra-optuna-sweeper "
                   f"(n_jobs={j})", 0.7, ratio(FOREIGN, HOS, j, "wall"), how="6"),
            # like for like: hydra-optuna-sweeper tracks nothing either
            Target(f"An app that is not the trainer, untracked (hydra.sweeper.mlflow=null), "
                   f"wall time: ours / hydra-optuna-sweeper (n_jobs={j})", 0.7,
                   ratio(FOREIGN, HOS, j, "wall", UNTRACKED), how="6"),
        ]
    difference = None if result is None else _peers.best_difference(result, FOREIGN, HOS)
    rows.append(Target("An app that is not the trainer: best value, ours vs "
                       "hydra-optuna-sweeper (relative, median)", 0.01, difference, unit="%",
                       how="6"))
    return rows


def _seconds(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f} s"


CONFIGURATIONS = [
    f"- **{TRAINER}**: as a user runs it, `python -m trainer --multirun` (the foreign app: "
    "its own command with `hydra/sweeper=optuna`): TPE with 8 random start-up trials, the median "
    "pruner from 5 finished trials and epoch 3 on (`sweep=digits` as shipped; the same settings "
    "on the command line for the others), `n_jobs` worker processes with no batch barrier, "
    "the study on SQLite; every trial an MLflow child run with the resolved config, per-epoch "
    "metrics, test metrics, its learning-curve picture and its logged model (pruned trials: "
    "params and epochs only).",
    f"- **{UNTRACKED}** (the app that is not the trainer only): the same command with "
    "`hydra.sweeper.mlflow=null`, an app's choice of no tracking: the same study on SQLite, "
    "pruning and workers, no MLflow parent or child runs. hydra-optuna-sweeper tracks nothing, "
    "so this row compares the sweep machinery alone.",
    f"- **{HOS}** (Optuna 2.10, in its own virtual environment, made by the benchmark): TPE with "
    "the same start-up trials and seed, in-memory storage (its default and its fastest); "
    "`n_jobs` is its batch: it asks for `n_jobs` trials, launches them and waits for all of "
    "them. At n_jobs=2 through Hydra's joblib launcher (`hydra/launcher=joblib`: loky processes "
    "kept across batches, BLAS threads split between them), because its basic launcher runs a "
    "batch one trial after the other. It cannot prune (a job has no way to report) and tracks "
    "nothing; `max_failure_rate=0.5` as ours (its default, 0, ends the sweep at the first "
    "diverged trial). Its app calls the trainer's task as a function.",
    f"- **{RAY}** (`benchmarks/peers/ray_tune.py`): `OptunaSearch` (TPE, the same start-up "
    "trials and seed; a define-by-run space, so the conditional parameter stays conditional) "
    "with `ASHAScheduler(grace_period=3, reduction_factor=2)` and `max_t` one past the most "
    "epochs a trial may ask (a trial's own epochs end it). Grace period 3 is the first epoch at "
    "which the other tools' median pruner may stop a trial (a shorter one prunes on the noisier "
    "first epochs, a longer one later than the others); reduction factor 2 keeps the better "
    "half at each rung, as the median does (Tune's default, 4, keeps a quarter). One report per "
    "epoch, `max_concurrent_trials=n_jobs` with the cores split between them, reused actors "
    "(Tune's default); `MLflowLoggerCallback` records each trial's config and per-epoch "
    "metrics; Tune's own result files are off (MLflow keeps the record).",
    f"- **{OPTUNA}** (`benchmarks/peers/optuna_mlflow.py`): what a user writes without a sweep "
    "tool: the same TPE and `MedianPruner` settings, the study on SQLite, an MLflow parent run "
    "and a child run per trial with the resolved config, per-epoch metrics (`log_metrics` each "
    "epoch) and, unless pruned, the learning-curve picture and the weights; at n_jobs=2 two "
    "processes on the one study (Optuna's advice for CPU-bound work: its `n_jobs` threads share "
    "one interpreter lock), each asking for half of the trials with its own sampler seed.",
]


def _row(peer: _peers.PeerRun, target: float | None) -> list[str]:
    run = peer.run
    head = [peer.tool, str(peer.n_jobs), str(peer.seed)]
    load = "-" if peer.load_before is None else f"{peer.load_before:.1f}"
    if run.error is not None:
        return [*head, f"{run.wall_seconds:.1f} s", "failed", *["-"] * 8, load]
    best = _peers.best_value(run)
    reached = None if target is None else _peers.time_to(run, target)
    return [
        *head, f"{run.wall_seconds:.1f} s",
        f"{run.count('COMPLETE')} / {run.count('PRUNED')} / {run.count('FAIL')}",
        str(run.epochs), _seconds(run.epoch_seconds),
        "-" if best is None else f"{best:.4f}",
        "-" if target is None else f"{target:.4f}",
        _seconds(reached),
        _seconds(_peers.gap_overhead(run) if peer.n_jobs == 1 else None, 2),
        _seconds(_peers.slot_seconds_per_trial(run, peer.n_jobs), 2),
        _seconds(run.startup_seconds), load,
    ]


def _ratios_line(result: PeersResult, workload: str) -> list[str]:
    parts = []
    for ours_as, peer in ((TRAINER, HOS), (TRAINER, RAY), (TRAINER, OPTUNA), (UNTRACKED, HOS)):
        for j in result.settings.n_jobs:
            for measure, name in (("target", "time to target"), ("wall", "wall")):
                found = _peers.ratios(result, workload, peer, j, measure, ours_as=ours_as)
                if found:
                    untracked = "untracked " if ours_as == UNTRACKED else ""
                    parts.append(f"{untracked}{name} / {peer} at n_jobs={j}: "
                                 f"{statistics.median(found):.2f}x ("
                                 + ", ".join(f"{x:.2f}" for x in found) + ")")
    return ["", "Ours over each peer, median (each seed): " + "; ".join(parts) + "."] if parts \
        else []


def section(result: PeersResult) -> list[str]:
    s = result.settings
    lines = [f"## {TITLE}", ""]
    lines += [
        "The same sweeps through ours and the tools a user would otherwise pick: the same "
        "search space, trial budget and data for every tool, and the trainer's task (`FitLoop`, "
        "built from the resolved config a trial of ours runs, exactly as `trainer.app` builds "
        "it: `benchmarks/peers/peer_task.py`) in every trial of every tool, so only the sweep "
        "machinery differs. Each command runs alone in a fresh directory, timed from outside; "
        f"every workload at n_jobs {' and '.join(map(str, s.n_jobs))} with sampler seeds "
        f"0 to {s.seeds - 1} (the tools' order rotating with the seed).", "",
        f"- (a) `sweep=digits`: its search space, {s.digits_trials} trials;",
        f"- (b) the medium model: 784-256-128-10 on {s.medium_rows:,} training rows (synthetic: "
        "10 Gaussian classes, 10% of the labels flipped), Adam, early stopping (patience 5), "
        f"{s.medium_trials} trials of up to {s.medium_epochs} epochs; searched: "
        + ", ".join(f"`{k}={v}`" for k, v in _peers.MEDIUM_PARAMS.items()) + ";",
        f"- (c) an app that is not the trainer (`benchmarks/peers/foreign_app.py`, a NumPy MLP "
        f"on the digits that calls `sweeps.report` every epoch), {s.foreign_trials} trials of "
        f"{s.foreign_epochs} epochs, against hydra-optuna-sweeper (the issue's comparison); "
        "searched: " + ", ".join(f"`{k}={v}`" for k, v in _peers.FOREIGN_PARAMS.items()) + ".",
        "",
        "Each tool's configuration, and why it is that tool's best honest setting:", "",
        *CONFIGURATIONS, "",
        "Figures: the best value is that of trials the tool completed (not pruned, stopped or "
        "failed); the common target is the best value the weakest tool of the same (workload, "
        "n_jobs, seed) reached, and time to target the wall time from the command's start until "
        "the tool first completed a trial at least that good (a trial's completion: ours, "
        "Optuna's record; the peers, the task's return, a little before their sweeper hears "
        "of it). Time in epochs comes from each epoch's log time, as in section 4, so a tool's "
        "per-epoch reporting is inside it (Ray Tune's synchronous report is the large one: "
        "its epochs' own time is given below). Overhead per trial: the median time from one "
        "completion to the next minus that trial's epochs (n_jobs=1). Slot time besides "
        "training: (n_jobs x wall - time in epochs) / trials, start-up, barrier waits and idle "
        "slots included. Load: the 1-minute load average when the command started (the "
        "benchmark itself adds about n_jobs).",
    ]
    loads = [r.load_before for r in result.runs if r.load_before is not None]
    if loads:
        lines += ["", f"Load average (1 min) before the section's commands: {min(loads):.1f} to "
                      f"{max(loads):.1f}."]
    present = {*result.workloads, *(r.workload for r in result.runs)}
    for name in [w for w in NAMES if w in present]:
        lines += ["", f"### {NAMES[name]}", ""]
        shown = {}
        for peer in result.runs:
            if peer.workload == name and peer.n_jobs == 1 and peer.seed == 0:
                shown[peer.tool] = peer.command
        lines += [f"- {tool}: `{command}`" for tool, command in shown.items()]
        lines += [f"- {tool}: not measured: {why}." for (tool, w), why in result.skipped.items()
                  if w == name]
        lines += [""]
        rows = []
        for peer in result.runs:
            if peer.workload != name:
                continue
            target = _peers.common_target(result.group(name, peer.n_jobs, peer.seed))
            rows.append(_row(peer, target))
        if rows:
            lines += _table(["tool", "n_jobs", "seed", "wall", "complete / pruned / failed",
                             "epochs trained", "time in epochs", "best val_loss",
                             "common target", "time to target", "overhead per trial",
                             "slot time besides training per trial", "start-up", "load"],
                            rows)
        lines += _ratios_line(result, name)
        computes = [f"{p.tool} n_jobs={p.n_jobs} seed {p.seed}: {p.compute_seconds:.1f} s of "
                    f"{p.run.epoch_seconds:.1f} s" for p in result.runs
                    if p.workload == name and p.compute_seconds is not None
                    and p.run.epoch_seconds > 0
                    and p.compute_seconds < 0.8 * p.run.epoch_seconds]
        if computes:
            lines += ["", "Epochs' own time where per-epoch reporting took over a fifth of the "
                          "time in epochs: " + "; ".join(computes) + "."]
        for peer in result.runs:
            if peer.workload == name and peer.run.error is not None:
                lines += ["", f"Failed: {peer.run.label}: "
                              + peer.run.error.replace("\n", " / ") + "."]
    return lines
