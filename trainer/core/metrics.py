"""Metrics of a network's outputs: predicted classes, accuracy, R²."""

from __future__ import annotations

import numpy as np

__all__ = ["accuracy_from_logits", "predicted_classes", "r2_score"]


def predicted_classes(Z: np.ndarray) -> np.ndarray:
    """(n,) class indices from (n, k) logits; one column means a sigmoid output, where class 1
    is ``Z > 0``."""
    return (Z[:, 0] > 0) if Z.shape[1] == 1 else Z.argmax(axis=1)


def accuracy_from_logits(Z: np.ndarray, y: np.ndarray) -> float:
    """Fraction of rows whose predicted class equals ``y`` (int class indices, shape (n,))."""
    return float(np.count_nonzero(predicted_classes(Z) == y)) / len(y)


def r2_score(Y_pred: np.ndarray, Y: np.ndarray) -> float:
    """Coefficient of determination, averaged over outputs (as scikit-learn's default)."""
    ss_res = ((Y - Y_pred) ** 2).sum(axis=0, dtype=np.float64)
    ss_tot = ((Y - Y.mean(axis=0)) ** 2).sum(axis=0, dtype=np.float64)
    ss_tot = np.where(ss_tot == 0, 1.0, ss_tot)  # a constant target: R^2 is 1 - ss_res
    return float(np.mean(1.0 - ss_res / ss_tot))
