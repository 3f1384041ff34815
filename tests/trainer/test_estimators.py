"""trainer.MLPClassifier and MLPRegressor: scikit-learn's estimator contract, checked by its own
estimator checks, and what a scikit-learn user does with them."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from sklearn.base import clone
from sklearn.datasets import load_diabetes, load_iris, load_wine
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import estimator_checks_generator

from tests.commands import run_trainer
from trainer.core.errors import ParameterError
from trainer.core.optimizers import Adam
from trainer.estimators import MLPClassifier, MLPRegressor

REPO = Path(__file__).resolve().parents[2]
ESTIMATORS = [MLPClassifier(), MLPRegressor()]
# Every check applies to these estimators: none is declared an expected failure. scikit-learn
# skips its array API check unless SCIPY_ARRAY_API is set before SciPy is imported, which this
# process cannot promise: that check runs in a fresh interpreter instead (below).
EXPECTED_FAILED_CHECKS: dict[str, str] = {}
IN_A_FRESH_INTERPRETER = "check_array_api_input"


def _check_name(check: Any) -> str:
    return getattr(check, "func", check).__name__


def _checks() -> list[Any]:
    cases = []
    for estimator in ESTIMATORS:
        for est, check in estimator_checks_generator(
                estimator, legacy=True, expected_failed_checks=EXPECTED_FAILED_CHECKS,
                mark="xfail", xfail_strict=True):
            if _check_name(check) != IN_A_FRESH_INTERPRETER:
                cases.append(pytest.param(est, check,
                                          id=f"{type(est).__name__}-{_check_name(check)}"))
    return cases


@pytest.mark.parametrize(("estimator", "check"), _checks())
def test_scikit_learn_estimator_check(estimator: Any, check: Any) -> None:
    # scikit-learn's own estimator checks, each one a test; none skipped, none expected to fail
    check(estimator)


def test_scikit_learn_array_api_check_in_a_fresh_interpreter() -> None:
    # the one check scikit-learn skips without SCIPY_ARRAY_API set before SciPy's import
    code = (
        "from sklearn.utils.estimator_checks import check_array_api_input\n"
        "from trainer.estimators import MLPClassifier, MLPRegressor\n"
        "for est in (MLPClassifier(), MLPRegressor()):\n"
        "    check_array_api_input(type(est).__name__, est, array_namespace='numpy',\n"
        "                          expect_only_array_outputs=False)\n"
        "print('checked')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**os.environ, "SCIPY_ARRAY_API": "1"}, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == ["checked"]


def test_every_check_of_the_generator_is_run() -> None:
    # the count the report gives: every check scikit-learn yields, for both estimators
    names = [_check_name(check) for est in ESTIMATORS for _, check in
             estimator_checks_generator(est, legacy=True)]
    assert names.count(IN_A_FRESH_INTERPRETER) == 2
    assert len(_checks()) == len(names) - 2


# -------------------------------------------------------------- the config's names and defaults


def _default_config(*overrides: str) -> dict[str, Any]:
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=list(overrides))
    return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]


def test_defaults_are_the_configs() -> None:
    # the estimator's defaults are `python -m trainer`'s: one model, whichever way it is trained
    cfg = _default_config()
    expected = {
        "hidden": cfg["model"]["hidden"], "activation": cfg["model"]["activation"],
        "init": cfg["model"]["init"], "dtype": cfg["model"]["dtype"],
        "optimizer": cfg["optimizer"]["name"], "batch_size": cfg["batch_size"],
        "epochs": cfg["epochs"], "seed": cfg["seed"],
        "validation_fraction": cfg["data"]["val_fraction"],
        "standardize": cfg["data"]["standardize"],
        **{k: cfg["regularization"][k] for k in ("dropout", "l1", "l2")},
        "early_stopping": cfg["early_stopping"]["enabled"],
        **{k: cfg["early_stopping"][k] for k in ("monitor", "mode", "patience", "min_delta",
                                                   "restore_best_weights", "start_from_epoch")},
    }
    for estimator in ESTIMATORS:
        params = estimator.get_params()
        got = {k: list(params[k]) if k == "hidden" else params[k] for k in expected}
        assert got == expected


@pytest.mark.parametrize("name", ["adam", "sgd", "momentum", "rmsprop"])
def test_each_optimizer_gets_its_config_settings(name: str) -> None:
    # optimizer="sgd" trains with conf/optimizer/sgd.yaml's lr (0.05), not Adam's
    node = _default_config(f"optimizer={name}")["optimizer"]
    estimator = MLPClassifier(optimizer=name)
    optimizer = estimator._build_optimizer(estimator._checked())
    assert optimizer.name == name
    assert {key: getattr(optimizer, key) for key in node if key != "name"} == {
        key: value for key, value in node.items() if key != "name"}


def test_a_refused_value_raises_the_cores_parameter_error() -> None:
    # the same one-line message as the core class it feeds
    X, y = load_iris(return_X_y=True)
    with pytest.raises(ParameterError) as core:
        Adam(-1)
    with pytest.raises(ParameterError) as estimator:
        MLPClassifier(lr=-1).fit(X, y)
    assert str(estimator.value) == str(core.value) == "lr: expected a finite number > 0, got -1"
    for params, message in [
        ({"hidden": (64, 0)}, "hidden: expected a list of layer widths (integers >= 1), "
                              "got (64, 0)"),
        ({"dropout": 1.0}, "dropout: expected a rate in [0, 1), got 1.0"),
        ({"optimizer": "adamw"}, "optimizer: expected one of sgd, momentum, rmsprop, adam, "
                                 "got 'adamw'"),
        ({"monitor": "val_r2"}, "monitor: expected one of val_loss, val_accuracy, train_loss, "
                                "train_accuracy, got 'val_r2'"),
        ({"batch_size": 0}, "batch_size: expected a positive integer, got 0"),
    ]:
        with pytest.raises(ParameterError) as error:
            MLPClassifier(**params).fit(X, y)
        assert str(error.value) == message


def test_keyword_only_hyperparameters_and_their_count() -> None:
    # every hyperparameter by name, as scikit-learn writes them; the list the README documents
    signature = inspect.signature(MLPClassifier.__init__)
    kinds = {p.kind for name, p in signature.parameters.items() if name != "self"}
    assert kinds == {inspect.Parameter.KEYWORD_ONLY}
    assert len(signature.parameters) - 1 == 28


# -------------------------------------------------------------------------------- behaviour


@pytest.mark.parametrize("labels", [
    np.array(["setosa", "versicolor", "virginica"]),
    np.array([10, -3, 7]),
    np.array(["a", "b", "c"], dtype=object),
    np.array([2.0, 0.0, 1.0]),
])
def test_labels_come_back_as_given(labels: np.ndarray) -> None:
    X, y = load_iris(return_X_y=True)
    given = labels[y]
    clf = MLPClassifier(epochs=30).fit(X, given)
    predicted = clf.predict(X)
    assert predicted.dtype == given.dtype
    assert set(predicted) <= set(labels) and list(clf.classes_) == sorted(labels)
    assert clf.score(X, given) > 0.8
    probabilities = clf.predict_proba(X)
    assert probabilities.shape == (len(X), 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-12)


def test_two_classes_booleans() -> None:
    X, y = load_iris(return_X_y=True)
    keep = y < 2
    given = y[keep] == 1
    clf = MLPClassifier(epochs=20).fit(X[keep], given)
    assert clf.network_.n_outputs == 1  # a sigmoid output for two classes
    assert clf.predict(X[keep]).dtype == np.bool_ and clf.score(X[keep], given) == 1.0


def test_fitted_attributes() -> None:
    X, y = load_wine(return_X_y=True)
    clf = MLPClassifier(hidden=(16,), lr=0.01, epochs=200, patience=5).fit(X, y)
    assert clf.n_features_in_ == 13 and list(clf.classes_) == [0, 1, 2]
    assert clf.stop_reason_ == "early_stopping" and clf.n_iter_ == len(clf.history_) < 200
    # the best epoch by val_loss, whose weights the network holds
    val_losses = [logs["val_loss"] for logs in clf.history_]
    assert clf.best_epoch_ == clf.kept_epoch_ == int(np.argmin(val_losses)) + 1
    assert set(clf.history_[0]) == {"epoch", "train_loss", "train_accuracy", "val_loss",
                                    "val_accuracy"}


def test_validation_part_given_or_held_out() -> None:
    # X_val/y_val is the early-stopping part when given; else validation_fraction of the rows
    X, y = load_wine(return_X_y=True)
    X_train, y_train, X_val, y_val = X[::2], y[::2], X[1::2], y[1::2]
    given = MLPClassifier(hidden=(16,), epochs=5).fit(X_train, y_train, X_val=X_val,
                                                      y_val=y_val)
    held_out = MLPClassifier(hidden=(16,), epochs=5).fit(X_train, y_train)
    assert given.history_[-1]["val_loss"] != held_out.history_[-1]["val_loss"]
    # without early stopping every row trains and there is no validation metric
    plain = MLPClassifier(hidden=(16,), epochs=5, early_stopping=False).fit(X_train, y_train)
    assert "val_loss" not in plain.history_[0] and plain.best_epoch_ is None
    assert plain.kept_epoch_ == 5
    with pytest.raises(ParameterError, match="y_val: expected an array when X_val is given"):
        MLPClassifier().fit(X_train, y_train, X_val=X_val)
    with pytest.raises(ValueError, match="expected labels among classes_"):
        MLPClassifier().fit(X_train, y_train, X_val=X_val, y_val=y_val + 5)


def test_same_seed_same_model_and_another_seed_another() -> None:
    X, y = load_wine(return_X_y=True)
    a = MLPClassifier(hidden=(8,), epochs=5).fit(X, y)
    b = MLPClassifier(hidden=(8,), epochs=5).fit(X, y)
    c = MLPClassifier(hidden=(8,), epochs=5, seed=1).fit(X, y)
    np.testing.assert_array_equal(a.network_.params, b.network_.params)
    assert not np.array_equal(a.network_.params, c.network_.params)


def test_partial_fit_continues_epoch_by_epoch() -> None:
    X, y = load_wine(return_X_y=True)
    labels = np.array(["barolo", "grignolino", "barbera"])[y]
    clf = MLPClassifier(hidden=(16,), lr=0.01)
    with pytest.raises(ParameterError, match="classes: expected every label y may hold"):
        clf.partial_fit(X, labels)
    for _ in range(10):
        clf.partial_fit(X, labels, classes=np.unique(labels))
    losses = [logs["train_loss"] for logs in clf.history_]
    assert [logs["epoch"] for logs in clf.history_] == list(range(1, 11)) and clf.n_iter_ == 10
    assert losses[-1] < losses[0] / 2 and clf.score(X, labels) > 0.9
    # after fit, partial_fit trains the same network on
    fitted = MLPClassifier(hidden=(16,), epochs=3, early_stopping=False).fit(X, labels)
    before = fitted.network_.get_params()
    fitted.partial_fit(X, labels)
    assert fitted.n_iter_ == 4 and not np.array_equal(before, fitted.network_.get_params())
    with pytest.raises(ValueError, match="expected labels among classes_"):
        fitted.partial_fit(X, np.full(len(X), "chianti"))


def test_regressor_one_and_several_targets_in_their_units() -> None:
    X, y = load_diabetes(return_X_y=True)
    reg = MLPRegressor(hidden=(32,), lr=0.01, epochs=200).fit(X, y)
    assert reg.predict(X).shape == y.shape and reg.score(X, y) > 0.4
    assert abs(reg.predict(X).mean() - y.mean()) < 0.2 * y.std()  # standardized, then undone
    Y = np.column_stack([y, -2 * y])
    two = MLPRegressor(hidden=(32,), lr=0.01, epochs=200).fit(X, Y)
    assert two.predict(X).shape == (len(X), 2) and two.n_outputs_ == 2
    assert set(two.history_[0]) == {"epoch", "train_loss", "val_loss", "val_r2"}


def test_clone_and_set_params() -> None:
    clf = MLPClassifier(hidden=(8, 4), optimizer="momentum", lr=0.1)
    copy = clone(clf)
    assert copy.get_params() == clf.get_params() and copy is not clf
    copy.set_params(lr=0.2, patience=3)
    assert (copy.lr, copy.patience, clf.lr) == (0.2, 3, 0.1)


# ----------------------------------------------------------- scikit-learn's tools around them


def test_in_a_pipeline() -> None:
    X, y = load_wine(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), MLPClassifier(hidden=(16,), lr=0.01, standardize=False))
    pipe.fit(X, y)
    assert pipe.score(X, y) > 0.95 and pipe.predict(X[:3]).tolist() == y[:3].tolist()


def test_cross_val_score() -> None:
    X, y = load_wine(return_X_y=True)
    scores = cross_val_score(MLPClassifier(hidden=(16,), lr=0.01), X, y, cv=3)
    assert scores.shape == (3,) and scores.min() > 0.85


def test_grid_search_over_config_names() -> None:
    X, y = load_iris(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning from a fit
        search = GridSearchCV(MLPClassifier(hidden=(8,), epochs=30),
                              {"optimizer": ["sgd", "adam"], "hidden": [(4,), (16,)]}, cv=3)
        search.fit(X, y)
    assert set(search.best_params_) == {"optimizer", "hidden"}
    assert len(search.cv_results_["mean_test_score"]) == 4 and search.best_score_ > 0.8
    assert search.best_estimator_.predict(X[:1]).shape == (1,)


@pytest.mark.slow
def test_the_estimator_and_the_command_line_reach_the_same_weights(tmp_path: Path) -> None:
    # the same training rows, validation rows, config and seed: the same weights, bit for bit
    # (both run trainer.training's steps on one machine with the same BLAS threads)
    from mlflow import MlflowClient

    from trainer.data import load_dataset
    from trainer.training import SeedStreams

    overrides = ["data=wine", "seed=3", "model.hidden=[16,8]", "epochs=40", "optimizer=momentum",
                 "optimizer.lr=0.02", "regularization.l2=0.001", "early_stopping.patience=5",
                 "progress=none"]
    result = run_trainer(tmp_path, *overrides)
    assert result.returncode == 0, result.stderr[-3000:]
    client = MlflowClient(f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    (run,) = client.search_runs(client.search_experiments()[0].experiment_id)
    (output,) = run.outputs.model_outputs
    location = client.get_logged_model(output.model_id).artifact_location
    with np.load(Path(location.removeprefix("file://")) / "data" / "nn" / "weights.npz") as saved:
        cli_weights = {key: saved[key] for key in saved.files if key[0] in "Wb"}

    # the command line's split of the raw rows (the split stream of seed 3)
    raw = load_dataset({"name": "wine", "standardize": False}, seed=SeedStreams.of(3).split,
                       dtype="float64")
    assert raw.classes is not None
    clf = MLPClassifier(hidden=(16, 8), epochs=40, optimizer="momentum", lr=0.02, l2=0.001,
                        patience=5, seed=3)
    clf.fit(raw.X_train, raw.classes[raw.y_train], X_val=raw.X_val,
            y_val=raw.classes[raw.y_val])
    assert clf.kept_epoch_ == output.step
    estimator_weights = clf.network_.state_dict()
    assert cli_weights.keys() == estimator_weights.keys()
    for key, value in cli_weights.items():
        np.testing.assert_array_equal(estimator_weights[key], value, err_msg=key)
