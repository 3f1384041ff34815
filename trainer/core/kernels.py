"""Fused element-wise kernels, compiled by numba: one pass over the flat parameter vector.

Written as NumPy ufunc calls, Adam is nine passes over params, grads and its two moments; each
pass streams the whole vector through the cache, so on the 235,146-parameter medium benchmark
model one NumPy Adam step took 490-560 us against 190 us for this loop, and a whole training
epoch got about 20% faster (trainer / GEMM bound 2.16x -> 1.76x with 2 BLAS threads in the
full benchmark runs before and after; benchmarks/RESULTS.md). The loops are serial on purpose:
a numba thread pool competes with OpenBLAS's spinning threads between GEMMs (a parallel
version made the step 4x slower).

Every scalar argument must have the arrays' dtype (``params.dtype.type(x)``) so float32 stays
float32 arithmetic. ``error_model="numpy"`` lets the division vectorize (no ZeroDivisionError
check; the denominators are >= eps > 0 anyway). ``cache=True`` keeps the machine code on disk
(in ``__pycache__``), so only the first run on a machine pays the compilation (about 1 s).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True, nogil=True, error_model="numpy")
def adam_update(params: np.ndarray, grads: np.ndarray, m: np.ndarray, v: np.ndarray,
                beta1: np.floating, beta2: np.floating, eps: np.floating,
                step_size: np.floating) -> None:
    """m = beta1 m + g; v = beta2 v + g^2; p -= step_size m / (sqrt(v) + eps), in one pass
    (the rescaled moments of ``trainer.core.optimizers.Adam``)."""
    for i in range(params.shape[0]):
        g = grads[i]
        mi = beta1 * m[i] + g
        vi = beta2 * v[i] + g * g
        m[i] = mi
        v[i] = vi
        params[i] -= step_size * mi / (math.sqrt(vi) + eps)


@njit(cache=True, nogil=True, error_model="numpy")
def rmsprop_update(params: np.ndarray, grads: np.ndarray, s: np.ndarray,
                   rho: np.floating, eps: np.floating, step_size: np.floating) -> None:
    """s = rho s + g^2; p -= step_size g / (sqrt(s) + eps), in one pass (the rescaled
    accumulator of ``trainer.core.optimizers.RMSprop``)."""
    for i in range(params.shape[0]):
        g = grads[i]
        si = rho * s[i] + g * g
        s[i] = si
        params[i] -= step_size * g / (math.sqrt(si) + eps)


def warm_up() -> None:
    """Load (or compile) every kernel for float32 and float64 now: the first call of a numba
    function in a process costs about 0.5 s even from the disk cache. Sweep workers fork from a
    process that ran this, so no trial pays it."""
    for dtype in (np.float32, np.float64):
        a, f = np.zeros(1, dtype), dtype(0.5)
        adam_update(a, a.copy(), a.copy(), a.copy(), f, f, f, f)
        rmsprop_update(a, a.copy(), a.copy(), f, f, f)
