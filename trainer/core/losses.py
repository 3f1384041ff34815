"""Losses on the output layer's logits Z (n, k), fused with the output activation.

| key                      | output   | targets Y      | value (a mean)            | dL/dZ         |
|--------------------------|----------|----------------|---------------------------|---------------|
| categorical_crossentropy | softmax  | one-hot (n, k) | -sum_k Y log P            | (P - Y) / n   |
| binary_crossentropy      | sigmoid  | 0/1 (n, 1)     | -y log p - (1-y) log(1-p) | (p - y) / n   |
| mse                      | identity | values (n, k)  | (Z - Y)^2, all elements   | 2(Z-Y)/(n k)  |

Fusing the activation into the loss gives the simple gradients above and lets the value be
computed stably from logits: log-sum-exp for softmax, max(z, 0) - z y + log1p(exp(-|z|)) for
the sigmoid, so logits of +-1e4 give finite values and the right limits. Binary cross-entropy
with k > 1 columns is averaged over all elements (independent labels, as Keras averages over
the last axis), which for the usual k = 1 is the mean over samples.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from trainer.core.errors import DataError, ParameterError


def softmax(Z: np.ndarray) -> np.ndarray:
    """Row-wise softmax of Z (n, k), a new array; shifted by the row max so exp never overflows."""
    P = Z - Z.max(axis=1, keepdims=True)
    np.exp(P, out=P)
    P /= P.sum(axis=1, keepdims=True)
    return P


def sigmoid(Z: np.ndarray) -> np.ndarray:
    """Logistic sigmoid of Z, a new array: 1/(1+e) for Z >= 0, e/(1+e) below, e = exp(-|Z|) <= 1."""
    e = np.exp(-np.abs(Z))
    p = np.where(Z >= 0, 1.0, e)
    p /= e + 1.0
    return p.astype(Z.dtype, copy=False)


class Loss(ABC):
    """A loss on logits. ``value_and_grad`` is the training hot path: it allocates nothing big."""

    name: str
    output_activation: str  # what ``output`` applies: "softmax", "sigmoid" or "identity"

    @abstractmethod
    def output(self, Z: np.ndarray) -> np.ndarray:
        """Predictions (probabilities or values) from logits Z (n, k), as a new (n, k) array."""

    @abstractmethod
    def value_and_grad(self, Z: np.ndarray, Y: np.ndarray, out: np.ndarray) -> float:
        """Mean loss of logits Z (n, k) against targets Y (n, k); writes dL/dZ (n, k) into ``out``.

        ``out`` must have Z's shape and dtype and must not alias Z or Y.
        """

    def value(self, Z: np.ndarray, Y: np.ndarray) -> float:
        """Mean loss of logits Z (n, k) against targets Y (n, k)."""
        return self.value_and_grad(Z, Y, np.empty_like(Z))

    def _check(self, Z: np.ndarray, Y: np.ndarray) -> np.ndarray:
        if Z.ndim != 2 or Y.shape != Z.shape:
            raise ValueError(f"{self.name}: expected logits (n, k) and targets of the same shape, "
                             f"got {Z.shape} and {Y.shape}")
        # targets in another dtype would make every op below compute in the wider type
        return np.asarray(Y, dtype=Z.dtype)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class CategoricalCrossentropy(Loss):
    """Softmax + cross-entropy; rows of Y sum to 1 (one-hot or smoothed labels)."""

    name = "categorical_crossentropy"
    output_activation = "softmax"

    def output(self, Z: np.ndarray) -> np.ndarray:
        return softmax(Z)

    def value_and_grad(self, Z: np.ndarray, Y: np.ndarray, out: np.ndarray) -> float:
        Y = self._check(Z, Y)
        n = Z.shape[0]
        m = Z.max(axis=1, keepdims=True)        # (n, 1)
        np.subtract(Z, m, out=out)               # S = Z - m <= 0
        y_dot_s = np.vdot(Y, out)                # sum_ik Y_ik S_ik: small terms, no cancellation
        np.exp(out, out=out)                     # exp(S) in (0, 1]
        s = out.sum(axis=1, keepdims=True)       # (n, 1), >= 1 so log(s) is finite
        out /= s                                 # P
        # L = mean_i (log s_i - sum_k Y_ik S_ik): -log P_ik = log s_i - S_ik and sum_k Y_ik = 1
        loss = (float(np.log(s, out=s).sum()) - float(y_dot_s)) / n
        out -= Y                                 # dL/dZ = (P - Y) / n
        out *= 1.0 / n
        return loss


class BinaryCrossentropy(Loss):
    """Sigmoid + binary cross-entropy on 0/1 targets, from logits."""

    name = "binary_crossentropy"
    output_activation = "sigmoid"

    def output(self, Z: np.ndarray) -> np.ndarray:
        return sigmoid(Z)

    def value_and_grad(self, Z: np.ndarray, Y: np.ndarray, out: np.ndarray) -> float:
        Y = self._check(Z, Y)
        size = Z.size
        np.abs(Z, out=out)
        np.negative(out, out=out)
        e = np.exp(out, out=out)                 # e = exp(-|z|) in (0, 1]
        # -y log p - (1-y) log(1-p) = max(z, 0) - z y + log1p(exp(-|z|))
        elem = np.log1p(e)
        elem += np.maximum(Z, 0.0)
        elem -= Z * Y
        loss = float(elem.sum()) / size
        denom = e + 1.0
        np.copyto(out, 1.0, where=Z >= 0)        # numerator of p: 1 for z >= 0, e below
        out /= denom                             # p = sigmoid(z)
        out -= Y                                 # dL/dz = (p - y) / (n k)
        out *= 1.0 / size
        return loss


class MeanSquaredError(Loss):
    """Linear output + mean squared error over all n*k elements (Keras' mse)."""

    name = "mse"
    output_activation = "identity"

    def output(self, Z: np.ndarray) -> np.ndarray:
        return Z.copy()

    def value_and_grad(self, Z: np.ndarray, Y: np.ndarray, out: np.ndarray) -> float:
        Y = self._check(Z, Y)
        size = Z.size
        np.subtract(Z, Y, out=out)               # R = Z - Y
        loss = float(np.vdot(out, out)) / size   # mean R^2
        out *= 2.0 / size                        # dL/dZ = 2 R / (n k)
        return loss


LOSSES: dict[str, Loss] = {
    "categorical_crossentropy": CategoricalCrossentropy(),
    "binary_crossentropy": BinaryCrossentropy(),
    "mse": MeanSquaredError(),
}

# The tasks a network learns; every module that names a task uses these.
TASKS = ("classification", "regression")


def task_loss(task: str, n_classes: int | None) -> str:
    """The loss key for a task: >2 classes -> categorical, 2 -> binary, regression -> mse."""
    if task == "regression":
        return "mse"
    if task != "classification":
        raise ParameterError("task", f"one of {', '.join(TASKS)}", task)
    if n_classes is None or n_classes < 2:
        raise DataError(f"classification target: expected at least 2 classes, got {n_classes}")
    return "binary_crossentropy" if n_classes == 2 else "categorical_crossentropy"
