"""Whether a network fits in memory, said before anything is allocated.

``model.hidden=[100000,100000]`` asks for ten billion weights: NumPy would fail on the first
array with a MemoryError, or the system would start swapping and then kill the process. The
arrays a run keeps are known from the widths: the parameters, their gradients, the optimizer's
state per parameter and a copy of the best weights, plus per-batch activations.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from trainer.errors import ConfigError

__all__ = ["available_memory", "check_fits_in_memory", "training_bytes"]

# Arrays of one parameter vector's size an optimizer keeps besides params and grads.
_OPTIMIZER_SLOTS = {"sgd": 0, "momentum": 1, "rmsprop": 1, "adam": 2}
_BEST_WEIGHTS_COPIES = 1  # early stopping's restore_best_weights keeps one copy
_BATCH_ARRAYS = 6  # per layer and batch row: pre-activations, activations, masks, backward


def training_bytes(widths: Sequence[int], *, batch_size: int, dtype: np.dtype,
                   optimizer: str) -> int:
    """Bytes of the arrays a run of a network of layer ``widths`` (inputs ... outputs) keeps."""
    n_params = sum(a * b + b for a, b in zip(widths[:-1], widths[1:], strict=True))
    vectors = 2 + _OPTIMIZER_SLOTS.get(optimizer, 2) + _BEST_WEIGHTS_COPIES
    per_batch = _BATCH_ARRAYS * batch_size * sum(widths[1:])
    return (vectors * n_params + per_batch) * np.dtype(dtype).itemsize


def available_memory() -> int | None:
    """Bytes the system can give without swapping (Linux ``MemAvailable``), else None."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):
        return None


def _gib(n: int) -> str:
    return f"{n / 2**30:.1f} GiB"


def check_fits_in_memory(widths: Sequence[int], *, batch_size: int, dtype: np.dtype,
                         optimizer: str, hidden: object) -> None:
    """Raise a one-line ConfigError naming ``model.hidden`` when the network needs more memory
    than is available (nothing is checked where the system does not say)."""
    available = available_memory()
    if available is None:
        return
    needed = training_bytes(widths, batch_size=batch_size, dtype=dtype, optimizer=optimizer)
    if needed > available:
        n_params = sum(a * b + b for a, b in zip(widths[:-1], widths[1:], strict=True))
        raise ConfigError(
            "model.hidden",
            f"a network that fits in memory ({' -> '.join(map(str, widths))} has {n_params:,} "
            f"parameters: training it with {optimizer} needs about {_gib(needed)}, "
            f"{_gib(available)} are available)",
            hidden,
        )
