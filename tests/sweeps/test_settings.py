"""The sweeper's keys: typed settings with the schema's defaults, one-line errors naming
hydra.sweeper.KEY."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from runkit.errors import ConfigError
from sweeps._settings import SweeperSettings, Tracking, parse_settings


def test_defaults_come_from_the_sweepers_config() -> None:
    # keys left out take the values the registered config (sweeps._config) gives them
    assert parse_settings({}) == SweeperSettings(
        n_trials=20, n_jobs=1, storage=None, study_name=None, directions=("minimize",),
        metric_names=None, seed=None, heartbeat_interval=5, grace_period=20, max_retry=3,
        max_failure_rate=0.5, role="controller", register_model=None,
        tracking=Tracking(None, None), preload=())
    assert parse_settings({"n_jobs": -1, "max_failure_rate": 1}).max_failure_rate == 1.0


def test_direction_and_metric_names_may_be_a_list_or_a_name() -> None:
    # hydra-optuna-sweeper's direction is a string or a list: one per objective
    settings = parse_settings({"direction": ["maximize"], "metric_names": "val_accuracy"})
    assert settings.directions == ("maximize",) and settings.metric_names == ("val_accuracy",)
    several = parse_settings({"direction": ["maximize", "minimize"],
                              "metric_names": ["val_accuracy", "param_count"]})
    assert several.directions == ("maximize", "minimize")
    assert several.metric_names == ("val_accuracy", "param_count")


@pytest.mark.parametrize(("keys", "message"), [
    ({"n_trials": 0}, "hydra.sweeper.n_trials: expected a positive integer, got 0"),
    ({"n_jobs": 0}, "hydra.sweeper.n_jobs: expected a positive integer or -1, got 0"),
    ({"n_jobs": "2"}, "hydra.sweeper.n_jobs: expected a positive integer or -1, got '2'"),
    ({"seed": True}, "hydra.sweeper.seed: expected an integer or null, got True"),
    ({"direction": "up"},
     "hydra.sweeper.direction: expected minimize or maximize, or a list of them, got 'up'"),
    ({"direction": ["minimize", "sideways"]},
     "hydra.sweeper.direction: expected minimize or maximize, or a list of them, got "
     "['minimize', 'sideways']"),
    ({"metric_names": ["a", "b"]},
     "hydra.sweeper.metric_names: expected 1 name(s), one per direction, got ['a', 'b']"),
    ({"direction": ["minimize", "maximize"], "metric_names": ["a"]},
     "hydra.sweeper.metric_names: expected 2 name(s), one per direction, got ['a']"),
    ({"direction": ["minimize", "maximize"], "register_model": "best"},
     "hydra.sweeper.register_model: expected null with several directions (a Pareto front has "
     "no single best model to register), got 'best'"),
    ({"max_retry": -1}, "hydra.sweeper.max_retry: expected an integer >= 0 or null, got -1"),
    ({"grace_period": 0}, "hydra.sweeper.grace_period: expected a positive integer or null, "
                          "got 0"),
    ({"role": "boss"}, "hydra.sweeper.role: expected one of controller, worker, got 'boss'"),
    ({"register_model": "a/b"},
     "hydra.sweeper.register_model: expected a registered model's name (no '/') or null, "
     "got 'a/b'"),
    ({"register_model": "best", "mlflow": None},
     "hydra.sweeper.register_model: expected null when hydra.sweeper.mlflow is null (the best "
     "trial's model is registered in MLflow), got 'best'"),
    ({"max_failure_rate": 1.5}, "hydra.sweeper.max_failure_rate: expected a number in [0, 1], "
                                "got 1.5"),
    ({"preload": "not a module"},
     "hydra.sweeper.preload: expected a list of module names, got 'not a module'"),
    ({"mlflow": {"tracking_uri": "", "experiment": None}},
     "hydra.sweeper.mlflow.tracking_uri: expected a non-empty string or null, got ''"),
    ({"custom_search_space": ""},
     "hydra.sweeper.custom_search_space: expected a dotted path to a function fn(cfg, trial), "
     "or null, got ''"),
])
def test_bad_key_is_one_line_naming_it(keys: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_settings(keys)
    assert str(info.value) == message


def test_a_value_an_app_interpolates_is_told_under_the_apps_key() -> None:
    # the trainer feeds mlflow.tracking_uri to the sweeper: a bad one names the trainer's key
    config = OmegaConf.create({"mlflow": {"tracking_uri": "ftp://x"},
                               "sweeper": {"mlflow": {"tracking_uri": "${mlflow.tracking_uri}",
                                                      "experiment": None}}})
    tracking = parse_settings({"mlflow": config.sweeper.mlflow}).tracking
    assert tracking == Tracking("ftp://x", None, source="mlflow.tracking_uri")
    assert parse_settings({}).tracking.source == "hydra.sweeper.mlflow.tracking_uri"
