"""Callbacks hooked into the fit loop, with Keras semantics.

The fit loop calls ``on_train_begin`` (reset, so a callback is reusable), ``on_epoch_end``
after each epoch's validation with the epoch's logs (``train_loss``, ``val_loss``,
``val_accuracy`` or ``val_r2``), and ``on_train_end``. A callback stops training by calling
``loop.request_stop(reason)``; the reason (``"early_stopping"``, ``"pruned"`` ...) is recorded
on the run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trainer.fit import FitLoop


class Callback:
    """Base class: every hook is a no-op."""

    def on_train_begin(self, loop: FitLoop) -> None:
        """Called before the first epoch."""

    def on_epoch_end(self, loop: FitLoop, epoch: int, logs: dict[str, float]) -> None:
        """Called after epoch ``epoch`` (1-based) with its metrics."""

    def on_train_end(self, loop: FitLoop, logs: dict[str, Any]) -> None:
        """Called once training stops, for any reason other than an exception."""
