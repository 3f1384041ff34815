"""RESULTS.md: the environment, every target with its measured ratio, and one table per benchmark.

Ratios are the claim (median over median, measured side by side in the same run); absolute
medians are shown beside them only to give a sense of scale.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from benchmarks import _estimator, _mlp, _overhead, _sweep, _tracking
from benchmarks._env import Environment, blas_kernel, threads

# Everything from this line on is written by hand and kept when the script rewrites the file.
HAND_WRITTEN_MARKER = (
    "<!-- hand-written below: kept when `python -m benchmarks` rewrites this file -->"
)


@dataclass(frozen=True)
class Target:
    """One target of issue 4: ``measured`` must be <= ``limit`` (or >= for ``at_least``)."""

    name: str
    limit: float
    measured: float | None  # None: not measured in this run
    unit: str = "x"  # "x" for ratios, "%" for fractions, "s" for seconds
    at_least: bool = False
    how: str = ""

    @property
    def met(self) -> bool | None:
        if self.measured is None or math.isnan(self.measured):
            return None
        return self.measured >= self.limit if self.at_least else self.measured <= self.limit

    def format(self, value: float) -> str:
        if self.unit == "%":
            return f"{value * 100:+.1f}%" if value < 0 else f"{value * 100:.1f}%"
        if self.unit == "s":
            return f"{value:.2f} s"
        return f"{value:.2f}x"


def _table(header: Iterable[str], rows: Iterable[Iterable[str]]) -> list[str]:
    header = list(header)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


# --------------------------------------------------------------------------- targets


def mlp_targets(medium: _mlp.EpochResult | None, small: _mlp.EpochResult | None) -> list[Target]:
    def ratio(result: _mlp.EpochResult | None, reference: str) -> float | None:
        if result is None or reference not in result.timings:
            return None
        return result.ratio(_mlp.TRAINER, reference)

    return [
        Target("Medium MLP epoch: trainer / scikit-learn (float32)", 0.40,
               ratio(medium, _mlp.SKLEARN32), how="1"),
        Target("Medium MLP epoch: trainer / PyTorch", 0.65, ratio(medium, _mlp.TORCH), how="1"),
        Target("Medium MLP epoch: trainer / GEMM bound", 1.40, ratio(medium, _mlp.GEMM), how="1"),
        Target("Small MLP epoch: trainer / scikit-learn (float32)", 0.30,
               ratio(small, _mlp.SKLEARN32), how="2"),
    ]


def tracking_targets(result: _tracking.TrackingResult | None) -> list[Target]:
    def overhead(peer: str) -> float | None:
        return None if result is None else result.overhead(peer)

    return [
        Target("Per-epoch cost: a real run's callbacks / the bare FitLoop, added", 0.10,
               overhead(_tracking.CALLBACKS), unit="%", how="3"),
        Target("MLflow per-epoch logging adds to the small MLP's training", 0.10,
               overhead(_tracking.EPOCH_LOGGING), unit="%", how="3"),
        Target("MLflow whole tracked run (create, params, epochs, end) adds", 0.10,
               overhead(_tracking.WHOLE), unit="%", how="3"),
    ]


def _pruning_figures(result: _sweep.SweepResult) -> list[tuple[int, float, float]]:
    """(seed, epochs pruned / unpruned, relative best-value difference) per pruning pair."""
    figures = []
    for seed, pruned, unpruned in result.pairs(_sweep.pruning_pair, result.seeds):
        if unpruned.epochs and pruned.best_value is not None and unpruned.best_value:
            figures.append((seed, pruned.epochs / unpruned.epochs,
                            (pruned.best_value - unpruned.best_value) / abs(unpruned.best_value)))
    return figures


def _speedups(result: _sweep.SweepResult) -> list[float]:
    return [one.wall_seconds / two.wall_seconds
            for _, one, two in result.pairs(_sweep.speedup_pair, result.repeats)
            if two.wall_seconds > 0]


def sweep_targets(result: _sweep.SweepResult | None) -> list[Target]:
    epochs = best = speedup = overhead = in_epochs = None
    if result is not None and result.runs:
        figures = _pruning_figures(result)
        if figures:
            epochs = statistics.median(f[1] for f in figures)
            best = statistics.median(f[2] for f in figures)
        speedups = _speedups(result)
        if speedups:
            speedup = statistics.median(speedups)
        overheads = [o for _, pruned, _ in result.pairs(_sweep.pruning_pair, result.seeds)
                     for o in pruned.overheads()]
        if overheads:
            overhead = statistics.median(overheads)
        shares = [pruned.epoch_seconds / pruned.wall_seconds
                  for _, pruned, _ in result.pairs(_sweep.pruning_pair, result.seeds)]
        if shares:
            in_epochs = statistics.median(shares)
    return [
        Target("Pruning: epochs trained, pruned / unpruned (median over seeds)", 0.50, epochs,
               how="4"),
        Target("Pruning: best val_loss, pruned vs unpruned (relative, median over seeds)", 0.01,
               best, unit="%", how="4"),
        Target("Sweep wall time: n_jobs=1 / n_jobs=2 (the same trials, median)", 1.60, speedup,
               at_least=True, how="4"),
        Target("Per-trial overhead in a running sweep (median)", 0.50, overhead, unit="s",
               how="4"),
        Target("Share of a 40-trial sweep's wall time spent in epochs (n_jobs=1, median over "
               "seeds)", 0.50, in_epochs, unit="%", at_least=True, how="4"),
    ]


def overhead_targets(result: _overhead.OverheadResult | None) -> list[Target]:
    def ratio(a: float | None, b: float | None) -> float | None:
        return None if a is None or not b else a / b

    run = busy = start = trial = None
    if result is not None:
        run = result.ratio(_overhead.TRAINER_RUN, _overhead.SKLEARN)
        busy = result.ratio(_overhead.TRAINER_RUN + _overhead.BUSY,
                            _overhead.SKLEARN + _overhead.BUSY)
        if result.startups:
            start = ratio(statistics.median(result.startups), result.median(_overhead.IMPORT))
        trial = ratio(result.per_trial(_overhead.TRAINER_SWEEP),
                      result.per_trial(_overhead.REFERENCE))
    return [
        Target("One small run: `python -m trainer` / the bare scikit-learn script", 2.0, run,
               how="5"),
        Target("One small run beside busy loops on every core: `python -m trainer` / the bare "
               "scikit-learn script", 2.0, busy, how="5"),
        Target("Sweep start-up / `python -c \"import optuna, mlflow\"`", 1.5, start, how="5"),
        Target("Per-trial cost: trainer sweep / hand-written Optuna + MLflow script", 1.0,
               trial, how="5"),
    ]


def estimator_targets(result: _estimator.EstimatorResult | None) -> list[Target]:
    return [Target("Estimator fit on digits: trainer.MLPClassifier / scikit-learn's (same "
                   "architecture)", 1.0, None if result is None else result.ratio(), how="7")]


def targets_table(targets: list[Target]) -> list[str]:
    rows = []
    for t in targets:
        limit = ("at least " if t.at_least else "at most ") + t.format(t.limit)
        if t.measured is None:
            measured, verdict = "not measured", "-"
        else:
            measured = t.format(t.measured)
            verdict = "**met**" if t.met else "**missed**"
        rows.append([t.name, limit, measured, verdict, f"[{t.how}](#{_anchor(t.how)})"])
    return _table(["target", "limit", "measured", "", "section"], rows)


_SECTIONS = {
    "1": "1. Medium MLP epoch",
    "2": "2. Small MLP epoch",
    "3": "3. Tracking overhead",
    "4": "4. Sweep efficiency",
    "5": "5. Waiting for one run and for a sweep",
    "6": "6. Against other sweep tools",
    "7": "7. Estimator fit",
}


def _anchor(how: str) -> str:
    title = _SECTIONS.get(how, how).lower()
    return "".join(c for c in title if c.isalnum() or c in " -").replace(" ", "-")


# --------------------------------------------------------------------------- sections


def environment_section(env: Environment, command: str, mode: str, when: str,
                        seconds: float) -> list[str]:
    lines = [
        f"Generated by `{command}` on {when} ({mode} run, {seconds / 60:.1f} min), commit "
        f"`{env.git_commit or 'unknown'}`.",
        "",
        f"- Machine: {env.cpu}, {env.cores} cores; {env.platform}; Python {env.python}",
        f"- BLAS (threadpoolctl): {blas_kernel(env)}",
        f"- Threads for every peer: {env.threads} (BLAS through threadpoolctl, PyTorch through "
        "`torch.set_num_threads`)",
        "- OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE: "
        + (", ".join(f"{k}={v}" for k, v in env.openblas_env.items()) or "not set"),
        "- Versions: " + ", ".join(f"{k} {v}" for k, v in env.versions.items()),
    ]
    if env.load_start is not None and env.load_end is not None:
        lines.append(
            f"- Load average (1 min) at the start / end of the in-process benchmarks: "
            f"{env.load_start:.2f} / {env.load_end:.2f} (the benchmark itself accounts for about "
            f"{env.threads}; more means other work shared the {env.cores} cores)")
    others = [p for p in env.threadpools if p.get("user_api") != "blas"]
    if others:
        lines.append("- Other thread pools: " + "; ".join(
            f"{p.get('internal_api')} ({p.get('prefix')}, {threads(p.get('num_threads'))})"
            for p in others))
    lines += [f"- Note: {note}" for note in env.notes]
    return lines


def mlp_section(result: _mlp.EpochResult, title: str, intro: str) -> list[str]:
    p = result.problem
    per_call = "one epoch" if result.epochs == 1 else f"{result.epochs} epochs"
    lines = [
        f"## {title}", "",
        intro, "",
        f"{p.architecture}, ReLU, softmax cross-entropy, Adam (lr {p.lr}), batch {p.batch_size}, "
        f"{p.n_train:,} training rows ({p.steps_per_epoch} steps per epoch). Each timed call is "
        f"{per_call}; median of {len(next(iter(result.timings.values())).seconds)} repeats, "
        f"peers alternating within each repeat, after one untimed warm-up call each.", "",
    ]
    has_gemm = _mlp.GEMM in result.timings
    rows = []
    for name, timing in result.timings.items():
        rows.append([
            name,
            f"{result.ratio(_mlp.TRAINER, name):.2f}",
            f"{result.ratio(name, _mlp.GEMM):.2f}" if has_gemm else "-",
            f"{result.epoch_seconds(name) * 1e3:,.1f} ms",
            f"{result.step_us(name):,.0f} us",
            f"{timing.spread * 100:.0f}%",
        ])
    lines += _table(["peer", "trainer / peer", "peer / GEMM bound", "median per epoch",
                     "per step", "spread (max-min)/median"], rows)
    for name, why in result.skipped.items():
        lines += ["", f"{name}: not measured: {why}."]
    return lines


def tracking_section(result: _tracking.TrackingResult) -> list[str]:
    off = result.timings[_tracking.OFF].median
    lines = [
        f"## {_SECTIONS['3']}", "",
        f"The small MLP ({result.problem.architecture}, batch {result.problem.batch_size}) trained "
        f"for {result.epochs} epochs per call ({result.metrics_per_epoch} metric values per "
        "epoch), on the BLAS threads `python -m trainer` picks for it, on a fresh MLflow SQLite "
        "store; median of "
        f"{len(result.timings[_tracking.OFF].seconds)} alternating repeats.", "",
        "- off: the FitLoop with no callback;",
        "- a real run's callbacks: the FitLoop with every callback `python -m trainer` gives it "
        "(`EpochLogger`, `EarlyStopping` with best weights, `ProgressReporter` lines): the "
        "per-epoch cost of a real run, whose buffered metrics are written at its end in one "
        "batch (that write is timed in 'whole tracking');",
        "- epoch logging: the FitLoop with `trainer.app.EpochLogger` (buffered in "
        "`RunTracker`), the buffer written to the store before the timer stops;",
        "- whole tracking: `RunTracker.start` + `log_params` (the resolved config) + the same "
        "FitLoop + `end`.", "",
    ]
    rows = [[name, f"{timing.median / off:.2f}", f"{(timing.median / off - 1) * 100:+.1f}%",
             f"{timing.median * 1e3:,.1f} ms"]
            for name, timing in result.timings.items()]
    lines += _table(["variant", "time / off", "added", "median per run"], rows)
    if result.app_run_median is not None:
        lines += [
            "",
            f"A whole `trainer.app.run(cfg)` of the same run (data loading, the test evaluation, "
            f"the learning-curve figure and the logged model; early stopping off) took "
            f"{result.app_run_median / off:.1f}x the untracked training "
            f"({result.app_run_median * 1e3:,.0f} ms median of {len(result.app_run_seconds)}).",
        ]
    return lines


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def sweep_section(result: _sweep.SweepResult) -> list[str]:
    lines = [f"## {_SECTIONS['4']}", ""]
    if result.skipped and not result.runs:
        return lines + [f"Not measured: {result.skipped}."]
    lines += [
        f"`sweep={result.sweep}` with {result.n_trials} trials, each variant run as "
        "`python -m trainer --multirun ...` in a fresh start directory and timed from outside; "
        "trials and values read back from the study (`mlruns/optuna.db`), epochs and their time "
        "from each trial's MLflow run (the per-epoch metric timestamps). The sweep engine sets "
        "its own BLAS threads (`--threads` does not apply here).", "",
    ]
    lines += [f"- {run.label}: `python {' '.join(run.command)}`" for run in result.runs.values()]
    lines += [""]
    rows = []
    for run in result.runs.values():
        if run.error is not None:
            rows.append([run.label, f"{run.wall_seconds:.1f} s", "failed", *[""] * 7])
            continue
        over = run.overheads()
        inside = run.inside_overheads()
        rows.append([
            run.label, f"{run.wall_seconds:.1f} s",
            f"{run.count('COMPLETE')} / {run.count('PRUNED')} / {run.count('FAIL')}",
            str(run.epochs),
            f"{run.epoch_seconds:.1f} s",
            "-" if run.best_value is None else f"{run.best_value:.4f}",
            f"{statistics.median(over):.2f} s" if over and run.n_jobs == 1 else "-",
            f"{statistics.median(inside):.2f} s" if inside else "-",
            _seconds(run.startup_seconds), _seconds(run.teardown_seconds),
        ])
    lines += _table(["variant", "wall", "complete / pruned / failed", "epochs trained",
                     "time in epochs", "best val_loss", "overhead per trial (median)",
                     "inside a trial (median)", "start-up", "wind-up"], rows)
    lines += [
        "",
        "Overhead per trial: the time from the previous trial's completion to this one's, "
        "minus its epochs (n_jobs=1 only: everything a trial costs besides training). Inside a "
        "trial: Optuna's start-to-complete time minus its epochs. Start-up: from the command's "
        "start to the first trial's; wind-up: from the last trial's completion to the exit.",
    ]
    figures = _pruning_figures(result)
    if figures:
        lines += ["", "Pruning, per sampler seed (n_jobs=1, so each pair is deterministic): " +
                  "; ".join(f"seed {seed}: {ratio:.2f}x the epochs, best {diff * 100:+.1f}%"
                            for seed, ratio, diff in figures) +
                  ". One pair is one sample: after the first pruned trial TPE learns from "
                  "shortened results and the two studies diverge, so the targets take the "
                  "median over seeds."]
    speedups = _speedups(result)
    if speedups:
        lines += ["", "Speed-up, n_jobs=1 / n_jobs=2 on the same trials (QMC sampler, no "
                  "pruner; each pair run back to back): " +
                  "; ".join(f"{x:.2f}x" for x in speedups) + ". TPE proposes different trials "
                  "when two run at once, and a pruner's decisions depend on which trials "
                  "finished first, so only these pairs compare the same work."]
    for run in result.runs.values():
        for trial in run.trials:
            if trial.state == "FAIL":
                lines += ["", f"Failed trial {trial.number} of {run.label}: "
                              f"{trial.fail_reason or 'no reason recorded'}."]
    if result.skipped:
        lines += ["", f"Stopped early: {result.skipped}."]
    return lines


def overhead_section(result: _overhead.OverheadResult) -> list[str]:
    lines = [f"## {_SECTIONS['5']}", ""]
    if result.skipped and not result.seconds:
        return lines + [f"Not measured: {result.skipped}."]
    repeats = max((len(v) for v in result.seconds.values()), default=0)
    lines += [
        "Commands run as a user runs them, each in a fresh start directory and timed from "
        f"outside; every command once per repeat, median of {repeats}.", "",
        f"- {_overhead.IMPORT}: the floor of any script that tunes with Optuna and tracks "
        "with MLflow;",
        f"- {_overhead.SKLEARN}: `python benchmarks/reference_sklearn.py` (load digits, "
        "`MLPClassifier` 64-32 fit with early stopping, score; no tracking);",
        f"- {_overhead.TRAINER_RUN}: the default digits run, tracked with its model, in a fresh "
        "directory;",
        f"- ... {_overhead.BUSY.lstrip(', ')}: the same two commands while one Python busy loop "
        "per core runs (a busy machine: other commands keep every core busy);",
        f"- {_overhead.TRAINER_SWEEP}: `python {' '.join(_overhead.sweep_command(0)[1:])}` "
        f"with n_trials={result.few} and {result.many} (here shown as 0; identical 10-epoch "
        "trials);",
        f"- {_overhead.REFERENCE}: `python benchmarks/reference_sweep.py --trials N`, the "
        "Optuna + MLflow script a user would write around the same FitLoop (SQLite for both, a "
        "parent run, a child run per trial with params, per-epoch metrics, a learning-curve PNG "
        "and the weights).", "",
    ]
    def cpu(name: str) -> str:
        values = result.cpu_seconds.get(name)
        return f"{statistics.median(values):.2f} s" if values else "-"

    rows = [[name, f"{statistics.median(values):.2f} s",
             ", ".join(f"{v:.2f}" for v in values), cpu(name)]
            for name, values in result.seconds.items()]
    lines += _table(["command", "median wall", "each repeat (s)", "median CPU (user + sys)"],
                    rows)
    few, many = result.few, result.many
    for who in (_overhead.TRAINER_SWEEP, _overhead.REFERENCE):
        per_trial = result.per_trial(who)
        per_trial_cpu = result.per_trial(who, cpu=True)
        if per_trial is not None:
            lines += ["", f"Per-trial cost of the {who}: (T({many}) - T({few})) / {many - few} "
                          f"= {per_trial:.3f} s wall, {per_trial_cpu or 0:.3f} s CPU (medians "
                          "over repeats)."]
    if result.startups:
        lines += ["", "Sweep start-up (command start to the first trial's start, from the "
                      "study): " + ", ".join(f"{s:.2f} s" for s in result.startups) + "."]
    if result.skipped:
        lines += ["", f"Stopped early: {result.skipped}."]
    return lines


def render(
    env: Environment,
    *,
    command: str = "python -m benchmarks",
    mode: str,
    when: str,
    seconds: float,
    medium: _mlp.EpochResult | None,
    small: _mlp.EpochResult | None,
    tracking: _tracking.TrackingResult | None,
    sweep: _sweep.SweepResult | None,
    overhead: _overhead.OverheadResult | None = None,
    estimator: _estimator.EstimatorResult | None = None,
    hand_written: str = "",
    more: Sequence[tuple[list[Target], list[str]]] = (),
) -> str:
    """The whole RESULTS.md text; ``more``: further sections' targets and text (empty text:
    not run), after section 5 (section 6)."""
    targets = (mlp_targets(medium, small) + tracking_targets(tracking) + sweep_targets(sweep)
               + overhead_targets(overhead) + [t for extra, _ in more for t in extra]
               + estimator_targets(estimator))
    lines = ["# Benchmarks", ""]
    lines += environment_section(env, command, mode, when, seconds)
    lines += ["", "## Targets", "",
              "Each figure is a ratio of medians measured side by side in this run "
              "(trainer = `trainer.core.fit.FitLoop`, what `python -m trainer` runs).", ""]
    lines += targets_table(targets)
    if medium is not None:
        lines += ["", *mlp_section(
            medium, _SECTIONS["1"],
            "Synthetic MNIST-sized data (Gaussian class clusters, float32), one epoch. The "
            "trainer's FitLoop also computes the training accuracy per step and evaluates "
            f"{len(medium.problem.X_val)} validation rows once per epoch, which no peer does.")]
    if small is not None:
        lines += ["", *mlp_section(
            small, _SECTIONS["2"],
            "scikit-learn's digits, split and standardized by `trainer.data.load_dataset` "
            "(the defaults of `python -m trainer`); the per-step overhead case. The FitLoop "
            f"also evaluates {len(small.problem.X_val)} validation rows once per epoch. Every "
            f"peer runs on {threads(small.threads)}, the count `python -m trainer` picks for "
            "this model (`trainer.training.blas_threads_for`).")]
    if tracking is not None:
        lines += ["", *tracking_section(tracking)]
    if sweep is not None:
        lines += ["", *sweep_section(sweep)]
    if overhead is not None:
        lines += ["", *overhead_section(overhead)]
    for _, text in more:
        if text:
            lines += ["", *text]
    if estimator is not None:
        lines += ["", *_estimator.section(estimator, _SECTIONS["7"])]
    lines += ["", HAND_WRITTEN_MARKER]
    text = "\n".join(lines) + "\n"
    if hand_written.strip():
        text += hand_written.lstrip("\n")
    return text


_KEPT_NOTE = "_Not measured by this run: kept from the run of "
_DATED = re.compile(r"\(\d{4}-\d\d-\d\d \d\d:\d\d UTC\)$")


def carry_over(text: str, previous: str) -> str:
    """``text`` with the numbered sections of ``previous`` that this run did not measure (a
    ``--only`` run) kept in their place, each marked with the run it comes from, and their
    targets' rows too: a partial run updates RESULTS.md instead of dropping what it skipped."""
    old, _, _ = previous.partition(HAND_WRITTEN_MARKER)
    if not old.strip():
        return text
    when = next((line.partition(" on ")[2].partition(" (")[0] for line in old.splitlines()
                 if line.startswith("Generated by")), "an earlier run")
    new_blocks = text.split("\n## ")
    present = {block.split("\n", 1)[0] for block in new_blocks[1:]}
    kept: list[str] = []
    for block in old.split("\n## ")[1:]:
        heading = block.split("\n", 1)[0]
        if heading[:1].isdigit() and heading not in present:
            title, _, body = block.partition("\n")
            if body.lstrip("\n").startswith(_KEPT_NOTE):  # kept before: the date of its run
                kept.append(block.rstrip("\n") + "\n")
                continue
            kept.append(f"{title}\n\n{_KEPT_NOTE}{when}._\n" + body.rstrip("\n") + "\n")
    if not kept:
        return text
    numbers = {block.split(".", 1)[0] for block in kept}
    rows = {line.split(" | ", 1)[0]: line for line in old.splitlines()
            if line.startswith("| ") and "](#" in line
            and line.rsplit("[", 1)[-1].split("]", 1)[0] in numbers}
    lines = []
    for line in text.splitlines():
        previous_row = rows.get(line.split(" | ", 1)[0])
        if previous_row and "| not measured |" in line:
            cells = previous_row.split(" | ")
            if not _DATED.search(cells[2]):  # a row kept before has the date of its run
                cells[2] += f" ({when})"
            line = " | ".join(cells)
        lines.append(line)
    blocks = ("\n".join(lines) + "\n" * text.endswith("\n")).split("\n## ")
    for block in kept:  # before the first later section, or before the hand-written part
        key = float(block.split(".", 1)[0])
        at = next((i for i, b in enumerate(blocks[1:], 1) if b[:1].isdigit()
                   and float(b.split(".", 1)[0]) > key), None)
        if at is None:
            at = next((i for i, b in enumerate(blocks[1:], 1) if not b[:1].isdigit()
                       and not b.startswith("Targets")), len(blocks))
            if HAND_WRITTEN_MARKER in blocks[at - 1]:
                head, marker, tail = blocks[at - 1].partition(HAND_WRITTEN_MARKER)
                blocks[at - 1] = head.rstrip("\n") + "\n"
                blocks.insert(at, block + "\n" + marker + tail)
                continue
        blocks.insert(at, block)
    return "\n## ".join(blocks)


def hand_written_part(previous: str) -> str:
    """What follows the marker in an existing RESULTS.md (kept across runs)."""
    _, marker, rest = previous.partition(HAND_WRITTEN_MARKER)
    return rest if marker else ""
