"""Errors a user can fix, raised by the core. Each message is one line: what was expected and
what was received. The application layer (``trainer.errors``) adds :class:`ConfigError`, which
names the config key instead of the parameter."""

from __future__ import annotations

from typing import Any

from runkit.errors import UserError

__all__ = ["DataError", "ParameterError", "TrainerError", "TrainingDiverged"]


class TrainerError(UserError):
    """Base class of the core's errors: caused by input, reported as one line."""


class ParameterError(TrainerError, ValueError):
    """A parameter of a core class or function holds a value outside what it accepts:
    ``lr: expected a finite number > 0, got -1``."""

    def __init__(self, name: str, expected: str, received: Any) -> None:
        self.name = name
        self.expected = expected
        self.received = received
        super().__init__(f"{name}: expected {expected}, got {received!r}")

    def __reduce__(self) -> tuple[Any, ...]:  # pickled whole: it crosses process boundaries
        return type(self), (self.name, self.expected, self.received)


class DataError(TrainerError):
    """Arrays, a data file or a column cannot be used (wrong shape, non-numeric, missing ...)."""


class TrainingDiverged(TrainerError):
    """The loss became NaN or infinite."""
