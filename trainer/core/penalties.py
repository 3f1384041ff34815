"""L1/L2 weight penalties (Keras convention), applied to weights only, never biases.

    penalty = l1 * sum|W| + l2 * sum W^2,   dpenalty/dW = l1 * sign(W) + 2 * l2 * W
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from trainer.core.parameters import NON_NEGATIVE, Constraint, check


class WeightPenalty:
    """l1 * sum|W| + l2 * sum W^2 over the flat weight vector W (n_weights,)."""

    PARAMETERS: ClassVar[dict[str, Constraint]] = {"l1": NON_NEGATIVE, "l2": NON_NEGATIVE}

    def __init__(self, l1: float = 0.0, l2: float = 0.0) -> None:
        checked = check(self.PARAMETERS, l1=l1, l2=l2)  # Python floats: float32 stays float32
        self.l1: float = checked["l1"]
        self.l2: float = checked["l2"]
        self._scratch: np.ndarray | None = None  # W-sized, so a step allocates nothing

    @property
    def active(self) -> bool:
        """False when both coefficients are 0: the fit loop then skips the penalty entirely."""
        return self.l1 > 0.0 or self.l2 > 0.0

    def _buffer(self, W: np.ndarray) -> np.ndarray:
        buf = self._scratch
        if buf is None or buf.shape != W.shape or buf.dtype != W.dtype:
            buf = self._scratch = np.empty_like(W)
        return buf

    def value(self, W_flat: np.ndarray) -> float:
        """l1 * sum|W| + l2 * sum W^2 for W_flat (n_weights,)."""
        total = 0.0
        if self.l1 > 0.0:
            total += self.l1 * float(np.abs(W_flat, out=self._buffer(W_flat)).sum())
        if self.l2 > 0.0:
            total += self.l2 * float(np.dot(W_flat, W_flat))
        return total

    def add_gradient(self, W_flat: np.ndarray, G_flat: np.ndarray) -> None:
        """G += l1 * sign(W) + 2 * l2 * W, in place; W_flat, G_flat: (n_weights,)."""
        tmp = self._buffer(W_flat)
        if self.l2 > 0.0:
            np.multiply(W_flat, 2.0 * self.l2, out=tmp)
            G_flat += tmp
        if self.l1 > 0.0:
            np.sign(W_flat, out=tmp)
            tmp *= self.l1
            G_flat += tmp

    def __repr__(self) -> str:
        return f"WeightPenalty(l1={self.l1}, l2={self.l2})"
