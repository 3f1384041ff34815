"""Each trial's MLflow run, for any app: opened by the worker before the task runs, ended with
the trial's state.

The run is a child of the sweep's parent run, named ``trial-<number>-<study>`` (what tells
trials apart comes first: the runs table cuts long names) and tagged with its study and number.
It holds the trial's parameters, every value the task reports (``sweeps.report``) as the metric
``intermediate_value`` at its step, the value the task returns (``value``; ``values_0``,
``values_1`` ... for several objectives), the trial's state (``optuna.trial_state``) and, when it
failed, its reason (``failure_reason``).

An app that never imports MLflow gets that run as it is. An app that logs with MLflow itself
logs into the same run, handed over the way MLflow hands runs over: ``MLFLOW_RUN_ID``,
``MLFLOW_EXPERIMENT_ID`` and ``MLFLOW_TRACKING_URI`` name it while the task runs, so
``mlflow.start_run()`` resumes it and ``mlflow.log_metric`` writes to it (an app using
``runkit.mlflow.RunTracker.borrow`` shares the sweep's batches). A param the app logged keeps the
app's value.

Ending the run, not the task, sets its status: FINISHED for a complete or pruned trial (a pruned
one says so in its name), FAILED for a failed one, KILLED for an interrupted one.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from runkit.signals import interrupt_name
from sweeps.tracking._tags import STUDY_TAG, TRIAL_NUMBER_TAG, TRIAL_STATE_TAG

if TYPE_CHECKING:
    from runkit.mlflow import RunTracker

__all__ = ["INTERMEDIATE_METRIC", "TrackingTarget", "TrialRun", "value_metrics"]

INTERMEDIATE_METRIC = "intermediate_value"
_RUN_NAME_TAG = "mlflow.runName"  # setting it renames the run
# MLflow's own environment variables: the run, its experiment and its store (mlflow.start_run()
# resumes the run MLFLOW_RUN_ID names).
_HANDOVER = ("MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_ID", "MLFLOW_TRACKING_URI")


@dataclass(frozen=True)
class TrackingTarget:
    """Where trial runs go: created by the sweep process before any worker starts."""

    tracking_uri: str
    experiment_id: str
    parent_run_id: str | None


def value_metrics(values: Sequence[float]) -> dict[str, float]:
    """The metrics of a trial's returned values: ``value``, or ``values_0``, ``values_1`` ...
    for several objectives (Optuna's ``trials_dataframe`` column names)."""
    if len(values) == 1:
        return {"value": float(values[0])}
    return {f"values_{i}": float(v) for i, v in enumerate(values)}


class TrialRun:
    """One trial's MLflow run; without a tracking target, a run that records nothing.

    Args:
        tracker: the open run, or None.
        target: where it lives.
    """

    def __init__(self, tracker: RunTracker | None = None,
                 target: TrackingTarget | None = None, *, study_name: str = "",
                 number: int = 0) -> None:
        self.tracker = tracker
        self.target = target
        self.study_name = study_name
        self.number = number

    @classmethod
    def start(cls, target: TrackingTarget | None, *, study_name: str, number: int,
              params: Mapping[str, str], tags: Mapping[str, str] | None = None) -> TrialRun:
        """Open trial ``number``'s run (nothing without a ``target``), with its ``params`` and
        ``tags`` besides the study's and the trial number."""
        if target is None:
            return cls()
        from runkit.mlflow import RunTracker

        tracker = RunTracker.start(
            target.tracking_uri, target.experiment_id, run_name=f"trial-{number}-{study_name}",
            tags={STUDY_TAG: study_name, TRIAL_NUMBER_TAG: str(number), **(tags or {})},
            parent_run_id=target.parent_run_id)
        tracker.log_params(params, keep_logged=True)
        return cls(tracker, target, study_name=study_name, number=number)

    @property
    def run_id(self) -> str | None:
        return None if self.tracker is None else self.tracker.run_id

    def record(self, step: int, value: float) -> None:
        """A value the task reported at ``step`` (written every few seconds while it runs)."""
        if self.tracker is not None:
            self.tracker.log_epoch(step, {INTERMEDIATE_METRIC: value})

    @contextlib.contextmanager
    def handed_over(self) -> Iterator[None]:
        """The task's time: MLflow's environment variables name this run (the previous values
        come back afterwards), and a fluent run the task left active on it is ended here."""
        target, run_id = self.target, self.run_id
        if target is None or run_id is None:
            yield
            return
        previous = {name: os.environ.get(name) for name in _HANDOVER}
        os.environ.update(zip(_HANDOVER, (run_id, target.experiment_id, target.tracking_uri),
                              strict=True))
        try:
            yield
        finally:
            try:
                _end_fluent_run(run_id)
            finally:
                for name, value in previous.items():
                    if value is None:
                        os.environ.pop(name, None)
                    else:
                        os.environ[name] = value

    def complete(self, values: Sequence[float]) -> None:
        """End the run FINISHED with the trial's values; a write the store refuses ends it
        FAILED with that reason and is raised (the trial then fails, as the run did)."""
        tracker = self.tracker
        if tracker is None:
            return
        tracker.log_metrics(value_metrics(values))
        tracker.set_tags({TRIAL_STATE_TAG: "COMPLETE"})
        try:
            tracker.flush()
        except Exception as error:
            from runkit.errors import one_line
            from runkit.mlflow.disk_full import no_space_error

            full = no_space_error(error, tracker.client.tracking_uri)
            tracker.set_tags({TRIAL_STATE_TAG: "FAIL"})
            tracker.end("FAILED", failure_reason=one_line(full or error, 500))
            if full is not None:
                raise full from error
            raise
        tracker.end("FINISHED")

    def prune(self, step: int | None) -> None:
        """End the run FINISHED as pruned at ``step`` (named so in the runs table)."""
        tracker = self.tracker
        if tracker is None:
            return
        at = f"at step {step}" if step is not None else "before any step"
        tracker.set_tags({TRIAL_STATE_TAG: "PRUNED",
                          _RUN_NAME_TAG: f"trial-{self.number} (pruned {at}) {self.study_name}"})
        tracker.end("FINISHED")

    def fail(self, reason: str) -> None:
        """End the run FAILED with the trial's failure ``reason``."""
        if self.tracker is not None:
            self.tracker.set_tags({TRIAL_STATE_TAG: "FAIL"})
            self.tracker.end("FAILED", failure_reason=reason)

    def interrupt(self, interrupt: BaseException) -> None:
        """End the run KILLED: the trial was interrupted (Ctrl-C, SIGTERM) and runs again."""
        if self.tracker is not None:
            self.tracker.set_tags({TRIAL_STATE_TAG: "FAIL"})
            self.tracker.end("KILLED", failure_reason=f"interrupted ({interrupt_name(interrupt)})")


def _end_fluent_run(run_id: str) -> None:
    """End MLflow's active fluent run when the task left it on ``run_id`` (``mlflow.log_metric``
    outside ``with mlflow.start_run()``), so the next trial of this process does not log into
    it; its final status is written with the trial's state right after."""
    mlflow = sys.modules.get("mlflow")
    if mlflow is None:  # the task never imported MLflow's fluent API
        return
    active = mlflow.active_run()
    if active is not None and active.info.run_id == run_id:
        mlflow.end_run()
