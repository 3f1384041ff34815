"""Smoke runs of the benchmark code paths at tiny sizes: the report has every expected row.

No timing is asserted anywhere: on these shared machines only the structure of the report is
stable, never the figures.
"""

from __future__ import annotations

import re
import sys
from dataclasses import replace
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # benchmarks/ is not an installed package
    sys.path.insert(0, str(REPO))

from benchmarks import _mlp, _overhead, _report, _sweep, _tracking  # noqa: E402
from benchmarks.run import FULL, Settings, run_benchmarks, write_report  # noqa: E402

TINY = replace(FULL, mode="tiny", repeats=1, medium_rows=256, medium_val_rows=32, small_rows=96,
               small_epochs=1, tracking_epochs=2, tracking_repeats=1, app_repeats=0,
               sweep_trials=2, sweep_seeds=1, sweep_repeats=1, overhead_repeats=1,
               overhead_trials=(1, 2))

TARGET_NAMES = [
    "Medium MLP epoch: trainer / scikit-learn (float32)",
    "Medium MLP epoch: trainer / PyTorch",
    "Medium MLP epoch: trainer / GEMM bound",
    "Small MLP epoch: trainer / scikit-learn (float32)",
    "Per-epoch cost: a real run's callbacks / the bare FitLoop, added",
    "MLflow per-epoch logging adds to the small MLP's training",
    "MLflow whole tracked run (create, params, epochs, end) adds",
    "Pruning: epochs trained, pruned / unpruned (median over seeds)",
    "Pruning: best val_loss, pruned vs unpruned (relative, median over seeds)",
    "Sweep wall time: n_jobs=1 / n_jobs=2 (the same trials, median)",
    "Per-trial overhead in a running sweep (median)",
    "Share of a 40-trial sweep's wall time spent in epochs (n_jobs=1, median over seeds)",
    "One small run: `python -m trainer` / the bare scikit-learn script",
    "One small run beside busy loops on every core: `python -m trainer` / the bare "
    "scikit-learn script",
    'Sweep start-up / `python -c "import optuna, mlflow"`',
    "Per-trial cost: trainer sweep / hand-written Optuna + MLflow script",
]
TRACKING_TARGETS = TARGET_NAMES[4:7]
SWEEP_TARGETS = TARGET_NAMES[7:12]
OVERHEAD_TARGETS = TARGET_NAMES[12:]


def _row(text: str, first_cell: str) -> list[str]:
    """The cells of the table row whose first cell is ``first_cell``."""
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0] == first_cell:
            return cells
    raise AssertionError(f"no table row {first_cell!r} in the report")


def _run(tmp_path: Path, settings: Settings, only: tuple[str, ...]) -> str:
    results, env = run_benchmarks(settings, only=only, threads=1, with_torch=False,
                                  workdir=tmp_path)
    return write_report(results, env, settings, tmp_path / "RESULTS.md", seconds=1.0)


def test_epoch_benchmarks_report_every_peer_and_target(tmp_path: Path) -> None:
    # The medium and small sections list every peer with its ratios, and every MLP target row
    # shows a measured ratio with a met/missed verdict; unmeasured targets say so.
    text = _run(tmp_path, TINY, ("medium", "small"))

    assert "- BLAS (threadpoolctl): " in text
    assert "## 1. Medium MLP epoch" in text and "## 2. Small MLP epoch" in text
    for peer in (_mlp.TRAINER, _mlp.STEP_LOOP, _mlp.SKLEARN32, _mlp.SKLEARN64, _mlp.GEMM):
        cells = _row(text, peer)
        assert re.fullmatch(r"\d+\.\d\d", cells[1]), cells  # trainer / peer
        assert re.fullmatch(r"\d+\.\d\d", cells[2]), cells  # peer / GEMM bound
    assert "PyTorch: not measured: disabled with --no-torch." in text
    for name in TARGET_NAMES:
        cells = _row(text, name)
        if name.startswith(("Medium", "Small")) and "PyTorch" not in name:
            assert re.fullmatch(r"\d+\.\d\dx", cells[2]) and cells[3] in ("**met**",
                                                                          "**missed**"), cells
        else:
            assert cells[2] == "not measured", cells


@pytest.mark.slow  # opening a fresh MLflow store takes seconds
def test_tracking_benchmark_reports_overheads(tmp_path: Path) -> None:
    # The tracking section has the off / epoch logging / whole tracking rows, and both tracking
    # targets carry a measured percentage.
    text = _run(tmp_path, TINY, ("tracking",))

    assert "## 3. Tracking overhead" in text
    for variant in (_tracking.OFF, _tracking.CALLBACKS, _tracking.EPOCH_LOGGING, _tracking.WHOLE):
        assert re.fullmatch(r"[+-]\d+\.\d%", _row(text, variant)[2])
    for name in TRACKING_TARGETS:
        assert re.fullmatch(r"-?\d+\.\d%", _row(text, name)[2].lstrip("+"))


def test_rewriting_keeps_the_hand_written_part(tmp_path: Path) -> None:
    # Regenerating RESULTS.md replaces the measured part but keeps what follows the marker.
    out = tmp_path / "RESULTS.md"
    out.write_text(f"old figures\n{_report.HAND_WRITTEN_MARKER}\n## What is missed\nbecause\n")
    results, env = run_benchmarks(TINY, only=(), threads=1, with_torch=False, workdir=tmp_path)
    text = write_report(results, env, TINY, out, seconds=1.0)

    assert "old figures" not in text
    assert text.endswith(f"{_report.HAND_WRITTEN_MARKER}\n## What is missed\nbecause\n")


def test_a_partial_run_keeps_the_sections_it_did_not_measure(tmp_path: Path) -> None:
    # `--only` measures some sections; the others, and their targets' figures, stay as the
    # previous run wrote them, marked with its date, in their place before the hand-written part.
    out = tmp_path / "RESULTS.md"
    medium = "Medium MLP epoch: trainer / scikit-learn (float32)"
    out.write_text(
        "# Benchmarks\n\nGenerated by `python -m benchmarks` on 2026-01-02 03:04 UTC (full run)."
        f"\n\n## Targets\n\n| {medium} | at most 0.40x | 0.37x | **met** | "
        "[1](#1-medium-mlp-epoch) |\n\n## 1. Medium MLP epoch\n\nthe old table\n\n"
        f"## 6. Against other sweep tools\n\nthe peers\n\n{_report.HAND_WRITTEN_MARKER}\nnotes\n")
    results, env = run_benchmarks(TINY, only=(), threads=1, with_torch=False, workdir=tmp_path)
    text = write_report(results, env, TINY, out, seconds=1.0)

    assert _row(text, medium)[2:4] == ["0.37x (2026-01-02 03:04 UTC)", "**met**"]
    kept = "_Not measured by this run: kept from the run of 2026-01-02 03:04 UTC._"
    assert f"## 1. Medium MLP epoch\n\n{kept}\n\nthe old table\n" in text
    assert text.index("## 1. Medium") < text.index("## 6. Against") < text.index(
        _report.HAND_WRITTEN_MARKER)
    assert text.endswith(f"{_report.HAND_WRITTEN_MARKER}\nnotes\n")
    assert "Generated by `python -m benchmarks` on 2026-01-02" not in text

    # a second partial run keeps the section and its figure as they are: one note, one date,
    # both of the run that measured them
    again = write_report(results, env, TINY, out, seconds=1.0)
    assert _row(again, medium)[2] == "0.37x (2026-01-02 03:04 UTC)"
    assert again.count("_Not measured by this run") == text.count("_Not measured by this run")
    assert f"## 1. Medium MLP epoch\n\n{kept}\n\nthe old table\n" in again


def test_epoch_seconds_counts_the_first_epoch_as_a_median_one() -> None:
    # Time in epochs from per-epoch log timestamps: last - first, plus one median gap.
    assert _sweep._epoch_seconds([1000, 1100, 1300, 1400]) == pytest.approx(0.5)
    assert _sweep._epoch_seconds([]) == 0.0


def test_pruning_figures_keep_each_pair_s_seed_when_one_pair_is_missing() -> None:
    # Seeds 0 and 2 ran, seed 1 failed: the figures and the report name seeds 0 and 2.
    def run(variant: _sweep.Variant, epochs: int, best: float) -> _sweep.SweepRun:
        trial = _sweep.TrialRecord(0, "COMPLETE", best, 0.0, 1.0, epochs, 0.1)
        return _sweep.SweepRun(variant.label, variant.pruner, 1, [], 10.0, 0,
                               trials=[trial], best_value=best)

    runs = {}
    for seed, pruned_epochs, pruned_best in ((0, 40, 1.01), (2, 80, 1.0)):
        pruned, unpruned = _sweep.pruning_pair(seed)
        runs[pruned.label] = run(pruned, pruned_epochs, pruned_best)
        runs[unpruned.label] = run(unpruned, 100, 1.0)
    result = _sweep.SweepResult("digits", 40, runs, seeds=3, repeats=0)

    figures = _report._pruning_figures(result)
    assert [(seed, ratio) for seed, ratio, _ in figures] == [(0, 0.4), (2, 0.8)]
    assert figures[0][2] == pytest.approx(0.01)
    assert "seed 0: 0.40x the epochs, best +1.0%; seed 2: 0.80x" in "\n".join(
        _report.sweep_section(result))


@pytest.mark.slow
def test_sweep_benchmark_reads_back_every_variant(tmp_path: Path) -> None:
    # A 2-trial sweep per variant runs through `python -m trainer --multirun`, and the report
    # has one row per variant with its epochs, plus the pruning, n_jobs and overhead targets.
    missing = _sweep.sweep_engine_missing()
    if missing is not None:
        pytest.skip(missing)
    text = _run(tmp_path, TINY, ("sweep",))

    assert "## 4. Sweep efficiency" in text
    for variant in _sweep.plan(TINY.sweep_seeds, TINY.sweep_repeats):
        cells = _row(text, variant.label)
        assert int(cells[3]) > 0, cells  # epochs trained
    for name in SWEEP_TARGETS:
        assert _row(text, name)[3] in ("**met**", "**missed**")


def test_overhead_figures_from_known_timings() -> None:
    # Per-trial cost is (T(many) - T(few)) / (many - few) per repeat, its median compared with
    # the reference script's; the run and start-up targets are ratios of medians.
    result = _overhead.OverheadResult(few=4, many=20, startups=[1.5, 1.8, 2.1], seconds={
        _overhead.IMPORT: [1.0, 1.2, 1.1],
        _overhead.SKLEARN: [1.0, 1.0, 1.2],
        _overhead.TRAINER_RUN: [2.0, 2.4, 2.2],
        _overhead.SKLEARN + _overhead.BUSY: [2.0, 2.0, 2.0],
        _overhead.TRAINER_RUN + _overhead.BUSY: [3.0, 3.6, 3.2],
        f"{_overhead.TRAINER_SWEEP}, 4 trials": [4.0, 4.0, 4.0],
        f"{_overhead.TRAINER_SWEEP}, 20 trials": [8.0, 8.8, 12.0],
        f"{_overhead.REFERENCE}, 4 trials": [5.0, 5.0, 5.0],
        f"{_overhead.REFERENCE}, 20 trials": [13.0, 13.0, 13.0],
    })
    assert result.per_trial(_overhead.TRAINER_SWEEP) == pytest.approx(0.3)
    assert result.per_trial(_overhead.REFERENCE) == pytest.approx(0.5)
    measured = {t.name: t.measured for t in _report.overhead_targets(result)}
    assert measured == pytest.approx(dict(zip(OVERHEAD_TARGETS, [2.2, 1.6, 1.8 / 1.1, 0.6],
                                              strict=True)))
    text = "\n".join(_report.overhead_section(result))
    assert "(T(20) - T(4)) / 16 = 0.300 s wall" in text


@pytest.mark.slow  # a few real commands: the trainer, the scripts, two tiny sweeps each
def test_overhead_benchmark_runs_every_command(tmp_path: Path) -> None:
    # Every command runs and lands in the report, and the three targets carry a ratio.
    text = _run(tmp_path, TINY, ("overhead",))

    assert "## 5. Waiting for one run and for a sweep" in text
    for command in (_overhead.IMPORT, _overhead.SKLEARN, _overhead.TRAINER_RUN,
                    _overhead.SKLEARN + _overhead.BUSY, _overhead.TRAINER_RUN + _overhead.BUSY,
                    f"{_overhead.TRAINER_SWEEP}, 2 trials", f"{_overhead.REFERENCE}, 2 trials"):
        assert re.fullmatch(r"\d+\.\d\d s", _row(text, command)[1])
    for name in OVERHEAD_TARGETS:
        assert _row(text, name)[3] in ("**met**", "**missed**")


@pytest.mark.parametrize("pruner", [[], ["--once-per-trial"]])
def test_optuna_floor_times_plain_optuna_trials(pruner: list[str]) -> None:
    import subprocess

    script = REPO / "benchmarks" / "optuna_floor.py"
    out = subprocess.run([sys.executable, str(script), "--trials", "3", *pruner],
                         capture_output=True, text=True, check=True, timeout=120).stdout
    assert re.fullmatch(r"sqlite: \d+\.\d ms a trial\n", out)


@pytest.mark.slow  # two whole fits of each estimator on digits (scikit-learn's take seconds)
def test_estimator_benchmark_reports_both_fits_and_the_target(tmp_path: Path) -> None:
    # section 7 lists both estimators with their whole-fit time, epochs and test accuracy, and
    # the estimator target carries a measured ratio
    from benchmarks import _estimator

    text = _run(tmp_path, TINY, ("estimator",))
    assert "## 7. Estimator fit" in text
    for peer in (_estimator.TRAINER, _estimator.SKLEARN):
        cells = _row(text, peer)
        assert re.fullmatch(r"\d+\.\d\d s", cells[1]) and int(cells[3]) >= 1, cells
        assert 0.5 < float(cells[5]) <= 1.0, cells  # a trained classifier of 10 digits
    cells = _row(text, "Estimator fit on digits: trainer.MLPClassifier / scikit-learn's (same "
                       "architecture)")
    assert re.fullmatch(r"\d+\.\d\dx", cells[2]) and cells[3] in ("**met**", "**missed**")
