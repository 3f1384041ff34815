"""The two problems every peer trains on: the same arrays, the same architecture, the same batch.

- medium: synthetic 48,000 x 784 float32 with 10 classes (MNIST-sized), 784-256-128-10, batch 128;
- small: scikit-learn's digits through the trainer's own loader (the split and standardization
  ``python -m trainer`` uses), 64-64-10, batch 32.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np


@dataclass
class Problem:
    """Training and validation arrays plus the network every peer builds.

    X_train: (n, d) float32; y_train: (n,) int64 class indices; Y_train: (n, k) one-hot float32.
    X_val, y_val, Y_val: the same for the validation rows (only the trainer's FitLoop uses them:
    it evaluates once per epoch, which the peers do not do).
    """

    name: str
    X_train: np.ndarray = field(repr=False)
    y_train: np.ndarray = field(repr=False)
    X_val: np.ndarray = field(repr=False)
    y_val: np.ndarray = field(repr=False)
    hidden: tuple[int, ...]
    n_classes: int
    batch_size: int
    lr: float = 1e-3

    @property
    def n_features(self) -> int:
        return int(self.X_train.shape[1])

    @property
    def n_train(self) -> int:
        return int(self.X_train.shape[0])

    @property
    def steps_per_epoch(self) -> int:
        return -(-self.n_train // self.batch_size)

    @property
    def architecture(self) -> str:
        return "-".join(str(w) for w in (self.n_features, *self.hidden, self.n_classes))

    @cached_property
    def Y_train(self) -> np.ndarray:
        return one_hot(self.y_train, self.n_classes, self.X_train.dtype)

    @cached_property
    def Y_val(self) -> np.ndarray:
        return one_hot(self.y_val, self.n_classes, self.X_val.dtype)

    @cached_property
    def X_train64(self) -> np.ndarray:
        """The training features as float64 (scikit-learn's default precision)."""
        return self.X_train.astype(np.float64)


def one_hot(y: np.ndarray, k: int, dtype: np.dtype) -> np.ndarray:
    """(n,) class indices -> (n, k) one-hot rows."""
    Y = np.zeros((len(y), k), dtype=dtype)
    Y[np.arange(len(y)), y] = 1
    return Y


def medium(n_train: int = 48_000, n_val: int = 480, *, seed: int = 0) -> Problem:
    """Synthetic MNIST-sized data: 10 Gaussian class clusters in 784 dimensions, float32.

    The validation part is kept at 1% of the training rows so that the FitLoop's per-epoch
    evaluation (work the peers skip) stays a small share of its epoch.
    """
    d, k = 784, 10
    rng = np.random.default_rng(seed)
    # class centers ~0.14 apart per dimension (~4 sigma over all 784 dimensions): one epoch
    # reaches about 80% validation accuracy, so the gradients stay far from zero as in real training
    centers = rng.standard_normal((k, d), dtype=np.float32) * 0.1
    y = rng.integers(0, k, size=n_train + n_val)
    X = rng.standard_normal((n_train + n_val, d), dtype=np.float32)
    X += centers[y]
    return Problem("medium", X[:n_train], y[:n_train], X[n_train:], y[n_train:],
                   hidden=(256, 128), n_classes=k, batch_size=128)


def small(*, seed: int = 0, rows: int | None = None) -> Problem:
    """Digits (1,797 x 64, 10 classes) split and standardized by ``trainer.data.load_dataset``
    with the defaults of ``conf/data/digits.yaml``; ``rows`` keeps only the first training rows
    (tiny smoke runs)."""
    from trainer.data import load_dataset

    data = load_dataset({"name": "digits"}, seed=seed, dtype="float32")
    assert data.classes is not None
    X, y = data.X_train, data.y_train
    if rows is not None:
        X, y = X[:rows], y[:rows]
    return Problem("small", np.ascontiguousarray(X), y, data.X_val, data.y_val,
                   hidden=(64,), n_classes=len(data.classes), batch_size=32)
