"""A training run end to end in-process: what it returns, what lands in MLflow, bad input."""

from __future__ import annotations

import mlflow
import numpy as np
import pytest
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from runkit.mlflow.disk_full import NoSpaceError
from runkit.mlflow.tags import FAILURE_REASON_TAG
from trainer.app import run
from trainer.errors import ConfigError, DataError, TrainingDiverged

FAST = ("epochs=4", "model.hidden=[16]", "mlflow.log_model=false")


def test_run_logs_params_metrics_tags_and_artifacts(run_and_capture, make_config, store_uri):
    cfg = make_config("epochs=6", "model.hidden=[16]", "optimizer.lr=0.01")
    objective, run_id, error = run_and_capture(cfg)
    assert error is None
    client = MlflowClient(store_uri)
    logged = client.get_run(run_id)
    assert logged.info.status == "FINISHED"
    params = logged.data.params
    assert params["optimizer.lr"] == "0.01" and params["model.hidden"] == "[16]"
    assert params["data.name"] == "digits" and params["early_stopping.patience"] == "10"
    # the objective is val_loss at the kept (best) epoch
    history = client.get_metric_history(run_id, "val_loss")
    assert [m.step for m in history] == list(range(1, 7))
    best = int(logged.data.metrics["best_epoch"])
    assert objective == pytest.approx(history[best - 1].value, rel=1e-6)
    for key in ("train_loss", "val_accuracy", "test_loss", "test_accuracy", "stopped_epoch"):
        assert key in logged.data.metrics
    assert logged.data.metrics["test_accuracy"] > 0.8
    assert logged.data.tags["task"] == "classification"
    assert logged.data.tags["dataset"] == "digits"
    assert logged.data.tags["stop_reason"] in ("completed", "early_stopping")
    assert logged.info.run_name == "digits-mlp-16"  # after its data and model
    # the experiment opens as model training (not GenAI) where MLflow reads its kind
    experiment = client.get_experiment(logged.info.experiment_id)
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    artifacts = {a.path for a in client.list_artifacts(run_id)}
    assert {"config.yaml", "learning_curves.png"} <= artifacts
    # the model is the run's logged model, holding the kept epoch's weights, with its metrics
    (output,) = logged.outputs.model_outputs
    assert output.step == best
    model = client.get_logged_model(output.model_id)
    assert model.source_run_id == run_id and model.params["optimizer.lr"] == "0.01"
    metrics = {(m.key, m.step): m.value for m in model.metrics}
    assert metrics[("val_loss", best)] == pytest.approx(objective, rel=1e-6)
    assert metrics[("test_accuracy", 0)] == logged.data.metrics["test_accuracy"]


def test_logged_model_predicts_raw_rows_in_original_labels(run_and_capture, make_config,
                                                           store_uri, monkeypatch):
    # the pyfunc model takes unstandardized rows (a DataFrame with the declared feature columns)
    # and answers with the data set's own labels
    cfg = make_config("epochs=15", "model.hidden=[32]", "optimizer.lr=0.01", "data=iris")
    _, run_id, error = run_and_capture(cfg)
    assert error is None
    from sklearn.datasets import load_iris

    iris = load_iris(as_frame=True)
    monkeypatch.setattr("mlflow.tracking._tracking_service.utils._tracking_uri", None)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store_uri)
    (output,) = MlflowClient(store_uri).get_run(run_id).outputs.model_outputs
    model = mlflow.pyfunc.load_model(f"models:/{output.model_id}")
    predicted = np.asarray(model.predict(iris.data))
    assert predicted.shape == (150,)
    assert np.mean(predicted == iris.target_names[iris.target]) > 0.8
    assert model.metadata.get_input_schema().input_names() == list(iris.data.columns)


def test_same_seed_same_metrics_bit_for_bit(run_and_capture, make_config, store_uri):
    cfg = make_config(*FAST, "regularization.dropout=0.2", "seed=3")
    first, _, _ = run_and_capture(cfg)
    second, _, _ = run_and_capture(cfg)
    other, _, _ = run_and_capture(make_config(*FAST, "regularization.dropout=0.2", "seed=4"))
    assert first == second
    assert other != first


def test_regression_logs_r2(run_and_capture, make_config, store_uri):
    cfg = make_config(*FAST, "data=diabetes", "objective=val_r2")
    objective, run_id, error = run_and_capture(cfg)
    assert error is None
    metrics = MlflowClient(store_uri).get_run(run_id).data.metrics
    assert "val_r2" in metrics and "test_r2" in metrics and "val_accuracy" not in metrics
    assert objective == pytest.approx(metrics["val_r2"], abs=1.0)  # a finite R^2 is returned


@pytest.mark.parametrize(
    "override,key",
    [
        ("optimizer.lr=-0.1", "optimizer.lr"),
        ("optimizer.lr=0", "optimizer.lr"),
        ("batch_size=0", "batch_size"),
        ("epochs=0", "epochs"),
        ("epochs=-3", "epochs"),
        ("regularization.dropout=1.0", "regularization.dropout"),
        ("regularization.dropout=-0.1", "regularization.dropout"),
        ("regularization.l2=-1e-4", "regularization.l2"),
        ("regularization.l1=-1", "regularization.l1"),
        ("model.hidden=[64,0]", "model.hidden"),
        ("model.activation=swish", "model.activation"),
        ("model.init=orthogonal", "model.init"),
        ("optimizer.name=adamw", "optimizer.name"),
        ("model.dtype=float16", "model.dtype"),
        ("objective=val_r2", "objective"),
        ("loss=mse", "loss"),
        ("early_stopping.enabled=maybe", "early_stopping.enabled"),
        ("early_stopping.restore_best_weights=2", "early_stopping.restore_best_weights"),
        ("model.hidden=64", "model.hidden"),
        ("model.hidden=null", "model.hidden"),
        ("+data.extra=1", "data.extra"),
        ("+optimizer.x=1", "optimizer.x"),
    ],
)
def test_bad_config_fails_naming_the_key_and_marks_run_failed(run_and_capture, make_config,
                                                             store_uri, override, key):
    _, run_id, error = run_and_capture(make_config(*FAST, override))
    assert isinstance(error, ConfigError), error
    message = str(error)
    assert "\n" not in message and message.startswith(key)
    logged = MlflowClient(store_uri).get_run(run_id)
    assert logged.info.status == "FAILED"
    assert logged.data.tags["failure_reason"] == message


def test_bad_mlflow_key_fails_before_any_run_exists(make_config):
    # the mlflow node says where runs go: it is checked before a store is opened
    expected = r"^mlflow\.log_model: expected true or false, got 'maybe'$"
    with pytest.raises(ConfigError, match=expected):
        run(make_config(*FAST, "mlflow.log_model=maybe"))


def test_unknown_optimizer_lists_the_valid_ones(run_and_capture, make_config):
    _, _, error = run_and_capture(make_config(*FAST, "optimizer.name=adamw"))
    for name in ("sgd", "momentum", "rmsprop", "adam"):
        assert name in str(error)


def test_diverging_run_stops_and_is_marked_failed(run_and_capture, make_config, store_uri):
    # a huge learning rate on unstandardized regression targets blows the loss up
    cfg = make_config("epochs=50", "data=diabetes", "data.standardize=false", "optimizer=sgd",
                      "optimizer.lr=10", "mlflow.log_model=false", "objective=val_r2")
    _, run_id, error = run_and_capture(cfg)
    assert isinstance(error, TrainingDiverged)
    assert "diverged" in str(error) and "optimizer.lr" in str(error)
    logged = MlflowClient(store_uri).get_run(run_id)
    assert logged.info.status == "FAILED" and "diverged" in logged.data.tags["failure_reason"]


def test_missing_csv_file_names_the_file(run_and_capture, make_config, tmp_path):
    missing = tmp_path / "nope.csv"
    _, _, error = run_and_capture(
        make_config(*FAST, "data=csv", f"data.path={missing}", "data.target=label")
    )
    assert isinstance(error, DataError | ConfigError) and "nope.csv" in str(error)


def test_small_models_train_on_one_blas_thread():
    # digits 64-64-10 at batch 32: 131k multiply-adds per product, too small to split
    from trainer.training import blas_threads_for

    assert blas_threads_for([64, 64, 10], 32, available=2) == 1
    # 784-256-128-10 at batch 128: 25.7 M multiply-adds in the first layer -> every core
    assert blas_threads_for([784, 256, 128, 10], 128, available=2) == 2
    assert blas_threads_for([784, 256, 128, 10], 128, available=1) == 1


def test_a_run_sizes_its_threads_from_the_cores_other_work_left(run_and_capture, make_config,
                                                                monkeypatch):
    # Between the command's start and the training, other processes kept one of two cores
    # busy: the model gets the one free core (two threads would wait for the busy one at every
    # matrix product); with no other work, both.
    import optuna

    from runkit import cpu_load
    from sweeps._session import TrialSession, running
    from trainer import app, training

    asked: list[int] = []
    monkeypatch.setattr(training, "blas_threads_for",
                        lambda widths, batch, *, available: asked.append(available) or 1)
    monkeypatch.setattr(app, "thread_budget", lambda: 2)
    monkeypatch.setattr(cpu_load, "command_start", cpu_load.CpuTimes(0.0, 2, 0.0, 0.0))
    for others in (1.0, 0.0):
        now = cpu_load.CpuTimes(1.0, 2, others + 0.5, 0.5)  # this process: 0.5 s
        monkeypatch.setattr(cpu_load, "cpu_times", lambda now=now: now)
        _, _, error = run_and_capture(make_config("epochs=1", "model.hidden=[8]",
                                                  "mlflow.log_model=false"))
        assert error is None
    assert asked == [1, 2]
    # a sweep's trial keeps the share of the cores its sweep gave it, whatever else runs
    monkeypatch.setattr(cpu_load, "cpu_times", lambda: cpu_load.CpuTimes(1.0, 2, 2.0, 0.0))
    with running(TrialSession(optuna.create_study().ask())):
        _, _, error = run_and_capture(make_config("epochs=1", "model.hidden=[8]",
                                                  "mlflow.log_model=false"))
    assert error is None
    assert asked == [1, 2, 2]


def test_summary_names_the_kept_epoch_and_its_value(run_and_capture, make_config, store_uri,
                                                    capsys):
    # without restored weights the last epoch's weights are kept: the summary gives that epoch's
    # value (the objective the run returns), and the best epoch with its own value beside it
    cfg = make_config("epochs=12", "model.hidden=[16]", "optimizer.lr=0.2",
                      "early_stopping.enabled=false", "mlflow.log_model=false")
    objective, run_id, error = run_and_capture(cfg)
    assert error is None
    client = MlflowClient(store_uri)
    history = {m.step: m.value for m in client.get_metric_history(run_id, "val_loss")}
    best = int(client.get_run(run_id).data.metrics["best_epoch"])
    first = capsys.readouterr().out.splitlines()[-4]
    expected = (f"stopped at epoch 12 (completed); kept the weights of epoch 12 "
                f"({'the best' if best == 12 else 'the last'}): val_loss={history[12]:.4f}")
    if best != 12:
        expected += f"; best was epoch {best}: val_loss={history[best]:.4f}"
    assert first == expected
    assert objective == pytest.approx(history[12], rel=1e-6)
    # best_val_loss is the kept epoch's value, what a sweep ranks the run by
    assert client.get_run(run_id).data.metrics["best_val_loss"] == pytest.approx(history[12])


def test_what_the_mlflow_ui_shows_of_a_run(run_and_capture, make_config, store_uri, capsys):
    # the runs table sorts by best_val_loss as the sweep ranks; the model is named after its
    # run and loads by runs:/<run>/<name>; the printed link opens the model-training view
    cfg = make_config("epochs=6", "model.hidden=[16]", "optimizer.lr=0.01",
                      "mlflow.run_name=lr 0.01/a:b")
    objective, run_id, error = run_and_capture(cfg)
    assert error is None
    client = MlflowClient(store_uri)
    logged = client.get_run(run_id)
    assert logged.data.metrics["best_val_loss"] == pytest.approx(objective, rel=1e-6)
    (output,) = logged.outputs.model_outputs
    model = client.get_logged_model(output.model_id)
    assert model.name == "lr 0-01-a-b"  # MLflow refuses . / : in a model's name
    link = capsys.readouterr().out.splitlines()[-1]
    assert link == (f"  see it: http://127.0.0.1:5000/#/experiments/{logged.info.experiment_id}"
                    f"/runs/{run_id}?workflowType=machine_learning (after `mlflow ui "
                    f"--backend-store-uri {store_uri}`)")


def test_a_tracking_servers_link_is_its_own():
    from trainer.tracking.links import run_link

    assert run_link("http://mlflow.example:5000/", "4", "abc") == (
        "http://mlflow.example:5000/#/experiments/4/runs/abc?workflowType=machine_learning")


def test_a_run_whose_disk_fills_up_ends_failed_with_one_line(make_config, store_uri,
                                                             started_runs, monkeypatch) -> None:
    # the metrics write after training finds the store's disk full: the run stops with one
    # line naming the store; its end writes what it can (here the disk had room again: the
    # epochs' metrics and the FAILED status with that line as the reason)
    cfg = make_config("epochs=5", "model.hidden=[8]", "early_stopping.enabled=false",
                      "mlflow.log_model=false", "mlflow.experiment=disk-full")
    from runkit.mlflow import get_client

    shared = get_client(store_uri)
    log_batch = shared.log_batch
    calls: list[int] = []

    def filling_up(run_id, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise MlflowException("(sqlite3.OperationalError) database or disk is full")
        return log_batch(run_id, **kwargs)

    monkeypatch.setattr(shared, "log_batch", filling_up)
    with pytest.raises(NoSpaceError) as caught:
        run(cfg)
    started = list(started_runs)
    monkeypatch.undo()
    line = str(caught.value)
    assert "\n" not in line
    assert line.startswith("no space left on device for the MLflow store ")
    assert f"MLflow run {started[0]} ended FAILED with its config and the metrics of 5" in line
    logged = MlflowClient(store_uri).get_run(started[0])
    assert logged.info.status == "FAILED"
    assert logged.data.tags[FAILURE_REASON_TAG].startswith("no space left on device")
    assert logged.data.metrics["val_loss"] > 0  # buffered epochs written at the end
