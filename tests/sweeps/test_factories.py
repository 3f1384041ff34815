"""Sampler and pruner registries: names, names with arguments, _target_ configs, ready objects."""

from __future__ import annotations

import functools
import importlib.util

import optuna
import pytest
from omegaconf import OmegaConf

from sweeps.study import PRUNERS, SAMPLERS, build_pruner, build_sampler
from sweeps.study._factories import pruner_for
from trainer.errors import ConfigError

GRID = {"x": [1, 2], "y": ["a", "b"]}


@pytest.mark.parametrize("name,cls", [
    ("tpe", optuna.samplers.TPESampler),
    ("random", optuna.samplers.RandomSampler),
    ("grid", optuna.samplers.GridSampler),
    ("gp", optuna.samplers.GPSampler),
    ("qmc", optuna.samplers.QMCSampler),
])
def test_every_sampler_name_builds_its_class(name, cls):
    # each documented name gives the Optuna sampler it stands for
    assert isinstance(build_sampler(name, seed=0, grid=lambda: GRID), cls)


def test_cmaes_needs_its_package():
    # Optuna imports `cmaes` only when sampling starts: fail at set-up with the fix instead
    if importlib.util.find_spec("cmaes") is None:
        with pytest.raises(ConfigError, match="pip install cmaes"):
            build_sampler("cmaes", seed=0)
    else:
        assert isinstance(build_sampler("cmaes", seed=0), optuna.samplers.CmaEsSampler)


def test_default_sampler_is_seeded_tpe():
    # None means TPE, and the seed makes its draws repeatable
    def draws(seed):
        study = optuna.create_study(sampler=build_sampler(None, seed=seed))
        return [study.ask().suggest_float("x", 0, 1) for _ in range(3)]

    assert isinstance(build_sampler(None), optuna.samplers.TPESampler)
    assert draws(3) == draws(3) != draws(4)


def test_name_with_arguments_reaches_the_class():
    # {name: tpe, n_startup_trials: 3} passes its arguments (OmegaConf nodes included)
    spec = OmegaConf.create({"name": "tpe", "n_startup_trials": 3, "multivariate": True})
    sampler = build_sampler(spec, seed=0)
    assert isinstance(sampler, optuna.samplers.TPESampler)
    assert sampler._n_startup_trials == 3
    pruner = build_pruner({"name": "percentile", "percentile": 25.0, "n_warmup_steps": 2})
    assert isinstance(pruner, optuna.pruners.PercentilePruner)


def test_target_config_and_ready_object():
    # a `_target_` config is instantiated; a ready object (what Hydra hands over) is kept as is
    made = build_sampler({"_target_": "optuna.samplers.RandomSampler", "seed": 1})
    assert isinstance(made, optuna.samplers.RandomSampler)
    ready = optuna.pruners.NopPruner()
    assert build_pruner(ready) is ready
    partial = functools.partial(optuna.pruners.MedianPruner, n_startup_trials=1)
    assert isinstance(build_pruner(partial), optuna.pruners.MedianPruner)


@pytest.mark.parametrize("name", sorted(PRUNERS))
def test_every_pruner_name_builds(name):
    # every registry entry builds with its defaults
    kwargs = {"percentile": {"percentile": 25.0}, "threshold": {"upper": 1.0}}.get(name, {})
    assert isinstance(build_pruner({"name": name, **kwargs}), optuna.pruners.BasePruner)


def test_none_disables_and_patient_wraps():
    # "none" never prunes; "patient" wraps another pruner given by name
    assert isinstance(build_pruner("none"), optuna.pruners.NopPruner)
    patient = build_pruner({"name": "patient", "wrapped": "median", "patience": 2})
    assert isinstance(patient, optuna.pruners.PatientPruner)
    assert isinstance(build_pruner(None), optuna.pruners.MedianPruner)


def test_unknown_names_list_the_valid_ones():
    # a typo names the key and the choices
    with pytest.raises(ConfigError, match=r"hydra.sweeper.sampler: expected one of tpe, random"):
        build_sampler("tpee")
    with pytest.raises(ConfigError, match=r"hydra.sweeper.pruner: expected one of median"):
        build_pruner("medain")
    assert set(SAMPLERS) == {"tpe", "random", "grid", "cmaes", "gp", "qmc", "nsgaii"}


def test_bad_arguments_are_one_line_config_errors():
    # an argument the class does not take, or a value it rejects, names the key
    with pytest.raises(ConfigError, match="hydra.sweeper.pruner: expected arguments"):
        build_pruner({"name": "median", "n_warmup": 3})
    with pytest.raises(ConfigError, match="hydra.sweeper.pruner"):
        build_pruner({"name": "percentile", "percentile": 150.0})
    with pytest.raises(ConfigError, match="_target_ that builds an optuna BaseSampler"):
        build_sampler({"_target_": "optuna.pruners.NopPruner"})


def _first_draws(spec, seed, n=3):
    study = optuna.create_study(sampler=build_sampler(spec, seed=seed, grid=lambda: GRID))
    return [study.ask().suggest_float("x", 0, 1) for _ in range(n)]


@pytest.mark.parametrize("spec", [
    "tpe",
    {"name": "tpe", "seed": 7},
    {"_target_": "optuna.samplers.TPESampler", "seed": 7},
    {"_target_": "optuna.samplers.RandomSampler", "seed": 7},
    OmegaConf.create({"_target_": "optuna.samplers.TPESampler", "seed": 7,
                      "n_startup_trials": 4}),   # hydra/sweeper/sampler=tpe's node
    {"seed": 7},                                  # arguments alone: tpe with them
])
def test_a_seed_written_anywhere_is_the_base_each_worker_derives_its_own_from(spec):
    # the spec's own seed is taken out (hydra.sweeper.seed when it has none); a sampler built
    # with two workers' seeds draws two sequences, with one worker's seed the same one twice
    from sweeps.study import split_seed
    from sweeps.workers._worker import worker_seed

    rest, base = split_seed(spec, 7 if spec == "tpe" else None)
    assert base == 7 and "seed" not in (rest if isinstance(rest, dict) else {})
    first, second = worker_seed(base, 0, 0), worker_seed(base, 1, 0)
    assert _first_draws(rest, first) == _first_draws(rest, first)
    assert _first_draws(rest, first) != _first_draws(rest, second)


def test_a_target_sampler_gets_the_workers_seed_only_when_its_class_takes_one():
    from sweeps.study import split_seed

    rest, base = split_seed({"_target_": "optuna.samplers.TPESampler",
                             "n_startup_trials": 4}, 5)
    assert base == 5 and build_sampler(rest, seed=11)._rng.rng.randint(1 << 30) == \
        optuna.samplers.TPESampler(seed=11)._rng.rng.randint(1 << 30)
    # a _target_ whose class takes no seed is built without one
    assert isinstance(build_sampler({"_target_": "optuna.samplers.BruteForceSampler"}, seed=3),
                      optuna.samplers.BruteForceSampler)
    with pytest.raises(ConfigError, match="hydra.sweeper.sampler.seed: expected an integer"):
        split_seed({"name": "tpe", "seed": "zero"}, None)


def test_the_grid_as_a_target_node_gets_the_search_space():
    # hydra/sweeper/sampler=grid ({_target_: optuna.samplers.GridSampler}, hydra-optuna-sweeper's
    # `_partial_: true` too): its grid is the search space's, as for `sampler: grid`
    from sweeps.study import is_grid

    for spec in ({"_target_": "optuna.samplers.GridSampler"},
                 {"_target_": "optuna.samplers.GridSampler", "_partial_": True}):
        assert is_grid(spec)
        sampler = build_sampler(spec, seed=0, grid=lambda: GRID)
        assert isinstance(sampler, optuna.samplers.GridSampler)
        assert sampler._search_space == {"x": [1, 2], "y": ["a", "b"]}


def test_several_directions_run_without_a_pruner_and_refuse_one_given() -> None:
    # null is median for one objective and none for several; Optuna cannot prune a
    # multi-objective trial, so a pruner given with several directions is one line naming it
    assert pruner_for(None, 1) == "median" and pruner_for("hyperband", 1) == "hyperband"
    assert pruner_for(None, 2) == "none" and pruner_for({"name": "none"}, 2) == "none"
    assert pruner_for(optuna.pruners.NopPruner(), 3) == "none"
    for given in ("median", {"name": "hyperband", "min_resource": 2},
                  optuna.pruners.MedianPruner()):
        with pytest.raises(ConfigError) as info:
            pruner_for(given, 2)
        assert str(info.value).startswith(
            "hydra.sweeper.pruner: expected null or none with 2 directions (Optuna cannot "
            "prune a trial of a multi-objective study), got ")
        assert "\n" not in str(info.value)
