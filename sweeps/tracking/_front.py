"""A sweep's result: its best trial (one objective) or its Pareto front (several), as the console,
the sweep directory and the parent MLflow run get it.

- The console: the best trial, or every trial of the Pareto front (``study.best_trials``: none
  of them is better in every objective than another), each with the command that reproduces it.
- ``optimization_results.yaml`` in the sweep directory, as hydra-optuna-sweeper writes it:
  ``name: optuna`` with ``best_params`` and ``best_value`` for one objective, ``solutions`` (each
  trial's ``params`` and ``values``) for several. Written only once a trial completed.
- The parent run (several objectives): the front as a table (``pareto_front.json``, MLflow's
  ``log_table``: the trial, its values, its parameters, its run and its command) and a picture
  (``pareto_front.png``, Optuna's, for two or three objectives).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna

from sweeps._optuna_logging import optuna_verbosity
from sweeps.study._budget import RUN_ID_ATTR
from sweeps.tracking._parent import BestTrial, reproduce_command

if TYPE_CHECKING:
    from runkit.mlflow import RunTracker

__all__ = [
    "RESULTS_FILE",
    "front_lines",
    "log_front",
    "objective_names",
    "pareto_front",
    "write_optimization_results",
]

log = logging.getLogger("sweeps")

RESULTS_FILE = "optimization_results.yaml"  # hydra-optuna-sweeper's name


def objective_names(study: optuna.Study) -> list[str]:
    """The objectives' names: the study's ``metric_names``, else ``values_0``, ``values_1`` ...
    (the columns of Optuna's ``trials_dataframe``)."""
    names = study.metric_names
    if names is not None and len(names) == len(study.directions):
        return list(names)
    return [f"values_{i}" for i in range(len(study.directions))]


def pareto_front(study: optuna.Study, fallback: Callable[[Mapping[str, Any]], list[str]]
                 ) -> list[BestTrial]:
    """The trials of the study's Pareto front (``study.best_trials``), by their first value;
    empty while no trial completed."""
    front = sorted(study.best_trials, key=lambda t: (tuple(t.values), t.number))
    return [BestTrial(t.number, tuple(float(v) for v in t.values), dict(t.params),
                      t.user_attrs.get(RUN_ID_ATTR), reproduce_command(t, fallback))
            for t in front]


def _value_text(value: float) -> str:
    return f"{value:.6g}"


def front_lines(study: optuna.Study, front: Sequence[BestTrial]) -> list[str]:
    """The Pareto front as the sweep prints it: a heading, then per trial its values and the
    command that reproduces it."""
    names = objective_names(study)
    goals = ", ".join(f"{d.name.lower()} {n}" for d, n in zip(study.directions, names,
                                                               strict=True))
    lines = [f"Pareto front of study {study.study_name!r} ({goals}): {len(front)} "
             f"trial{'s' if len(front) != 1 else ''}"]
    for point in front:
        values = "  ".join(f"{n}={_value_text(v)}" for n, v in zip(names, point.values,
                                                                    strict=True))
        lines += [f"  trial {point.number}: {values}", f"    reproduce it: {point.command}"]
    return lines


def write_optimization_results(sweep_dir: Path, study: optuna.Study,
                               best: BestTrial | None, front: Sequence[BestTrial]) -> Path | None:
    """Write ``optimization_results.yaml`` in ``sweep_dir`` (hydra-optuna-sweeper's format);
    returns its path, or None when no trial completed (nothing to write)."""
    from omegaconf import OmegaConf

    if len(study.directions) == 1:
        if best is None:
            return None
        results: dict[str, Any] = {"name": "optuna", "best_params": dict(best.params),
                                   "best_value": best.value}
    else:
        if not front:
            return None
        results = {"name": "optuna",
                   "solutions": [{"params": dict(p.params), "values": list(p.values)}
                                 for p in front]}
    path = Path(sweep_dir) / RESULTS_FILE
    OmegaConf.save(OmegaConf.create(results), path)
    return path


def front_table(study: optuna.Study, front: Sequence[BestTrial]) -> dict[str, list[Any]]:
    """The front as columns: ``trial``, one per objective, one per parameter (``params.NAME``;
    empty where a conditional parameter was not sampled), ``mlflow_run_id`` and ``command``."""
    names = objective_names(study)
    params = list(dict.fromkeys(k for p in front for k in p.params))
    table: dict[str, list[Any]] = {"trial": [p.number for p in front]}
    for i, name in enumerate(names):
        table[name] = [p.values[i] for p in front]
    for key in params:
        table[f"params.{key}"] = [p.params.get(key) for p in front]
    table["mlflow_run_id"] = [p.run_id or "" for p in front]
    table["command"] = [p.command for p in front]
    return table


def log_front(tracker: RunTracker, study: optuna.Study, front: Sequence[BestTrial],
              lines: Sequence[str]) -> list[str]:
    """Log the front on the parent run: ``pareto_front.json`` (a table), ``pareto_front.png``
    (two or three objectives) and ``pareto_front.txt`` (``lines``, what the sweep printed);
    returns the artifact names written."""
    written = []
    tracker.log_text("\n".join(lines) + "\n", "pareto_front.txt")
    written.append("pareto_front.txt")
    if not front:
        return written
    tracker.client.log_table(tracker.run_id, data=front_table(study, front),
                             artifact_file="pareto_front.json")
    written.append("pareto_front.json")
    if len(study.directions) not in (2, 3):
        log.info("sweep: no pareto_front.png (Optuna draws a front of 2 or 3 objectives, "
                 "this study has %d)", len(study.directions))
        return written
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only, never a window
        import matplotlib.pyplot as plt
        from optuna.visualization import matplotlib as plots

        with warnings.catch_warnings(), optuna_verbosity(optuna.logging.ERROR):
            warnings.simplefilter("ignore")  # "experimental": the picture is what is asked for
            axes = plots.plot_pareto_front(study, target_names=objective_names(study))
    except Exception as error:  # the picture is extra: the table and the lines are logged
        log.warning("sweep: no pareto_front.png (%s)", error)
        return written
    figure: Any = axes.figure  # a Figure (Optuna draws on one of its own)
    figure.set_size_inches(9, 5.5)
    figure.tight_layout()
    tracker.log_figure(figure, "pareto_front.png")
    plt.close(figure)
    written.append("pareto_front.png")
    return written
