"""Selecting the sweeper needs no file of ours: the plugin registers its config in Hydra's
ConfigStore, as Hydra's own plugins do, with every key of hydra-optuna-sweeper's config."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

# hydra-optuna-sweeper's OptunaSweeperConf, every key of which keeps its meaning here
HOS_KEYS = {"sampler", "direction", "storage", "study_name", "n_trials", "n_jobs",
            "max_failure_rate", "params", "custom_search_space"}
OURS = {"pruner", "conditions", "seed", "metric_names", "heartbeat_interval", "grace_period",
        "max_retry", "role", "register_model", "mlflow", "preload"}


def _compose(conf: Path, *overrides: str):
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        return compose("config", overrides=list(overrides), return_hydra_config=True)


@pytest.fixture
def app_conf(tmp_path: Path) -> Path:
    """An app's config directory with nothing of ours in it."""
    (tmp_path / "config.yaml").write_text("x: 1\ny: 2\n")
    return tmp_path


def test_hydra_sweeper_optuna_on_the_command_line_selects_the_plugin(app_conf: Path) -> None:
    sweeper = _compose(app_conf, "hydra/sweeper=optuna").hydra.sweeper
    assert sweeper._target_ == "hydra_plugins.optuna_sweeps.OptunaSweeper"
    # (built by the sweeper, not by Hydra: each worker builds its sampler with its own seed)
    assert set(sweeper) == {"_target_", "_recursive_"} | HOS_KEYS | OURS
    assert sweeper._recursive_ is False
    assert sweeper.direction == "minimize" and sweeper.n_trials == 20
    assert sweeper.mlflow.tracking_uri is None  # MLflow's own default, or the local store


def test_an_override_in_the_defaults_list_selects_it_and_sets_its_keys(tmp_path: Path) -> None:
    # the way hydra-optuna-sweeper's examples select it
    (tmp_path / "config.yaml").write_text(
        "defaults:\n  - override hydra/sweeper: optuna\n\n"
        "hydra:\n  sweeper:\n    direction: maximize\n    n_trials: 7\n"
        "    params:\n      x: range(-5.5, 5.5, step=0.5)\n\nx: 1\n")
    sweeper = _compose(tmp_path).hydra.sweeper
    assert sweeper._target_ == "hydra_plugins.optuna_sweeps.OptunaSweeper"
    assert (sweeper.direction, sweeper.n_trials) == ("maximize", 7)
    assert sweeper.params == {"x": "range(-5.5, 5.5, step=0.5)"}


def test_a_key_the_sweeper_does_not_have_is_refused_when_composing(app_conf: Path) -> None:
    # a typo is not silently ignored: Hydra names the key
    with pytest.raises(Exception, match="n_trails"):
        _compose(app_conf, "hydra/sweeper=optuna", "hydra.sweeper.n_trails=5")


def test_the_sampler_group_of_hydra_optuna_sweeper_is_there(tmp_path: Path) -> None:
    # `override hydra/sweeper/sampler: tpe` and a seed under sampler, as the plugin's examples
    # write them; every name of the group is Optuna's class of that name
    (tmp_path / "config.yaml").write_text(
        "defaults:\n  - override hydra/sweeper: optuna\n  - override hydra/sweeper/sampler: tpe"
        "\n\nhydra:\n  sweeper:\n    sampler:\n      seed: 123\n\nx: 1\n")
    sweeper = _compose(tmp_path).hydra.sweeper
    assert sweeper.sampler == {"_target_": "optuna.samplers.TPESampler", "seed": 123}
    from sweeps._config import SAMPLER_CLASSES

    for name, cls in SAMPLER_CLASSES.items():
        node = _compose(tmp_path, f"hydra/sweeper/sampler={name}").hydra.sweeper.sampler
        assert node._target_ == f"optuna.samplers.{cls}" and node.seed == 123


def test_an_apps_own_optuna_file_still_extends_the_plugins_config(tmp_path: Path) -> None:
    # the trainer's way: its conf/hydra/sweeper/optuna.yaml (defaults: [optuna_sweeps, _self_])
    # comes first on the search path, and the sampler group works under it too
    (tmp_path / "hydra" / "sweeper").mkdir(parents=True)
    (tmp_path / "hydra" / "sweeper" / "optuna.yaml").write_text(
        "defaults:\n  - optuna_sweeps\n  - _self_\n\ndirection: maximize\n")
    (tmp_path / "config.yaml").write_text("x: 1\n")
    sweeper = _compose(tmp_path, "hydra/sweeper=optuna",
                       "hydra/sweeper/sampler=random").hydra.sweeper
    assert sweeper.direction == "maximize"
    assert sweeper.sampler == {"_target_": "optuna.samplers.RandomSampler", "seed": None}
