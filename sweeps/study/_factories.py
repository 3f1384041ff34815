"""Samplers and pruners from ``hydra.sweeper.sampler`` / ``hydra.sweeper.pruner``.

Each key accepts, in order of convenience:

- a name: ``sampler: random``, ``pruner: hyperband``;
- a name with arguments: ``pruner: {name: median, n_startup_trials: 5, n_warmup_steps: 3}``;
- a ``_target_`` config (``{_target_: optuna.samplers.TPESampler, multivariate: true}``): Hydra
  instantiates it before the sweeper sees it, so this arrives as a ready object;
- a ready ``BaseSampler`` / ``BasePruner`` object, used as is.
"""

from __future__ import annotations

import functools
import importlib.util
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import optuna
from optuna.exceptions import ExperimentalWarning
from optuna.pruners import BasePruner
from optuna.samplers import BaseSampler

from runkit.errors import ConfigError
from sweeps._config import plain
from sweeps.study._pruners import MedianPruner, PercentilePruner

__all__ = ["PRUNERS", "SAMPLERS", "build_pruner", "build_sampler", "pruner_for", "spec_name"]

SAMPLER_KEY = "hydra.sweeper.sampler"
PRUNER_KEY = "hydra.sweeper.pruner"


def _grid(*, seed: int | None, search_space: dict[str, list[Any]]) -> BaseSampler:
    return optuna.samplers.GridSampler(search_space, seed=seed)


def _cmaes(*, seed: int | None, **kwargs: Any) -> BaseSampler:
    # Optuna imports the `cmaes` package only when sampling starts: fail at set-up instead.
    if importlib.util.find_spec("cmaes") is None:
        raise ConfigError(SAMPLER_KEY, "the cmaes sampler's package (pip install cmaes)",
                          "cmaes")
    return optuna.samplers.CmaEsSampler(seed=seed, **kwargs)


# name -> factory called with seed= (and search_space= for the grid) plus the user's arguments
SAMPLERS: dict[str, Callable[..., BaseSampler]] = {
    "tpe": optuna.samplers.TPESampler,
    "random": optuna.samplers.RandomSampler,
    "grid": _grid,
    "cmaes": _cmaes,
    "gp": optuna.samplers.GPSampler,
    "qmc": optuna.samplers.QMCSampler,
    "nsgaii": optuna.samplers.NSGAIISampler,  # genetic, for several objectives
}


def _patient(*, wrapped: Any = "median", patience: int = 3, min_delta: float = 0.0) -> BasePruner:
    """PatientPruner around another pruner (``wrapped`` is itself a pruner spec)."""
    return optuna.pruners.PatientPruner(build_pruner(wrapped), patience, min_delta)


PRUNERS: dict[str, Callable[..., BasePruner]] = {
    # Optuna's classes, reading the study once per trial instead of per epoch (_pruners.py)
    "median": MedianPruner,
    "percentile": PercentilePruner,
    "successive_halving": optuna.pruners.SuccessiveHalvingPruner,
    "hyperband": optuna.pruners.HyperbandPruner,
    "patient": _patient,
    "wilcoxon": optuna.pruners.WilcoxonPruner,
    "threshold": optuna.pruners.ThresholdPruner,
    "none": optuna.pruners.NopPruner,
}


def spec_name(spec: Any, default: str) -> str:
    """The registry name of a spec, or the class name of a ready object."""
    if spec is None:
        return default
    if isinstance(spec, str):
        return spec
    if isinstance(spec, Mapping):
        return str(spec.get("name", spec.get("_target_", default)))
    if isinstance(spec, functools.partial):
        return spec.func.__name__
    return type(spec).__name__


def build_sampler(
    spec: Any,
    *,
    seed: int | None = None,
    grid: Callable[[], dict[str, list[Any]]] | None = None,
) -> BaseSampler:
    """A sampler from a name, ``{name: ..., **kwargs}``, a ``_target_`` config or an object.

    Args:
        spec: the ``hydra.sweeper.sampler`` value (``None`` means ``tpe``).
        seed: seeds a sampler built here (a ready object keeps its own seed).
        grid: returns the grid for ``grid`` (only called when that sampler is chosen).

    Raises:
        ConfigError: an unknown name, arguments the sampler does not take, or a value it rejects.
    """
    if isinstance(spec, BaseSampler):
        return spec
    if isinstance(spec, functools.partial):  # `_partial_: true` config: complete it here
        return _call(spec, {}, SAMPLER_KEY)
    if spec is None:
        spec = "tpe"
    name, kwargs = _name_and_arguments(spec, SAMPLER_KEY)
    if name is None:
        return _instantiate(spec, SAMPLER_KEY, BaseSampler)
    factory = _lookup(SAMPLERS, name, SAMPLER_KEY)
    kwargs.setdefault("seed", seed)
    if name == "grid":
        if grid is None:
            raise ConfigError(SAMPLER_KEY, "a search space for the grid sampler", "none")
        kwargs["search_space"] = grid()
    return _call(factory, kwargs, SAMPLER_KEY)


def build_pruner(spec: Any) -> BasePruner:
    """A pruner from a name, ``{name: ..., **kwargs}``, a ``_target_`` config or an object
    (``None`` means ``median``; ``none`` disables pruning).

    Raises:
        ConfigError: an unknown name, arguments the pruner does not take, or a value it rejects.
    """
    if isinstance(spec, BasePruner):
        return spec
    if isinstance(spec, functools.partial):
        return _call(spec, {}, PRUNER_KEY)
    if spec is None:
        spec = "median"
    name, kwargs = _name_and_arguments(spec, PRUNER_KEY)
    if name is None:
        return _instantiate(spec, PRUNER_KEY, BasePruner)
    return _call(_lookup(PRUNERS, name, PRUNER_KEY), kwargs, PRUNER_KEY)


def pruner_for(spec: Any, n_objectives: int) -> Any:
    """The pruner spec a study of ``n_objectives`` runs with: ``spec``, or when null ``median``
    (one objective) or ``none`` (several: Optuna cannot prune a multi-objective trial, its
    ``Trial.report`` and ``should_prune`` raise NotImplementedError).

    Raises:
        ConfigError: a pruner given together with several directions.
    """
    if n_objectives == 1:
        return "median" if spec is None else spec
    if spec is None or isinstance(spec, optuna.pruners.NopPruner) or spec_name(spec, "") == "none":
        return "none"
    raise ConfigError(PRUNER_KEY, f"null or none with {n_objectives} directions (Optuna cannot "
                      "prune a trial of a multi-objective study)", spec_name(spec, str(spec)))


def _name_and_arguments(spec: Any, key: str) -> tuple[str | None, dict[str, Any]]:
    """``"tpe"`` -> ("tpe", {}); ``{name: tpe, a: 1}`` -> ("tpe", {a: 1}); a ``_target_``
    mapping -> (None, {})."""
    if isinstance(spec, str):
        return spec, {}
    if isinstance(spec, Mapping):
        kwargs = {str(k): plain(v) for k, v in spec.items()}
        if "_target_" in kwargs:
            return None, {}
        if "name" not in kwargs:
            raise ConfigError(key, "a name, {name: ..., arguments} or a _target_ config",
                              dict(kwargs))
        return str(kwargs.pop("name")), kwargs
    raise ConfigError(key, "a name, {name: ..., arguments} or a _target_ config", spec)


def _lookup(registry: Mapping[str, Callable[..., Any]], name: str, key: str) -> Callable[..., Any]:
    if name not in registry:
        raise ConfigError(key, f"one of {', '.join(registry)}", name)
    return registry[name]


def _call(factory: Callable[..., Any], kwargs: dict[str, Any], key: str) -> Any:
    try:
        with warnings.catch_warnings():  # chosen by name: the user knows it is experimental
            warnings.simplefilter("ignore", ExperimentalWarning)
            return factory(**kwargs)
    except ConfigError:
        raise
    except (TypeError, ValueError) as error:
        raise ConfigError(key, "arguments the sampler/pruner accepts",
                          f"{kwargs} ({error})") from None


def _instantiate(spec: Mapping[str, Any], key: str, base: type) -> Any:
    from hydra.utils import instantiate

    try:
        made = instantiate(spec)
    except Exception as error:  # Hydra wraps every failure: report it on one line
        raise ConfigError(key, "an instantiable _target_ config",
                          f"{spec.get('_target_')} ({error})") from None
    if not isinstance(made, base):
        raise ConfigError(key, f"a _target_ that builds an optuna {base.__name__}",
                          spec.get("_target_"))
    return made
