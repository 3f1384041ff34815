"""The learning-curve picture: the right curves on the right panels, drawn without pyplot."""

from __future__ import annotations

import io

import numpy as np
import pytest
from matplotlib import _pylab_helpers
from matplotlib.backends.backend_agg import FigureCanvasAgg

from trainer.tracking.pictures import learning_curves_figure


def _classification_history(n: int = 12, *, train_accuracy: bool = True) -> list[dict]:
    rows = []
    for epoch in range(1, n + 1):
        row = {
            "epoch": epoch,
            "train_loss": 1.0 / epoch,
            "val_loss": 1.2 / epoch + 0.01 * epoch,
            "val_accuracy": 0.5 + 0.04 * epoch,
        }
        if train_accuracy:
            row["train_accuracy"] = 0.55 + 0.04 * epoch
        rows.append(row)
    return rows


def _lines(ax) -> dict[str, np.ndarray]:
    """Legend label -> y data of each line on ``ax``."""
    return {line.get_label(): np.asarray(line.get_ydata(), dtype=float) for line in ax.lines}


def test_loss_panel_draws_train_and_validation_by_epoch() -> None:
    # panel 1 holds both losses, with the values of the history at its epochs
    history = _classification_history()
    loss_ax, _ = learning_curves_figure(history).axes
    lines = _lines(loss_ax)
    np.testing.assert_allclose(lines["train"], [row["train_loss"] for row in history])
    np.testing.assert_allclose(lines["validation"], [row["val_loss"] for row in history])
    np.testing.assert_allclose(loss_ax.lines[0].get_xdata(), np.arange(1, 13))


def test_classification_score_panel_shows_accuracy_with_train_when_present() -> None:
    # panel 2 is accuracy; the train curve appears only when train_accuracy was recorded
    _, score_ax = learning_curves_figure(_classification_history()).axes
    assert score_ax.get_ylabel() == "accuracy"
    assert set(_lines(score_ax)) == {"train", "validation"}
    assert score_ax.get_title() == "accuracy"  # not "validation accuracy": both are drawn
    _, score_ax = learning_curves_figure(_classification_history(train_accuracy=False)).axes
    assert set(_lines(score_ax)) == {"validation"}


def test_regression_score_panel_shows_r2_clipped_when_very_negative() -> None:
    # panel 2 is R^2 for regression; a hopeless first epoch does not squash the rest
    history = [
        {"epoch": e, "train_loss": 1.0, "val_loss": 1.0, "val_r2": 1 - 40 / e**2}
        for e in range(1, 11)
    ]
    _, score_ax = learning_curves_figure(history).axes
    assert "R" in score_ax.get_ylabel()
    np.testing.assert_allclose(_lines(score_ax)["validation"], [r["val_r2"] for r in history])
    assert score_ax.get_ylim()[0] == pytest.approx(-1.0)


def test_best_epoch_is_marked_on_both_panels() -> None:
    # the kept epoch is a vertical line on each panel
    figure = learning_curves_figure(_classification_history(), best_epoch=7, title="digits")
    for ax in figure.axes:
        marks = [line for line in ax.lines if line.get_label() == "best epoch (7)"]
        assert len(marks) == 1 and list(marks[0].get_xdata()) == [7, 7]
    assert figure._suptitle.get_text() == "digits"


def test_loss_spanning_orders_of_magnitude_uses_log_scale() -> None:
    # a loss falling from 100 to 0.01 is readable only on a log axis; a flat one stays linear
    falling = [
        {"epoch": e, "train_loss": 100.0 / e**4, "val_loss": 100.0 / e**4} for e in range(1, 11)
    ]
    assert learning_curves_figure(falling).axes[0].get_yscale() == "log"
    assert learning_curves_figure(_classification_history()).axes[0].get_yscale() == "linear"


def test_renders_png_without_pyplot() -> None:
    # the figure has its own Agg canvas: it saves as PNG and registers no pyplot figure
    before = _pylab_helpers.Gcf.get_num_fig_managers()
    figure = learning_curves_figure(_classification_history())
    assert isinstance(figure.canvas, FigureCanvasAgg)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    assert buffer.getvalue()[:8] == b"\x89PNG\r\n\x1a\n"
    assert _pylab_helpers.Gcf.get_num_fig_managers() == before


def test_empty_history_is_refused() -> None:
    # nothing to draw is a caller bug, reported instead of an empty picture
    with pytest.raises(ValueError, match="empty"):
        learning_curves_figure([])
