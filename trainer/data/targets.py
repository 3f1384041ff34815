"""The task (classification or regression) of raw targets, and class labels as indices."""

from __future__ import annotations

import numpy as np

from trainer.data.loaders import RawData
from trainer.errors import DataError

# data.task=auto treats integer labels with at most this many distinct values as classes.
MAX_AUTO_CLASSES = 20

def whole_floats(y: np.ndarray) -> bool:
    return y.dtype.kind == "f" and bool(np.all(np.isfinite(y))) and bool(np.all(y == np.round(y)))


def resolve_task(raw: RawData, requested: str) -> str:
    """``data.task=auto``: classification for string, bool or object labels, and for integer
    labels (or floats that are all whole numbers) with at most ``MAX_AUTO_CLASSES`` distinct
    values; regression otherwise (and always for 2-D targets)."""
    y = raw.y
    if requested == "regression":
        if y.dtype.kind not in "iuf":
            example = y.reshape(-1)[0] if y.size else ""
            raise DataError(
                f"data.task=regression: expected numeric targets in {raw.source}, "
                f"got labels such as {str(example)!r}; use data.task=classification or auto"
            )
        return "regression"
    if requested == "classification":
        return "classification"
    if y.ndim == 2 and y.shape[1] > 1:
        return "regression"
    if y.dtype.kind in "USOb":
        return "classification"
    if y.dtype.kind in "iu" or whole_floats(y):
        return "classification" if len(np.unique(y)) <= MAX_AUTO_CLASSES else "regression"
    return "regression"


def encode_classes(raw: RawData) -> tuple[np.ndarray, np.ndarray]:
    """Labels (n,) -> (class indices (n,) int64, classes (c,) in index order)."""
    y = raw.y
    if y.ndim == 2:
        if y.shape[1] != 1:
            raise DataError(
                f"data.task=classification: expected one label per row in {raw.source}, "
                f"got targets of shape {y.shape}"
            )
        y = y[:, 0]
    if y.dtype.kind == "f" and not whole_floats(y):
        raise DataError(
            f"data.task=classification: expected class labels in {raw.source}, got fractional "
            f"values such as {float(y[y != np.round(y)][0])!r}; use data.task=regression"
        )
    if y.dtype.kind == "f":
        y = y.astype(np.int64)
    if y.dtype.kind in "SO":
        y = y.astype(str)
    classes, indices = np.unique(y, return_inverse=True)
    if len(classes) < 2:
        got = f"only {classes[0].item()!r}" if len(classes) else "no labels"
        raise DataError(f"{raw.source}: expected at least 2 classes, got {got}")
    if raw.label_names is not None and classes.dtype.kind in "iu":
        classes = raw.label_names[classes]
    return indices.astype(np.int64).reshape(-1), classes


def encode_targets(y: np.ndarray, *, task: str, n_classes: int | None,
                   dtype: np.dtype) -> np.ndarray:
    """Targets for the loss, (n, n_outputs) in ``dtype``.

    Classification: (n,) class indices in [0, n_classes) -> (n, 1) 0/1 for two classes (the
    sigmoid output), one-hot (n, n_classes) for more. Regression: (n, k) (or (n,)) -> (n, k)
    unchanged apart from the dtype.
    """
    y = np.asarray(y)
    if task == "regression":
        return y.astype(dtype).reshape(len(y), -1)
    assert n_classes is not None
    y = y.reshape(-1)
    if y.dtype.kind not in "iu" or (y.size and (y.min() < 0 or y.max() >= n_classes)):
        raise ValueError(f"expected class indices in [0, {n_classes}), got {y[:5]!r}...")
    if n_classes == 2:
        return y.astype(dtype).reshape(-1, 1)
    one_hot = np.zeros((len(y), n_classes), dtype=dtype)
    one_hot[np.arange(len(y)), y] = 1
    return one_hot
