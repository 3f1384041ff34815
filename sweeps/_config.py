"""The sweeper's config, registered in Hydra's ConfigStore as Hydra's own plugins register theirs:
``hydra/sweeper=optuna`` (or ``defaults: [override hydra/sweeper: optuna]``) selects it in any
app, which needs no file of ours.

It holds every key of hydra-optuna-sweeper's ``OptunaSweeperConf`` with its meaning (where the
default differs on purpose, the README's migration table says so) and this sweeper's own. An app
may ship its own ``hydra/sweeper/optuna.yaml`` (its search path comes before the ConfigStore)
extending the same schema, registered also as ``optuna_sweeps``, with its defaults::

    defaults:
      - optuna_sweeps
      - _self_
    direction: maximize

Only this module and ``hydra.core.config_store`` are imported when Hydra imports the plugin,
which it does at every start of every app.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["TARGET", "MlflowConf", "OptunaSweepsConf", "plain", "register"]

# Hydra instantiates only sweepers under hydra_plugins: the shim forwards to sweeps._sweeper.
TARGET = "hydra_plugins.optuna_sweeps.OptunaSweeper"


@dataclass
class MlflowConf:
    """Where the sweep's runs go: one parent run, one child run per trial."""

    # null: MLflow's own MLFLOW_TRACKING_URI, else sqlite:///mlruns/mlflow.db in the directory
    # the command was started in (a relative SQLite path is anchored there too)
    tracking_uri: Any = None
    # null: the app's name (hydra.job.name)
    experiment: Any = None


@dataclass
class OptunaSweepsConf:
    """``hydra.sweeper.*``; the README's "Sweep keys" table says the same."""

    _target_: str = TARGET

    # -- hydra-optuna-sweeper's keys
    # tpe, random, grid, cmaes, gp, qmc, nsgaii, {name: tpe, ...arguments}, or a _target_ node
    sampler: Any = "tpe"
    # minimize or maximize; a list, one per objective, for several (the task returns as many)
    direction: Any = "minimize"
    # a SQLAlchemy URL; null: sqlite:///mlruns/optuna.db in the start directory
    storage: Any = None
    # null: <hydra.job.name>-{hash}; {hash} in a name is the hash of the search space and the
    # fixed overrides (the same command resumes its study, a changed one starts a new one)
    study_name: Any = None
    # the study's total: running the same command again resumes up to it
    n_trials: Any = 20
    # trials at once, each slot a worker (no batch barrier); -1: one per core
    n_jobs: Any = 1
    # stop when more than this share of (at least 4) finished trials failed
    max_failure_rate: Any = 0.5
    # the search space, KEY: choice(...) | range(...) | interval(...) | tag(log, ...)
    params: Any = None
    # a dotted path to fn(cfg, trial) suggesting further parameters
    custom_search_space: Any = None

    # -- this sweeper's own
    # median, percentile, successive_halving, hyperband, patient, wilcoxon, threshold, none,
    # {name: median, ...arguments}, or a _target_ node; steps are what the task reports.
    # null: median with one direction, none with several (Optuna cannot prune those trials)
    pruner: Any = None
    # conditional parameters: CHILD: PARENT=VALUE[,VALUE...]
    conditions: Any = field(default_factory=dict)
    # the sampler's seed (null: unseeded); each worker derives its own from it
    seed: Any = None
    # the objective's name (a list: one per objective), shown by optuna-dashboard
    metric_names: Any = None
    # seconds between a running trial's heartbeats (null: no crash recovery) and without
    # one before the trial counts as crashed and runs again, at most max_retry times
    heartbeat_interval: Any = 5
    grace_period: Any = 20
    max_retry: Any = 3
    # controller: creates the study and the MLflow parent run, runs or launches the workers;
    # worker: joins the study with n_jobs local workers and no controller
    role: Any = "controller"
    # a registered model's name: the best trial's MLflow model becomes its next version
    register_model: Any = None
    # the sweep's MLflow runs; null: none
    mlflow: Any = field(default_factory=MlflowConf)
    # modules every worker process imports before its first trial (the app's heavy ones)
    preload: Any = field(default_factory=list)


def register() -> None:
    """Store the schema as ``hydra/sweeper/optuna`` and ``hydra/sweeper/optuna_sweeps``."""
    from hydra.core.config_store import ConfigStore

    store = ConfigStore.instance()
    for name in ("optuna", "optuna_sweeps"):
        store.store(group="hydra/sweeper", name=name, node=OptunaSweepsConf,
                    provider="optuna_sweeps")


def plain(value: Any) -> Any:
    """A key's value as plain data: a config mapping or list as a dict or list (interpolations
    resolved), anything else as it is."""
    from omegaconf import DictConfig, ListConfig, OmegaConf

    if isinstance(value, DictConfig | ListConfig):
        return OmegaConf.to_container(value, resolve=True)
    return value
