"""A swept run reports its learning curve to its trial, which may prune it (``sweeps.report``).

Inside an Optuna sweep (``sweeps.current_trial()`` is not None) the run adds
:class:`TrialReporter` to its fit loop: each epoch the monitored metric goes to the trial, and
when the pruner stops the trial the loop stops with reason ``pruned``. The run then ends as any
run does (its metrics, ``stop_reason=pruned``) and raises the ``optuna.TrialPruned`` it got, so
the sweep records the trial PRUNED. The trainer reaches the sweep through that public API only.
"""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING

import sweeps
from trainer.core.callbacks import Callback

if TYPE_CHECKING:
    from trainer.core.fit import FitLoop

__all__ = ["TrialReporter"]


class TrialReporter(Callback):
    """Reports ``logs[metric]`` with ``step=epoch`` to the sweep's trial; stops the loop when the
    trial is pruned (:attr:`pruned` then holds the ``optuna.TrialPruned`` to raise).

    Pruning watches the metric early stopping watches (the sweep's objective), so the learning
    curves the pruner compares are the ones that decide when a run stops. When early stopping
    has already stopped this epoch, the run ends as a normal finish and is not pruned.
    """

    def __init__(self, metric: str) -> None:
        self.metric = metric
        self.on_train_begin(None)

    def on_train_begin(self, loop: FitLoop | None) -> None:
        self.pruned: BaseException | None = None
        self._warned = False

    def on_epoch_end(self, loop: FitLoop, epoch: int, logs: dict[str, float]) -> None:
        import optuna  # a sweep has it imported already

        value = logs.get(self.metric)
        if value is None:
            if not self._warned:
                available = ", ".join(k for k in logs if k != "epoch")
                warnings.warn(f"objective: {self.metric!r} is not logged; available: "
                              f"{available}. The trial is not pruned.", stacklevel=2)
                self._warned = True
            return
        if not math.isfinite(value):
            return  # a diverged run fails on its own
        try:
            sweeps.report(float(value), step=epoch)
        except optuna.TrialPruned as pruned:
            if not loop.stop_requested:
                loop.request_stop("pruned")
                self.pruned = pruned
