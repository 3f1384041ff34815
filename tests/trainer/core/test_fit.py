"""The fit loop: batch / mini-batch / stochastic descent, shuffling, divergence, callbacks."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from trainer.core.callbacks import Callback
from trainer.core.fit import FitLoop, accuracy_from_logits, r2_score
from trainer.core.losses import LOSSES
from trainer.core.network import MLP
from trainer.core.optimizers import SGD, Adam
from trainer.core.penalties import WeightPenalty
from trainer.errors import TrainingDiverged


class CountingSGD(SGD):
    def __init__(self, lr: float) -> None:
        super().__init__(lr)
        self.steps = 0

    def step(self, params: np.ndarray, grads: np.ndarray) -> None:
        self.steps += 1
        super().step(params, grads)


def blobs(n: int = 90, seed: int = 0, dtype=np.float64):
    """Three well separated Gaussian classes in 2-D."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    centers = np.array([[0.0, 3.0], [3.0, -2.0], [-3.0, -2.0]])
    X = (centers[y] + rng.normal(size=(n, 2))).astype(dtype)
    return X, np.eye(3, dtype=dtype)[y], y


def make_loop(optimizer, *, batch_size: int, epochs: int = 1, callbacks=(), dtype=np.float64,
              l2: float = 0.0, seed: int = 0) -> FitLoop:
    net = MLP(2, [8], 3, activation="tanh", init="xavier_uniform", dtype=dtype,
              rng=np.random.default_rng(seed))
    return FitLoop(net, LOSSES["categorical_crossentropy"], optimizer, WeightPenalty(0.0, l2),
                   epochs=epochs, batch_size=batch_size, rng=np.random.default_rng(seed),
                   callbacks=callbacks)


@pytest.mark.parametrize("batch_size,steps", [(90, 1), (32, 3), (1, 90), (1000, 1)])
def test_batch_size_picks_batch_minibatch_or_stochastic(batch_size, steps):
    # n=90 rows: full batch is 1 step per epoch, 32 -> 3 (last batch smaller), 1 -> 90
    X, Y, y = blobs()
    optimizer = CountingSGD(0.1)
    make_loop(optimizer, batch_size=batch_size, epochs=2).run(X, Y, X, Y, y_train_labels=y,
                                                              y_val_labels=y)
    assert optimizer.steps == 2 * steps


def test_full_batch_step_is_gradient_descent_on_the_whole_set():
    # one epoch of full-batch SGD = params - lr * (dL/dparams over all rows, penalty included)
    X, Y, y = blobs()
    loop = make_loop(SGD(0.5), batch_size=len(X), l2=1e-3)
    net = loop.network
    before = net.get_params()
    Z = net.forward(X, training=True)
    dZ = np.empty_like(Z)
    loop.loss.value_and_grad(Z, Y, out=dZ)
    net.backward(dZ)
    grads = net.grads.copy()
    loop.penalty.add_gradient(before[: net.n_weights], grads[: net.n_weights])
    loop.run(X, Y, X, Y, y_train_labels=y, y_val_labels=y)
    np.testing.assert_allclose(net.get_params(), before - 0.5 * grads, rtol=1e-10, atol=1e-12)


def test_training_learns_separable_classes():
    X, Y, y = blobs(dtype=np.float32)
    loop = make_loop(Adam(0.05), batch_size=16, epochs=30, dtype=np.float32)
    result = loop.run(X, Y, X, Y, y_train_labels=y, y_val_labels=y)
    assert result.history[-1]["val_accuracy"] > 0.95
    assert result.history[-1]["val_loss"] < result.history[0]["val_loss"]
    assert loop.network.params.dtype == np.float32


def test_reshuffles_every_epoch_from_the_seed():
    # same seed -> same history bit for bit; different shuffles -> different history
    X, Y, y = blobs()
    runs = [make_loop(SGD(0.1), batch_size=8, epochs=3, seed=s).run(
        X, Y, X, Y, y_train_labels=y, y_val_labels=y).history for s in (1, 1, 2)]
    assert runs[0] == runs[1] and runs[0] != runs[2]


def test_divergence_stops_at_once():
    # a huge step on a squared loss grows the weights geometrically until the loss is inf/nan
    X, Y, _ = blobs(dtype=np.float32)
    net = MLP(2, [8], 3, activation="relu", dtype=np.float32, rng=np.random.default_rng(0))
    seen: list[int] = []

    class Record(Callback):
        def on_epoch_end(self, loop, epoch, logs):
            seen.append(epoch)

    loop = FitLoop(net, LOSSES["mse"], SGD(10.0), WeightPenalty(0.0, 0.0), epochs=1000,
                   batch_size=90, rng=np.random.default_rng(0), callbacks=[Record()])
    # only the clear message: NumPy's overflow warnings are silenced (an error here if not)
    with warnings.catch_warnings(), pytest.raises(
            TrainingDiverged, match=r"diverged at epoch \d+: \w+ became (nan|inf)"):
        warnings.simplefilter("error")
        loop.run(X * 100, Y * 100, X, Y)
    assert len(seen) < 50  # stopped at once, not after running all epochs


def test_callback_can_stop_with_a_reason():
    class StopAtTwo(Callback):
        def on_epoch_end(self, loop, epoch, logs):
            if epoch == 2:
                loop.request_stop("pruned")

    X, Y, y = blobs()
    result = make_loop(SGD(0.1), batch_size=30, epochs=10, callbacks=[StopAtTwo()]).run(
        X, Y, X, Y, y_train_labels=y, y_val_labels=y)
    assert result.stop_reason == "pruned" and result.stopped_epoch == 2
    assert len(result.history) == 2


def test_metrics():
    assert accuracy_from_logits(np.array([[1.0, 2.0], [3.0, 0.0]]), np.array([1, 1])) == 0.5
    assert accuracy_from_logits(np.array([[0.5], [-0.5]]), np.array([1, 1])) == 0.5
    Y = np.array([[1.0], [2.0], [3.0]])
    assert r2_score(Y, Y) == 1.0
    assert r2_score(np.full_like(Y, 2.0), Y) == pytest.approx(0.0)
