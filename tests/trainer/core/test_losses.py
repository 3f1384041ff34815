"""Losses on logits: values against naive formulas, dL/dZ against finite differences,
stability at extreme logits, and the task -> loss mapping."""

from __future__ import annotations

import numpy as np
import pytest

from trainer.core.errors import DataError, ParameterError
from trainer.core.losses import LOSSES, task_loss


def _case(name: str, dtype=np.float64, n: int = 7, seed: int = 0):
    """Moderate logits Z and matching targets Y for loss ``name``."""
    rng = np.random.default_rng(seed)
    if name == "categorical_crossentropy":
        Z = rng.normal(0, 2, size=(n, 4))
        Y = np.eye(4)[rng.integers(0, 4, n)]
    elif name == "binary_crossentropy":
        Z = rng.normal(0, 2, size=(n, 1))
        Y = rng.integers(0, 2, size=(n, 1)).astype(float)
    else:
        Z = rng.normal(0, 2, size=(n, 3))
        Y = rng.normal(0, 2, size=(n, 3))
    return Z.astype(dtype), Y.astype(dtype)


def _naive(name: str, Z: np.ndarray, Y: np.ndarray) -> float:
    """The textbook definitions, written independently of the implementation."""
    if name == "categorical_crossentropy":
        P = np.exp(Z) / np.exp(Z).sum(axis=1, keepdims=True)
        return float(np.mean(-np.sum(Y * np.log(P), axis=1)))
    if name == "binary_crossentropy":
        p = 1 / (1 + np.exp(-Z))
        return float(np.mean(-(Y * np.log(p) + (1 - Y) * np.log(1 - p))))
    return float(np.mean((Z - Y) ** 2))


def test_registry_names():
    # the three losses the task mapping can choose
    assert set(LOSSES) == {"categorical_crossentropy", "binary_crossentropy", "mse"}


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_value_matches_naive_formula(name):
    # value and value_and_grad both return the mean loss of the textbook definition
    Z, Y = _case(name)
    loss = LOSSES[name]
    assert loss.value(Z, Y) == pytest.approx(_naive(name, Z, Y), rel=1e-12)
    assert loss.value_and_grad(Z, Y, np.empty_like(Z)) == pytest.approx(_naive(name, Z, Y),
                                                                         rel=1e-12)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_grad_matches_central_differences(name):
    # dL/dZ written into out equals (L(Z + h e_ij) - L(Z - h e_ij)) / 2h for every entry
    Z, Y = _case(name)
    loss = LOSSES[name]
    dZ = np.empty_like(Z)
    loss.value_and_grad(Z, Y, dZ)
    h = 1e-6
    numeric = np.empty_like(Z)
    for idx in np.ndindex(Z.shape):
        Zp, Zm = Z.copy(), Z.copy()
        Zp[idx] += h
        Zm[idx] -= h
        numeric[idx] = (loss.value(Zp, Y) - loss.value(Zm, Y)) / (2 * h)
    np.testing.assert_allclose(dZ, numeric, rtol=1e-6, atol=1e-10)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_fused_gradient_formula(name):
    # dL/dZ is the documented fused form: (P - Y)/n, (p - y)/n, 2(Z - Y)/(n k)
    Z, Y = _case(name)
    dZ = np.empty_like(Z)
    LOSSES[name].value_and_grad(Z, Y, dZ)
    n, k = Z.shape
    if name == "categorical_crossentropy":
        expected = (np.exp(Z) / np.exp(Z).sum(axis=1, keepdims=True) - Y) / n
    elif name == "binary_crossentropy":
        expected = (1 / (1 + np.exp(-Z)) - Y) / n
    else:
        expected = 2 * (Z - Y) / (n * k)
    np.testing.assert_allclose(dZ, expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_inputs_untouched_and_float32_kept(name):
    # Z and Y are not modified; float32 logits give a float32 gradient and a Python float
    Z, Y = _case(name, dtype=np.float32)
    Z0, Y0 = Z.copy(), Y.copy()
    dZ = np.empty_like(Z)
    value = LOSSES[name].value_and_grad(Z, Y, dZ)
    assert type(value) is float
    assert dZ.dtype == np.float32
    np.testing.assert_array_equal(Z, Z0)
    np.testing.assert_array_equal(Y, Y0)
    assert value == pytest.approx(_naive(name, Z.astype(float), Y.astype(float)), rel=1e-5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_categorical_crossentropy_extreme_logits(dtype):
    # logits of 1e4: finite loss, ~0 when the true class dominates, ~1e4 when a wrong one does
    Z = np.array([[1e4, 0.0, -1e4], [1e4, 0.0, -1e4], [0.0, 0.0, 0.0]], dtype=dtype)
    Y = np.array([[1, 0, 0], [0, 0, 1], [0, 1, 0]], dtype=dtype)
    loss = LOSSES["categorical_crossentropy"]
    dZ = np.empty_like(Z)
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        value = loss.value_and_grad(Z, Y, dZ)
        per_row = [loss.value(Z[i:i + 1], Y[i:i + 1]) for i in range(3)]
    assert per_row[0] == pytest.approx(0.0, abs=1e-6)
    assert per_row[1] == pytest.approx(2e4, rel=1e-6)
    assert per_row[2] == pytest.approx(np.log(3), rel=1e-6)
    assert value == pytest.approx(sum(per_row) / 3, rel=1e-6)
    assert np.all(np.isfinite(dZ))
    # P of row 1 is (1, 0, 0) while the target is class 2: gradient (P - Y)/n
    np.testing.assert_allclose(dZ[1], np.array([1, 0, -1]) / 3, atol=1e-7)
    P = loss.output(Z)
    assert np.all(np.isfinite(P))
    np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_binary_crossentropy_extreme_logits(dtype):
    # z = +-1e4: loss 0 when right, |z| when wrong, gradient +-1/n, no overflow or log(0)
    Z = np.array([[1e4], [-1e4], [1e4], [-1e4]], dtype=dtype)
    Y = np.array([[1], [0], [0], [1]], dtype=dtype)
    loss = LOSSES["binary_crossentropy"]
    dZ = np.empty_like(Z)
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        value = loss.value_and_grad(Z, Y, dZ)
        p = loss.output(Z)
    assert value == pytest.approx((0 + 0 + 1e4 + 1e4) / 4, rel=1e-6)
    np.testing.assert_allclose(dZ[:, 0], np.array([0, 0, 1, -1]) / 4, atol=1e-7)
    np.testing.assert_array_equal(p[:, 0], [1, 0, 1, 0])
    assert p.dtype == dtype


def test_outputs():
    # output applies softmax / sigmoid / identity and returns a new array
    Z = np.array([[0.0, np.log(3.0)], [2.0, 2.0]])
    np.testing.assert_allclose(LOSSES["categorical_crossentropy"].output(Z),
                               [[0.25, 0.75], [0.5, 0.5]])
    np.testing.assert_allclose(LOSSES["binary_crossentropy"].output(Z[:, :1]),
                               [[0.5], [1 / (1 + np.exp(-2.0))]])
    out = LOSSES["mse"].output(Z)
    np.testing.assert_array_equal(out, Z)
    assert out is not Z


def test_shape_mismatch_is_rejected():
    # targets of another shape would broadcast silently; they raise instead
    Z = np.zeros((4, 1))
    with pytest.raises(ValueError, match="same shape"):
        LOSSES["binary_crossentropy"].value(Z, np.zeros(4))


@pytest.mark.parametrize(("task", "n_classes", "expected"), [
    ("classification", 10, "categorical_crossentropy"),
    ("classification", 3, "categorical_crossentropy"),
    ("classification", 2, "binary_crossentropy"),
    ("regression", None, "mse"),
])
def test_task_loss_mapping(task, n_classes, expected):
    # the output layer and loss follow the task as the design contract says
    assert task_loss(task, n_classes) == expected


def test_task_loss_errors():
    # an unknown task is a bad parameter; a single class is a data problem
    with pytest.raises(ParameterError, match="^task: expected one of classification, regression"):
        task_loss("ranking", 3)
    with pytest.raises(DataError, match="at least 2 classes"):
        task_loss("classification", 1)
