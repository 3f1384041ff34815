"""The pyfunc model: an MLflow 3 logged model saved without pickle, whose only code is the
NumPy predictor, loaded by MLflow and predicting in the data's own terms."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import uuid
import warnings
from pathlib import Path

import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest
import yaml
from mlflow.entities import LoggedModelStatus
from mlflow.exceptions import MlflowException

from runkit.mlflow import RunTracker, get_client, get_or_create_experiment
from trainer.core.losses import LOSSES
from trainer.core.network import MLP
from trainer.core.preprocessing import Preprocessor
from trainer.tracking import numpy_mlp_predictor
from trainer.tracking.model import log_trained_model, save_model

FEATURES = ["height", "weight"]
CLASSES = np.array(["cat", "dog", "eel"])


def _blobs(rng: np.random.Generator, n_per_class: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """Three separable blobs in raw units far from 0 (so standardization matters): X (n, 2),
    y (n,) class indices."""
    centers = np.array([[100.0, 10.0], [130.0, 10.0], [115.0, 40.0]])
    X = np.concatenate([c + rng.normal(scale=3.0, size=(n_per_class, 2)) for c in centers])
    y = np.repeat(np.arange(3), n_per_class)
    return X, y


def _fitted_preprocessor(X: np.ndarray) -> Preprocessor:
    return Preprocessor(
        x_mean=X.mean(axis=0), x_scale=X.std(axis=0), n_features=X.shape[1], dtype="float32"
    )


@pytest.fixture(scope="module")
def classifier() -> dict:
    """A 2 -> 16 -> 3 softmax network trained for a few hundred full-batch SGD steps."""
    rng = np.random.default_rng(0)
    X, y = _blobs(rng)
    pre = _fitted_preprocessor(X)
    net = MLP(2, [16], 3, activation="tanh", init="xavier_uniform", dtype="float32", rng=rng)
    loss = LOSSES["categorical_crossentropy"]
    Xs, Y = pre.transform(X), np.eye(3, dtype=np.float32)[y]
    dZ = np.empty((len(X), 3), np.float32)
    for _ in range(300):
        loss.value_and_grad(net.forward(Xs, training=True), Y, dZ)
        net.backward(dZ)
        net.params -= 0.5 * net.grads
    expected = CLASSES[net.logits(pre.transform(X)).argmax(axis=1)]  # in-memory predictions
    assert (expected == CLASSES[y]).mean() > 0.95  # it learned: labels are not arbitrary
    return {
        "X": X,
        "labels": CLASSES[y],
        "expected": expected,
        "save_kwargs": dict(
            network_state=net.state_dict(),
            network_config=net.config(),
            loss="categorical_crossentropy",
            task="classification",
            preprocessor_arrays=pre.to_arrays(),
            classes=CLASSES,
            feature_names=FEATURES,
        ),
    }


@pytest.fixture
def tracking_env(store_uri: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """runs:/ URIs resolve through the tracking URI: point it at the test store, for this test."""
    monkeypatch.setattr("mlflow.tracking._tracking_service.utils._tracking_uri", None)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store_uri)
    return store_uri


@pytest.mark.parametrize(
    ("with_example", "remote_artifacts"),
    [(False, False), (True, False), (False, True)],
    ids=["written-in-place", "saved-by-mlflow-with-example", "uploaded-to-remote-artifacts"],
)
def test_logged_classifier_is_a_logged_model_of_its_run(
    classifier: dict, tracking_env: str, with_example: bool, remote_artifacts: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # log_model makes an MLflow 3 logged model: READY, its run as source and output (at the
    # kept epoch), the config as params; models:/<id> and runs:/<run>/model load it, and it
    # returns the data's labels, the same as the in-memory network on standardized inputs.
    # So it does whether the trainer writes the model or MLflow does (an input example), and
    # whether the store's artifacts are local or remote (uploaded: pretended here)
    if remote_artifacts:
        monkeypatch.setattr("trainer.tracking.model._local_directory", lambda uri: None)
    experiment_id = get_or_create_experiment(tracking_env, f"pyfunc-{uuid.uuid4().hex[:8]}")
    example = classifier["X"][:3] if with_example else None
    with RunTracker.start(tracking_env, experiment_id) as tracker:
        model_id = log_trained_model(tracker, step=7, params={"optimizer": {"lr": 0.1}},
                                     **classifier["save_kwargs"], input_example=example)
        tracker.log_metrics({"test_accuracy": 0.97}, model_id=model_id)
    client = get_client(tracking_env)
    logged = client.get_logged_model(model_id)
    assert logged.status == LoggedModelStatus.READY
    assert logged.source_run_id == tracker.run_id and logged.experiment_id == experiment_id
    assert logged.name == "model" and logged.params == {"optimizer.lr": "0.1"}
    assert [(m.key, m.value) for m in logged.metrics] == [("test_accuracy", 0.97)]
    run = client.get_run(tracker.run_id)
    assert [(o.model_id, o.step) for o in run.outputs.model_outputs] == [(model_id, 7)]
    assert run.data.metrics["test_accuracy"] == 0.97 and run.info.status == "FINISHED"
    frame = pd.DataFrame(classifier["X"], columns=FEATURES)
    for uri in (f"models:/{model_id}", f"runs:/{tracker.run_id}/model"):
        predicted = mlflow.pyfunc.load_model(uri).predict(frame)
        assert predicted.dtype.kind == "U"
        np.testing.assert_array_equal(predicted, classifier["expected"])
    assert (predicted == classifier["labels"]).mean() > 0.95


@pytest.mark.parametrize("written_first", [True, False], ids=["written", "still-buffered"])
def test_metrics_linked_to_the_model_stay_one_point_in_the_run(
    classifier: dict, tracking_env: str, written_first: bool
) -> None:
    # an epoch's values logged again for the model are not doubled in the run's history,
    # whether the run's values were written before or are written in the same batch
    experiment_id = get_or_create_experiment(tracking_env, f"pyfunc-{uuid.uuid4().hex[:8]}")
    with RunTracker.start(tracking_env, experiment_id) as tracker:
        for epoch in (1, 2, 3):
            tracker.log_epoch(epoch, {"val_loss": 1.0 / epoch, "train_loss": 2.0 / epoch})
        if written_first:
            tracker.flush()
        model_id = log_trained_model(tracker, step=2, **classifier["save_kwargs"])
        tracker.log_metrics({"val_loss": 0.5}, step=2, model_id=model_id)
    client = get_client(tracking_env)
    history = client.get_metric_history(tracker.run_id, "val_loss")
    assert sorted((m.step, m.value) for m in history) == [(1, 1.0), (2, 0.5), (3, 1.0 / 3)]
    train_history = client.get_metric_history(tracker.run_id, "train_loss")
    assert sorted((m.step, m.value) for m in train_history) == [(1, 2.0), (2, 1.0), (3, 2.0 / 3)]
    model_metrics = client.get_logged_model(model_id).metrics
    assert [(m.key, m.step, m.value) for m in model_metrics] == [("val_loss", 2, 0.5)]


def test_a_model_that_cannot_be_saved_is_marked_failed(
    classifier: dict, tracking_env: str
) -> None:
    # the logged model exists from the start; a save error leaves it FAILED, never PENDING
    experiment_id = get_or_create_experiment(tracking_env, f"pyfunc-{uuid.uuid4().hex[:8]}")
    with RunTracker.start(tracking_env, experiment_id) as tracker, \
            pytest.raises(ValueError, match="loss"):
        log_trained_model(tracker, step=1, **{**classifier["save_kwargs"], "loss": "hinge"})
    (logged,) = get_client(tracking_env).search_logged_models([experiment_id])
    assert logged.status == LoggedModelStatus.FAILED


def test_a_model_cut_short_by_a_full_disk_leaves_no_files(
    classifier: dict, tracking_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # written in place in the store's artifacts, a model whose save fails halfway (its data is
    # written) is FAILED and its files are removed: they would only take the disk's space
    def full_disk() -> None:
        raise OSError(errno.ENOSPC, "No space left on device", "conda.yaml")

    monkeypatch.setattr("trainer.tracking.model_env.environment_files", full_disk)
    experiment_id = get_or_create_experiment(tracking_env, f"pyfunc-{uuid.uuid4().hex[:8]}")
    with RunTracker.start(tracking_env, experiment_id) as tracker, \
            pytest.raises(OSError, match="No space left"):
        log_trained_model(tracker, step=1, **classifier["save_kwargs"])
    (logged,) = get_client(tracking_env).search_logged_models([experiment_id])
    assert logged.status == LoggedModelStatus.FAILED
    artifacts = Path(logged.artifact_location.removeprefix("file://"))
    assert not artifacts.exists()


def test_model_directory_holds_no_pickle(classifier: dict, tmp_path: Path) -> None:
    # weights and labels are plain .npz/.json: no pickle, no cloudpickle, nothing object-typed
    save_model(tmp_path / "model", **classifier["save_kwargs"])
    names = [p.name.lower() for p in (tmp_path / "model").rglob("*")]
    assert not [n for n in names if n.endswith((".pkl", ".pickle")) or "cloudpickle" in n]
    mlmodel = yaml.safe_load((tmp_path / "model" / "MLmodel").read_text())
    flavor = mlmodel["flavors"]["python_function"]
    assert flavor["loader_module"] == "numpy_mlp_predictor"
    assert "cloudpickle_version" not in flavor and "python_model" not in flavor
    with np.load(tmp_path / "model" / flavor["data"] / "weights.npz", allow_pickle=False) as npz:
        assert {"W0", "b0", "W1", "b1", "classes", "x_mean", "x_scale"} == set(npz.files)
        assert all(npz[key].dtype != object for key in npz.files)
    meta = json.loads((tmp_path / "model" / flavor["data"] / "meta.json").read_text())
    assert meta["feature_names"] == FEATURES and meta["task"] == "classification"
    assert (meta["activation"], meta["output"], meta["dtype"]) == ("tanh", "softmax", "float32")
    # its only code is the predictor module, and it needs numpy alone
    code = tmp_path / "model" / "code"
    assert [p.name for p in code.rglob("*")] == ["numpy_mlp_predictor.py"]
    requirements = (tmp_path / "model" / "requirements.txt").read_text().split()
    assert [r.split("~=")[0] for r in requirements if not r.startswith("mlflow")] == ["numpy"]


def test_columns_are_taken_by_name_and_checked(classifier: dict, tmp_path: Path) -> None:
    # reordered or extra DataFrame columns give the same labels; a missing feature is named by
    # MLflow's check of the declared input schema (the features, by name)
    save_model(tmp_path / "model", **classifier["save_kwargs"])
    model = mlflow.pyfunc.load_model(str(tmp_path / "model"))
    assert model.metadata.get_input_schema().input_names() == FEATURES
    frame = pd.DataFrame(classifier["X"], columns=FEATURES)
    np.testing.assert_array_equal(model.predict(frame[FEATURES[::-1]]), classifier["expected"])
    np.testing.assert_array_equal(model.predict(frame.assign(id=1)), classifier["expected"])
    with pytest.raises(MlflowException, match="Model is missing inputs \\['weight'\\]"):
        model.predict(frame[["height"]])


def test_numpy_rows_and_lists_are_taken_in_order(classifier: dict, tmp_path: Path) -> None:
    # the raw model predicts from a 2-D array or a list of rows; wrong widths are refused (the
    # pyfunc wrapper asks for the declared columns by name)
    save_model(tmp_path / "model", **classifier["save_kwargs"])
    model = mlflow.pyfunc.load_model(str(tmp_path / "model"))
    raw = model.get_raw_model()
    np.testing.assert_array_equal(raw.predict(classifier["X"]), classifier["expected"])
    np.testing.assert_array_equal(
        raw.predict(classifier["X"][:5].tolist()), classifier["expected"][:5]
    )
    with pytest.raises(ValueError, match="expected rows of 2 features"):
        raw.predict(np.ones((2, 3)))
    with pytest.raises(MlflowException, match="Model is missing inputs"):
        model.predict(classifier["X"])
    proba = model.get_raw_model().predict_raw(classifier["X"])
    assert proba.shape == (len(classifier["X"]), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)


def _linear_model_kwargs(
    W: np.ndarray,
    b: np.ndarray,
    pre: Preprocessor,
    *,
    loss: str,
    task: str,
    classes: np.ndarray | None,
    names: list[str],
) -> dict:
    """Save arguments of a network without hidden layers whose logits are X_std W + b."""
    net = MLP(W.shape[0], [], W.shape[1], dtype="float64", rng=np.random.default_rng(0))
    net.load_state_dict({"W0": W, "b0": b})
    return dict(
        network_state=net.state_dict(),
        network_config=net.config(),
        loss=loss,
        task=task,
        preprocessor_arrays=pre.to_arrays(),
        classes=classes,
        feature_names=names,
    )


def test_binary_classifier_thresholds_the_sigmoid_at_half(tmp_path: Path) -> None:
    # one sigmoid unit: p >= 0.5 (logit >= 0) is the second class, below it the first
    pre = Preprocessor(x_mean=np.zeros(2), x_scale=np.ones(2), n_features=2, dtype="float64")
    kwargs = _linear_model_kwargs(
        np.array([[1.0], [0.0]]),
        np.zeros(1),
        pre,
        loss="binary_crossentropy",
        task="classification",
        classes=np.array(["no", "yes"]),
        names=["a", "b"],
    )
    save_model(tmp_path / "model", **kwargs)
    model = mlflow.pyfunc.load_model(str(tmp_path / "model"))
    rows = pd.DataFrame({"a": [-2.0, -0.1, 0.0, 0.1, 3.0], "b": [5.0] * 5})
    assert model.predict(rows).tolist() == ["no", "no", "yes", "yes", "yes"]


def test_integer_labels_save_quietly_with_a_long_output(tmp_path: Path) -> None:
    # labels 0..9 (digits) are declared as a long output, without MLflow's integer-schema hints
    pre = Preprocessor(x_mean=np.zeros(1), x_scale=np.ones(1), n_features=1, dtype="float64")
    kwargs = _linear_model_kwargs(
        np.array([[1.0, -1.0, 0.0]]),
        np.zeros(3),
        pre,
        loss="categorical_crossentropy",
        task="classification",
        classes=np.array([3, 5, 7]),
        names=["x"],
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        save_model(tmp_path / "model", **kwargs)
    model = mlflow.pyfunc.load_model(str(tmp_path / "model"))
    assert model.metadata.get_output_schema().to_dict() == [{"type": "long", "required": True}]
    assert model.predict(pd.DataFrame({"x": [2.0, -2.0]})).tolist() == [3, 5]


def test_regression_undoes_target_standardization(tmp_path: Path) -> None:
    # predictions come back in the target's own units (mean ~1000, spread ~50), 1-D for one target
    rng = np.random.default_rng(1)
    X = rng.normal(loc=[5.0, -3.0, 20.0], scale=[1.0, 2.0, 4.0], size=(50, 3))
    y = X @ np.array([10.0, -4.0, 2.5]) + 1000.0  # exactly linear in X
    pre = Preprocessor(
        x_mean=X.mean(0),
        x_scale=X.std(0),
        y_mean=np.array([y.mean()]),
        y_scale=np.array([y.std()]),
        n_features=3,
        dtype="float64",
    )
    Xs = (X - pre.x_mean) / pre.x_scale
    ys = (y - y.mean()) / y.std()
    coef, *_ = np.linalg.lstsq(np.c_[Xs, np.ones(len(X))], ys, rcond=None)  # exact fit
    kwargs = _linear_model_kwargs(
        coef[:3, None],
        coef[3:],
        pre,
        loss="mse",
        task="regression",
        classes=None,
        names=["x0", "x1", "x2"],
    )
    save_model(tmp_path / "model", **kwargs)
    predicted = mlflow.pyfunc.load_model(str(tmp_path / "model")).predict(
        pd.DataFrame(X, columns=["x0", "x1", "x2"])
    )
    assert predicted.shape == (50,)
    np.testing.assert_allclose(predicted, y, rtol=1e-9)


def test_two_target_regression_returns_two_columns(tmp_path: Path) -> None:
    # k targets come back as (n, k), each column unscaled with its own mean and scale
    pre = Preprocessor(
        x_mean=np.zeros(1),
        x_scale=np.ones(1),
        y_mean=np.array([10.0, -5.0]),
        y_scale=np.array([2.0, 0.5]),
        n_features=1,
        dtype="float64",
    )
    kwargs = _linear_model_kwargs(
        np.array([[1.0, 1.0]]),
        np.zeros(2),
        pre,
        loss="mse",
        task="regression",
        classes=None,
        names=["x"],
    )
    save_model(tmp_path / "model", **kwargs)
    predicted = mlflow.pyfunc.load_model(str(tmp_path / "model")).predict(
        pd.DataFrame({"x": [0.0, 1.0]})
    )
    np.testing.assert_allclose(predicted, [[10.0, -5.0], [12.0, -4.5]])


def test_classes_must_match_the_task(classifier: dict, tmp_path: Path) -> None:
    # a regression model with labels (or a classifier without) is a caller bug, caught at save
    kwargs = {**classifier["save_kwargs"], "task": "regression"}
    with pytest.raises(ValueError, match="classes"):
        save_model(tmp_path / "model", **kwargs)


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "tanh", "sigmoid"])
@pytest.mark.parametrize(
    ("loss", "n_outputs"), [("categorical_crossentropy", 4), ("binary_crossentropy", 1), ("mse", 2)]
)
def test_predictor_computes_what_the_trained_network_computes(
    activation: str, loss: str, n_outputs: int, tmp_path: Path
) -> None:
    # the shipped predictor is a second implementation of inference: in float64 it gives the
    # network's own outputs up to rounding (a few ulps per product of this size)
    rng = np.random.default_rng(3)
    net = MLP(5, [7, 6], n_outputs, activation=activation, dtype="float64", rng=rng)
    X = rng.normal(size=(20, 5))
    pre = Preprocessor(x_mean=np.zeros(5), x_scale=np.ones(5), n_features=5, dtype="float64")
    classes = None if loss == "mse" else np.arange(max(n_outputs, 2))
    save_model(tmp_path / "model", network_state=net.state_dict(), network_config=net.config(),
               loss=loss, task="regression" if loss == "mse" else "classification",
               preprocessor_arrays=pre.to_arrays(), classes=classes,
               feature_names=[f"x{i}" for i in range(5)])
    loaded = numpy_mlp_predictor.MLPPredictor.load(tmp_path / "model" / "data" / "nn")
    expected = LOSSES[loss].output(net.logits(X))
    np.testing.assert_allclose(loaded.predict_raw(X), expected, rtol=1e-12, atol=1e-14)


def test_predictor_module_needs_numpy_alone(tmp_path: Path) -> None:
    # the model's only code imports neither the trainer nor MLflow nor pandas
    script = (
        "import sys, numpy_mlp_predictor\n"
        "loaded = {m.split('.')[0] for m in sys.modules}\n"
        "print(sorted(loaded & {'trainer', 'mlflow', 'pandas', 'sklearn', 'scipy'}))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(Path(numpy_mlp_predictor.__file__).parent)
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]"


@pytest.mark.slow
def test_model_loads_without_trainer_and_never_shadows_it(classifier: dict, tmp_path: Path) -> None:
    # a Python without trainer predicts from the model alone; where trainer is installed,
    # loading a model leaves the installed package the one that imports
    save_model(tmp_path / "model", **classifier["save_kwargs"])
    model_dir = str(tmp_path / "model")
    predict = (
        f"m = mlflow.pyfunc.load_model({model_dir!r})\n"
        "print(','.join(m.predict(pd.DataFrame([[100.0, 10.0], [115.0, 40.0]],"
        f" columns={FEATURES!r}))))\n"
    )
    without = (
        "import importlib.util, sys, mlflow.pyfunc, pandas as pd\n"
        # hide an editable install of trainer, as on a machine that only has the model
        "sys.meta_path[:] = [f for f in sys.meta_path"
        " if not getattr(f, '__module__', '').startswith('__editable__')]\n"
        "assert importlib.util.find_spec('trainer') is None\n"
        + predict
        + "assert 'trainer' not in sys.modules\n"
    )
    installed = (
        "import sys, mlflow.pyfunc, pandas as pd\n"
        + predict
        + "import trainer\n"
        f"assert not trainer.__file__.startswith({model_dir!r}), trainer.__file__\n"
    )
    root = str(Path(__file__).resolve().parents[3])
    base = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    for script, env in ((without, base), (installed, {**base, "PYTHONPATH": root})):
        result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=120, check=False)
        assert result.returncode == 0, result.stderr[-2000:]
        assert result.stdout.strip().splitlines()[-1] == "cat,eel"
