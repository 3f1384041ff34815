"""The sweep's MLflow parent run: search space, best-so-far, pictures and the best command.

One parent run per sweep invocation, named after the study; every trial's run is its child
(``sweeps.tracking._trial_run``). While trials run, a light thread polls the study and
updates the parent: ``best_value`` and trial counts as metrics (step = finished trials), the best
trial's parameters as ``best.*`` tags, and a heartbeat tag. A later sweep on the same study marks
a parent whose heartbeat stopped (its process was killed) KILLED, and every trial run still
RUNNING although Optuna has finished its trial, so nothing stays RUNNING.
"""

from __future__ import annotations

import contextlib
import logging
import re
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Self

import optuna
from optuna.trial import FrozenTrial, TrialState

from sweeps._command import reproduce_line
from sweeps._optuna_logging import optuna_verbosity
from sweeps._poller import Poller
from sweeps.study._budget import (
    OVERRIDES_ATTR,
    RUN_ID_ATTR,
    SURPLUS_ATTR,
    Budget,
    count_trials,
    fail_reason,
)
from sweeps.tracking._tags import (
    HEARTBEAT_TAG,
    ROLE_TAG,
    STUDY_TAG,
    TRIAL_NUMBER_TAG,
    TRIAL_STATE_TAG,
)

if TYPE_CHECKING:  # MLflow takes seconds to import: only the processes that log load it
    from runkit.mlflow import RunTracker

__all__ = [
    "HEARTBEAT_TAG",
    "OVERRIDES_ATTR",
    "ROLE_TAG",
    "STUDY_TAG",
    "TRIAL_NUMBER_TAG",
    "BestTrial",
    "SweepMonitor",
    "best_trial",
    "fail_reasons",
    "kill_orphan_trial_runs",
    "kill_run",
    "kill_stale_parents",
    "log_study_artifacts",
    "mlflow_key",
    "reproduce_command",
]

log = logging.getLogger(__name__)

_ACTIVE = (TrialState.RUNNING, TrialState.WAITING)


def mlflow_key(key: str) -> str:
    """An MLflow param/tag name: letters, digits and ``_-. :/`` only (``db@x`` -> ``db_x``)."""
    return re.sub(r"[^\w\-. :/]", "_", key)


def kill_run(uri: str, run_id: str, reason: str) -> bool:
    """Mark a RUNNING run (a trial's or a sweep's) KILLED with ``reason``; returns whether it was
    still RUNNING. A trial's run is also tagged with its trial's state, FAIL: also when the
    store's housekeeping (``runkit.mlflow.owner.end_abandoned_runs``) ended it first."""
    from runkit.mlflow import end_killed, get_client

    client = get_client(uri)
    try:
        run = client.get_run(run_id)
    except Exception:  # deleted or never created: nothing to mark
        return False
    trial = {TRIAL_STATE_TAG: "FAIL"} if TRIAL_NUMBER_TAG in run.data.tags else {}
    if run.info.status != "RUNNING":
        if trial and TRIAL_STATE_TAG not in run.data.tags:
            client.set_tag(run_id, TRIAL_STATE_TAG, "FAIL")
        return False
    end_killed(client, run_id, reason, trial)
    return True


def _running_runs(uri: str, experiment_id: str, study_name: str) -> list[Any]:
    from runkit.mlflow import get_client

    client = get_client(uri)
    quoted = study_name.replace("'", "\\'")
    return list(client.search_runs(
        [experiment_id],
        filter_string=f"tags.`{STUDY_TAG}` = '{quoted}' and attributes.status = 'RUNNING'",
        max_results=5000,
    ))


def kill_stale_parents(uri: str, experiment_id: str, study_name: str, stale_after: float, *,
                       now: float, keep: str | None = None) -> int:
    """Mark KILLED the parent runs of ``study_name`` (but ``keep``) whose heartbeat is older
    than ``stale_after`` seconds at ``now`` (their sweep process died without ending them).
    Heartbeats and ``now`` are read on the study database's clock (``database_time``), so
    controllers on machines with skewed clocks do not judge each other wrongly."""
    killed = 0
    for run in _running_runs(uri, experiment_id, study_name):
        if run.data.tags.get(ROLE_TAG) != "parent" or run.info.run_id == keep:
            continue
        beat = float(run.data.tags.get(HEARTBEAT_TAG, run.info.start_time / 1000))
        if now - beat > stale_after:
            killed += kill_run(uri, run.info.run_id,
                               f"the sweep process stopped (no heartbeat for {now - beat:.0f} s)")
    return killed


def kill_orphan_trial_runs(uri: str, experiment_id: str, study: optuna.Study) -> int:
    """Mark KILLED the trial runs still RUNNING whose Optuna trial is finished (a worker died
    between starting the run and recording its id on the trial)."""
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    killed = 0
    for run in _running_runs(uri, experiment_id, study.study_name):
        number = run.data.tags.get(TRIAL_NUMBER_TAG)
        if number is None or not number.isdigit():
            continue
        trial = trials.get(int(number))
        if trial is not None and trial.state not in _ACTIVE:
            killed += kill_run(uri, run.info.run_id,
                               f"its trial ended {trial.state.name} while the run was open")
    return killed


@dataclass(frozen=True)
class BestTrial:
    """The best finished trial (or one of a Pareto front), and the command that reproduces it."""

    number: int
    values: tuple[float, ...]  # one per objective
    params: Mapping[str, Any]
    run_id: str | None
    command: str

    @property
    def value(self) -> float:
        """The value of a single-objective study's trial (the first objective's otherwise)."""
        return self.values[0]


def reproduce_command(trial: FrozenTrial, fallback: Callable[[Mapping[str, Any]], list[str]]
                      ) -> str:
    """The app's own command with the trial's overrides, running its exact configuration alone
    (``python sphere.py x=0.0 y=0``; see ``sweeps._command``)."""
    overrides = trial.user_attrs.get(OVERRIDES_ATTR) or fallback(trial.params)
    return reproduce_line(overrides)


def best_trial(study: optuna.Study,
               fallback: Callable[[Mapping[str, Any]], list[str]]) -> BestTrial | None:
    """The study's best COMPLETE trial, or None while there is none and for a multi-objective
    study (whose result is its Pareto front, ``sweeps.tracking._front``)."""
    if len(study.directions) > 1:
        return None
    try:
        best = study.best_trial
    except ValueError:
        return None
    assert best.value is not None  # a COMPLETE trial of a single-objective study has one
    return BestTrial(best.number, (best.value,), dict(best.params),
                     best.user_attrs.get(RUN_ID_ATTR), reproduce_command(best, fallback))


def _import_picture_modules() -> None:
    """Import what the sweep's closing pictures need while its trials run: the parameter
    importances (fANOVA) import scikit-learn's forests, about 2 s that would otherwise be added
    to the wait at the end of a sweep whose process has not loaded scikit-learn."""
    try:
        import optuna.importance  # noqa: F401
        import optuna.visualization.matplotlib  # noqa: F401
    except Exception as error:  # only a head start: log_study_artifacts imports them again
        log.debug("sweep: the pictures' modules did not load ahead (%s)", error)
        _forget_orphan_modules()


def _forget_orphan_modules() -> None:
    """Forget the submodules an import left behind when it failed half-way.

    Python drops a package whose ``__init__`` raised (an interrupt, an import deadlock between
    the monitor's thread and a task in the main thread) but keeps the submodules it had loaded,
    whose globals still name the dropped package: importing matplotlib again then fails with
    ``module 'matplotlib' has no attribute 'get_data_path'``. A submodule whose package is
    missing is never valid, so dropping it only makes the next import start afresh.
    """
    for name in [n for n in list(sys.modules) if "." in n]:
        if name.partition(".")[0] not in sys.modules:
            sys.modules.pop(name, None)


class SweepMonitor(Poller):
    """Polls the study from a daemon thread and keeps the parent run current.

    Entering it updates the parent run once (a failure there raises); leaving it stops the
    thread and updates the parent a last time.

    Args:
        tracker: the parent run.
        study: the study, opened in this process.
        n_trials: the study's total (for the counts).
        fallback: builds a trial's overrides from its params when it lacks them.
        interval: seconds between polls.
    """

    def __init__(self, tracker: RunTracker, study: optuna.Study, n_trials: int, *,
                 fallback: Callable[[Mapping[str, Any]], list[str]],
                 interval: float = 2.0) -> None:
        super().__init__(interval=interval, name="sweep-monitor")
        self.tracker = tracker
        self.study = study
        self.n_trials = n_trials
        self.fallback = fallback
        self._seen: tuple[int, int, int, int | None] | None = None
        self._warmed = False
        self.budget = Budget(n_trials)

    def __enter__(self) -> Self:
        self.update()
        return super().__enter__()

    def poll(self) -> None:
        """One :meth:`update` that logs a failure instead of raising it; once a trial has
        finished, the thread's polls also import what the closing pictures need."""
        try:
            self.update()
        except Exception as error:  # a busy store must not stop the sweep: next poll
            log.warning("sweep: could not update the MLflow parent run: %s", error)
        # not in the last poll: the sweep's pictures are drawn right after it anyway
        if not self._warmed and self.budget.finished and not self.stopping:
            self._warmed = True
            _import_picture_modules()

    def update(self) -> Budget:
        """One poll: heartbeat, then counts and best-so-far when a trial finished."""
        from sweeps.study._storage import database_time

        self.tracker.set_tags({HEARTBEAT_TAG: f"{database_time(self.study):.0f}"})
        trials = self.study.get_trials(deepcopy=False)
        self.budget = budget = count_trials(trials, self.n_trials)
        best = best_trial(self.study, self.fallback)
        front = (len(self.study.best_trials)
                 if len(self.study.directions) > 1 and budget.complete else None)
        seen = (budget.complete, budget.pruned, budget.failed,
                best.number if best else front)
        if seen == self._seen:
            self.tracker.flush()  # the heartbeat, even while no trial finishes
            return budget
        self._seen = seen
        metrics: dict[str, float] = {"trials_complete": budget.complete,
                                     "trials_pruned": budget.pruned,
                                     "trials_failed": budget.failed}
        if front is not None:
            metrics["pareto_front_trials"] = front
        if best is not None:
            metrics["best_value"] = best.value
            tags = {"best.trial_number": str(best.number), "best.command": best.command}
            tags.update({mlflow_key(f"best.{k}"): str(v) for k, v in best.params.items()})
            if best.run_id:
                tags["best.run_id"] = best.run_id
            self.tracker.set_tags(tags)
        self.tracker.log_metrics(metrics, step=budget.finished)
        self.tracker.flush()
        return budget


def _figures(study: optuna.Study, metric: str) -> dict[str, Callable[[], Any]]:
    from optuna.visualization import matplotlib as plots

    from sweeps.tracking._plots import learning_curves_of_trials

    if len(study.directions) > 1:  # no history of one value, no learning curves to prune on
        return {  # (the front's own picture: sweeps.tracking._front)
            "param_importances.png": lambda: plots.plot_param_importances(study),
            "timeline.png": lambda: plots.plot_timeline(study),
        }
    return {
        "optimization_history.png": lambda: plots.plot_optimization_history(study),
        "param_importances.png": lambda: plots.plot_param_importances(study),
        "intermediate_values.png": lambda: learning_curves_of_trials(study, metric=metric),
        "timeline.png": lambda: plots.plot_timeline(study),
    }


def log_study_artifacts(tracker: RunTracker, study: optuna.Study, best: BestTrial | None,
                        *, summary: Sequence[str] = (), metric: str = "objective") -> list[str]:
    """Log the study's pictures (PNG), its trials as CSV and ``best_trial.txt`` (one objective;
    several get their Pareto front instead, ``sweeps.tracking._front.log_front``).

    A picture Optuna cannot draw yet (importances need two finished trials with varied
    parameters) is skipped with a note in the log. Returns the artifact names written.
    """
    written: list[str] = []
    finished = [t for t in study.get_trials(deepcopy=False) if t.state not in _ACTIVE]
    _forget_orphan_modules()
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only, never a window
        import matplotlib.pyplot as plt

        figures = _figures(study, metric) if finished else {}
    except Exception as error:  # the pictures are extra: the trials and the best still go
        log.warning("sweep: no pictures: matplotlib could not be imported (%s)", error)
        figures = {}
    for name, draw in figures.items():
        try:
            with warnings.catch_warnings(), optuna_verbosity(optuna.logging.ERROR):
                warnings.simplefilter("ignore")  # "few trials" notes: the picture says it
                axes = draw()
        except Exception as error:  # e.g. importances need two completed trials
            log.info("sweep: no %s (%s)", name, error)
            continue
        figure = axes if isinstance(axes, matplotlib.figure.Figure) else (
            axes.figure if hasattr(axes, "figure") else axes.flat[0].figure)
        figure.set_size_inches(9, 5.5)
        figure.tight_layout()
        tracker.log_figure(figure, name)
        plt.close(figure)
        written.append(name)

    with contextlib.suppress(Exception):  # pandas is optional for the table
        tracker.log_text(study.trials_dataframe().to_csv(index=False), "trials.csv")
        written.append("trials.csv")

    if len(study.directions) > 1:  # its result is the front (sweeps.tracking._front)
        return written
    lines = list(summary)
    if best is not None:
        lines += [
            f"best trial: {best.number}  value: {best.value!r}",
            f"mlflow run: {best.run_id or '-'}",
            "params:",
            *(f"  {k} = {v}" for k, v in best.params.items()),
            "reproduce it alone:",
            f"  {best.command}",
        ]
    else:
        lines.append("no trial completed")
    tracker.log_text("\n".join(lines) + "\n", "best_trial.txt")
    written.append("best_trial.txt")
    return written


def fail_reasons(trials: Sequence[FrozenTrial], limit: int = 3) -> list[str]:
    """The last few failure reasons, newest first (for the sweep's closing message)."""
    failed = [t for t in trials
              if t.state == TrialState.FAIL and not t.user_attrs.get(SURPLUS_ATTR)]
    return [f"trial {t.number}: {fail_reason(t)}"
            for t in sorted(failed, key=lambda t: t.number, reverse=True)[:limit]]
