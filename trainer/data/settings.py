"""The ``data`` node of the config: what each key accepts (:data:`PARAMETERS`), checked once by
:func:`parse_settings`.

The defaults live in one place, the YAML files: a mapping that leaves a key out (the library call
``load_dataset({"name": "wine"}, seed=0)``) takes it from ``conf/data/NAME.yaml``, and a mapping
without a name takes the data set ``conf/config.yaml`` picks.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, fields
from functools import cache
from typing import Any

from trainer import conf_files
from trainer.core.losses import TASKS
from trainer.core.parameters import BOOLEAN, Constraint, Options, Real
from trainer.errors import ConfigError, ParameterError

__all__ = ["PARAMETERS", "TASK_CHOICES", "Settings", "default_name", "defaults", "parse_settings"]

# What data.task accepts: a task, or auto (inferred from the labels, see trainer.data.targets).
TASK_CHOICES = ("auto", *TASKS)


@dataclass(frozen=True)
class Settings:
    """The validated ``data`` node."""

    name: str
    path: str | None
    target: str | None
    task: str
    val_fraction: float
    test_fraction: float
    standardize: bool
    dropna: bool


def _dataset_names() -> list[str]:
    from trainer.data.loaders import DATASETS  # the loaders import Settings: read it late

    return list(DATASETS)


class _OptionalText(Constraint):
    """A path or column name; null, empty or Hydra's ``???`` (unset mandatory value) mean
    unset. Hydra parses ``data.target=3`` as an int: CSV headers are strings."""

    @property
    def expected(self) -> str:
        return "a path or name (or null)"

    def convert(self, value: Any) -> str | None:
        if value is None or (isinstance(value, str) and value.strip() in ("", "???")):
            return None
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise TypeError(value)
        return str(value)


_FRACTION = Real(0.0, 1.0, closed="neither",
                 description="a fraction between 0 and 1 (exclusive)")

PARAMETERS: dict[str, Constraint] = {
    "name": Options(_dataset_names, hint=" (pick one on the command line with data=NAME)"),
    "path": _OptionalText(),
    "target": _OptionalText(),
    "task": Options(TASK_CHOICES),
    "val_fraction": _FRACTION,
    "test_fraction": _FRACTION,
    "standardize": BOOLEAN,
    "dropna": BOOLEAN,
}
assert set(PARAMETERS) == {f.name for f in fields(Settings)}


def _as_dict(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """A plain dict of the node; a Hydra ``???`` (unset mandatory value) stays the string."""
    omegaconf = sys.modules.get("omegaconf")  # a DictConfig exists only where it was imported
    if omegaconf is not None and isinstance(cfg, omegaconf.DictConfig):
        plain: dict[str, Any] = omegaconf.OmegaConf.to_container(
            cfg, resolve=True, throw_on_missing=False)
        return plain
    return dict(cfg)


@cache
def default_name() -> str:
    """The data set ``conf/config.yaml`` picks (its defaults list: ``- data: digits``)."""
    for entry in (conf_files.read("config.yaml") or {}).get("defaults", []):
        if isinstance(entry, dict) and "data" in entry:
            return str(entry["data"])
    return "digits"


@cache
def defaults(name: str) -> dict[str, Any]:
    """The keys of ``conf/data/NAME.yaml`` (empty for a name without a file)."""
    return conf_files.option_defaults("data", name)


def parse_settings(cfg: Mapping[str, Any]) -> Settings:
    """The ``data`` node checked key by key; keys left out come from the data set's YAML file.

    Raises:
        ConfigError: naming the first key (``data.test_fraction``) that holds a value outside
            what it accepts, or a key the node does not have.
    """
    given = _as_dict(cfg)
    name = given.setdefault("name", default_name())
    values = {**defaults(name), **given} if isinstance(name, str) else given
    for key in values:
        if key not in PARAMETERS:
            raise ConfigError.unknown_key(f"data.{key}", "data", list(PARAMETERS), values[key])
    checked: dict[str, Any] = {}
    for key, constraint in PARAMETERS.items():
        try:
            checked[key] = constraint(key, values.get(key))
        except ParameterError as error:
            raise ConfigError(f"data.{key}", error.expected, error.received) from None
    total = checked["val_fraction"] + checked["test_fraction"]
    if total >= 1:
        raise ConfigError(
            "data.val_fraction + data.test_fraction",
            "a sum below 1 (the rest is the training part)",
            round(total, 10),
        )
    return Settings(**checked)
