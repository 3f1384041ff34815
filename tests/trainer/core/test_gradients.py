"""The whole-network gradient against central finite differences, in float64, for every
activation x loss, with L1/L2 penalties and with dropout (masks fixed by replaying the rng)."""

from __future__ import annotations

import numpy as np
import pytest

from trainer.core.activations import ACTIVATIONS
from trainer.core.losses import LOSSES
from trainer.core.network import MLP
from trainer.core.penalties import WeightPenalty

N_OUT = {"categorical_crossentropy": 3, "binary_crossentropy": 1, "mse": 2}


def _data(loss: str, n: int = 6, n_in: int = 5, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, n_in))
    k = N_OUT[loss]
    if loss == "categorical_crossentropy":
        Y = np.eye(k)[rng.integers(0, k, n)]
    elif loss == "binary_crossentropy":
        Y = rng.integers(0, 2, (n, 1)).astype(float)
    else:
        Y = rng.standard_normal((n, k))
    return X, Y


def _objective(net: MLP, loss, penalty: WeightPenalty, X, Y, rng_state) -> float:
    """L(params) = loss(forward(X)) + penalty(W), with the dropout masks of ``rng_state``."""
    net.rng.bit_generator.state = rng_state
    value = loss.value(net.forward(X, training=True), Y)
    return value + penalty.value(net.params[:net.n_weights])


def _check_gradient(net: MLP, loss_name: str, penalty: WeightPenalty) -> None:
    loss = LOSSES[loss_name]
    X, Y = _data(loss_name)
    state = net.rng.bit_generator.state
    # analytic: forward, fused dL/dZ, backward, plus the penalty's gradient on the weights
    Z = net.forward(X, training=True)
    dZ = np.empty_like(Z)
    loss.value_and_grad(Z, Y, dZ)
    net.backward(dZ)
    if penalty.active:
        penalty.add_gradient(net.params[:net.n_weights], net.grads[:net.n_weights])
    analytic = net.grads.copy()
    # numeric: central differences on every parameter, the same masks at every evaluation
    h = 1e-6
    numeric = np.empty_like(analytic)
    for j in range(net.params.size):
        old = net.params[j]
        net.params[j] = old + h
        up = _objective(net, loss, penalty, X, Y, state)
        net.params[j] = old - h
        down = _objective(net, loss, penalty, X, Y, state)
        net.params[j] = old
        numeric[j] = (up - down) / (2 * h)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-8)


def _net(activation: str, loss_name: str, dropout: float = 0.0, seed: int = 1) -> MLP:
    net = MLP(5, [4, 3], N_OUT[loss_name], activation=activation, init="xavier_normal",
              dropout=dropout, dtype=np.float64, rng=np.random.default_rng(seed))
    # non-zero biases so their gradients are exercised away from the initial point
    net.params[net.n_weights:] = np.random.default_rng(seed + 100).normal(
        0, 0.3, net.params.size - net.n_weights)
    return net


@pytest.mark.parametrize("loss_name", sorted(LOSSES))
@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_mlp_gradient(activation, loss_name):
    # backward fills grads with dL/dparams for every activation x loss pair
    _check_gradient(_net(activation, loss_name), loss_name, WeightPenalty(0.0, 0.0))


@pytest.mark.parametrize("loss_name", sorted(LOSSES))
@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_mlp_gradient_with_l1_l2_penalty(activation, loss_name):
    # the penalty's gradient added to the weights' slice gives d(loss + penalty)/dparams
    _check_gradient(_net(activation, loss_name), loss_name, WeightPenalty(l1=0.03, l2=0.05))


@pytest.mark.parametrize("loss_name", sorted(LOSSES))
@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_mlp_gradient_with_dropout(activation, loss_name):
    # with dropout the gradient flows through the same mask (and 1/(1-rate) scale) as forward
    net = _net(activation, loss_name, dropout=0.4)
    state = net.rng.bit_generator.state
    net.forward(_data(loss_name)[0], training=True)
    masks = net._train_ws.M
    assert any((M == 0).any() for M in masks) and any((M > 1).any() for M in masks)
    net.rng.bit_generator.state = state
    _check_gradient(net, loss_name, WeightPenalty(l1=0.0, l2=0.01))


def test_network_without_hidden_layers():
    # hidden=[] is softmax/logistic/linear regression and still has exact gradients
    net = MLP(5, [], 3, dtype=np.float64, rng=np.random.default_rng(0))
    _check_gradient(net, "categorical_crossentropy", WeightPenalty(0.0, 0.1))


def test_backward_overwrites_grads():
    # grads hold the gradient of the last batch only: backward overwrites, never accumulates
    net = _net("relu", "mse")
    X, Y = _data("mse")
    Z = net.forward(X, training=True)
    dZ = np.empty_like(Z)
    LOSSES["mse"].value_and_grad(Z, Y, dZ)
    net.backward(dZ)
    first = net.grads.copy()
    net.backward(dZ)
    np.testing.assert_array_equal(net.grads, first)


def test_penalty_value_and_gradient():
    # l1 sum|W| + l2 sum W^2 and its gradient l1 sign(W) + 2 l2 W, added in place
    W = np.array([1.0, -2.0, 0.5])
    G = np.array([0.1, 0.1, 0.1])
    pen = WeightPenalty(l1=0.1, l2=0.01)
    assert pen.active and not WeightPenalty(0.0, 0.0).active
    assert pen.value(W) == pytest.approx(0.1 * 3.5 + 0.01 * 5.25)
    pen.add_gradient(W, G)
    np.testing.assert_allclose(G, 0.1 + 0.1 * np.sign(W) + 0.02 * W)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"l1": -0.1}, "l1: expected a finite number >= 0, got -0.1"),
    ({"l2": float("nan")}, "l2: expected a finite number >= 0, got nan"),
    ({"l2": "big"}, "l2: expected a finite number >= 0, got 'big'"),
])
def test_penalty_rejects_bad_coefficients(kwargs, message):
    # a negative, NaN or non-numeric coefficient is refused naming the parameter
    from trainer.core.errors import ParameterError

    with pytest.raises(ParameterError) as info:
        WeightPenalty(**kwargs)
    assert str(info.value) == message
