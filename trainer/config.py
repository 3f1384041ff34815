"""The config's schema: what every key of ``conf/config.yaml`` accepts, checked once, at the
boundary, before anything is built.

Each key is declared once. A key that feeds a core component is checked by that component's own
table (``MLP.PARAMETERS``, ``Adam.PARAMETERS``, ``EarlyStopping.PARAMETERS`` ...; see
``trainer.core.parameters``), mapped below to the config key; the ``data`` node is declared in
``trainer.data.settings``; the keys only the application has (``seed``, ``mlflow.*``,
``early_stopping.enabled`` ...) are declared here. The defaults are the YAML files'.

Every failure is a :class:`~trainer.errors.ConfigError` naming the key
(``optimizer.lr: expected a finite number > 0, got -0.1``); a key a node does not have
(``+data.extra=1``) is refused the same way. ``objective``, ``early_stopping.monitor`` and
``loss`` depend on the task and are checked once the data set is loaded
(:func:`check_metric_names`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from trainer.core.callbacks import EarlyStopping, ProgressReporter
from trainer.core.dtypes import DTYPE
from trainer.core.fit import FitLoop
from trainer.core.losses import LOSSES
from trainer.core.network import MLP
from trainer.core.optimizers import OPTIMIZERS, Optimizer
from trainer.core.parameters import (
    BOOLEAN,
    NON_NEGATIVE_INT,
    Constraint,
    Nullable,
    Options,
    Text,
)
from trainer.core.penalties import WeightPenalty
from trainer.data.settings import PARAMETERS as DATA_PARAMETERS
from trainer.errors import ConfigError, ParameterError

__all__ = [
    "METRICS",
    "RUN_METRICS",
    "NODES",
    "TOP_LEVEL",
    "build_optimizer",
    "check_config",
    "check_metric_names",
    "check_mlflow",
    "check_node",
    "epoch_objective",
    "objectives",
    "with_monitor",
]


class MetricNames(Constraint):
    """A metric's name, or a non-empty list of them (``objective``: one per objective of a
    multi-objective sweep)."""

    @property
    def expected(self) -> str:
        return "a metric's name or a non-empty list of them"

    def convert(self, value: Any) -> str | list[str]:
        if isinstance(value, str) and value.strip():
            return value
        if isinstance(value, str | bytes | Mapping) or not hasattr(value, "__iter__"):
            raise TypeError(value)
        names = list(value)
        if not names or not all(isinstance(n, str) and n.strip() for n in names):
            raise ValueError(value)
        return names


# The top-level keys besides the nodes.
TOP_LEVEL: dict[str, Constraint] = {
    "epochs": FitLoop.PARAMETERS["epochs"],
    "batch_size": FitLoop.PARAMETERS["batch_size"],
    "seed": NON_NEGATIVE_INT,
    "loss": Nullable(Options(list(LOSSES))),   # and it must fit the task: check_metric_names
    "objective": MetricNames(),                # metrics the task logs: check_metric_names
    "progress": ProgressReporter.PARAMETERS["style"],
}

MLFLOW: dict[str, Constraint] = {
    "tracking_uri": Text(),
    "experiment": Text(),
    "run_name": Nullable(Text()),
    "log_model": BOOLEAN,
    "system_metrics": BOOLEAN,
}

# Every node but ``optimizer``, whose keys depend on its ``name`` (see build_optimizer).
NODES: dict[str, Mapping[str, Constraint]] = {
    "data": DATA_PARAMETERS,
    "model": {key: MLP.PARAMETERS[key] for key in ("hidden", "activation", "init")}
    | {"dtype": DTYPE},
    "regularization": {"dropout": MLP.PARAMETERS["dropout"], **WeightPenalty.PARAMETERS},
    "early_stopping": {"enabled": BOOLEAN, **EarlyStopping.PARAMETERS},
    "mlflow": MLFLOW,
}

# The metrics a run of each task logs every epoch: what objective and early_stopping.monitor
# may name.
METRICS = {
    "classification": ("val_loss", "val_accuracy", "train_loss", "train_accuracy"),
    "regression": ("val_loss", "val_r2", "train_loss"),
}
# What every run logs once it has trained, which an objective may name too (a sweep trading
# accuracy against size or time): the network's trainable scalars, the fit loop's seconds.
RUN_METRICS = ("param_count", "train_time_s")


def objectives(cfg: Mapping[str, Any]) -> list[str]:
    """The metrics ``objective`` names: one, or one per objective of a multi-objective sweep."""
    value = cfg["objective"]
    return [value] if isinstance(value, str) else [str(v) for v in value]


def epoch_objective(cfg: Mapping[str, Any]) -> str:
    """The first objective a run logs every epoch (``val_loss`` when all are run metrics such as
    ``param_count``): what early stopping watches by default and the sweep is reported."""
    return next((m for m in objectives(cfg) if m not in RUN_METRICS), "val_loss")


def with_monitor(cfg: dict[str, Any]) -> dict[str, Any]:
    """``cfg`` with ``early_stopping.monitor`` a metric: ``${objective}`` followed a list of
    objectives (``[val_accuracy, param_count]``) or a run metric, and early stopping watches the
    first objective logged every epoch instead."""
    node = cfg.get("early_stopping")
    objective = cfg.get("objective")
    if isinstance(node, dict) and node.get("monitor") == objective and (
            not isinstance(objective, str) or objective in RUN_METRICS):
        with contextlib.suppress(TypeError):  # an objective of no metric's form: check_config
            node["monitor"] = epoch_objective(cfg)
    return cfg


def check_node(path: str, node: Mapping[str, Any], constraints: Mapping[str, Constraint], *,
               owner: str | None = None, optional: frozenset[str] = frozenset()
               ) -> dict[str, Any]:
    """The keys of ``node`` converted by their constraints.

    Args:
        path: the node's key (``model``; ``""`` for the top level).
        node: the node's plain values.
        constraints: what each key accepts.
        owner: how an unknown key's message names the node (default ``path``).
        optional: keys that may be left out; every other key must be present.

    Raises:
        ConfigError: naming the first key that is unknown, missing or refused.
    """
    prefix = f"{path}." if path else ""
    for key, value in node.items():
        if key not in constraints:
            raise ConfigError.unknown_key(f"{prefix}{key}", owner or path or "the config",
                                          list(constraints), value)
    checked: dict[str, Any] = {}
    for key, constraint in constraints.items():
        if key not in node and key in optional:
            continue
        try:
            checked[key] = constraint(key, node.get(key))
        except ParameterError as error:
            raise ConfigError(f"{prefix}{key}", error.expected, error.received) from None
    return checked


def check_mlflow(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The ``mlflow`` node, checked before the store is opened."""
    return check_node("mlflow", _node(cfg, "mlflow"), MLFLOW)


def _node(cfg: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    node = cfg.get(key)
    if not isinstance(node, Mapping):
        raise ConfigError(key, "a config node (group of keys)", node)
    return node


def check_config(cfg: Mapping[str, Any]) -> None:
    """Check every key of the resolved config (a plain dict, as ``OmegaConf.to_container``
    gives it) against the schema.

    Raises:
        ConfigError: naming the first key that is unknown, missing or refused.
    """
    top = {key: value for key, value in cfg.items() if key not in NODES and key != "optimizer"}
    check_node("", top, TOP_LEVEL)
    for path, constraints in NODES.items():
        check_node(path, _node(cfg, path), constraints)
    _optimizer_arguments(_node(cfg, "optimizer"))


def _optimizer_arguments(node: Mapping[str, Any]) -> tuple[type[Optimizer], dict[str, Any]]:
    name = node.get("name")
    if not isinstance(name, str) or name not in OPTIMIZERS:
        raise ConfigError("optimizer.name", f"one of {', '.join(OPTIMIZERS)}", name)
    cls = OPTIMIZERS[name]
    arguments = {key: value for key, value in node.items() if key != "name"}
    # lr has no default; the others default to the constructor's
    optional = frozenset(cls.PARAMETERS) - {"lr"}
    checked = check_node("optimizer", arguments, cls.PARAMETERS, owner=f"optimizer {name}",
                         optional=optional)
    return cls, checked


def build_optimizer(node: Mapping[str, Any]) -> Optimizer:
    """The optimizer of the ``optimizer`` node: ``{name, lr, that optimizer's own keys}``.

    Raises:
        ConfigError: an unknown name, a key the optimizer does not have, or a refused value.
    """
    cls, arguments = _optimizer_arguments(node)
    return cls(**arguments)


def check_metric_names(cfg: Mapping[str, Any], task: str) -> None:
    """``objective`` (each of a list) and ``early_stopping.monitor`` must be metrics the task
    logs; the objective may also be one a run logs once it has trained (``RUN_METRICS``)."""
    valid = METRICS[task]
    names = objectives(cfg)
    for name in names:
        if name not in (*valid, *RUN_METRICS):
            raise ConfigError("objective", f"a metric logged for {task} ({', '.join(valid)}, "
                              f"{', '.join(RUN_METRICS)}) or a list of them", cfg["objective"])
    if len(set(names)) != len(names):
        raise ConfigError("objective", "a list of different metrics", cfg["objective"])
    monitor = cfg["early_stopping"]["monitor"]
    if monitor not in valid:
        raise ConfigError("early_stopping.monitor",
                          f"a metric logged for {task}: {', '.join(valid)}", monitor)
