"""Hydra's sweep grammar -> Optuna distributions, and a trial's values -> Hydra overrides.

A search space is written the way Hydra writes sweeps, in ``hydra.sweeper.params`` or on the
command line:

===================================  ==================================================
``choice(sgd, adam)``, ``a,b``       categorical (lists allowed: ``choice([64],[128,64])``)
``range(16, 129, 16)``               integers 16, 32, ..., 128 (stop excluded, as in Hydra)
``range(0.1, 0.5, 0.1)``             floats 0.1, 0.2, 0.3, 0.4 on that grid
``interval(0.0, 0.5)``               uniform float in [0, 0.5]
``tag(log, interval(1e-4, 1e-1))``   log-uniform float
``tag(log, range(16, 257))``         log-uniform integer in [16, 256]
``glob(*)``                          categorical over the matching group options
anything else (``epochs=20``)        a fixed override applied to every trial
===================================  ==================================================

A *conditional* parameter exists only for some values of a categorical parent:
``conditions: {optimizer.momentum: "optimizer=momentum"}`` (several values: ``"optimizer=momentum,
rmsprop"``). It is suggested, and its override passed, only when the parent takes one of them.

Optuna's categorical values must be ``None``, bool, int, float or str, so a choice between lists
or dicts is stored in Optuna as the override text (``"[128,64]"``) and passed back unchanged.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import (
    ChoiceSweep,
    IntervalSweep,
    Override,
    RangeSweep,
)
from hydra.errors import HydraException
from optuna.distributions import (
    BaseDistribution,
    CategoricalChoiceType,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import BaseTrial

from runkit.errors import ConfigError

__all__ = ["Condition", "Param", "SearchSpace", "format_value", "parse_search_space"]

PARAMS_KEY = "hydra.sweeper.params"
CONDITIONS_KEY = "hydra.sweeper.conditions"
TAGS = ("log",)
# A float range is expanded to find its last value (as Hydra iterates it); more values than
# this is almost certainly a typo in the step.
MAX_RANGE_VALUES = 1_000_000


@dataclass(frozen=True)
class Condition:
    """``child`` exists only when the categorical ``parent`` takes one of ``values``."""

    parent: str
    values: frozenset[CategoricalChoiceType]

    def holds(self, parent_value: CategoricalChoiceType) -> bool:
        return parent_value in self.values


@dataclass(frozen=True)
class Param:
    """One searched key.

    Attributes:
        name: the override key (``optimizer.lr``, a group name like ``optimizer``, or with a
            package ``db@backup``); also the Optuna parameter name.
        distribution: what Optuna samples from.
        prefix: ``"+"`` or ``"++"`` when the override adds the key.
        texts: for a categorical, the override text of each Optuna value.
        condition: the parent choice this parameter depends on, if any.
        source: the config key it was given under (for error messages).
    """

    name: str
    distribution: BaseDistribution
    prefix: str = ""
    texts: Mapping[CategoricalChoiceType, str] = field(default_factory=dict)
    condition: Condition | None = None
    source: str = ""

    def override(self, value: Any) -> str:
        """The Hydra override setting this parameter to ``value`` (an Optuna value)."""
        if self.texts:
            text = self.texts[value]
        elif isinstance(self.distribution, FloatDistribution) and self.distribution.step:
            text = format_value(_clean_float(value))  # on a grid: 0.3, not 0.30000000000000004
        else:
            text = format_value(value)
        return f"{self.prefix}{self.name}={text}"

    def describe(self) -> str:
        """A short human form of the distribution (logged on the sweep's MLflow run)."""
        d = self.distribution
        if isinstance(d, CategoricalDistribution):
            text = "choice(" + ", ".join(self.texts[c] if self.texts else format_value(c)
                                         for c in d.choices) + ")"
        else:
            assert isinstance(d, FloatDistribution | IntDistribution)
            kind = "int" if isinstance(d, IntDistribution) else "float"
            scale = "log " if d.log else ""
            step = f" step {format_value(d.step)}" if d.step not in (None, 1) else ""
            text = f"{scale}{kind} [{format_value(d.low)}, {format_value(d.high)}]{step}"
        if self.condition is not None:
            values = ",".join(sorted(str(v) for v in self.condition.values))
            text += f" if {self.condition.parent}={values}"
        return text


@dataclass(frozen=True)
class SearchSpace:
    """The searched parameters (parents before their conditional children) and the overrides
    every trial gets unchanged."""

    params: tuple[Param, ...] = ()
    fixed: tuple[str, ...] = ()

    @property
    def distributions(self) -> dict[str, BaseDistribution]:
        return {p.name: p.distribution for p in self.params}

    def suggest(self, trial: BaseTrial) -> dict[str, Any]:
        """Ask ``trial`` for every active parameter; returns ``{name: optuna value}``.

        A retried or enqueued trial already holds values: Optuna returns them unchanged.
        """
        values: dict[str, Any] = {}
        for param in self.params:
            cond = param.condition
            if cond is not None and (cond.parent not in values
                                     or not cond.holds(values[cond.parent])):
                continue
            values[param.name] = _suggest(trial, param.name, param.distribution)
        return values

    def overrides(self, values: Mapping[str, Any]) -> list[str]:
        """The Hydra overrides of one trial: the fixed ones, then the sampled ones."""
        by_name = {p.name: p for p in self.params}
        sampled = [by_name[name].override(value) for name, value in values.items()
                   if name in by_name]
        return [*self.fixed, *sampled]

    def assignments(self, values: Mapping[str, Any]) -> dict[str, str]:
        """``{key: value text}`` of one trial's sampled parameters, as its overrides write them
        (``+``/``~`` prefixes dropped; logged as the trial's MLflow params)."""
        by_name = {p.name: p for p in self.params}
        pairs = (by_name[name].override(value).partition("=") for name, value in values.items()
                 if name in by_name)
        return {key.lstrip("+~"): text for key, _, text in pairs}

    def describe(self) -> dict[str, str]:
        """``{name: distribution text}`` (logged on the sweep's MLflow run)."""
        return {p.name: p.describe() for p in self.params}

    def fixed_values(self) -> dict[str, str]:
        """``{key: value}`` of the fixed overrides (``+``/``~`` prefixes dropped)."""
        pairs = (line.partition("=") for line in self.fixed)
        return {key.lstrip("+~"): value for key, _, value in pairs}

    def grid(self) -> dict[str, list[Any]]:
        """Every value of every parameter, for Optuna's ``GridSampler``.

        Raises:
            ConfigError: a parameter is continuous or conditional (a grid needs finite,
                unconditional values).
        """
        grid: dict[str, list[Any]] = {}
        for p in self.params:
            if p.condition is not None:
                raise ConfigError("hydra.sweeper.sampler", "a space without conditional "
                                  "parameters for the grid sampler", f"{p.name} is conditional")
            d = p.distribution
            if isinstance(d, CategoricalDistribution):
                grid[p.name] = list(d.choices)
            elif isinstance(d, IntDistribution) and not d.log:
                grid[p.name] = list(range(d.low, d.high + 1, d.step))
            elif isinstance(d, FloatDistribution) and d.step is not None:
                n = round((d.high - d.low) / d.step) + 1
                grid[p.name] = [_clean_float(d.low + i * d.step) for i in range(n)]
            else:
                raise ConfigError(p.source, "choice(...) or range(...) for the grid sampler",
                                  p.describe())
        return grid

    def grid_size(self) -> int:
        return math.prod(len(values) for values in self.grid().values())

    def signature(self) -> str:
        """A short hash of the space and the fixed overrides: the default study name uses it,
        so the same command resumes its study and a changed one starts a new study."""
        text = json.dumps(
            {"params": {p.name: [p.prefix, repr(p.distribution), p.describe()]
                        for p in self.params},
             "fixed": sorted(self.fixed)},
            sort_keys=True,
        )
        return hashlib.sha1(text.encode()).hexdigest()[:8]


def parse_search_space(
    params: Mapping[str, Any] | None,
    arguments: Sequence[str] = (),
    conditions: Mapping[str, Any] | None = None,
    *,
    config_loader: Any = None,
) -> SearchSpace:
    """Build the space from ``hydra.sweeper.params``, the command-line overrides and the
    conditions.

    A command-line override replaces a ``params`` entry with the same key (the command line
    wins, as in Hydra). Nested mappings in ``params`` and ``conditions`` are flattened with
    dots, so ``hydra.sweeper.params.optimizer.lr=...`` and a YAML key ``optimizer.lr`` agree.

    Raises:
        ConfigError: an entry does not parse, is empty, uses an unsupported sweep or tag, or a
            condition names an unknown parameter or value.
    """
    parser = OverridesParser.create(config_loader=config_loader)
    entries: dict[str, tuple[Override, str]] = {}
    for key, value in _flatten(params or {}).items():
        line = f"{key}={_value_text(value)}"
        override = _parse(parser, line, f"{PARAMS_KEY}.{key}")
        entries[_name(override)] = (override, f"{PARAMS_KEY}.{key}")
    for line in arguments:
        override = _parse(parser, line, line.partition("=")[0])
        name = _name(override)
        entries.pop(name, None)  # re-insert: the command line keeps its own order
        entries[name] = (override, name)

    found: dict[str, Param] = {}
    fixed: list[str] = []
    for name, (override, source) in entries.items():
        if override.is_sweep_override():
            found[name] = _param(name, override, source)
        else:
            fixed.append(override.input_line or f"{override.get_key_element()}="
                         f"{override.get_value_element_as_str()}")

    parsed_conditions = {
        child: _condition(child, text, found, parser)
        for child, text in _flatten(conditions or {}).items()
    }
    ordered = _dependency_order(found, parsed_conditions)
    params_out = tuple(
        Param(p.name, p.distribution, p.prefix, p.texts, parsed_conditions.get(p.name), p.source)
        for p in ordered
    )
    return SearchSpace(params=params_out, fixed=tuple(fixed))


def format_value(value: Any) -> str:
    """Hydra override text of a sampled number or primitive; floats round-trip exactly and
    always read back as floats (``1.0``, not ``1``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, float):
        text = repr(value)
        return text if any(c in text for c in ".eEn") else f"{text}.0"
    return str(value)


def _clean_float(value: float) -> float:
    return float(f"{value:.12g}")


def _suggest(trial: BaseTrial, name: str, d: BaseDistribution) -> Any:
    """Optuna's public suggest API for one distribution."""
    if isinstance(d, CategoricalDistribution):
        return trial.suggest_categorical(name, d.choices)
    if isinstance(d, IntDistribution):
        return trial.suggest_int(name, d.low, d.high, step=d.step, log=d.log)
    assert isinstance(d, FloatDistribution)
    return trial.suggest_float(name, d.low, d.high, step=d.step, log=d.log)


def _flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{path}."))
        else:
            flat[path] = value
    return flat


def _value_text(value: Any) -> str:
    """A ``params`` value as override text: strings as written, other YAML values as Hydra
    reads them (``[64, 32]``, ``true``, ``null``)."""
    if isinstance(value, str):
        return value
    if isinstance(value, Sequence) or value is None or isinstance(value, bool | int | float):
        return json.dumps(_json_ready(value))
    raise ConfigError(PARAMS_KEY, "sweep strings, numbers or lists", value)


def _json_ready(value: Any) -> Any:
    """OmegaConf ListConfig -> list (json cannot dump it)."""
    if isinstance(value, str) or not isinstance(value, Sequence):
        return value
    return [_json_ready(v) for v in value]


def _parse(parser: OverridesParser, line: str, key: str) -> Override:
    try:
        [override] = parser.parse_overrides([line])  # (also hands it the config loader: glob)
        return override
    except HydraException as error:
        detail = str(error).splitlines()[0]
        raise ConfigError(key, f"a Hydra override or sweep ({detail})", line) from None


def _name(override: Override) -> str:
    return override.get_key_element().lstrip("+~")


def _param(name: str, override: Override, source: str) -> Param:
    prefix = override.get_key_element()[: -len(name)] if name else ""
    value = override.value()
    tags = set(getattr(value, "tags", set()) or set())
    unknown = tags - set(TAGS)
    if unknown:
        raise ConfigError(source, f"tags among {', '.join(TAGS)}", ", ".join(sorted(unknown)))
    log = "log" in tags
    try:
        if isinstance(value, IntervalSweep):
            distribution: BaseDistribution = _interval(value, log, source)
            return Param(name, distribution, prefix, source=source)
        if isinstance(value, RangeSweep) and not value.shuffle:
            return Param(name, _range(value, log, source), prefix, source=source)
        if override.is_discrete_sweep():  # choice, glob, shuffled range
            if log:
                raise ConfigError(source, "tag(log, ...) only on interval or range",
                                  override.input_line)
            choices, texts = _categorical(override, source)
            return Param(name, CategoricalDistribution(choices), prefix, texts, source=source)
    except HydraException as error:
        raise ConfigError(source, "a valid sweep", f"{override.input_line} ({error})") from None
    raise ConfigError(source, "choice, range, interval or tag(log, ...)", override.input_line)


def _interval(value: IntervalSweep, log: bool, source: str) -> FloatDistribution:
    low, high = float(value.start), float(value.end)  # type: ignore[arg-type]
    if not low < high:
        raise ConfigError(source, "interval(low, high) with low < high", f"[{low}, {high}]")
    if log and low <= 0:
        raise ConfigError(source, "a log interval with low > 0", f"[{low}, {high}]")
    return FloatDistribution(low, high, log=log)


def _range(value: RangeSweep, log: bool, source: str) -> BaseDistribution:
    """Hydra's range: ``start``, ``start + step``, ... while short of ``stop`` (excluded)."""
    values = value.range()
    if isinstance(values, range):
        if len(values) == 0:
            raise ConfigError(source, "a range holding at least one value",
                              f"range({value.start}, {value.stop}, {value.step})")
        low, high = min(values[0], values[-1]), max(values[0], values[-1])
        step = abs(values.step)
        if log and step != 1:
            raise ConfigError(source, "tag(log, range(start, stop)) with step 1", step)
        if log and low <= 0:
            raise ConfigError(source, "a log range with start > 0", low)
        return IntDistribution(low, high, step=1 if log else step, log=log)
    if log:
        raise ConfigError(source, "tag(log, ...) on an integer range or an interval",
                          f"range({value.start}, {value.stop}, {value.step})")
    floats = list(itertools.islice(values, MAX_RANGE_VALUES + 1))
    if not floats or len(floats) > MAX_RANGE_VALUES:
        raise ConfigError(source, f"a range holding 1 to {MAX_RANGE_VALUES} values",
                          f"range({value.start}, {value.stop}, {value.step})")
    low, high = min(floats[0], floats[-1]), max(floats[0], floats[-1])
    float_step = abs(float(value.step))
    if len(floats) == 1:
        return FloatDistribution(low, low)
    return FloatDistribution(_clean_float(low), _clean_float(high), step=float_step)


def _categorical(
    override: Override, source: str
) -> tuple[list[CategoricalChoiceType], dict[CategoricalChoiceType, str]]:
    """Optuna choices and the override text of each; lists and dicts become their text."""
    raw = list(override.sweep_iterator())
    texts = list(override.sweep_string_iterator())
    choices: list[CategoricalChoiceType] = []
    text_of: dict[CategoricalChoiceType, str] = {}
    for value, text in zip(raw, texts, strict=True):
        if isinstance(value, bool):
            choice: CategoricalChoiceType = value
            text = format_value(value)
        elif isinstance(value, int | float | str) or value is None:
            choice = value
        else:
            choice = text
        if choice in text_of:
            raise ConfigError(source, "distinct choices", text)
        choices.append(choice)
        text_of[choice] = text
    if not choices:
        raise ConfigError(source, "at least one choice", override.input_line)
    return choices, text_of


def _condition(
    child: str, text: Any, found: Mapping[str, Param], parser: OverridesParser
) -> Condition:
    key = f"{CONDITIONS_KEY}.{child}"
    if child not in found:
        raise ConfigError(key, f"a searched parameter ({', '.join(found) or 'none'})", child)
    if not isinstance(text, str) or "=" not in text:
        raise ConfigError(key, "'PARENT=VALUE' or 'PARENT=VALUE1,VALUE2'", text)
    override = _parse(parser, text, key)
    parent = _name(override)
    if parent == child or parent not in found:
        raise ConfigError(key, f"a parent among the other searched parameters "
                          f"({', '.join(n for n in found if n != child)})", parent)
    parent_param = found[parent]
    if not isinstance(parent_param.distribution, CategoricalDistribution):
        raise ConfigError(key, "a parent searched with choice(...)", parent)
    pairs: Iterator[tuple[Any, str]]
    if override.is_sweep_override():
        if not isinstance(override.value(), ChoiceSweep):
            raise ConfigError(key, "listed parent values (a,b or choice(a,b))", text)
        pairs = zip(override.sweep_iterator(), override.sweep_string_iterator(), strict=True)
    else:
        pairs = iter([(override.value(), override.get_value_element_as_str())])
    # Written as the parent's choices are: Hydra reads `true` as True, shown "True".
    wanted = [format_value(v) if isinstance(v, bool) else t for v, t in pairs]
    by_text = {t: c for c, t in parent_param.texts.items()}
    unknown = [w for w in wanted if w not in by_text]
    if unknown:
        raise ConfigError(key, f"values of {parent} among {', '.join(by_text)}",
                          ", ".join(unknown))
    return Condition(parent, frozenset(by_text[w] for w in wanted))


def _dependency_order(
    found: Mapping[str, Param], conditions: Mapping[str, Condition]
) -> list[Param]:
    """Parents before children, otherwise the order given; a cycle is an error."""
    ordered: list[Param] = []
    placed: set[str] = set()

    def place(name: str, chain: Iterable[str]) -> None:
        if name in placed:
            return
        if name in chain:
            cycle = " -> ".join([*chain, name])
            raise ConfigError(CONDITIONS_KEY, "conditions without a cycle", cycle)
        cond = conditions.get(name)
        if cond is not None:
            place(cond.parent, [*chain, name])
        placed.add(name)
        ordered.append(found[name])

    for name in found:
        place(name, [])
    return ordered
