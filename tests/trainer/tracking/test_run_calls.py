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
from pathlib import Path
from typing import Any

import pytest
from mlflow import MlflowClient
from omegaconf import OmegaConf
from sqlalchemy import event
from sqlalchemy.orm import Session

from trainer import run_context
from trainer.app import run
from trainer.core.callbacks import Callback
from trainer.tracking import run as tracking_run
from trainer.tracking.tags import STUDY_TAG, TRIAL_NUMBER_TAG, TRIAL_STATE_TAG

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


def _run(cfg: Any, *callbacks: Callback, tags: dict[str, str] | None = None,
         ) -> tuple[str, BaseException | None]:
    """Run ``cfg`` with extra fit-loop callbacks (and a sweep trial's ``tags``); return its
    MLflow run id and what it raised."""
    started: list[str] = []
    context = run_context.RunContext(on_run_started=started.append, tags=tags or {},
                                     callbacks=tuple(lambda c=c: c for c in callbacks))
    try:
        with run_context.use(context):
            run(cfg)
    except BaseException as error:  # KeyboardInterrupt included
        return started[0], error
    return started[0], None


def test_a_run_makes_four_store_calls_besides_its_model(make_config, store_uri, counting):
    # create_run, one log_batch with every param, tag and metric, one log_inputs with the three
    # dataset parts, set_terminated; the config and the picture go to the artifact repository
    # without looking the run up again
    cfg = make_config(*FAST)
    run_id, error = _run(cfg)
    assert error is None
    assert counting().calls == Counter(create_run=1, log_batch=1, log_inputs=1, set_terminated=1)
    logged = MlflowClient(store_uri).get_run(run_id)
    assert logged.info.status == "FINISHED"
    assert logged.data.params["model.hidden"] == "[16]"
    assert {"task", "loss", "stop_reason", "dataset"} <= set(logged.data.tags)
    history = MlflowClient(store_uri).get_metric_history(run_id, "val_loss")
    assert [m.step for m in history] == [1, 2, 3, 4]
    assert {"test_loss", "best_epoch", "stopped_epoch"} <= set(logged.data.metrics)


def test_the_config_artifact_is_the_resolved_yaml(make_config, store_uri):
    # the artifact holds exactly OmegaConf's YAML of the resolved config, beside the picture
    cfg = make_config(*FAST)
    run_id, error = _run(cfg)
    assert error is None
    client = MlflowClient(store_uri)
    root = Path(client.get_run(run_id).info.artifact_uri.removeprefix("file://"))
    assert (root / "config.yaml").read_text(encoding="utf-8") == OmegaConf.to_yaml(
        cfg, resolve=True)
    assert (root / "learning_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert {a.path for a in client.list_artifacts(run_id)} == {"config.yaml",
                                                                "learning_curves.png"}


def test_a_run_interrupted_mid_training_keeps_its_epochs_and_ends_killed(
        make_config, store_uri, counting):
    # Ctrl-C at epoch 3: the buffered epochs, params and tags are written as the run ends
    cfg = make_config("epochs=8", "model.hidden=[16]", "mlflow.log_model=false",
                      "early_stopping.enabled=false")
    run_id, error = _run(cfg, StopAt(3, KeyboardInterrupt()))
    assert isinstance(error, KeyboardInterrupt)
    logged = MlflowClient(store_uri).get_run(run_id)
    assert logged.info.status == "KILLED" and logged.info.end_time is not None
    assert logged.data.tags["failure_reason"] == "interrupted (Ctrl-C)"
    assert logged.data.params["epochs"] == "8"
    client = MlflowClient(store_uri)
    for key in ("train_loss", "val_loss", "val_accuracy"):
        assert [m.step for m in client.get_metric_history(run_id, key)] == [1, 2, 3]
    assert counting().calls == Counter(create_run=1, log_batch=1, log_inputs=1, set_terminated=1)


def test_a_run_failing_mid_training_keeps_its_epochs_and_ends_failed(make_config, store_uri):
    cfg = make_config("epochs=8", "model.hidden=[16]", "mlflow.log_model=false",
                      "early_stopping.enabled=false")
    run_id, error = _run(cfg, StopAt(2, RuntimeError("boom")))
    assert isinstance(error, RuntimeError)
    logged = MlflowClient(store_uri).get_run(run_id)
    assert logged.info.status == "FAILED"
    assert logged.data.tags["failure_reason"] == "RuntimeError: boom"
    history = MlflowClient(store_uri).get_metric_history(run_id, "val_loss")
    assert [m.step for m in history] == [1, 2]


def test_a_failed_final_write_fails_the_run_with_its_reason(make_config, store_uri,
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
    run_id, error = _run(cfg)
    assert isinstance(error, RuntimeError) and "store rejected" in str(error)
    logged = MlflowClient(store_uri).get_run(run_id)
    assert logged.info.status == "FAILED"
    assert logged.data.tags["failure_reason"] == "RuntimeError: store rejected the batch"
    # the retry at the end still wrote what the run had
    assert "test_loss" in logged.data.metrics


class PruneAt(Callback):
    """Stops the loop as a sweep's pruner does, at the end of epoch ``epoch``."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_epoch_end(self, loop: Any, epoch: int, logs: dict[str, float]) -> None:
        if epoch == self.epoch:
            loop.request_stop("pruned")


def test_a_pruned_trial_is_named_and_tagged_in_the_same_write(make_config, store_uri, counting):
    # a sweep trial's state and its pruned name ride along with its metrics
    cfg = make_config("epochs=8", "model.hidden=[16]", "mlflow.log_model=false")
    run_id, error = _run(cfg, PruneAt(2), tags={STUDY_TAG: "calls", TRIAL_NUMBER_TAG: "7"})
    assert error is None
    logged = MlflowClient(store_uri).get_run(run_id)
    assert logged.info.status == "FINISHED"
    assert logged.data.tags[TRIAL_STATE_TAG] == "PRUNED"
    assert logged.data.tags["stop_reason"] == "pruned"
    assert logged.info.run_name == "trial-7 (pruned at epoch 2) calls"
    assert counting().calls == Counter(create_run=1, log_batch=1, log_inputs=1, set_terminated=1)


def test_a_completed_trial_is_tagged_complete(make_config, store_uri):
    cfg = make_config(*FAST)
    run_id, error = _run(cfg, tags={STUDY_TAG: "calls", TRIAL_NUMBER_TAG: "8"})
    assert error is None
    logged = MlflowClient(store_uri).get_run(run_id)
    assert logged.data.tags[TRIAL_STATE_TAG] == "COMPLETE"
    assert logged.info.run_name == "trial-8-calls"


def test_the_models_metrics_are_written_without_a_rejected_row(make_config, store_uri):
    # the kept epoch's values, logged again for the model, stay one point of the run's history;
    # the batch carries each row once, so the store never rejects one and rolls back
    cfg = make_config("epochs=4", "model.hidden=[16]", "early_stopping.enabled=false")
    rollbacks: list[object] = []
    listener = lambda session: rollbacks.append(session)  # noqa: E731
    event.listen(Session, "after_rollback", listener)
    try:
        run_id, error = _run(cfg)
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


def test_a_long_run_writes_each_epoch_as_it_ends_and_its_last_metrics_once(
        make_config, store_uri, counting, monkeypatch):
    # when every epoch outlasts the write interval, each is written as it ends (its curves grow
    # while it trains); the metrics logged after training go with the run's final write
    monkeypatch.setattr(tracking_run, "time", SlowClock())
    cfg = make_config("epochs=3", "model.hidden=[16]", "early_stopping.enabled=false")
    run_id, error = _run(cfg)
    assert error is None
    assert counting().calls["log_batch"] == 3 + 1
    client = MlflowClient(store_uri)
    assert [m.step for m in client.get_metric_history(run_id, "val_loss")] == [1, 2, 3]
    assert {"test_loss", "best_epoch", "stopped_epoch"} <= set(client.get_run(run_id).data.metrics)
