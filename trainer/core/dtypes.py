"""The float dtypes the networks train in."""

from __future__ import annotations

from typing import Any

import numpy as np

from trainer.core.parameters import Constraint

__all__ = ["DTYPE", "DTYPES", "DType", "check_dtype"]

DTYPES = ("float32", "float64")


class DType(Constraint):
    """float32 or float64, by name or as a NumPy dtype or type; converted to ``np.dtype``."""

    @property
    def expected(self) -> str:
        return f"one of {', '.join(DTYPES)}"

    def convert(self, value: Any) -> np.dtype:
        if value is None:  # np.dtype(None) would mean float64
            raise TypeError(value)
        resolved = np.dtype(value)  # TypeError for what names no dtype
        if resolved.name not in DTYPES:
            raise ValueError(value)
        return resolved


DTYPE = DType()


def check_dtype(dtype: Any, name: str = "dtype") -> np.dtype:
    """``dtype`` as a NumPy dtype, float32 or float64; ParameterError naming ``name``."""
    resolved: np.dtype = DTYPE(name, dtype)
    return resolved
