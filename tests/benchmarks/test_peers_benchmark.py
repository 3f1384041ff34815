"""Section 6, against other sweep tools: every peer runs the trainer's task on the same config
and search space, the figures follow from the trials' times, and a tiny run reports every tool.

No timing is asserted: only the report's structure and figures computed from known times.
"""

from __future__ import annotations

import re
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import optuna
import pytest

REPO = Path(__file__).resolve().parents[2]
PEERS = REPO / "benchmarks" / "peers"
for path in (REPO, PEERS):  # benchmarks/ is not installed; the peers import each other flat
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import peer_records  # noqa: E402
import peer_space  # noqa: E402
import peer_task  # noqa: E402

from benchmarks import _peers, _peers_report, _sweep  # noqa: E402
from benchmarks.run import FULL, run_benchmarks, write_report  # noqa: E402

TINY = _peers.PeerSettings(seeds=1, digits_trials=2, medium_trials=2, medium_epochs=2,
                           medium_rows=600, foreign_trials=2, foreign_epochs=2)


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> _peers.Workload:
    settings = replace(TINY, workloads=(_peers.DIGITS,))
    return _peers.workloads(settings, tmp_path_factory.mktemp("workloads"))[_peers.DIGITS]


def test_space_asks_for_what_the_sweep_config_declares(digits: _peers.Workload) -> None:
    # sweep=digits' grammar as suggest_* calls: bounds, log scale, Hydra's excluded range stop,
    # list choices as their text, and the momentum only for the momentum optimizer
    params = {p.name: p for p in peer_space.parse(digits.params, digits.conditions)}
    assert params["optimizer.lr"] == peer_space.Param("optimizer.lr", "float", (1e-4, 0.3),
                                                      log=True)
    assert params["epochs"].args == (10, 50) and params["epochs"].step == 10
    assert params["model.hidden"].args[3] == "[128,64]"
    assert params["optimizer.momentum"].parent == "optimizer"
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(30):
        trial = study.ask()
        values = peer_space.suggest(trial, list(params.values()))
        assert ("optimizer.momentum" in values) == (values["optimizer"] == "momentum")
        assert values["epochs"] in (10, 20, 30, 40, 50)
        assert 1e-4 <= values["optimizer.lr"] <= 0.3
        study.tell(trial, 1.0)


def test_trial_config_is_what_hydra_composes_for_the_trial(digits: _peers.Workload) -> None:
    # the peers' config for a trial equals `python -m trainer sweep=digits <the trial's overrides>`
    import json

    workload = json.loads(digits.file.read_text())  # type: ignore[union-attr]
    params = {"optimizer": "momentum", "optimizer.lr": 0.01, "optimizer.momentum": 0.8,
              "batch_size": 32, "epochs": 20, "model.hidden": "[128,64]",
              "regularization.dropout": 0.1, "regularization.l2": 1e-4}
    composed, _ = _peers._compose(["sweep=digits", "optimizer=momentum", "optimizer.lr=0.01",
                                   "optimizer.momentum=0.8", "batch_size=32", "epochs=20",
                                   "model.hidden=[128,64]", "regularization.dropout=0.1",
                                   "regularization.l2=1e-4"])
    assert peer_task.trial_config(workload, params) == composed
    # Adam has no momentum: the key is left out, as the trainer's conditional parameter is
    adam = peer_task.trial_config(workload, {**params, "optimizer": "adam"})
    assert "momentum" not in adam["optimizer"] and adam["optimizer"]["lr"] == 0.01


@pytest.mark.slow  # trains four small models through trainer.app.run (MLflow tracked)
@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "rmsprop", "adam"])
def test_peer_task_returns_what_the_trainer_returns(digits: _peers.Workload, optimizer: str,
                                                    make_config, tmp_path: Path) -> None:
    # The same config gives the same objective under every tool: the same seeds, data split,
    # network, loop, early stopping and thread count, so the same floating-point operations in
    # the same order, hence an identical value.
    import json

    from trainer.app import run

    overrides = [f"optimizer={optimizer}", "optimizer.lr=0.01", "batch_size=64", "epochs=12",
                 "model.hidden=[32]", "regularization.dropout=0.1", "regularization.l2=1e-4",
                 "early_stopping.patience=2", "mlflow.log_model=false"]
    expected = run(make_config(*overrides))
    workload = json.loads(digits.file.read_text())  # type: ignore[union-attr]
    params = {"optimizer": optimizer, "optimizer.lr": 0.01, "batch_size": 64, "epochs": 12,
              "model.hidden": "[32]", "regularization.dropout": 0.1, "regularization.l2": 1e-4}
    config = peer_task.trial_config(workload, params)
    config["early_stopping"]["patience"] = 2
    lines = tmp_path / "trials.jsonl"
    outcome = peer_task.train(config, blas_threads=2, recorder=peer_records.TrialRecorder(lines))
    assert outcome.value == expected and not outcome.pruned
    [trial] = peer_records.read(lines)
    assert trial.state == "COMPLETE" and trial.value == expected
    assert len(trial.epoch_times) == len(trial.compute) == len(outcome.history)


def test_a_stopping_reporter_prunes_and_the_records_say_so(digits: _peers.Workload,
                                                           tmp_path: Path) -> None:
    # the tool's reporter hears every epoch's metrics; asking to stop at epoch 2 prunes there
    import json

    class StopAtTwo:
        def __init__(self) -> None:
            self.heard: list[int] = []

        def report(self, epoch: int, logs: dict[str, float]) -> None:
            assert set(logs) >= {"train_loss", "val_loss", "val_accuracy"}
            self.heard.append(epoch)

        def should_stop(self) -> bool:
            return self.heard[-1] == 2

    workload = json.loads(digits.file.read_text())  # type: ignore[union-attr]
    config = peer_task.trial_config(workload, {"epochs": 10, "model.hidden": "[16]"})
    reporter, lines = StopAtTwo(), tmp_path / "trials.jsonl"
    outcome = peer_task.train(config, blas_threads=1, recorder=peer_records.TrialRecorder(lines),
                              reporter=reporter)
    assert outcome.pruned and reporter.heard == [1, 2] and len(outcome.history) == 2
    [trial] = peer_records.read(lines)
    assert trial.state == "PRUNED" and trial.value is None and len(trial.epoch_times) == 2


def _run(label: str, launched: float, trials: list[tuple[str, float | None, float, int, float]],
         wall: float) -> _sweep.SweepRun:
    """A run whose trials are (state, value, completion second, epochs, epoch seconds)."""
    run = _sweep.SweepRun(label, True, 1, [], wall, 0, launched=launched,
                          finished=launched + wall)
    for number, (state, value, complete, epochs, seconds) in enumerate(trials):
        run.trials.append(_sweep.TrialRecord(number, state, value, complete - 1.0, complete,
                                             epochs, seconds))
    return run


def test_the_untracked_row_is_ours_without_mlflow_and_compared_with_the_plugin() -> None:
    # the foreign app only (the trainer always tracks); its wall over hydra-optuna-sweeper's is
    # a target row and a ratio of its own, beside the tracked one
    assert _peers.unavailable(_peers.UNTRACKED, _peers.FOREIGN) is None
    assert "always log" in str(_peers.unavailable(_peers.UNTRACKED, _peers.DIGITS))
    trial = [("COMPLETE", 0.3, 105.0, 10, 1.0)]
    settings = replace(TINY, seeds=1, n_jobs=(1,))
    result = _peers.PeersResult(settings, {}, runs=[
        _peers.PeerRun(_peers.TRAINER, _peers.FOREIGN, 1, 0, _run("ours", 100.0, trial, 15.0)),
        _peers.PeerRun(_peers.UNTRACKED, _peers.FOREIGN, 1, 0, _run("bare", 100.0, trial, 9.0)),
        _peers.PeerRun(_peers.HOS, _peers.FOREIGN, 1, 0, _run("hos", 100.0, trial, 12.0))])
    targets = {t.name: t.measured for t in _peers_report.targets(result)}
    assert targets["An app that is not the trainer, wall time: ours / hydra-optuna-sweeper "
                   "(n_jobs=1)"] == 15.0 / 12.0
    assert targets["An app that is not the trainer, untracked (hydra.sweeper.mlflow=null), wall "
                   "time: ours / hydra-optuna-sweeper (n_jobs=1)"] == 9.0 / 12.0
    text = "\n".join(_peers_report.section(result))
    assert "untracked wall / hydra-optuna-sweeper 1.3.0 at n_jobs=1: 0.75x (0.75)" in text


def test_time_to_the_common_target_and_the_ratios() -> None:
    # The weakest best is the target; each tool's time is its first completed trial at or
    # below it; pruned trials never count; ratios are ours over the peer's, median over seeds.
    ours = _run("ours", 100.0, [("COMPLETE", 0.5, 103.0, 10, 1.0), ("PRUNED", None, 104.0, 3, 0.3),
                                ("COMPLETE", 0.2, 106.0, 10, 1.0)], 8.0)
    hos = _run("hos", 200.0, [("COMPLETE", 0.4, 210.0, 10, 1.0), ("COMPLETE", 0.3, 220.0, 10, 1.0)],
               24.0)
    settings = replace(TINY, seeds=1, n_jobs=(1,))
    result = _peers.PeersResult(settings, {}, runs=[
        _peers.PeerRun(_peers.TRAINER, _peers.DIGITS, 1, 0, ours),
        _peers.PeerRun(_peers.HOS, _peers.DIGITS, 1, 0, hos)])
    group = result.group(_peers.DIGITS, 1, 0)
    assert _peers.common_target(group) == 0.3
    assert _peers.time_to(ours, 0.3) == 6.0 and _peers.time_to(hos, 0.3) == 20.0
    assert _peers.median_ratio(result, _peers.DIGITS, _peers.HOS, 1, "target") == 0.3
    assert _peers.median_ratio(result, _peers.DIGITS, _peers.HOS, 1, "wall") == 8.0 / 24.0
    assert _peers.best_difference(result, _peers.DIGITS, _peers.HOS) == pytest.approx(-1 / 3)
    assert _peers.slot_seconds_per_trial(ours, 1) == pytest.approx((8.0 - 2.3) / 3)
    assert _peers.gap_overhead(hos) == pytest.approx(9.0)  # 220 - 210 - 1
    targets = {t.name: t.measured for t in _peers_report.targets(result)}
    assert targets["sweep=digits, time to the common target: ours / hydra-optuna-sweeper "
                   "(n_jobs=1)"] == 0.3
    text = "\n".join(_peers_report.section(result))
    assert "time to target / hydra-optuna-sweeper 1.3.0 at n_jobs=1: 0.30x (0.30)" in text
    row = next(line for line in text.splitlines() if line.startswith("| trainer (ours) | 1 |"))
    assert "| 0.2000 | 0.3000 | 6.0 s |" in row


def test_records_keep_each_trial_s_events_apart(tmp_path: Path) -> None:
    # two recorders appending to one file: each trial keeps its own epochs and end; a trial
    # with no end line (killed) ends at its last epoch
    path = tmp_path / "trials.jsonl"
    a, b = peer_records.TrialRecorder(path), peer_records.TrialRecorder(path)
    a.start(), b.start(), a.epoch(1, 0.5, 0.1), b.epoch(1, 0.7, 0.2), a.end("COMPLETE", 0.5)
    b.epoch(2, 0.6, 0.2)
    first, second = peer_records.read(path)
    assert (first.state, first.value, len(first.epoch_times)) == ("COMPLETE", 0.5, 1)
    assert second.state is None and second.finished == second.epoch_times[-1]
    assert second.compute == [0.2, 0.2]
    peer_records.TrialRecorder(None).epoch(1, 0.1)  # outside the benchmark: nothing, no error


def test_medium_data_has_the_rows_and_flipped_labels(tmp_path: Path) -> None:
    path = tmp_path / "medium.npz"
    _peers.write_medium_data(path, 600)
    with np.load(path) as data:
        assert data["X"].shape == (1000, 784) and data["X"].dtype == np.float32
        assert set(np.unique(data["y"])) <= set(range(10))


@pytest.mark.slow  # every tool sweeps three tiny workloads, each in its own process
def test_peer_benchmark_reports_every_tool(tmp_path: Path) -> None:
    # Each tool has a row per workload and n_jobs with epochs trained, or one line saying why it
    # was not measured; the section's targets carry a measured ratio where both tools ran.
    settings = replace(FULL, mode="tiny", peers=TINY)
    results, env = run_benchmarks(settings, only=("peers",), threads=1, with_torch=False,
                                  workdir=tmp_path)
    text = write_report(results, env, settings, tmp_path / "RESULTS.md", seconds=1.0)

    assert "## 6. Against other sweep tools" in text
    failed = [line for line in text.splitlines() if line.startswith("Failed: ")]
    assert not failed, failed
    skipped = dict(results.peers.skipped)  # type: ignore[union-attr]
    for workload in (_peers.DIGITS, _peers.MEDIUM, _peers.FOREIGN):
        for tool in _peers.TOOLS:
            rows = [r for r in results.peers.runs  # type: ignore[union-attr]
                    if (r.tool, r.workload) == (tool, workload)]
            if (tool, workload) in skipped:
                assert not rows and f"- {tool}: not measured: {skipped[tool, workload]}" in text
                continue
            assert sorted(r.n_jobs for r in rows) == [1, 2], (tool, workload)
            for r in rows:
                assert r.run.epochs > 0 and len(r.run.trials) == getattr(
                    TINY, f"{workload}_trials"), r.run.label
    assert (_peers.HOS, _peers.DIGITS) not in skipped  # its environment is made here
    measured = [line for line in text.splitlines()
                if line.startswith("| sweep=digits, wall time: ours / Optuna")]
    assert len(measured) == 2 and all(re.search(r"\| \d+\.\d\dx \| \*\*(met|missed)\*\* \|", m)
                                      for m in measured)
