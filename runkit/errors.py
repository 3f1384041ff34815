"""Errors a user can fix, and the one line that tells any error.

A :class:`UserError` is caused by input (a config key, a file, a value): its message alone says
what is wrong, what was expected and what was received, so a command prints it without a
traceback and a run or trial records it as its failure reason. Any other error is told as
``TypeName: message``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ConfigError", "UserError", "one_line", "squeezed"]


class UserError(Exception):
    """An error caused by input, reported as one line (its message)."""


class ConfigError(UserError):
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


def squeezed(text: str, limit: int) -> str:
    """``text`` on one line (whitespace runs collapsed), cut to ``limit`` characters."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def one_line(error: BaseException, limit: int) -> str:
    """One line of at most ``limit`` characters: a user error's own message, else
    ``TypeName: message``."""
    message = str(error)
    if isinstance(error, UserError) and message:
        return squeezed(message, limit)
    return squeezed(f"{type(error).__name__}: {message}".rstrip(": "), limit)
