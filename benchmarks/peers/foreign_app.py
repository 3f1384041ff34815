"""A Hydra app that is not the trainer: a NumPy MLP that reports each epoch to its sweeper.

    python benchmarks/peers/foreign_app.py data=digits.npz lr=0.1
    python benchmarks/peers/foreign_app.py --multirun hydra/sweeper=optuna data=digits.npz \
        'lr=tag(log, interval(1e-3, 1.0))' 'hidden=choice(32, 64, 128)' hydra.sweeper.n_trials=24

Section 6 sweeps it with hydra-optuna-sweeper 1.3.0 (in its own environment) and with ours,
selected the same way (``hydra/sweeper=optuna``). Every epoch it calls ``sweeps.report(val_loss,
epoch)``: under our sweeper that reports to the trial and raises ``optuna.TrialPruned`` when the
pruner stops it; where ``sweeps`` is not installed (hydra-optuna-sweeper's environment, which has
no way to hear of epochs) the app reports nothing. It returns the best validation loss.

The model: 64 inputs, one hidden ReLU layer of ``hidden`` units, softmax; mini-batch SGD with
momentum on the cross-entropy plus ``l2`` times the squared weights; 80/20 split, standardized.
"""

from __future__ import annotations

import time
from pathlib import Path

import hydra
import numpy as np
from omegaconf import DictConfig
from peer_records import TrialRecorder

try:
    import sweeps
except ImportError:  # hydra-optuna-sweeper's environment: no channel back to the sweeper
    sweeps = None


def split(path: Path, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    with np.load(path) as data:
        X, y = data["X"].astype(np.float64), data["y"].astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(X))
    cut = int(0.8 * len(X))
    train, val = order[:cut], order[cut:]
    mean, std = X[train].mean(axis=0), X[train].std(axis=0) + 1e-8
    return (X[train] - mean) / std, y[train], (X[val] - mean) / std, y[val]


def cross_entropy(Z: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy of logits ``Z`` (n, k) and its gradient dL/dZ."""
    Z = Z - Z.max(axis=1, keepdims=True)
    P = np.exp(Z)
    P /= P.sum(axis=1, keepdims=True)
    loss = float(-np.log(P[np.arange(len(y)), y] + 1e-12).mean())
    P[np.arange(len(y)), y] -= 1.0
    return loss, P / len(y)


def train(cfg: DictConfig, recorder: TrialRecorder) -> float:
    X, y, X_val, y_val = split(Path(cfg.data), cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    d, h, k = X.shape[1], int(cfg.hidden), int(y.max()) + 1
    W1, b1 = rng.normal(0, np.sqrt(2 / d), (d, h)), np.zeros(h)
    W2, b2 = rng.normal(0, np.sqrt(2 / h), (h, k)), np.zeros(k)
    params = [W1, b1, W2, b2]
    velocity = [np.zeros_like(p) for p in params]
    best = np.inf
    since = time.perf_counter()
    for epoch in range(1, cfg.epochs + 1):
        order = rng.permutation(len(X))
        for start in range(0, len(X), cfg.batch_size):
            rows = order[start:start + cfg.batch_size]
            H = np.maximum(X[rows] @ W1 + b1, 0.0)
            _, dZ = cross_entropy(H @ W2 + b2, y[rows])
            dH = (dZ @ W2.T) * (H > 0)
            grads = [X[rows].T @ dH + cfg.l2 * W1, dH.sum(axis=0),
                     H.T @ dZ + cfg.l2 * W2, dZ.sum(axis=0)]
            for p, v, g in zip(params, velocity, grads, strict=True):
                v *= cfg.momentum
                v -= cfg.lr * g
                p += v
        val_loss, _ = cross_entropy(np.maximum(X_val @ W1 + b1, 0.0) @ W2 + b2, y_val)
        if not np.isfinite(val_loss):
            raise FloatingPointError(f"diverged at epoch {epoch} (lr={cfg.lr})")
        best = min(best, val_loss)
        recorder.epoch(epoch, val_loss, compute=time.perf_counter() - since)
        if sweeps is not None:
            sweeps.report(val_loss, epoch)  # raises optuna.TrialPruned when pruned
        since = time.perf_counter()
    return float(best)


@hydra.main(version_base="1.3", config_path="conf", config_name="foreign_mlp")
def main(cfg: DictConfig) -> float:
    recorder = TrialRecorder(cfg.records)
    recorder.start()
    try:
        value = train(cfg, recorder)
    except Exception as error:
        recorder.end("PRUNED" if type(error).__name__ == "TrialPruned" else "FAIL")
        raise
    except BaseException:
        recorder.end("STOPPED")
        raise
    recorder.end("COMPLETE", value)
    return value


if __name__ == "__main__":
    main()
