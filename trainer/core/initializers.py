"""Weight initializers: ``INITIALIZERS[name](fan_in, fan_out, rng, dtype)`` -> W (fan_in, fan_out).

Values are drawn in float64 and then cast, so the same seed gives the same starting weights
(up to rounding) whatever the network's dtype. Biases are not initialized here: they start at 0.
The normal variants are plain (untruncated) normals, as in PyTorch's ``kaiming_normal_``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

Initializer = Callable[[int, int, np.random.Generator, np.dtype], np.ndarray]


def _uniform(limit: float, fan_in: int, fan_out: int, rng: np.random.Generator,
             dtype: np.dtype) -> np.ndarray:
    return rng.uniform(-limit, limit, size=(fan_in, fan_out)).astype(dtype, copy=False)


def _normal(std: float, fan_in: int, fan_out: int, rng: np.random.Generator,
            dtype: np.dtype) -> np.ndarray:
    W = rng.standard_normal((fan_in, fan_out))
    W *= std
    return W.astype(dtype, copy=False)


def xavier_uniform(fan_in: int, fan_out: int, rng: np.random.Generator,
                   dtype: np.dtype) -> np.ndarray:
    """Glorot uniform: W ~ U(-l, l), l = sqrt(6 / (fan_in + fan_out)). Shape (fan_in, fan_out)."""
    return _uniform(math.sqrt(6.0 / (fan_in + fan_out)), fan_in, fan_out, rng, dtype)


def xavier_normal(fan_in: int, fan_out: int, rng: np.random.Generator,
                  dtype: np.dtype) -> np.ndarray:
    """Glorot normal: W ~ N(0, 2 / (fan_in + fan_out)). Shape (fan_in, fan_out)."""
    return _normal(math.sqrt(2.0 / (fan_in + fan_out)), fan_in, fan_out, rng, dtype)


def he_uniform(fan_in: int, fan_out: int, rng: np.random.Generator,
               dtype: np.dtype) -> np.ndarray:
    """He uniform: W ~ U(-l, l), l = sqrt(6 / fan_in). Shape (fan_in, fan_out)."""
    return _uniform(math.sqrt(6.0 / fan_in), fan_in, fan_out, rng, dtype)


def he_normal(fan_in: int, fan_out: int, rng: np.random.Generator,
              dtype: np.dtype) -> np.ndarray:
    """He normal: W ~ N(0, 2 / fan_in). Shape (fan_in, fan_out)."""
    return _normal(math.sqrt(2.0 / fan_in), fan_in, fan_out, rng, dtype)


INITIALIZERS: dict[str, Initializer] = {
    "xavier_uniform": xavier_uniform,
    "xavier_normal": xavier_normal,
    "he_uniform": he_uniform,
    "he_normal": he_normal,
}
