"""The sweeper's config, registered in Hydra's ConfigStore as Hydra's own plugins register theirs:
``hydra/sweeper=optuna`` (or ``defaults: [override hydra/sweeper: optuna]``) selects it in any
app, which needs no file of ours, and ``hydra/sweeper/sampler=NAME`` (``override
hydra/sweeper/sampler: tpe``) one of the sampler nodes, as in hydra-optuna-sweeper.

The schema is stored as ``hydra/sweeper/optuna_sweeps``; ``hydra/sweeper/optuna`` is the
plugin's file extending it (``hydra_plugins/optuna_sweeps/hydra/sweeper/optuna.yaml``). It holds
every key of hydra-optuna-sweeper's ``OptunaSweeperConf`` with its meaning (where it differs on
purpose, the README's migration table says so) and this sweeper's own. An app may ship its own
``hydra/sweeper/optuna.yaml`` (its config directory comes first on the search path) extending
the same schema, with its defaults::

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

__all__ = ["SAMPLER_CLASSES", "TARGET", "MlflowConf", "OptunaSweepsConf", "plain", "register",
           "sampler_node"]

# Hydra instantiates only sweepers under hydra_plugins: the shim forwards to sweeps._sweeper.
TARGET = "hydra_plugins.optuna_sweeps.OptunaSweeper"


# hydra/sweeper/sampler=NAME (hydra-optuna-sweeper's group; `override hydra/sweeper/sampler: tpe`
# in a defaults list): a _target_ node of Optuna's class with its keyword arguments' defaults.
SAMPLER_CLASSES = {
    "tpe": "TPESampler",
    "random": "RandomSampler",
    "grid": "GridSampler",
    "cmaes": "CmaEsSampler",
    "nsgaii": "NSGAIISampler",
    "gp": "GPSampler",
    "qmc": "QMCSampler",
}


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
    # the sampler and pruner nodes reach the sweeper as written: it builds them in each worker,
    # each with its own seed (Hydra would build one sampler, the same seed in every worker)
    _recursive_: bool = False
    # hydra/sweeper/sampler is a group (as in hydra-optuna-sweeper), empty unless selected
    defaults: list[Any] = field(default_factory=lambda: ["_self_", {"sampler": None}])

    # -- hydra-optuna-sweeper's keys
    # tpe, random, grid, cmaes, gp, qmc, nsgaii, {name: tpe, ...arguments}, a _target_ node (a
    # seed in it is the base each worker derives its own from), or {...arguments} of tpe
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
    # a dotted path to fn(cfg, trial) suggesting further parameters after params, each passed
    # to the task as the override NAME=VALUE (cfg: the sweep's config)
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
    """Store the schema as ``hydra/sweeper/optuna_sweeps`` and the samplers as
    ``hydra/sweeper/sampler/NAME``; ``hydra/sweeper/optuna`` is the plugin's file extending
    the schema (``hydra_plugins/optuna_sweeps/hydra/sweeper/optuna.yaml``, on Hydra's search
    path)."""
    from hydra.core.config_store import ConfigStore

    store = ConfigStore.instance()
    store.store(group="hydra/sweeper", name="optuna_sweeps", node=OptunaSweepsConf,
                provider="optuna_sweeps")
    for name in SAMPLER_CLASSES:
        store.store(group="hydra/sweeper/sampler", name=name, node=sampler_node(name),
                    provider="optuna_sweeps")


def sampler_node(name: str) -> dict[str, Any]:
    """``hydra/sweeper/sampler=NAME``: ``{_target_: optuna.samplers.CLASS, seed: null}``, a plain
    mapping (Optuna is not imported when Hydra starts): the class's other arguments are added in
    a config file, or with ``+hydra.sweeper.sampler.ARG=VALUE`` on the command line."""
    return {"_target_": f"optuna.samplers.{SAMPLER_CLASSES[name]}", "seed": None}


def plain(value: Any) -> Any:
    """A key's value as plain data: a config mapping or list as a dict or list (interpolations
    resolved), anything else as it is."""
    from omegaconf import DictConfig, ListConfig, OmegaConf

    if isinstance(value, DictConfig | ListConfig):
        return OmegaConf.to_container(value, resolve=True)
    return value
