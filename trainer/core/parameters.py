"""What each parameter of the core accepts, declared once per class and checked on entry.

A core class lists its constructor's parameters in a ``PARAMETERS`` table, in the manner of
scikit-learn's ``_parameter_constraints``::

    class Adam(Optimizer):
        PARAMETERS = {"lr": POSITIVE, "beta1": UNIT_INTERVAL, "beta2": UNIT_INTERVAL,
                      "eps": POSITIVE}

and converts its arguments with :func:`check`, which raises
:class:`~trainer.core.errors.ParameterError` naming the parameter
(``lr: expected a finite number > 0, got -1``). The application's config schema
(``trainer.config``) reads the same tables to check a config before anything is built, and names
the config key instead (``optimizer.lr: ...``): each rule is written once, here or beside its
class.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from trainer.core.errors import ParameterError

__all__ = [
    "BOOLEAN",
    "NON_NEGATIVE",
    "NON_NEGATIVE_INT",
    "POSITIVE",
    "POSITIVE_INT",
    "UNIT_INTERVAL",
    "Boolean",
    "Constraint",
    "Integer",
    "Nullable",
    "Options",
    "Real",
    "Text",
    "Widths",
    "check",
]


class Constraint(ABC):
    """What one parameter accepts.

    ``convert`` returns the value in its canonical Python type (a ``float`` for a number, so a
    float32 array is never promoted; a ``list`` for Hydra's ListConfig) or raises ``TypeError``
    or ``ValueError``; ``expected`` says what is accepted, for the one-line message.
    """

    @property
    @abstractmethod
    def expected(self) -> str:
        """What is accepted, e.g. ``a finite number > 0``."""

    @abstractmethod
    def convert(self, value: Any) -> Any:
        """The value in its canonical type; ``TypeError``/``ValueError`` when refused."""

    def __call__(self, name: str, value: Any) -> Any:
        """The converted value, or :class:`ParameterError` naming ``name``."""
        try:
            return self.convert(value)
        except (TypeError, ValueError):
            raise ParameterError(name, self.expected, value) from None

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self.expected}>"


def _is_real(value: Any) -> bool:
    return (isinstance(value, int | float | np.integer | np.floating)
            and not isinstance(value, bool | np.bool_))


def _is_integer(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


class Real(Constraint):
    """A finite number, optionally within bounds; ``closed`` says which bounds are included
    (``"both"``, ``"left"``, ``"right"``, ``"neither"``)."""

    def __init__(self, low: float | None = None, high: float | None = None, *,
                 closed: str = "both", description: str | None = None) -> None:
        self.low, self.high = low, high
        self.left_closed = closed in ("both", "left")
        self.right_closed = closed in ("both", "right")
        self.description = description

    @property
    def expected(self) -> str:
        if self.description is not None:
            return self.description
        if self.low is not None and self.high is not None:
            return (f"a number in {'[' if self.left_closed else '('}{self.low:g}, "
                    f"{self.high:g}{']' if self.right_closed else ')'}")
        if self.low is not None:
            return f"a finite number {'>=' if self.left_closed else '>'} {self.low:g}"
        if self.high is not None:
            return f"a finite number {'<=' if self.right_closed else '<'} {self.high:g}"
        return "a finite number"

    def convert(self, value: Any) -> float:
        if not _is_real(value):
            raise TypeError(value)
        x = float(value)
        if not math.isfinite(x):
            raise ValueError(value)
        if self.low is not None and not (x >= self.low if self.left_closed else x > self.low):
            raise ValueError(value)
        if self.high is not None and not (x <= self.high if self.right_closed
                                          else x < self.high):
            raise ValueError(value)
        return x


class Integer(Constraint):
    """An integer (never a bool) >= ``low``."""

    def __init__(self, low: int = 0) -> None:
        self.low = low

    @property
    def expected(self) -> str:
        return "a positive integer" if self.low == 1 else f"an integer >= {self.low}"

    def convert(self, value: Any) -> int:
        if not _is_integer(value):
            raise TypeError(value)
        if value < self.low:
            raise ValueError(value)
        return int(value)


class Boolean(Constraint):
    """``true`` or ``false``: never a string such as "maybe", a number or None."""

    @property
    def expected(self) -> str:
        return "true or false"

    def convert(self, value: Any) -> bool:
        if not isinstance(value, bool | np.bool_):
            raise TypeError(value)
        return bool(value)


class Options(Constraint):
    """One of a few names; the message lists them, then ``hint`` (how to pick one).

    ``values`` may be a function returning the names, for a registry filled after this table
    is declared.
    """

    def __init__(self, values: Sequence[str] | Callable[[], Iterable[str]], *,
                 hint: str = "") -> None:
        self._values = values
        self.hint = hint

    @property
    def values(self) -> tuple[str, ...]:
        return tuple(self._values() if callable(self._values) else self._values)

    @property
    def expected(self) -> str:
        return f"one of {', '.join(self.values)}{self.hint}"

    def convert(self, value: Any) -> str:
        if not isinstance(value, str) or value not in self.values:
            raise ValueError(value)
        return value


class Text(Constraint):
    """A non-empty string."""

    @property
    def expected(self) -> str:
        return "a non-empty string"

    def convert(self, value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise ValueError(value)
        return value


class Nullable(Constraint):
    """``None`` (``null`` in YAML), or what ``inner`` accepts."""

    def __init__(self, inner: Constraint) -> None:
        self.inner = inner

    @property
    def expected(self) -> str:
        return f"{self.inner.expected} or null"

    def convert(self, value: Any) -> Any:
        return None if value is None else self.inner.convert(value)


class Widths(Constraint):
    """A list of layer widths (a list, tuple or Hydra ListConfig) of integers >= 1."""

    @property
    def expected(self) -> str:
        return "a list of layer widths (integers >= 1)"

    def convert(self, value: Any) -> list[int]:
        if value is None or isinstance(value, str | bytes | Mapping) or _is_real(value):
            raise TypeError(value)
        widths = list(value)
        if not all(_is_integer(w) and w >= 1 for w in widths):
            raise ValueError(value)
        return [int(w) for w in widths]


POSITIVE = Real(0.0, closed="neither")              # learning rates, epsilons
NON_NEGATIVE = Real(0.0)                            # penalties, min_delta
UNIT_INTERVAL = Real(0.0, 1.0, closed="left")       # momentum, decay rates: [0, 1)
POSITIVE_INT = Integer(1)
NON_NEGATIVE_INT = Integer(0)
BOOLEAN = Boolean()


def check(constraints: Mapping[str, Constraint], **values: Any) -> dict[str, Any]:
    """Every one of ``values`` converted by its constraint in ``constraints``; raises
    :class:`ParameterError` for the first value refused."""
    return {name: constraints[name](name, value) for name, value in values.items()}
