"""The OmegaConf resolvers the trainer's configs use, registered when the command starts
(``trainer.__main__`` imports this module).

- ``${trainer.direction:METRIC}``: ``minimize`` for a loss, ``maximize`` for accuracy and R^2,
  so that a sweep's direction follows ``objective`` (``conf/hydra/sweeper/optuna.yaml``); a list
  of metrics gets a list of directions.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from omegaconf import OmegaConf

__all__ = ["direction_of"]


def direction_of(metric: Any) -> str | list[str]:
    """The direction an Optuna study optimizes ``metric`` in; for a list of metrics (several
    objectives) one direction each. Losses, ``param_count`` and ``train_time_s`` are minimized.
    """
    from trainer.core.callbacks import metric_mode  # NumPy: only when a sweep resolves it

    if isinstance(metric, str) or not isinstance(metric, Iterable):
        return "minimize" if metric_mode(str(metric)) == "min" else "maximize"
    return ["minimize" if metric_mode(str(m)) == "min" else "maximize" for m in metric]


OmegaConf.register_new_resolver("trainer.direction", direction_of, replace=True)
