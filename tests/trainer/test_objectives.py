"""``objective`` as a list: a run returns one value per metric and logs its size and training
time, so a multi-objective sweep trades accuracy against them (``sweep=digits_size``)."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf
from optuna.trial import TrialState

from trainer.config import check_config, check_metric_names, epoch_objective, with_monitor
from trainer.errors import ConfigError
from trainer.hydra_resolvers import direction_of

FAST = ("epochs=4", "model.hidden=[16]", "mlflow.log_model=false")
REPO = Path(__file__).resolve().parents[2]


def test_a_list_objective_returns_each_value_and_every_run_logs_its_size_and_time(
        run_and_capture, make_config, store_uri):
    # [val_accuracy, param_count, train_time_s]: the kept epoch's accuracy, the network's
    # trainable scalars (64*16+16 + 16*10+10) and the fit loop's seconds, as logged
    cfg = make_config(*FAST, "objective=[val_accuracy,param_count,train_time_s]")
    values, run_id, error = run_and_capture(cfg)
    assert error is None
    logged = MlflowClient(store_uri).get_run(run_id)
    metrics = logged.data.metrics
    assert isinstance(values, tuple) and len(values) == 3
    assert metrics["param_count"] == 64 * 16 + 16 + 16 * 10 + 10 == values[1]
    assert values[2] == metrics["train_time_s"] > 0
    assert values[0] == pytest.approx(metrics["best_val_accuracy"], rel=1e-6)
    # early stopping followed the first objective logged every epoch
    assert logged.data.params["early_stopping.monitor"] == "val_accuracy"
    assert "best_param_count" not in metrics


def test_a_single_objective_run_logs_its_size_and_time_too(run_and_capture, make_config,
                                                            store_uri):
    value, run_id, error = run_and_capture(make_config(*FAST))
    assert error is None and isinstance(value, float)
    metrics = MlflowClient(store_uri).get_run(run_id).data.metrics
    assert metrics["param_count"] == 64 * 16 + 16 + 16 * 10 + 10
    assert metrics["train_time_s"] > 0


def test_the_monitor_follows_the_first_objective_logged_every_epoch() -> None:
    def cfg(objective, monitor=None):
        return {"objective": objective,
                "early_stopping": {"monitor": objective if monitor is None else monitor}}

    assert with_monitor(cfg(["val_accuracy", "param_count"]))["early_stopping"]["monitor"] == \
        "val_accuracy"
    assert with_monitor(cfg(["param_count", "val_r2"]))["early_stopping"]["monitor"] == "val_r2"
    assert with_monitor(cfg("train_time_s"))["early_stopping"]["monitor"] == "val_loss"
    assert with_monitor(cfg("val_loss"))["early_stopping"]["monitor"] == "val_loss"
    # a monitor the user set stays
    assert with_monitor(cfg(["val_accuracy", "param_count"], "val_loss"))[
        "early_stopping"]["monitor"] == "val_loss"
    assert epoch_objective({"objective": ["param_count", "train_loss"]}) == "train_loss"


def test_directions_follow_a_list_of_metrics() -> None:
    assert direction_of("val_accuracy") == "maximize"
    assert direction_of(["val_accuracy", "param_count", "train_time_s", "val_loss"]) == [
        "maximize", "minimize", "minimize", "minimize"]
    assert direction_of(OmegaConf.create(["val_r2", "param_count"])) == ["maximize", "minimize"]


@pytest.mark.parametrize(("objective", "message"), [
    (["val_accuracy", "size"],
     "objective: expected a metric logged for classification (val_loss, val_accuracy, "
     "train_loss, train_accuracy, param_count, train_time_s) or a list of them, got "
     "['val_accuracy', 'size']"),
    (["val_loss", "val_loss"],
     "objective: expected a list of different metrics, got ['val_loss', 'val_loss']"),
])
def test_a_bad_list_objective_is_one_line(objective, message) -> None:
    cfg = {"objective": objective, "early_stopping": {"monitor": "val_loss"}}
    with pytest.raises(ConfigError) as info:
        check_metric_names(cfg, "classification")
    assert str(info.value) == message


def test_an_empty_objective_list_is_refused_by_the_schema(make_config) -> None:
    from trainer.interpolations import resolve_config

    plain = resolve_config(make_config("objective=[]"))
    with pytest.raises(ConfigError, match=r"^objective: expected a metric's name or a "
                                          r"non-empty list of them, got \[\]$"):
        check_config(plain)


@pytest.mark.slow
def test_the_size_sweep_ends_with_the_pareto_front_of_accuracy_against_size(tmp_path):
    # sweep=digits_size as the README runs it (fewer trials, smaller epochs): two objectives
    # per trial, no pruning, the front printed with its commands and written to
    # optimization_results.yaml, each value equal to what the trial's run logged
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    env.pop("MLFLOW_TRACKING_URI", None)
    done = subprocess.run(
        [sys.executable, "-m", "trainer", "--multirun", "sweep=digits_size",
         "hydra.sweeper.n_trials=6", "epochs=3", "mlflow.log_model=false",
         f"hydra.sweep.dir={out}"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    storage = f"sqlite:///{tmp_path}/mlruns/optuna.db"
    [name] = optuna.get_all_study_names(storage)
    study = optuna.load_study(study_name=name, storage=storage)
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"]
    assert study.metric_names == ["val_accuracy", "param_count"]
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 6
    client = MlflowClient(f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    for trial in study.trials:
        metrics = client.get_run(trial.user_attrs["mlflow_run_id"]).data.metrics
        assert trial.values == [pytest.approx(metrics["best_val_accuracy"], rel=1e-6),
                                metrics["param_count"]]
        assert [metrics["values_0"], metrics["values_1"]] == trial.values
    results = OmegaConf.to_container(OmegaConf.load(out / "optimization_results.yaml"))
    front = sorted(study.best_trials, key=lambda t: t.number)
    assert sorted(map(str, (s["params"] for s in results["solutions"]))) == sorted(
        str(t.params) for t in front)
    lines = [line.split("reproduce it: ", 1)[1]
             for line in (done.stdout + done.stderr).splitlines()
             if "reproduce it: " in line]
    assert len(lines) == len(front)
    assert all(shlex.split(line)[:4] == ["python", "-m", "trainer", "sweep=digits_size"]
               for line in lines)


@pytest.mark.slow
def test_the_readmes_size_sweeps_as_written(tmp_path):
    # README "Several objectives: accuracy against size": both commands (fewer trials and
    # epochs), two studies, the second trading accuracy against training time
    from readme_commands import commands, run_shell

    for command in commands("sweep-digits-size", {
            "sweep=digits_size ": "sweep=digits_size hydra.sweeper.n_trials=2 epochs=2 "}):
        done = run_shell(command, tmp_path)
        assert done.returncode == 0, f"{command}:\n{done.stdout[-3000:]}"
        assert "Pareto front of study 'digits-size-" in done.stdout
    storage = f"sqlite:///{tmp_path}/mlruns/optuna.db"
    names = {tuple(optuna.load_study(study_name=n, storage=storage).metric_names)
             for n in optuna.get_all_study_names(storage)}
    assert names == {("val_accuracy", "param_count"), ("val_accuracy", "train_time_s")}
