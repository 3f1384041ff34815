"""The shipped sweep configs compose, select the Optuna sweeper and declare a valid space."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from optuna.distributions import CategoricalDistribution, FloatDistribution

from sweeps.search import parse_search_space

CONFIG_DIR = Path(__file__).resolve().parents[2] / "conf"
SWEEPS = sorted(p.stem for p in (CONFIG_DIR / "sweep").glob("*.yaml"))


def compose_sweep(choice: str):
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("config", overrides=[choice], return_hydra_config=True)
        loader = GlobalHydra.instance().config_loader()
        sweeper = cfg.hydra.sweeper
        space = parse_search_space(sweeper.params, [], sweeper.conditions, config_loader=loader)
    return cfg, space


def test_sweep_group_is_selected_as_documented():
    # the README's `python -m trainer --multirun sweep=digits` needs `sweep` in the defaults
    # list of conf/config.yaml (`- sweep: null` after `_self_`), not `+sweep=digits`
    cfg, _ = compose_sweep("sweep=digits")
    assert cfg.hydra.runtime.choices.sweep == "digits"


@pytest.mark.parametrize("name", SWEEPS)
def test_every_sweep_config_composes_into_an_optuna_search(name):
    # each ready sweep picks our sweeper and its params/conditions parse into a real space
    try:
        cfg, space = compose_sweep(f"sweep={name}")
    except Exception:  # until conf/config.yaml lists the group (see the test above)
        cfg, space = compose_sweep(f"+sweep={name}")
    assert cfg.hydra.sweeper._target_ == "hydra_plugins.optuna_sweeps.OptunaSweeper"
    names = [p.name for p in space.params]
    assert {"optimizer", "optimizer.lr", "batch_size", "model.hidden",
            "regularization.dropout", "regularization.l2"} <= set(names)
    lr = space.distributions["optimizer.lr"]
    assert isinstance(lr, FloatDistribution) and lr.log
    hidden = space.distributions["model.hidden"]
    assert isinstance(hidden, CategoricalDistribution) and len(hidden.choices) >= 3
    momentum = {p.name: p for p in space.params}["optimizer.momentum"]
    assert momentum.condition is not None and momentum.condition.parent == "optimizer"
    assert cfg.hydra.sweeper.n_trials >= 20


def test_the_trainers_sweeper_config_feeds_the_plugin_what_only_the_trainer_knows():
    # the plugin's keys with the trainer's defaults: direction following objective, the run's
    # seed, its MLflow store and experiment, the objective's name, its preloaded modules
    import trainer.hydra_resolvers  # noqa: F401  (registered by the command as it starts)

    for objective, direction in (("val_loss", "minimize"), ("val_accuracy", "maximize")):
        with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
            cfg = compose("config", overrides=["hydra/sweeper=optuna", f"objective={objective}",
                                               "seed=7", "mlflow.experiment=mine"],
                          return_hydra_config=True)
        sweeper = cfg.hydra.sweeper
        assert sweeper.direction == direction and sweeper.metric_names == objective
        assert sweeper.seed == 7 and list(sweeper.preload) == ["trainer.preload"]
        assert sweeper.mlflow.tracking_uri == "sqlite:///mlruns/mlflow.db"
        assert sweeper.mlflow.experiment == "mine"
        # the plugin's own: pruner null is median with one direction, none with several
        assert sweeper.n_trials == 20 and sweeper.pruner is None
