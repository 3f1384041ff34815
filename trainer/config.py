"""Checks of the top-level config keys, once, at the boundary.

The components check their own nodes where they are built (``model.*`` in the network,
``optimizer.*`` in the optimizer factory, ``data.*`` in the loader); this module checks the rest.
Every failure is a :class:`~trainer.errors.ConfigError` naming the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from trainer.core.dtypes import DTYPES, check_dtype
from trainer.errors import ConfigError

__all__ = ["DTYPES", "check_dtype", "validate_metric_names", "validate_run_config"]

PROGRESS_STYLES = ("auto", "bar", "lines", "none")
EARLY_STOPPING_MODES = ("auto", "min", "max")
OBJECTIVES = {
    "classification": ("val_loss", "val_accuracy", "train_loss", "train_accuracy"),
    "regression": ("val_loss", "val_r2", "train_loss"),
}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def positive_int(cfg: Mapping[str, Any], key: str, path: str) -> int:
    value = cfg[key]
    if not _is_int(value) or value < 1:
        raise ConfigError(path, "a positive integer", value)
    return value


def non_negative_number(cfg: Mapping[str, Any], key: str, path: str) -> float:
    value = cfg[key]
    if not _is_number(value) or value < 0 or value != value:
        raise ConfigError(path, "a number >= 0", value)
    return float(value)


def validate_run_config(cfg: Mapping[str, Any]) -> None:
    """Check the keys owned by the run itself (not model, optimizer or data)."""
    positive_int(cfg, "epochs", "epochs")
    positive_int(cfg, "batch_size", "batch_size")
    if not _is_int(cfg["seed"]) or cfg["seed"] < 0:
        raise ConfigError("seed", "an integer >= 0", cfg["seed"])
    if cfg["progress"] not in PROGRESS_STYLES:
        raise ConfigError("progress", f"one of {', '.join(PROGRESS_STYLES)}", cfg["progress"])

    reg = cfg["regularization"]
    dropout = reg["dropout"]
    if not _is_number(dropout) or not 0 <= dropout < 1:
        raise ConfigError("regularization.dropout", "a rate in [0, 1)", dropout)
    non_negative_number(reg, "l1", "regularization.l1")
    non_negative_number(reg, "l2", "regularization.l2")

    es = cfg["early_stopping"]
    if es["mode"] not in EARLY_STOPPING_MODES:
        raise ConfigError(
            "early_stopping.mode", f"one of {', '.join(EARLY_STOPPING_MODES)}", es["mode"]
        )
    if not _is_int(es["patience"]) or es["patience"] < 0:
        raise ConfigError("early_stopping.patience", "an integer >= 0", es["patience"])
    if not _is_int(es["start_from_epoch"]) or es["start_from_epoch"] < 0:
        raise ConfigError("early_stopping.start_from_epoch", "an integer >= 0",
                          es["start_from_epoch"])
    non_negative_number(es, "min_delta", "early_stopping.min_delta")


def validate_metric_names(cfg: Mapping[str, Any], task: str) -> None:
    """``objective`` and ``early_stopping.monitor`` must be metrics the task logs."""
    valid = OBJECTIVES[task]
    for key, value in (("objective", cfg["objective"]),
                       ("early_stopping.monitor", cfg["early_stopping"]["monitor"])):
        if value not in valid:
            raise ConfigError(key, f"a metric logged for {task}: {', '.join(valid)}", value)
