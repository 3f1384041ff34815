"""The callback a sweep hands to the trainer: each epoch goes to the trial, the pruner may stop it.

The trainer knows nothing of Optuna: it gets this callback through
``trainer.run_context.RunContext.callbacks`` and sees only ``loop.request_stop("pruned")``.
After the run the worker reads :attr:`PruningBridge.pruned` and raises ``optuna.TrialPruned``,
so Optuna records the trial PRUNED while the MLflow run is tagged ``stop_reason=pruned``.
"""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING, Any

from runkit.signals import stop_if_interrupted
from trainer.core.callbacks import Callback

if TYPE_CHECKING:
    import optuna

    from trainer.core.fit import FitLoop

__all__ = ["PruningBridge"]


class PruningBridge(Callback):
    """Reports ``logs[metric]`` with ``step=epoch`` to ``trial`` and prunes when Optuna says so.

    Pruning uses the metric early stopping watches (the sweep's objective), so the learning
    curves Optuna compares are the ones that decide when a run stops. When early stopping has
    already stopped this epoch, the run ends as a normal finish and is not pruned.
    """

    def __init__(self, trial: optuna.trial.Trial, metric: str) -> None:
        self.trial = trial
        self.metric = metric
        self.on_train_begin(None)

    def on_train_begin(self, loop: FitLoop | None) -> None:
        self.pruned = False
        self.pruned_epoch: int | None = None
        self._warned = False

    def on_epoch_end(self, loop: FitLoop, epoch: int, logs: dict[str, float]) -> None:
        stop_if_interrupted()  # an interrupt whose KeyboardInterrupt a library swallowed
        value = logs.get(self.metric)
        if value is None:
            if not self._warned:
                available = ", ".join(k for k in logs if k != "epoch")
                warnings.warn(f"objective: {self.metric!r} is not logged; available: "
                              f"{available}. The trial is not pruned.", stacklevel=2)
                self._warned = True
            return
        if not math.isfinite(value):
            return  # a diverged run fails on its own; Optuna would reject the value
        self.trial.report(float(value), step=epoch)
        if not loop.stop_requested and self.trial.should_prune():
            loop.request_stop("pruned")
            self.pruned, self.pruned_epoch = True, epoch

    def on_train_end(self, loop: FitLoop, logs: dict[str, Any]) -> None:
        """Nothing to do: the worker reads :attr:`pruned` once the run is over."""

    def factory(self) -> PruningBridge:
        """For ``RunContext.callbacks``: the run gets this very instance, so the worker can read
        :attr:`pruned` after it."""
        return self
