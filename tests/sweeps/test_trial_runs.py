"""Each trial's MLflow run, for any app: opened by the sweep, written by the app too when it logs
with MLflow itself, ended with the trial's state."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace

import optuna
import pytest
from hydra.core.utils import JobReturn, JobStatus
from mlflow import MlflowClient
from optuna.trial import TrialState
from sweep_fakes import FakeJob, load, make_plan

from runkit.mlflow import get_or_create_experiment
from sweeps.study._budget import RUN_ID_ATTR
from sweeps.tracking._trial_run import TrackingTarget
from sweeps.workers import WorkerPlan, run_worker

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture
def tracked(tmp_path, store_uri: str):
    """A plan over ``x`` whose trials are tracked in the session's store, under a parent run."""

    def tracked(n_trials: int, **kwargs: object) -> tuple[WorkerPlan, MlflowClient, str]:
        experiment = get_or_create_experiment(store_uri, f"trials-{uuid.uuid4().hex[:8]}")
        client = MlflowClient(store_uri)
        parent = client.create_run(experiment).info.run_id
        plan = make_plan(tmp_path / "o.db", n_trials=n_trials, **kwargs)  # type: ignore[arg-type]
        return replace(plan, tracking=TrackingTarget(store_uri, experiment, parent)), client, parent

    return tracked


def _runs(client: MlflowClient, plan: WorkerPlan) -> dict[int, object]:
    """The MLflow run of each trial that has one (a queued copy has none yet), by number."""
    return {t.number: client.get_run(t.user_attrs[RUN_ID_ATTR]) for t in load(plan).trials
            if RUN_ID_ATTR in t.user_attrs}


def test_an_app_that_never_imports_mlflow_gets_a_child_run_per_trial(tracked) -> None:
    # params, every reported value with its step, the returned value, state, parent and name
    plan, client, parent = tracked(2)
    run_worker(plan, FakeJob(epochs=3))
    for trial in load(plan).trials:
        run = client.get_run(trial.user_attrs[RUN_ID_ATTR])
        assert run.info.status == "FINISHED"
        assert run.info.run_name == f"trial-{trial.number}-test"
        assert run.data.tags["mlflow.parentRunId"] == parent
        assert run.data.tags["optuna.trial_state"] == "COMPLETE"
        assert run.data.tags["optuna.study_name"] == "test"
        assert run.data.tags["optuna.trial_number"] == str(trial.number)
        assert run.data.params == {"x": repr(trial.params["x"])}
        curve = client.get_metric_history(run.info.run_id, "intermediate_value")
        assert [(m.step, m.value) for m in curve] == [
            (e, pytest.approx(trial.params["x"] / e)) for e in (1, 2, 3)]
        assert run.data.metrics["value"] == pytest.approx(trial.value)


def test_failed_pruned_and_interrupted_trials_end_their_runs_so(tracked) -> None:
    # FAIL: FAILED with the reason; PRUNED: FINISHED, named so; interrupted: KILLED, none RUNNING
    plan, client, _ = tracked(3, params={"x": "choice(0.2, 0.9)"}, max_failure_rate=1.0)
    study = load(plan)
    for x in (0.9, 0.2):
        study.enqueue_trial({"x": x})
    run_worker(plan, FakeJob(epochs=4, fail_above=0.5, prune_itself_at=3))
    runs = _runs(client, plan)
    assert runs[0].info.status == "FAILED"
    assert runs[0].data.tags["failure_reason"] == "ValueError: x=0.9 too big"
    assert runs[0].data.tags["optuna.trial_state"] == "FAIL"
    assert runs[1].info.status == "FINISHED"
    assert runs[1].data.tags["optuna.trial_state"] == "PRUNED"
    assert runs[1].info.run_name == "trial-1 (pruned at step 2) test"  # its last report

    with pytest.raises(KeyboardInterrupt):
        run_worker(replace(plan, n_trials=4), FakeJob(interrupt_trial=3))
    interrupted = _runs(client, plan)[3]
    assert interrupted.info.status == "KILLED"
    assert interrupted.data.tags["failure_reason"] == "interrupted (Ctrl-C)"
    assert interrupted.data.tags["optuna.trial_state"] == "FAIL"


@dataclass
class FluentJob:
    """An app that logs with MLflow's fluent API and knows nothing of the sweep: a metric at two
    steps and a param of its own form, with ``mlflow.start_run()`` or without (MLflow then
    starts the run at the first ``log_*``)."""

    with_start_run: bool
    seen: list[dict[str, str | None]]

    def run(self, overrides: Sequence[str], number: int) -> JobReturn:
        import mlflow

        x = float(dict(o.split("=", 1) for o in overrides)["x"])
        self.seen.append({k: os.environ.get(k) for k in ("MLFLOW_RUN_ID", "MLFLOW_TRACKING_URI")})
        with mlflow.start_run() if self.with_start_run else contextlib.nullcontext():
            mlflow.log_metric("loss", x, step=1)
            mlflow.log_param("x", f"{x:.3f}")  # the app's own form of the trial's param
            mlflow.log_metric("loss", x / 2, step=2)
        result = JobReturn(status=JobStatus.COMPLETED)
        result.return_value = x
        return result


@pytest.mark.parametrize("with_start_run", [True, False], ids=["start_run", "log_only"])
def test_an_app_logging_with_mlflow_itself_logs_into_its_trials_run(tracked, store_uri,
                                                                    with_start_run) -> None:
    # MLflow's own hand-over: MLFLOW_RUN_ID and friends name the trial's run while the task
    # runs; the app's param keeps its value; the next trial gets its own run; nothing leaks
    import mlflow

    before = {k: os.environ.get(k) for k in ("MLFLOW_RUN_ID", "MLFLOW_TRACKING_URI")}
    plan, client, _ = tracked(2)
    seen: list[dict[str, str | None]] = []
    run_worker(plan, FluentJob(with_start_run, seen))
    runs = _runs(client, plan)
    assert len({run.info.run_id for run in runs.values()}) == 2
    for trial in load(plan).trials:
        run = runs[trial.number]
        assert seen[trial.number] == {"MLFLOW_RUN_ID": run.info.run_id,
                                      "MLFLOW_TRACKING_URI": store_uri}
        assert [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, "loss")
                ] == [(1, trial.params["x"]), (2, trial.params["x"] / 2)]
        assert run.data.params["x"] == f"{trial.params['x']:.3f}"  # the app's, not ours
        assert run.info.status == "FINISHED"
        assert run.data.tags["optuna.trial_state"] == "COMPLETE"
        assert run.data.metrics["value"] == trial.value
    assert {k: os.environ.get(k) for k in before} == before
    assert mlflow.active_run() is None


def test_a_trial_whose_final_write_the_store_refuses_fails(tracked, monkeypatch) -> None:
    # a complete trial whose run could not be written is not COMPLETE: it fails with the reason
    from mlflow.exceptions import MlflowException

    from runkit.mlflow.run import RunTracker

    plan, client, _ = tracked(1)
    real = RunTracker.flush
    calls: list[int] = []

    def refusing(self: RunTracker) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise MlflowException("(sqlite3.OperationalError) database or disk is full")
        real(self)

    monkeypatch.setattr(RunTracker, "flush", refusing)
    run_worker(plan, FakeJob(epochs=2))
    [trial] = load(plan).trials
    assert trial.state == TrialState.FAIL
    assert trial.user_attrs["fail_reason"].startswith("no space left on device for the MLflow")
    run = client.get_run(trial.user_attrs[RUN_ID_ATTR])
    assert run.info.status == "FAILED"
    assert run.data.tags["failure_reason"] == trial.user_attrs["fail_reason"]
