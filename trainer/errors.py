"""Errors a user can fix. Each message is one line naming the key or file, what was expected
and what was received; the command line prints it without a traceback.

The core's errors (``trainer.core.errors``) name a parameter; :class:`ConfigError` names the
config key it came from.
"""

from __future__ import annotations

from typing import Any

from trainer.core.errors import DataError, ParameterError, TrainerError, TrainingDiverged

__all__ = ["ConfigError", "DataError", "ParameterError", "TrainerError", "TrainingDiverged"]


class ConfigError(TrainerError):
    """A configuration key holds a value outside what it accepts."""

    def __init__(self, key: str, expected: str, received: Any) -> None:
        self.key = key
        self.expected = expected
        self.received = received
        super().__init__(f"{key}: expected {expected}, got {received!r}")

    def __reduce__(self) -> tuple[Any, ...]:
        # A launched worker's error comes back to the sweep pickled (a failed job's result);
        # the default rebuilds it from the message alone, which this __init__ does not take.
        return type(self), (self.key, self.expected, self.received)

    @classmethod
    def unknown_key(cls, key: str, owner: str, valid: list[str], received: Any) -> ConfigError:
        """A key the config node does not have (``+data.extra=1``)."""
        return cls(key, f"no such key for {owner} (valid: {', '.join(valid)})", received)
