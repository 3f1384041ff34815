"""The MLflow calls a training run makes: how many, and what they keep on every path.

Each store call costs milliseconds whatever it carries (a sweep trial pays them all), so a run
writes its params, tags and metrics with one ``log_batch`` and its artifacts straight to its
artifact repository. The calls are counted through a wrapped client, so a change that adds one
shows here.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import optuna
import pytest
from hydra.core.utils import JobReturn, JobStatus
from mlflow import MlflowClient
from omegaconf import OmegaConf
from optuna.trial import TrialState
from sqlalchemy import event
from sqlalchemy.orm import Session

from runkit.mlflow import run as tracking_run
from trainer import training
from trainer.app import run
from trainer.core.callbacks import Callback
from trainer.core.fit import FitLoop

FAST = ("epochs=4", "model.hidden=[16]", "mlflow.log_model=false")


class CountingClient:
    """An MlflowClient whose public method calls are counted by name."""

    def __init__(self, client: MlflowClient) -> None:
        self._client = client
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if name.startswith("_") or not callable(attribute):
            return attribute

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return attribute(*args, **kwargs)

        return counted


@pytest.fixture
def counting(monkeypatch: pytest.MonkeyPatch) -> Callable[[], CountingClient]:
    """The wrapped client the next run tracks through (once it started)."""
    wrapped: list[CountingClient] = []
    real = tracking_run.get_client

    def get_client(uri: str) -> CountingClient:
        wrapped.append(CountingClient(real(uri)))
        return wrapped[-1]

    monkeypatch.setattr(tracking_run, "get_client", get_client)
    return lambda: wrapped[-1]


class StopAt(Callback):
    """Raises ``error`` at the end of epoch ``epoch``."""

    def __init__(self, epoch: int, error: BaseException) -> None:
        self.epoch, self.error = epoch, error

    def on_epoch_end(self, loop: Any, epoch: int, logs: dict[str, float]) -> None:
        if epoch == self.epoch:
            raise self.error


@pytest.fixture
def run_with(started_runs: list[str]) -> Callable[..., tuple[str, BaseException | None]]:
    """Runs a config with extra fit-loop callbacks; returns its MLflow run id and what it
    raised."""

    def run_with(cfg: Any, *callbacks: Callback) -> tuple[str, BaseException | None]:
        def loop_with_callbacks(*args: Any, callbacks: list[Callback], **kwargs: Any) -> FitLoop:
            return FitLoop(*args, callbacks=[*callbacks, *extra], **kwargs)

        extra = list(callbacks)
        try:
            with mock.patch.object(training, "FitLoop", loop_with_callbacks):
                run(cfg)
        except BaseException as error:  # KeyboardInterrupt included
            return started_runs[-1], error
        return started_runs[-1], None

    return run_with


def test_a_run_makes_four_store_calls_besides_its_model(run_with, make_config, store_uri,
                                                         counting):
    # create_run, one log_batch with every param, tag and metric, one log_inputs with the three
    # dataset parts, set_terminated; the config and the picture go to the artifact repository
    # without looking the run up again
    cfg = make_config(*FAST)
    run_id, error = run_with(cfg)
    assert error is None
    assert counting().calls == Counter(create_run=1, log_batch=1, log_inputs=1, set_terminated=1)
    logged = MlflowClient(store_uri).get_run(run_id)
    assert logged.info.status == "FINISHED"
    assert logged.data.params["model.hidden"] == "[16]"
    assert {"task", "loss", "stop_reason", "dataset"} <= set(logged.data.tags)
    history = MlflowClient(store_uri).get_metric_history(run_id, "val_loss")
    assert [m.step for m in history] == [1, 2, 3, 4]
    assert {"test_loss", "best_epoch", "stopped_epoch"} <= set(logged.data.metrics)


def test_the_config_artifact_is_the_resolved_yaml(run_with, make_config, store_uri):
    # the artifact holds exactly OmegaConf's YAML of the resolved config, beside the picture
    cfg = make_config(*FAST)
    run_id, error = run_with(cfg)
    assert error is None
    client = MlflowClient(store_uri)
    root = Path(client.get_run(run_id).info.artifact_uri.removeprefix("file://"))
    assert (root / "config.yaml").read_text(encoding="utf-8") == OmegaConf.to_yaml(
        cfg, resolve=True)
    assert (root / "learning_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert {a.path for a in client.list_artifacts(run_id)} == {"config.yaml",
                                                                "learning_curves.png"}


def test_a_run_interrupted_mid_training_keeps_its_epochs_and_ends_killed(run_with,
        make_config, store_uri, counting):
    # Ctrl-C at epoch 3: the buffered epochs, params and tags are written as the run ends
    cfg = make_config("epochs=8", "model.hidden=[16]", "mlflow.log_model=false",
                      "early_stopping.enabled=false")
    run_id, error = run_with(cfg, StopAt(3, KeyboardInterrupt()))
    assert isinstance(error, KeyboardInterrupt)
    logged = MlflowClient(store_uri).get_run(run_id)
    assert logged.info.status == "KILLED" and logged.info.end_time is not None
    assert logged.data.tags["failure_reason"] == "interrupted (Ctrl-C)"
    assert logged.data.params["epochs"] == "8"
    client = MlflowClient(store_uri)
    for key in ("train_loss", "val_loss", "val_accuracy"):
        assert [m.step for m in client.get_metric_history(run_id, key)] == [1, 2, 3]
    assert counting().calls == Counter(create_run=1, log_batch=1, log_inputs=1, set_terminated=1)


def test_a_run_failing_mid_training_keeps_its_epochs_and_ends_failed(run_with, make_config,
                                                                     store_uri):
    cfg = make_config("epochs=8", "model.hidden=[16]", "mlflow.log_model=false",
                      "early_stopping.enabled=false")
    run_id, error = run_with(cfg, StopAt(2, RuntimeError("boom")))
    assert isinstance(error, RuntimeError)
    logged = MlflowClient(store_uri).get_run(run_id)
    assert logged.info.status == "FAILED"
    assert logged.data.tags["failure_reason"] == "RuntimeError: boom"
    history = MlflowClient(store_uri).get_metric_history(run_id, "val_loss")
    assert [m.step for m in history] == [1, 2]


def test_a_failed_final_write_fails_the_run_with_its_reason(run_with, make_config, store_uri,
                                                            monkeypatch):
    # the run's one write happens inside the run: a store rejecting it ends the run FAILED
    # with the store's message, not FINISHED without its metrics
    cfg = make_config(*FAST)
    real_flush = tracking_run.RunTracker.flush
    attempts: list[int] = []

    def flush_failing_once(self: tracking_run.RunTracker) -> None:
        attempts.append(1)
        if len(attempts) == 1 and self._buffer:
            raise RuntimeError("store rejected the batch")
        real_flush(self)

    monkeypatch.setattr(tracking_run.RunTracker, "flush", flush_failing_once)
    run_id, error = run_with(cfg)
    assert isinstance(error, RuntimeError) and "store rejected" in str(error)
    logged = MlflowClient(store_uri).get_run(run_id)
    assert logged.info.status == "FAILED"
    assert logged.data.tags["failure_reason"] == "RuntimeError: store rejected the batch"
    # the retry at the end still wrote what the run had
    assert "test_loss" in logged.data.metrics


class PruneAfter(optuna.pruners.BasePruner):
    """Prunes a trial once it has reported ``step``."""

    def __init__(self, step: int) -> None:
        self.step = step

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        return (trial.last_step or 0) >= self.step


@dataclass
class TrainerJob:
    """The trainer's task as a sweep's worker runs it (Hydra's run_job, in short): the trial's
    overrides composed into the config, what the task raises kept in the JobReturn."""

    make_config: Callable[..., Any]

    def run(self, overrides: list[str], number: int) -> JobReturn:
        result = JobReturn(status=JobStatus.COMPLETED)
        try:
            result.return_value = run(self.make_config(*FAST, "epochs=8", *overrides))
        except Exception as error:
            result.return_value, result.status = error, JobStatus.FAILED
        return result


@pytest.mark.parametrize("pruned", [False, True], ids=["complete", "pruned"])
def test_a_swept_run_is_its_trials_run_and_makes_the_same_four_calls(
        make_config, store_uri, counting, tmp_path, pruned):
    # the sweep opens the trial's run, the trainer writes into it, the sweep ends it with the
    # trial's state: its params, tags and metrics ride along in one write, as a run alone's
    from runkit.mlflow import get_or_create_experiment
    from sweeps.search import parse_search_space
    from sweeps.study import StorageSpec, load_or_create_study, open_storage
    from sweeps.tracking._trial_run import TrackingTarget
    from sweeps.workers import WorkerPlan, run_worker

    storage = StorageSpec(f"sqlite:///{tmp_path}/o.db", heartbeat_interval=None)
    study = load_or_create_study(open_storage(storage), "calls", direction="minimize")
    experiment = get_or_create_experiment(store_uri, "run-calls")
    plan = WorkerPlan(study_name="calls", storage=storage, sampler="random", seed=0,
                      pruner=PruneAfter(2) if pruned else "none",
                      space=parse_search_space({"optimizer.lr": "choice(0.01)"}), n_trials=1,
                      objective="val_loss", tracking=TrackingTarget(store_uri, experiment, None))
    run_worker(plan, TrainerJob(make_config))
    [trial] = study.get_trials()
    logged = MlflowClient(store_uri).get_run(trial.user_attrs["mlflow_run_id"])
    assert counting().calls == Counter(create_run=1, log_batch=1, log_inputs=1, set_terminated=1)
    assert logged.info.status == "FINISHED"
    assert logged.data.tags["optuna.study_name"] == "calls"
    assert logged.data.tags["optuna.trial_number"] == "0"
    assert logged.data.params["optimizer.lr"] == "0.01"
    assert {"dataset", "task", "loss"} <= set(logged.data.tags)  # the trainer's own
    curve = MlflowClient(store_uri).get_metric_history(logged.info.run_id, "intermediate_value")
    if pruned:
        assert trial.state == TrialState.PRUNED
        assert logged.data.tags["optuna.trial_state"] == "PRUNED"
        assert logged.data.tags["stop_reason"] == "pruned"
        assert logged.info.run_name == "trial-0 (pruned at step 2) calls"
        assert [m.step for m in curve] == [1, 2] and "value" not in logged.data.metrics
    else:
        assert trial.state == TrialState.COMPLETE
        assert logged.data.tags["optuna.trial_state"] == "COMPLETE"
        assert logged.info.run_name == "trial-0-calls"
        assert [m.step for m in curve] == list(range(1, 9))
        assert logged.data.metrics["value"] == trial.value


def test_the_models_metrics_are_written_without_a_rejected_row(run_with, make_config,
                                                                store_uri):
    # the kept epoch's values, logged again for the model, stay one point of the run's history;
    # the batch carries each row once, so the store never rejects one and rolls back
    cfg = make_config("epochs=4", "model.hidden=[16]", "early_stopping.enabled=false")
    rollbacks: list[object] = []
    listener = lambda session: rollbacks.append(session)  # noqa: E731
    event.listen(Session, "after_rollback", listener)
    try:
        run_id, error = run_with(cfg)
    finally:
        event.remove(Session, "after_rollback", listener)
    assert error is None and rollbacks == []
    client = MlflowClient(store_uri)
    logged = client.get_run(run_id)
    history = client.get_metric_history(run_id, "val_loss")
    assert [m.step for m in history] == [1, 2, 3, 4]
    (output,) = logged.outputs.model_outputs
    model_metrics = {(m.key, m.step): m.value for m in client.get_logged_model(
        output.model_id).metrics}
    kept = history[output.step - 1]
    assert model_metrics[("val_loss", output.step)] == kept.value
    assert model_metrics[("test_loss", 0)] == logged.data.metrics["test_loss"]


class SlowClock:
    """``time`` for the run module, where 10 s pass between two looks at the monotonic clock."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        self.now += 10.0
        return self.now

    @staticmethod
    def time() -> float:
        return time.time()


def test_a_long_run_writes_each_epoch_as_it_ends_and_its_last_metrics_once(run_with,
        make_config, store_uri, counting, monkeypatch):
    # when every epoch outlasts the write interval, each is written as it ends (its curves grow
    # while it trains); the metrics logged after training go with the run's final write
    monkeypatch.setattr(tracking_run, "time", SlowClock())
    cfg = make_config("epochs=3", "model.hidden=[16]", "early_stopping.enabled=false")
    run_id, error = run_with(cfg)
    assert error is None
    assert counting().calls["log_batch"] == 3 + 1
    client = MlflowClient(store_uri)
    assert [m.step for m in client.get_metric_history(run_id, "val_loss")] == [1, 2, 3]
    assert {"test_loss", "best_epoch", "stopped_epoch"} <= set(client.get_run(run_id).data.metrics)
