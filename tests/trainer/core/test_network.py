"""The MLP: flat parameter layout, forward against a reference, dropout, dtype, determinism,
buffers, (de)serialization and constructor validation."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from trainer.core.errors import DataError, ParameterError
from trainer.core.losses import LOSSES
from trainer.core.network import MLP
from trainer.core.optimizers import Adam


def _net(**kw) -> MLP:
    args = {"n_inputs": 6, "hidden": [5, 4], "n_outputs": 3, "rng": np.random.default_rng(0)}
    args.update(kw)
    return MLP(**args)


def _train_steps(net: MLP, steps: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((16, net.n_inputs)).astype(net.dtype)
    Y = np.eye(net.n_outputs, dtype=net.dtype)[rng.integers(0, net.n_outputs, 16)]
    loss, opt = LOSSES["categorical_crossentropy"], Adam(0.01)
    dZ = np.empty((16, net.n_outputs), net.dtype)
    for _ in range(steps):
        loss.value_and_grad(net.forward(X, training=True), Y, dZ)
        net.backward(dZ)
        opt.step(net.params, net.grads)


def test_flat_layout():
    # params[:n_weights] holds every weight layer by layer, then the biases; all are views
    net = _net()
    assert net.n_weights == 6 * 5 + 5 * 4 + 4 * 3
    assert net.params.size == net.n_weights + 5 + 4 + 3 == net.grads.size
    assert [W.shape for W in net.weights] == [(6, 5), (5, 4), (4, 3)]
    assert [b.shape for b in net.biases] == [(5,), (4,), (3,)]
    np.testing.assert_array_equal(net.params[:net.n_weights],
                                  np.concatenate([W.ravel() for W in net.weights]))
    np.testing.assert_array_equal(net.params[net.n_weights:], 0.0)  # biases start at zero
    for arr in (*net.weights, *net.biases):
        assert np.shares_memory(arr, net.params)
    net.params[0] = 123.0
    assert net.weights[0][0, 0] == 123.0


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "tanh", "sigmoid"])
def test_forward_matches_reference(activation):
    # logits = (sigma(sigma(X W0 + b0) W1 + b1)) W2 + b2, computed here independently
    net = _net(activation=activation, dtype=np.float64)
    net.params[net.n_weights:] = np.linspace(-1, 1, net.params.size - net.n_weights)
    sigma = {"relu": lambda z: np.maximum(z, 0),
             "leaky_relu": lambda z: np.where(z > 0, z, 0.01 * z),
             "tanh": np.tanh,
             "sigmoid": lambda z: 1 / (1 + np.exp(-z))}[activation]
    X = np.random.default_rng(1).standard_normal((7, 6))
    H = X
    for W, b in zip(net.weights[:-1], net.biases[:-1], strict=True):
        H = sigma(H @ W + b)
    expected = H @ net.weights[-1] + net.biases[-1]
    np.testing.assert_allclose(net.forward(X, training=False), expected, rtol=1e-12)
    np.testing.assert_allclose(net.forward(X, training=True), expected, rtol=1e-12)
    np.testing.assert_allclose(net.logits(X, batch_size=3), expected, rtol=1e-12)


def _dropout_probe(rate: float, n: int = 20000, width: int = 10):
    """A net whose output equals its hidden layer (W1 = I, b1 = 0), and the hidden values A."""
    net = MLP(4, [width], width, dropout=rate, dtype=np.float64, rng=np.random.default_rng(3))
    net.weights[1][...] = np.eye(width)
    net.biases[0][...] = 1.0  # most hidden units active
    X = np.random.default_rng(4).standard_normal((n, 4))
    A = np.maximum(X @ net.weights[0] + net.biases[0], 0)
    return net, X, A


def test_dropout_is_identity_at_inference():
    # at inference the hidden activations pass unchanged, whatever the rate
    net, X, A = _dropout_probe(0.5)
    np.testing.assert_allclose(net.forward(X, training=False), A, rtol=1e-12)
    np.testing.assert_allclose(net.logits(X), A, rtol=1e-12)


def test_dropout_scales_kept_units_and_preserves_the_mean():
    # in training each unit is 0 or A / (1 - rate), about `rate` of them dropped, mean kept
    rate = 0.3
    net, X, A = _dropout_probe(rate)
    H = net.forward(X, training=True)
    active = A > 0
    kept = np.isclose(H, A / (1 - rate), rtol=1e-12) & active
    dropped = (H == 0) & active
    assert np.all(kept | dropped | ~active)
    assert dropped.sum() / active.sum() == pytest.approx(rate, abs=0.01)
    assert H.mean() == pytest.approx(A.mean(), rel=0.02)


def test_dropout_masks_change_between_steps_and_follow_the_rng():
    # each training forward draws fresh masks from net.rng; replaying its state replays them
    net, X, _ = _dropout_probe(0.5, n=50)
    state = net.rng.bit_generator.state
    first = net.forward(X, training=True).copy()
    second = net.forward(X, training=True).copy()
    assert not np.array_equal(first, second)
    net.rng.bit_generator.state = state
    np.testing.assert_array_equal(net.forward(X, training=True), first)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_kept_through_forward_backward_step(dtype):
    # params, grads, logits and optimizer state stay in the network's dtype; float64 input
    # to a float32 net is cast down, never the net up
    net = _net(dtype=dtype, dropout=0.2)
    X = np.random.default_rng(0).standard_normal((8, 6))  # float64 on purpose
    Z = net.forward(X, training=True)
    assert Z.dtype == dtype
    dZ = np.empty_like(Z)
    LOSSES["categorical_crossentropy"].value_and_grad(Z, np.eye(3, dtype=dtype)[[0, 1] * 4], dZ)
    net.backward(dZ)
    opt = Adam(0.01)
    opt.step(net.params, net.grads)
    for arr in (net.params, net.grads, opt.m, opt.v, net.logits(X), *net.weights, *net.biases):
        assert arr.dtype == dtype
    assert net.config()["dtype"] == np.dtype(dtype).name


def test_same_seed_bit_identical_after_training():
    # same seed -> identical init, masks and updates: bit-identical params after steps
    a = _net(dropout=0.3, rng=np.random.default_rng(7))
    b = _net(dropout=0.3, rng=np.random.default_rng(7))
    c = _net(dropout=0.3, rng=np.random.default_rng(8))
    for net in (a, b, c):
        _train_steps(net, 5)
    np.testing.assert_array_equal(a.params, b.params)
    assert not np.array_equal(a.params, c.params)


def test_training_step_reuses_buffers():
    # after a warm-up step, a training step allocates no layer-sized temporary (128 x 256
    # float32 = 128 KiB, the size NumPy would mmap): every per-batch array is a cached buffer
    # written with out=. The bound leaves room for NumPy's own 32 KiB iteration buffer.
    net = MLP(300, [256, 128], 10, rng=np.random.default_rng(0))
    rng = np.random.default_rng(1)
    X = rng.standard_normal((128, 300)).astype(np.float32)
    Y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 128)]
    loss, opt = LOSSES["categorical_crossentropy"], Adam(0.001)
    dZ = np.empty((128, 10), np.float32)

    def step():
        loss.value_and_grad(net.forward(X, training=True), Y, dZ)
        net.backward(dZ)
        opt.step(net.params, net.grads)

    step()
    logits_buffer = net.forward(X, training=True)
    tracemalloc.start()
    try:
        step()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024
    assert net.forward(X, training=True) is logits_buffer


def _rounding_bound(net: MLP, X: np.ndarray) -> np.ndarray:
    """A bound on |logits - exact logits| of one float forward, from the arithmetic.

    A layer Z = H W + b sums fan_in + 1 rounded products: |fl(Z) - Z| <= g(fan_in + 1) (|H| |W| +
    |b|), with g(n) = n u / (1 - n u) and u the unit roundoff, whatever order or blocking BLAS
    uses (Higham, Accuracy and Stability of Numerical Algorithms, 3.1). relu, leaky_relu and tanh
    are 1-Lipschitz with |sigma(z)| <= |z|, so to first order the errors of the layers add up
    on the magnitude network G_0 = |X|, G_l = G_{l-1} |W_l| + |b_l|.
    """
    u = np.finfo(net.dtype).eps / 2
    G = np.abs(X).astype(np.float64)
    factor = 0.0
    for W, b in zip(net.weights, net.biases, strict=True):
        n = W.shape[0] + 1
        factor += n * u / (1 - n * u)
        G = G @ np.abs(W).astype(np.float64) + np.abs(b)
    return factor * G


def test_logits_is_a_fresh_array_computed_in_chunks():
    # logits returns a new array equal to one big forward, for any chunk size, up to the
    # rounding of two float32 forwards (BLAS blocks each chunking differently: Intel and AMD
    # kernels differ in the last digits, and a logit near 0 has no relative accuracy at all)
    net = _net()
    X = np.random.default_rng(2).standard_normal((10, 6)).astype(np.float32)
    full = net.forward(X, training=False).copy()
    bound = 2 * _rounding_bound(net, X)  # each of the two forwards is off by at most one bound
    for bs in (1, 3, 10, 4096):
        out = net.logits(X, batch_size=bs)
        assert out.shape == full.shape
        assert np.all(np.abs(out.astype(np.float64) - full) <= bound), (bs, out - full, bound)
        assert not np.shares_memory(out, net.forward(X, training=False))


def test_state_dict_roundtrip_and_config_rebuild():
    # state_dict copies; MLP(**config) + load_state_dict reproduces the same logits
    net = _net(activation="tanh", init="xavier_uniform", dropout=0.1)
    _train_steps(net, 3)
    state = net.state_dict()
    assert sorted(state) == ["W0", "W1", "W2", "b0", "b1", "b2"]
    assert not np.shares_memory(state["W0"], net.params)
    clone = MLP(**net.config(), rng=np.random.default_rng(99))
    clone.load_state_dict(state)
    X = np.random.default_rng(5).standard_normal((4, 6))
    np.testing.assert_array_equal(clone.logits(X), net.logits(X))
    assert clone.config() == net.config()
    with pytest.raises(DataError, match="W1"):
        clone.load_state_dict({**state, "W1": np.zeros((2, 2))})
    with pytest.raises(DataError, match="expected arrays"):
        clone.load_state_dict({"W0": state["W0"]})


def test_get_set_params_copy():
    # get_params is a copy (later training does not change it); set_params restores it
    net = _net()
    saved = net.get_params()
    _train_steps(net, 2)
    assert not np.array_equal(saved, net.params)
    net.set_params(saved)
    np.testing.assert_array_equal(net.params, saved)
    assert not np.shares_memory(saved, net.params)


def test_backward_needs_a_training_forward():
    # backward before any training forward is a programming error, not a silent no-op
    net = _net()
    net.forward(np.zeros((2, 6)), training=False)
    with pytest.raises(RuntimeError, match="forward"):
        net.backward(np.zeros((2, 3), np.float32))


def test_wrong_input_width_is_a_data_error():
    # X with the wrong number of features names the expected shape
    with pytest.raises(DataError, match=r"\(n, 6\)"):
        _net().forward(np.zeros((2, 5)), training=False)


@pytest.mark.parametrize(("kwargs", "name"), [
    ({"hidden": [5, 0]}, "hidden"),
    ({"hidden": [-3]}, "hidden"),
    ({"hidden": [2.5]}, "hidden"),
    ({"hidden": "64"}, "hidden"),
    ({"hidden": 64}, "hidden"),
    ({"hidden": None}, "hidden"),
    ({"activation": "gelu"}, "activation"),
    ({"init": "lecun_normal"}, "init"),
    ({"dropout": 1.0}, "dropout"),
    ({"dropout": -0.1}, "dropout"),
    ({"dtype": "float16"}, "dtype"),
    ({"dtype": None}, "dtype"),
])
def test_bad_constructor_args_name_the_parameter(kwargs, name):
    # each invalid argument raises ParameterError naming the parameter (the app adds the key)
    with pytest.raises(ParameterError) as info:
        _net(**kwargs)
    assert info.value.name == name
    assert str(info.value).startswith(f"{name}: expected ")


def test_unknown_activation_lists_valid_names():
    # the message lists what is accepted
    with pytest.raises(ParameterError, match="relu, leaky_relu, tanh, sigmoid"):
        _net(activation="swish")


def test_hidden_accepts_a_hydra_list():
    # model.hidden arrives as an OmegaConf ListConfig from Hydra
    from omegaconf import OmegaConf

    net = _net(hidden=OmegaConf.create([8, 4]))
    assert net.hidden == [8, 4] and net.config()["hidden"] == [8, 4]
