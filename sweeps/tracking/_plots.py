"""The sweep's learning-curve picture: every trial's per-epoch value, pruned trials cut short.

Optuna's own intermediate-values plot gives every trial a legend entry, which buries the curves
once a study has a few dozen trials; here the states get one entry each and the best trial
stands out.
"""

from __future__ import annotations

from typing import Any

import optuna
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from optuna.trial import TrialState

_STYLES: dict[TrialState, dict[str, Any]] = {
    TrialState.COMPLETE: {"color": "tab:blue", "alpha": 0.45, "linewidth": 1.0},
    TrialState.PRUNED: {"color": "tab:red", "alpha": 0.7, "linewidth": 1.0},
    TrialState.FAIL: {"color": "tab:gray", "alpha": 0.6, "linewidth": 1.0, "linestyle": "--"},
}


def learning_curves_of_trials(study: optuna.Study, *, metric: str = "objective") -> Figure:
    """One line per trial (x: epoch, y: the value reported to the trial), coloured by state.

    A pruned trial's line ends with a cross where the pruner stopped it; the best completed
    trial is drawn in black on top.
    """
    figure = Figure(figsize=(9, 5.5))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    trials = [t for t in study.get_trials(deepcopy=False) if t.intermediate_values]
    counts = dict.fromkeys(_STYLES, 0)
    values: list[float] = []
    for trial in trials:
        style = _STYLES.get(trial.state)
        if style is None:
            continue
        steps = sorted(trial.intermediate_values)
        ys = [trial.intermediate_values[s] for s in steps]
        values += ys
        label = None if counts[trial.state] else trial.state.name.lower()
        counts[trial.state] += 1
        axes.plot(steps, ys, label=label, **style)
        if trial.state == TrialState.PRUNED:
            axes.plot(steps[-1], ys[-1], marker="x", markersize=7, color=style["color"])

    completed = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
    if completed:
        maximize = study.direction == optuna.study.StudyDirection.MAXIMIZE
        best = (max if maximize else min)(completed, key=lambda t: float(t.value))  # type: ignore[arg-type]
        steps = sorted(best.intermediate_values)
        axes.plot(steps, [best.intermediate_values[s] for s in steps], color="black",
                  linewidth=2.2, label=f"best (trial {best.number})")

    positive = [v for v in values if v > 0]
    if positive and len(positive) == len(values) and max(positive) / min(positive) > 20:
        axes.set_yscale("log")  # losses of weak trials would flatten the good ones otherwise
    counts_text = ", ".join(f"{n} {state.name.lower()}" for state, n in counts.items() if n)
    axes.set_title(f"Learning curves of {len(trials)} trials ({counts_text})")
    axes.set_xlabel("epoch")
    axes.set_ylabel(metric)
    axes.grid(alpha=0.3)
    if trials:
        axes.legend(loc="best")
    figure.tight_layout()
    return figure
