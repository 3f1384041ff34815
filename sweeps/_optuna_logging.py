"""Optuna's own log lines, quieted where the sweep says the same in a line of its own: a new
study ("A new study created in RDB"), each finished trial (with a traceback for each failed one),
the notes of its plots on a small study."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import optuna

from runkit._private_apis import OPTUNA_OPTIMIZE_LOGGER

__all__ = ["optuna_verbosity", "quiet_trials"]


@contextlib.contextmanager
def optuna_verbosity(level: int) -> Iterator[None]:
    """Optuna's verbosity at ``level`` inside the block; the previous one comes back."""
    previous = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(level)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(previous)


class _DropFailureWarnings(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.name == OPTUNA_OPTIMIZE_LOGGER and record.levelno == logging.WARNING)


@contextlib.contextmanager
def quiet_trials() -> Iterator[None]:
    """Optuna's per-trial lines are left to the worker's own (one a trial, a failure's reason
    without its traceback); Optuna's other warnings stay."""
    handler_filter = _DropFailureWarnings()
    handlers = list(logging.getLogger("optuna").handlers)
    for handler in handlers:
        handler.addFilter(handler_filter)
    try:
        with optuna_verbosity(optuna.logging.WARNING):
            yield
    finally:
        for handler in handlers:
            handler.removeFilter(handler_filter)
