"""The float dtypes the networks train in."""

from __future__ import annotations

from typing import Any

import numpy as np

from trainer.errors import ConfigError

DTYPES = ("float32", "float64")


def check_dtype(dtype: Any) -> np.dtype:
    """``model.dtype`` as a NumPy dtype: float32 or float64."""
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        resolved = None
    if resolved is None or resolved.name not in DTYPES:
        raise ConfigError("model.dtype", f"one of {', '.join(DTYPES)}", str(dtype))
    return resolved
