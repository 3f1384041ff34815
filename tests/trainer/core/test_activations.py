"""Activations: values against reference formulas and backward against finite differences."""

from __future__ import annotations

import numpy as np
import pytest

from trainer.core.activations import ACTIVATIONS, LEAKY_RELU_SLOPE

# independent float64 references: sigma(Z)
REFERENCE = {
    "relu": lambda Z: np.where(Z > 0, Z, 0.0),
    "leaky_relu": lambda Z: np.where(Z > 0, Z, 0.01 * Z),
    "tanh": np.tanh,
    "sigmoid": lambda Z: 1.0 / (1.0 + np.exp(-Z)),
}


def _inputs(seed: int = 0) -> np.ndarray:
    # away from the ReLU kink so a finite difference never straddles it
    rng = np.random.default_rng(seed)
    Z = rng.uniform(-4, 4, size=(6, 5))
    Z[np.abs(Z) < 0.05] += 0.1
    return Z


def test_registry_names():
    # the config contract lists exactly these four activations
    assert set(ACTIVATIONS) == {"relu", "leaky_relu", "tanh", "sigmoid"}
    assert LEAKY_RELU_SLOPE == 0.01


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_forward_matches_reference_and_writes_out(name):
    # forward computes sigma(Z) into the caller's buffer and returns that buffer
    Z = _inputs()
    out = np.empty_like(Z)
    result = ACTIVATIONS[name].forward(Z, out)
    assert result is out
    np.testing.assert_allclose(out, REFERENCE[name](Z), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_backward_matches_central_differences(name):
    # dZ = dA * sigma'(Z), checked against (sigma(Z+h) - sigma(Z-h)) / 2h in float64
    act = ACTIVATIONS[name]
    rng = np.random.default_rng(1)
    Z = _inputs(1)
    dA = rng.standard_normal(Z.shape)
    A = act.forward(Z, np.empty_like(Z))
    dZ = act.backward(dA, Z, A, np.empty_like(Z))
    h = 1e-6
    up = act.forward(Z + h, np.empty_like(Z))
    down = act.forward(Z - h, np.empty_like(Z))
    numeric = dA * (up - down) / (2 * h)
    np.testing.assert_allclose(dZ, numeric, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_float32_in_float32_out(name):
    # float32 inputs give the float32 reference values (no detour through another dtype)
    act = ACTIVATIONS[name]
    Z = _inputs().astype(np.float32)
    A = act.forward(Z, np.empty_like(Z))
    dZ = act.backward(np.ones_like(Z), Z, A, np.empty_like(Z))
    assert A.dtype == np.float32 and dZ.dtype == np.float32
    np.testing.assert_allclose(A, REFERENCE[name](Z.astype(np.float64)), rtol=2e-6, atol=1e-7)


def test_leaky_relu_slope_below_zero():
    # negative inputs are scaled by 0.01 forward and the gradient there is 0.01
    act = ACTIVATIONS["leaky_relu"]
    Z = np.array([[-2.0, 3.0]])
    A = act.forward(Z, np.empty_like(Z))
    np.testing.assert_allclose(A, [[-0.02, 3.0]])
    np.testing.assert_allclose(act.backward(np.ones_like(Z), Z, A, np.empty_like(Z)), [[0.01, 1]])


def test_relu_gradient_is_zero_below_and_at_zero():
    # ReLU passes dA only where Z > 0 (subgradient 0 at the kink, as Keras and PyTorch)
    act = ACTIVATIONS["relu"]
    Z = np.array([[-1.0, 0.0, 2.0]])
    A = act.forward(Z, np.empty_like(Z))
    dZ = act.backward(np.full_like(Z, 5.0), Z, A, np.empty_like(Z))
    np.testing.assert_array_equal(dZ, [[0.0, 0.0, 5.0]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_and_tanh_stable_at_extreme_inputs(dtype):
    # +-1e4 saturate to the limits without overflow warnings or NaN; the gradient vanishes
    Z = np.array([[-1e4, -100.0, 0.0, 100.0, 1e4]], dtype=dtype)
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        for name, limits in (("sigmoid", (0.0, 1.0)), ("tanh", (-1.0, 1.0))):
            act = ACTIVATIONS[name]
            A = act.forward(Z, np.empty_like(Z))
            assert A[0, 0] == pytest.approx(limits[0], abs=1e-7)
            assert A[0, -1] == pytest.approx(limits[1], abs=1e-7)
            dZ = act.backward(np.ones_like(Z), Z, A, np.empty_like(Z))
            assert np.all(np.isfinite(dZ))
            assert abs(dZ[0, 0]) < 1e-6 and abs(dZ[0, -1]) < 1e-6
    assert ACTIVATIONS["sigmoid"].forward(Z, np.empty_like(Z))[0, 2] == 0.5
