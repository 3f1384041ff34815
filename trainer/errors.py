"""Errors a user can fix. Each message is one line naming the key or file, what was expected
and what was received; the command line prints it without a traceback."""

from __future__ import annotations

from typing import Any


class TrainerError(Exception):
    """Base class: an error caused by input, reported as one line."""


class ConfigError(TrainerError):
    """A configuration key holds a value outside what it accepts."""

    def __init__(self, key: str, expected: str, received: Any) -> None:
        self.key = key
        super().__init__(f"{key}: expected {expected}, got {received!r}")


class DataError(TrainerError):
    """A data file or column cannot be used (missing, non-numeric, missing values ...)."""


class TrainingDiverged(TrainerError):
    """The loss became NaN or infinite."""
