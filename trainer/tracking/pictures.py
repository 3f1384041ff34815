"""The learning-curve picture logged with every run.

Figures are built with Matplotlib's object API on an Agg canvas, never through ``pyplot``: no
display is needed and no global figure state is shared between threads or runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["learning_curves_figure"]

# (history key, legend label, line style) per score panel; the first key present picks the panel
_SCORE_PANELS = {
    "val_accuracy": (
        "accuracy",
        [("train_accuracy", "train", "--"), ("val_accuracy", "validation", "-")],
    ),
    "val_r2": ("R$^2$", [("train_r2", "train", "--"), ("val_r2", "validation", "-")]),
}
_COLORS = {"train": "C0", "validation": "C1"}
# Scores below this (a very negative R^2) are cut off the panel.
_LOWEST_SCORE = -1.0
# Beyond this many epochs, dots on every point would only blur the lines.
_MAX_MARKED_EPOCHS = 60
# A loss spanning more than this ratio is drawn on a log scale, so late epochs stay readable.
_LOG_SCALE_RATIO = 100.0


def _column(history: Sequence[Mapping[str, float]], key: str) -> np.ndarray:
    """``history[i][key]`` for every row, NaN where missing; shape (n_epochs,)."""
    return np.array([float(row.get(key, np.nan)) for row in history], dtype=float)


def learning_curves_figure(
    history: Sequence[Mapping[str, float]],
    *,
    title: str = "",
    best_epoch: int | None = None,
) -> Figure:
    """Loss and validation score by epoch.

    Args:
        history: one row per epoch with ``epoch``, ``train_loss``, ``val_loss`` and
            ``val_accuracy`` (classification) or ``val_r2`` (regression); ``train_accuracy``
            is drawn when present.
        title: the figure's title.
        best_epoch: the best epoch by the monitored metric (whose weights the run keeps unless
            early stopping was told not to restore them), marked on both panels.

    Returns:
        A figure with two panels: loss (train vs validation), then accuracy or R^2.
    """
    if len(history) == 0:
        raise ValueError("learning_curves_figure: history is empty, there is no epoch to draw")
    epochs = _column(history, "epoch")
    if np.isnan(epochs).any():
        epochs = np.arange(1, len(history) + 1, dtype=float)

    figure = Figure(figsize=(10.0, 4.0))
    # Fixed margins: constrained layout would double the drawing time (~0.3 s per picture).
    figure.subplots_adjust(left=0.07, right=0.98, bottom=0.12, top=0.84, wspace=0.22)
    FigureCanvasAgg(figure)  # attaches the Agg canvas: savefig works without pyplot
    loss_ax, score_ax = figure.subplots(1, 2)

    marker = "." if len(history) <= _MAX_MARKED_EPOCHS else None
    losses = []
    for key, label, style in (("train_loss", "train", "--"), ("val_loss", "validation", "-")):
        values = _column(history, key)
        if np.isfinite(values).any():
            loss_ax.plot(epochs, values, style, color=_COLORS[label], marker=marker, label=label)
            losses.append(values[np.isfinite(values)])
    loss_ax.set(xlabel="epoch", ylabel="loss", title="loss")
    if losses:
        finite = np.concatenate(losses)
        if finite.min() > 0 and finite.max() / finite.min() > _LOG_SCALE_RATIO:
            loss_ax.set_yscale("log")

    panel = next((key for key in _SCORE_PANELS if any(key in row for row in history)), None)
    if panel is None:
        score_ax.text(
            0.5, 0.5, "no validation score", ha="center", va="center", transform=score_ax.transAxes
        )
        score_ax.set(xlabel="epoch", title="score")
    else:
        name, curves = _SCORE_PANELS[panel]
        lowest = np.inf
        for key, label, style in curves:
            values = _column(history, key)
            if np.isfinite(values).any():
                score_ax.plot(
                    epochs, values, style, color=_COLORS[label], marker=marker, label=label
                )
                lowest = min(lowest, np.nanmin(values))
        # titled like the loss panel: it draws the training score beside the validation one
        score_ax.set(xlabel="epoch", ylabel=name, title=name)
        if lowest < _LOWEST_SCORE:  # an R^2 of -50 at epoch 1 would flatten the rest
            score_ax.set_ylim(_LOWEST_SCORE, 1.05)  # accuracy and R^2 never exceed 1
            score_ax.set_title(f"{name} (clipped at {_LOWEST_SCORE:g})")

    if best_epoch is not None:
        for ax in (loss_ax, score_ax):
            ax.axvline(best_epoch, color="0.4", linestyle=":", label=f"best epoch ({best_epoch})")
    for ax in (loss_ax, score_ax):
        ax.grid(True, alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
    if title:
        figure.suptitle(title)
    return figure
