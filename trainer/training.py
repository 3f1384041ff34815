"""The build steps every training shares, whether the command line's run (``trainer.app``) or an
estimator's ``fit`` (``trainer.estimators``): the seed streams, the network, the weight penalty,
early stopping, the fit loop on the right number of BLAS threads, and which epoch's weights are
kept. Written once here, so that the same data, hyperparameters and seed reach the same weights
either way.

It builds on the numerical core and imports nothing from Hydra, MLflow or Optuna.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from trainer.core.callbacks import Callback, EarlyStopping, metric_mode
from trainer.core.fit import FitLoop, FitResult
from trainer.core.losses import LOSSES
from trainer.core.network import MLP
from trainer.core.optimizers import Optimizer
from trainer.core.penalties import WeightPenalty

__all__ = [
    "SMALL_MODEL_MULTIPLY_ADDS",
    "Hyperparameters",
    "SeedStreams",
    "Training",
    "blas_threads_for",
    "build_training",
    "kept_epoch",
]

# OpenBLAS splits a matrix product over threads from m*n*k >= 262,144; below a few million
# multiply-adds per product the threads' synchronization costs more than the second core saves
# (digits 64-256-128-64-10 at batch 16: 19-25 ms per epoch on 1 thread, 32-548 ms on 2;
# benchmarks/RESULTS.md). Such models train on one thread.
SMALL_MODEL_MULTIPLY_ADDS = 4_000_000


def blas_threads_for(widths: Sequence[int], batch_size: int, *, available: int) -> int:
    """BLAS threads for training a network of layer ``widths``: one for a small model,
    ``available`` (all cores, or a sweep worker's share) otherwise."""
    largest = max(a * b for a, b in zip(widths, widths[1:], strict=False)) * batch_size
    return 1 if largest < SMALL_MODEL_MULTIPLY_ADDS else available


@dataclass(frozen=True)
class SeedStreams:
    """Independent streams from the one ``seed``: the split, the initialization and dropout,
    and the shuffling; changing how many draws one of them makes never shifts another."""

    split: int
    network: np.random.SeedSequence
    shuffle: np.random.SeedSequence

    @classmethod
    def of(cls, seed: int) -> SeedStreams:
        split, network, shuffle = np.random.SeedSequence(seed).spawn(3)
        return cls(int(split.generate_state(1)[0]), network, shuffle)


@dataclass(frozen=True)
class Hyperparameters:
    """What a training is built from, with the config's names (already checked)."""

    hidden: Sequence[int]
    activation: str
    init: str
    dtype: np.dtype
    batch_size: int
    epochs: int
    dropout: float
    l1: float
    l2: float
    early_stopping: bool
    monitor: str
    mode: str
    patience: int
    min_delta: float
    restore_best_weights: bool
    start_from_epoch: int
    seed: int

    @classmethod
    def from_config(cls, plain: Mapping[str, Any]) -> Hyperparameters:
        """From the resolved, checked config of ``python -m trainer``."""
        model, reg, es = plain["model"], plain["regularization"], plain["early_stopping"]
        return cls(
            hidden=list(model["hidden"]), activation=model["activation"], init=model["init"],
            dtype=np.dtype(model["dtype"]), batch_size=plain["batch_size"],
            epochs=plain["epochs"], dropout=reg["dropout"], l1=reg["l1"], l2=reg["l2"],
            early_stopping=es["enabled"], monitor=es["monitor"], mode=es["mode"],
            patience=es["patience"], min_delta=es["min_delta"],
            restore_best_weights=es["restore_best_weights"],
            start_from_epoch=es["start_from_epoch"], seed=plain["seed"],
        )

    @property
    def keeps_best_weights(self) -> bool:
        """Whether the fit ends with the best epoch's weights (else the last epoch's)."""
        return self.early_stopping and self.restore_best_weights


@dataclass
class Training:
    """A network and the fit loop that trains it, ready to run."""

    network: MLP
    loop: FitLoop
    hyperparameters: Hyperparameters

    def run(
        self,
        X_train: np.ndarray,
        Y_train: np.ndarray,
        X_val: np.ndarray | None,
        Y_val: np.ndarray | None,
        *,
        y_train_labels: np.ndarray | None,
        y_val_labels: np.ndarray | None,
        available_threads: int,
    ) -> FitResult:
        """``FitLoop.run`` on the BLAS threads :func:`blas_threads_for` picks."""
        from threadpoolctl import threadpool_limits

        net = self.network
        threads = blas_threads_for([net.n_inputs, *net.hidden, net.n_outputs],
                                   min(self.hyperparameters.batch_size, len(X_train)),
                                   available=available_threads)
        with threadpool_limits(limits=threads, user_api="blas"):
            return self.loop.run(X_train, Y_train, X_val, Y_val,
                                 y_train_labels=y_train_labels, y_val_labels=y_val_labels)


def build_training(
    hp: Hyperparameters,
    *,
    n_features: int,
    n_outputs: int,
    loss: str,
    optimizer: Optimizer,
    streams: SeedStreams,
    before: Sequence[Callback] = (),
    after: Sequence[Callback] = (),
) -> Training:
    """The network (initialized from ``streams.network``) and its fit loop (shuffling from
    ``streams.shuffle``), with the callbacks ``before``, early stopping when enabled, and
    ``after``, in that order (early stopping's reason wins over a pruner's on the same epoch).
    """
    network = MLP(n_features, list(hp.hidden), n_outputs, activation=hp.activation,
                  init=hp.init, dropout=hp.dropout, dtype=hp.dtype,
                  rng=np.random.default_rng(streams.network))
    callbacks = list(before)
    if hp.early_stopping:
        callbacks.append(EarlyStopping(hp.monitor, mode=hp.mode, patience=hp.patience,
                                       min_delta=hp.min_delta,
                                       restore_best_weights=hp.restore_best_weights,
                                       start_from_epoch=hp.start_from_epoch))
    callbacks += after
    loop = FitLoop(network, LOSSES[loss], optimizer, WeightPenalty(hp.l1, hp.l2),
                   epochs=hp.epochs, batch_size=hp.batch_size,
                   rng=np.random.default_rng(streams.shuffle), callbacks=callbacks)
    return Training(network, loop, hp)


def kept_epoch(result: FitResult, hp: Hyperparameters) -> int:
    """The epoch whose weights the network holds after the fit: the best one when early
    stopping restored it, else the last. Fills ``result.best_epoch`` (by ``hp.monitor``, in its
    mode) when early stopping did not and the monitored metric was logged."""
    restored = result.best_epoch if hp.keeps_best_weights else None  # set by early stopping
    if result.best_epoch is None and result.history and hp.monitor in result.history[0]:
        mode = metric_mode(hp.monitor) if hp.mode == "auto" else hp.mode
        pick = min if mode == "min" else max
        result.best_epoch = int(pick(result.history, key=lambda logs: logs[hp.monitor])["epoch"])
    return result.stopped_epoch if restored is None else restored
