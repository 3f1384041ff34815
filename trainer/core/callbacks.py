"""Callbacks hooked into the fit loop, with Keras semantics.

The fit loop calls ``on_train_begin`` (reset, so a callback is reusable), ``on_epoch_end``
after each epoch's validation with the epoch's logs (``train_loss``, ``val_loss``,
``val_accuracy`` or ``val_r2``), and ``on_train_end``. A callback stops training by calling
``loop.request_stop(reason)``; the reason (``"early_stopping"``, ``"pruned"`` ...) is recorded
on the run.
"""

from __future__ import annotations

import math
import sys
import warnings
from typing import TYPE_CHECKING, Any, ClassVar, TextIO

import numpy as np

from trainer.core.parameters import (
    BOOLEAN,
    NON_NEGATIVE,
    NON_NEGATIVE_INT,
    POSITIVE_INT,
    Constraint,
    Options,
    Text,
    check,
)

if TYPE_CHECKING:
    from trainer.core.fit import FitLoop


class Callback:
    """Base class: every hook is a no-op."""

    def on_train_begin(self, loop: FitLoop) -> None:
        """Called before the first epoch."""

    def on_epoch_end(self, loop: FitLoop, epoch: int, logs: dict[str, float]) -> None:
        """Called after epoch ``epoch`` (1-based) with its metrics."""

    def on_train_end(self, loop: FitLoop, logs: dict[str, Any]) -> None:
        """Called once training stops, for any reason other than an exception."""


_MAXIMIZED_METRICS = ("accuracy", "r2")


def metric_mode(monitor: str) -> str:
    """``"max"`` for accuracy and R^2, ``"min"`` for everything else (losses)."""
    return "max" if monitor.endswith(_MAXIMIZED_METRICS) else "min"


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved for ``patience`` epochs (Keras semantics).

    An epoch improves when ``current < best - min_delta`` (mode ``min``) or
    ``current > best + min_delta`` (mode ``max``). Epochs before ``start_from_epoch`` are not
    watched. With ``restore_best_weights`` the network gets back the weights of the best epoch at
    the end of training, whether or not the stop was triggered.
    """

    PARAMETERS: ClassVar[dict[str, Constraint]] = {
        "monitor": Text(),
        "mode": Options(["auto", "min", "max"]),
        "patience": NON_NEGATIVE_INT,
        "min_delta": NON_NEGATIVE,
        "restore_best_weights": BOOLEAN,
        "start_from_epoch": NON_NEGATIVE_INT,
    }

    def __init__(
        self,
        monitor: str = "val_loss",
        *,
        mode: str = "auto",
        patience: int = 0,
        min_delta: float = 0.0,
        restore_best_weights: bool = False,
        start_from_epoch: int = 0,
    ) -> None:
        checked = check(self.PARAMETERS, monitor=monitor, mode=mode, patience=patience,
                        min_delta=min_delta, restore_best_weights=restore_best_weights,
                        start_from_epoch=start_from_epoch)
        self.monitor: str = monitor
        self.mode: str = metric_mode(monitor) if mode == "auto" else mode
        self.patience: int = checked["patience"]
        self.min_delta: float = checked["min_delta"]
        self.restore_best_weights: bool = checked["restore_best_weights"]
        self.start_from_epoch: int = checked["start_from_epoch"]
        self.on_train_begin(None)

    def on_train_begin(self, loop: FitLoop | None) -> None:
        self.wait = 0
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_epoch: int | None = None
        self.best_weights: np.ndarray | None = None
        self.stopped_epoch = 0
        self._warned = False

    def _improves(self, current: float) -> bool:
        if self.mode == "min":
            return current < self.best - self.min_delta
        return current > self.best + self.min_delta

    def on_epoch_end(self, loop: FitLoop, epoch: int, logs: dict[str, float]) -> None:
        current = logs.get(self.monitor)
        if current is None:
            if not self._warned:
                available = ", ".join(k for k in logs if k != "epoch")
                warnings.warn(
                    f"early_stopping.monitor: {self.monitor!r} is not logged; available: "
                    f"{available}. Early stopping is skipped.",
                    stacklevel=2,
                )
                self._warned = True
            return
        if epoch <= self.start_from_epoch:
            return
        self.wait += 1
        if self._improves(current):
            self.best, self.best_epoch, self.wait = current, epoch, 0
            if self.restore_best_weights:
                self.best_weights = loop.network.get_params()
            return
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            loop.request_stop("early_stopping")

    def on_train_end(self, loop: FitLoop, logs: dict[str, Any]) -> None:
        if self.restore_best_weights and self.best_weights is not None:
            loop.network.set_params(self.best_weights)
        loop.result.best_epoch = self.best_epoch


class ProgressReporter(Callback):
    """Shows each epoch: a live bar on a terminal, one quiet line per epoch otherwise."""

    PARAMETERS: ClassVar[dict[str, Constraint]] = {
        "epochs": POSITIVE_INT,
        "style": Options(["auto", "bar", "lines", "none"]),
    }

    def __init__(self, epochs: int, *, style: str = "auto", stream: TextIO | None = None) -> None:
        check(self.PARAMETERS, epochs=epochs, style=style)
        self.epochs = epochs
        self.stream = stream if stream is not None else sys.stderr
        if style == "auto":
            style = "bar" if self.stream.isatty() else "lines"
        self.style = style
        self._bar: Any = None

    def on_train_begin(self, loop: FitLoop) -> None:
        if self.style == "bar":
            from tqdm import tqdm

            # What matters first: a narrow terminal cuts the line's end, so the bar is short and
            # the validation metrics come before the training ones.
            self._bar = tqdm(total=self.epochs, file=self.stream, leave=True,
                             bar_format=self.BAR_FORMAT)

    BAR_FORMAT = "epoch {n_fmt}/{total_fmt} |{bar:12}| {elapsed}<{remaining}{postfix}"

    @staticmethod
    def ordered(logs: dict[str, float]) -> dict[str, float]:
        """The epoch's metrics with the validation ones first, as the bar shows them."""
        shown = {k: v for k, v in logs.items() if k != "epoch"}
        return dict(sorted(shown.items(), key=lambda item: not item[0].startswith("val_")))

    def on_epoch_end(self, loop: FitLoop, epoch: int, logs: dict[str, float]) -> None:
        shown = {k: v for k, v in logs.items() if k != "epoch"}
        if self._bar is not None:
            text = " ".join(f"{k}={v:.4f}" for k, v in self.ordered(logs).items())
            self._bar.set_postfix_str(text, refresh=False)
            self._bar.update(1)
        elif self.style == "lines":
            metrics = "  ".join(f"{k}={v:.4f}" for k, v in shown.items())
            print(f"epoch {epoch:>{len(str(self.epochs))}}/{self.epochs}  {metrics}",
                  file=self.stream, flush=True)

    def on_train_end(self, loop: FitLoop, logs: dict[str, Any]) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
