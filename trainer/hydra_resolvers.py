"""The OmegaConf resolvers the trainer's configs use, registered when the command starts
(``trainer.__main__`` imports this module).

- ``${trainer.direction:METRIC}``: ``minimize`` for a loss, ``maximize`` for accuracy and R^2,
  so that a sweep's direction follows ``objective`` (``conf/hydra/sweeper/optuna.yaml``).
"""

from __future__ import annotations

from omegaconf import OmegaConf

__all__ = ["direction_of"]


def direction_of(metric: str) -> str:
    """The direction an Optuna study optimizes ``metric`` in."""
    from trainer.core.callbacks import metric_mode  # NumPy: only when a sweep resolves it

    return "minimize" if metric_mode(str(metric)) == "min" else "maximize"


OmegaConf.register_new_resolver("trainer.direction", direction_of, replace=True)
