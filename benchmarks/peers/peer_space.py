"""A workload's search space, written in Hydra's sweep grammar, as Optuna ``suggest_*`` calls.

The trainer's sweep and hydra-optuna-sweeper read the grammar themselves; a script using Optuna
directly (plain Optuna, Ray Tune's ``OptunaSearch`` with a define-by-run space) calls
:func:`suggest`, which asks for the same distributions in the same order:

- ``choice(a, b)``: ``suggest_categorical`` (a choice between lists passes their text,
  ``"[128,64]"``, as the trainer's sweep does);
- ``range(start, stop, step)``: ``suggest_int(start, last value, step=step)`` (stop excluded,
  as in Hydra);
- ``interval(a, b)`` / ``tag(log, interval(a, b))``: ``suggest_float(a, b[, log=True])``.

A conditional parameter (``conditions: {optimizer.momentum: optimizer=momentum}``) is asked for
only when its parent takes one of the listed values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import IntervalSweep, RangeSweep


@dataclass(frozen=True)
class Param:
    """One searched key: ``kind`` is categorical, int or float."""

    name: str
    kind: str
    args: tuple[Any, ...]
    log: bool = False
    step: int | None = None
    parent: str | None = None  # a conditional parameter's parent and the values it needs
    parent_values: tuple[str, ...] = ()


def parse(params: Mapping[str, str], conditions: Mapping[str, str]) -> list[Param]:
    """``{key: "choice(...)" | "range(...)" | "interval(...)" | "tag(log, interval(...))"}``
    and ``{child: "parent=value[,value]"}`` as :class:`Param` s, in the order given."""
    parser = OverridesParser.create()
    found = []
    for name, text in params.items():
        [override] = parser.parse_overrides([f"{name}={text}"])
        value = override.value()
        parent, values = None, ()
        if name in conditions:
            parent, _, listed = str(conditions[name]).partition("=")
            values = tuple(v.strip() for v in listed.split(","))
        if isinstance(value, IntervalSweep):
            found.append(Param(name, "float", (float(value.start), float(value.end)),  # type: ignore[arg-type]
                               log="log" in (value.tags or set()), parent=parent,
                               parent_values=values))
        elif isinstance(value, RangeSweep):
            numbers = list(value.range())
            found.append(Param(name, "int", (numbers[0], numbers[-1]), step=int(value.step),  # type: ignore[arg-type]
                               parent=parent, parent_values=values))
        elif override.is_choice_sweep():
            choices = [v if isinstance(v, int | float | str) else t for v, t in
                       zip(override.sweep_iterator(), override.sweep_string_iterator(),
                           strict=True)]
            found.append(Param(name, "categorical", tuple(choices), parent=parent,
                               parent_values=values))
        else:
            raise ValueError(f"{name}: expected choice, range, interval or tag(log, interval), "
                             f"got {text!r}")
    return found


def suggest(trial: Any, space: list[Param]) -> dict[str, Any]:
    """The trial's values for ``space`` (an ``optuna.Trial``, Optuna 2.10 or 5)."""
    values: dict[str, Any] = {}
    for p in space:
        if p.parent is not None and str(values.get(p.parent)) not in p.parent_values:
            continue
        if p.kind == "categorical":
            values[p.name] = trial.suggest_categorical(p.name, list(p.args))
        elif p.kind == "int":
            values[p.name] = trial.suggest_int(p.name, *p.args, step=p.step or 1)
        else:
            values[p.name] = trial.suggest_float(p.name, *p.args, log=p.log)
    return values
