"""Standardization fitted on the training part, saved with the model as plain arrays.

The :class:`Preprocessor` travels with the saved model so that the model can take raw feature
rows; it saves to plain arrays, so an ``.npz`` without pickle can hold it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from trainer.core.errors import DataError

_ARRAY_PREFIX = "preprocessor."


@dataclass
class Preprocessor:
    """Standardization fitted on the training part: ``X_std = (X_raw - x_mean) / x_scale``.

    Attributes:
        x_mean, x_scale: (d,) feature means and standard deviations of the training part
            (constant columns get scale 1); ``None`` when ``data.standardize`` is false.
        y_mean, y_scale: (k,) regression target means and standard deviations; ``None`` for
            classification or when ``data.standardize`` is false.
        n_features: d, the number of raw feature columns :meth:`transform` accepts.
        dtype: the float dtype :meth:`transform` and :meth:`inverse_targets` return.
    """

    x_mean: np.ndarray | None
    x_scale: np.ndarray | None
    y_mean: np.ndarray | None = None
    y_scale: np.ndarray | None = None
    n_features: int | None = None
    dtype: str = "float32"

    def transform(self, X_raw: Any) -> np.ndarray:
        """Raw feature rows (n, d) (array or DataFrame) -> model inputs (n, d) in ``dtype``."""
        X = np.asarray(X_raw)
        if X.dtype.kind not in "biuf":
            raise DataError(
                f"features: expected numeric raw feature rows, got an array of dtype {X.dtype}"
            )
        n_features = self.n_features
        if X.ndim != 2 or (n_features is not None and X.shape[1] != n_features):
            expected = f"{n_features} columns" if n_features is not None else "columns"
            raise DataError(
                f"features: expected a 2-D array of rows with {expected} "
                f"(one row: x.reshape(1, -1)), got shape {X.shape}"
            )
        if self.x_mean is None or self.x_scale is None:
            return X.astype(self.dtype)
        # Computed in float64 so that float32 models lose nothing before the cast.
        return ((X.astype(np.float64) - self.x_mean) / self.x_scale).astype(self.dtype)

    def inverse_targets(self, y_scaled: Any) -> np.ndarray:
        """Model outputs (n, k) in standardized units -> targets (n, k) in the data's units."""
        y = np.asarray(y_scaled, dtype=np.float64)
        if self.y_mean is None or self.y_scale is None:
            return y.astype(self.dtype)
        return (y * self.y_scale + self.y_mean).astype(self.dtype)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Plain arrays (no object dtype) for ``np.savez``; keys start with ``preprocessor.``."""
        arrays: dict[str, np.ndarray] = {_ARRAY_PREFIX + "dtype": np.array(self.dtype)}
        if self.n_features is not None:
            arrays[_ARRAY_PREFIX + "n_features"] = np.array(self.n_features, dtype=np.int64)
        for name in ("x_mean", "x_scale", "y_mean", "y_scale"):
            value = getattr(self, name)
            if value is not None:
                arrays[_ARRAY_PREFIX + name] = np.asarray(value)
        return arrays

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> Preprocessor:
        """Inverse of :meth:`to_arrays`; ``arrays`` may hold other keys too (an ``np.load``
        result that also holds the model weights)."""
        keys = set(arrays.keys())

        def get(name: str) -> np.ndarray | None:
            key = _ARRAY_PREFIX + name
            return np.asarray(arrays[key]) if key in keys else None

        dtype = get("dtype")
        n_features = get("n_features")
        return cls(
            x_mean=get("x_mean"),
            x_scale=get("x_scale"),
            y_mean=get("y_mean"),
            y_scale=get("y_scale"),
            n_features=int(n_features) if n_features is not None else None,
            dtype=str(dtype) if dtype is not None else "float32",
        )
