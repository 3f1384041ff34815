"""The sweeper's keys (``hydra.sweeper.*`` besides sampler, pruner, params and conditions), checked
once when the sweep starts, each failure one line naming the key.

The keys, their defaults and their meaning are the config's (``sweeps._config``); here is what
each accepts. Checked in ``OptunaSweep.sweep`` rather than its constructor: Hydra instantiates
the sweeper, and an error raised there would reach the user wrapped in Hydra's instantiation
message instead of as one line.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from runkit.errors import ConfigError
from sweeps._config import OptunaSweepsConf, plain
from sweeps.search._custom import CustomSearchSpace

__all__ = ["KEY", "SweeperSettings", "Tracking", "parse_settings"]

KEY = "hydra.sweeper"
DIRECTIONS = ("minimize", "maximize")
ROLES = ("controller", "worker")


@dataclass(frozen=True)
class Tracking:
    """The ``mlflow`` node: the store (None: MLflow's own ``MLFLOW_TRACKING_URI``, else the
    default local store) and the experiment (None: the app's name)."""

    tracking_uri: str | None
    experiment: str | None
    source: str = f"{KEY}.mlflow.tracking_uri"  # the key a bad URI is told under


@dataclass(frozen=True)
class SweeperSettings:
    """The checked keys (see ``sweeps._config.OptunaSweepsConf`` for each one's meaning)."""

    n_trials: int
    n_jobs: int
    storage: str | None
    study_name: str | None
    directions: tuple[str, ...]
    metric_names: tuple[str, ...] | None
    seed: int | None
    heartbeat_interval: int | None
    grace_period: int | None
    max_retry: int | None
    max_failure_rate: float
    role: str
    register_model: str | None
    tracking: Tracking | None
    preload: tuple[str, ...]
    custom_search_space: CustomSearchSpace | None = None


def _integer(value: Any, *, low: int | None = None, minus_one: bool = False,
             null: bool = False) -> int | None:
    if value is None and null:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError
    if minus_one and value == -1:
        return value
    if low is not None and value < low:
        raise ValueError
    return value


def _text(value: Any, *, null: bool = False) -> str | None:
    if value is None and null:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ValueError
    return value


def _rate(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise ValueError
    return float(value)


def _names(value: Any, options: tuple[str, ...] | None = None) -> tuple[str, ...]:
    """One name or a non-empty list of them (``direction``, ``metric_names``)."""
    names = [value] if isinstance(value, str) else value
    if (not isinstance(names, list | tuple) or not names
            or not all(isinstance(n, str) and n.strip() for n in names)
            or (options is not None and not set(names) <= set(options))):
        raise ValueError
    return tuple(names)


def _option(value: Any, options: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in options:
        raise ValueError
    return value


def _model_name(value: Any) -> str | None:
    """A registered model's name, which MLflow's ``models:/NAME/VERSION`` URIs must parse."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or "/" in value:
        raise ValueError
    return value


def _preload(value: Any) -> tuple[str, ...]:
    modules = [value] if isinstance(value, str) else value
    if not isinstance(modules, list | tuple) or not all(
            isinstance(m, str) and m.replace(".", "").replace("_", "").isalnum()
            for m in modules):
        raise ValueError
    return tuple(modules)


# key -> (what it accepts, its check)
_CHECKS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "n_trials": ("a positive integer", lambda v: _integer(v, low=1)),
    "n_jobs": ("a positive integer or -1", lambda v: _integer(v, low=1, minus_one=True)),
    "storage": ("a non-empty string or null", lambda v: _text(v, null=True)),
    "study_name": ("a non-empty string or null", lambda v: _text(v, null=True)),
    "direction": ("minimize or maximize, or a list of them", lambda v: _names(v, DIRECTIONS)),
    "metric_names": ("a name, a list of names or null",
                     lambda v: None if v is None else _names(v)),
    "seed": ("an integer or null", lambda v: _integer(v, null=True)),
    "heartbeat_interval": ("a positive integer or null", lambda v: _integer(v, low=1, null=True)),
    "grace_period": ("a positive integer or null", lambda v: _integer(v, low=1, null=True)),
    "max_retry": ("an integer >= 0 or null", lambda v: _integer(v, low=0, null=True)),
    "max_failure_rate": ("a number in [0, 1]", _rate),
    "role": (f"one of {', '.join(ROLES)}", lambda v: _option(v, ROLES)),
    "register_model": ("a registered model's name (no '/') or null", _model_name),
    "preload": ("a list of module names", _preload),
    "custom_search_space": ("a dotted path to a function fn(cfg, trial), or null",
                            lambda v: None if v is None else CustomSearchSpace(_text(v) or "")),
}
# Checked elsewhere: sampler and pruner (sweeps.study._factories), params and conditions
# (sweeps.search), mlflow (below); _target_, _recursive_ and defaults are Hydra's.
_ELSEWHERE = {"sampler", "pruner", "params", "conditions", "mlflow"}
_HYDRAS = {"_target_", "_recursive_", "defaults"}
assert set(_CHECKS) | _ELSEWHERE == {f.name for f in fields(OptunaSweepsConf)} - _HYDRAS


def _default(key: str) -> Any:
    """The schema's default of ``key`` (a fresh copy for the mutable ones)."""
    for f in fields(OptunaSweepsConf):
        if f.name == key:
            return f.default_factory() if callable(f.default_factory) else f.default
    raise KeyError(key)


def _check(key: str, value: Any) -> Any:
    expected, check = _CHECKS[key]
    try:
        return check(value)
    except (ValueError, TypeError):
        raise ConfigError(f"{KEY}.{key}", expected, value) from None


def _tracking(node: Any) -> Tracking | None:
    """The ``mlflow`` node: null (no tracking) or its two keys, each a string or null. A bad
    URI is told under the key the value came from (``mlflow.tracking_uri`` for an app whose
    config interpolates its own)."""
    if node is None:
        return None
    if dataclasses.is_dataclass(node) and not isinstance(node, type):  # the schema's default
        node = dataclasses.asdict(node)
    if not isinstance(node, Mapping):
        raise ConfigError(f"{KEY}.mlflow", "{tracking_uri: ..., experiment: ...} or null", node)
    values = {}
    for key in ("tracking_uri", "experiment"):
        value = node.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise ConfigError(_source(node, key), "a non-empty string or null", value)
        values[key] = value
    return Tracking(values["tracking_uri"], values["experiment"],
                    source=_source(node, "tracking_uri"))


def _source(node: Any, key: str) -> str:
    """The key a value of the ``mlflow`` node was written under: ``mlflow.tracking_uri`` when
    the node holds ``${mlflow.tracking_uri}``, else ``hydra.sweeper.mlflow.<key>``."""
    from omegaconf import DictConfig, OmegaConf

    if isinstance(node, DictConfig) and OmegaConf.is_interpolation(node, key):
        written = OmegaConf.to_container(node, resolve=False)
        text = str(written[key] if isinstance(written, dict) else "").strip()
        if text.startswith("${") and text.endswith("}") and not set(":${}") & set(text[2:-1]):
            return text[2:-1]
    return f"{KEY}.mlflow.{key}"


def parse_settings(keys: Mapping[str, Any]) -> SweeperSettings:
    """The settings from the sweeper's keys (sampler, pruner, params and conditions are read
    elsewhere); keys left out take the schema's defaults.

    Raises:
        ConfigError: naming the first ``hydra.sweeper.*`` key that holds a value outside what
            it accepts.
    """
    def value(key: str) -> Any:
        return plain(keys[key]) if key in keys else _default(key)

    checked = {key: _check(key, value(key)) for key in _CHECKS}
    directions = checked.pop("direction")  # several: a multi-objective study
    metric_names = checked.pop("metric_names")
    if metric_names is not None and len(metric_names) != len(directions):
        raise ConfigError(f"{KEY}.metric_names", f"{len(directions)} name(s), one per "
                          "direction", value("metric_names"))
    tracking = _tracking(keys["mlflow"] if "mlflow" in keys else _default("mlflow"))
    if checked["register_model"] is not None and len(directions) > 1:
        raise ConfigError(f"{KEY}.register_model", "null with several directions (a Pareto "
                          "front has no single best model to register)", checked["register_model"])
    if checked["register_model"] is not None and tracking is None:
        raise ConfigError(f"{KEY}.register_model", f"null when {KEY}.mlflow is null (the best "
                          "trial's model is registered in MLflow)", checked["register_model"])
    return SweeperSettings(directions=directions, metric_names=metric_names, tracking=tracking,
                           **checked)
