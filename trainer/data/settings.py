"""The ``data`` node of the config, validated once: :func:`parse_settings`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

from trainer.errors import ConfigError

TASKS = ("auto", "classification", "regression")

# The keys of conf/data/*.yaml with their defaults, used when a plain dict leaves one out.
DEFAULTS: dict[str, Any] = {
    "name": "digits",
    "path": None,
    "target": None,
    "task": "auto",
    "val_fraction": 0.2,
    "test_fraction": 0.2,
    "standardize": True,
    "dropna": False,
}

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


def _as_dict(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """A plain dict of the node; a Hydra ``???`` (unset mandatory value) stays the string."""
    try:
        from omegaconf import DictConfig, OmegaConf
    except ImportError:  # pragma: no cover - omegaconf comes with hydra-core
        DictConfig = ()  # type: ignore[assignment,misc]
    if isinstance(cfg, DictConfig):
        return OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)  # type: ignore[return-value]
    return dict(cfg)


def _is_unset(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip() in ("", "???"))


def _fraction(values: Mapping[str, Any], key: str) -> float:
    value = values[key]
    if isinstance(value, bool) or not isinstance(value, Real) or not 0 < float(value) < 1:
        raise ConfigError(f"data.{key}", "a fraction between 0 and 1 (exclusive)", value)
    return float(value)


def _flag(values: Mapping[str, Any], key: str) -> bool:
    value = values[key]
    if not isinstance(value, bool):
        raise ConfigError(f"data.{key}", "true or false", value)
    return value


def parse_settings(cfg: Mapping[str, Any]) -> Settings:
    values = {**DEFAULTS, **_as_dict(cfg)}
    name = values["name"]
    from trainer.data.loaders import DATASETS  # the loaders need Settings: import late

    if name not in DATASETS:
        raise ConfigError(
            "data.name",
            f"one of {', '.join(DATASETS)} (pick one on the command line with data=NAME)",
            name,
        )
    task = values["task"]
    if task not in TASKS:
        raise ConfigError("data.task", f"one of {', '.join(TASKS)}", task)
    val_fraction = _fraction(values, "val_fraction")
    test_fraction = _fraction(values, "test_fraction")
    if val_fraction + test_fraction >= 1:
        raise ConfigError(
            "data.val_fraction + data.test_fraction",
            "a sum below 1 (the rest is the training part)",
            round(val_fraction + test_fraction, 10),
        )
    path = None if _is_unset(values["path"]) else str(values["path"])
    # Hydra parses data.target=3 as an int; CSV headers are strings.
    target = None if _is_unset(values["target"]) else str(values["target"])
    return Settings(
        name=name,
        path=path,
        target=target,
        task=task,
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        standardize=_flag(values, "standardize"),
        dropna=_flag(values, "dropna"),
    )


def check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, Integral) or seed < 0:
        raise ConfigError("seed", "a non-negative integer", seed)
    return int(seed)
