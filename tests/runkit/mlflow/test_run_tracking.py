"""MLflow tracking: URIs, store creation under concurrency, params, buffered metrics, run status."""

from __future__ import annotations

import multiprocessing
import subprocess
import uuid
from pathlib import Path

import pytest
from matplotlib.figure import Figure
from mlflow import MlflowClient

from runkit.mlflow import (
    FAILURE_REASON_TAG,
    RunTracker,
    default_artifact_root,
    flatten_config,
    get_client,
    get_or_create_experiment,
    prepare_store,
    resolve_tracking_uri,
)
from runkit.mlflow import store as tracking_store
from trainer.errors import ConfigError


@pytest.fixture
def experiment_id(store_uri: str) -> str:
    return get_or_create_experiment(store_uri, f"tracking-{uuid.uuid4().hex[:8]}")


def _run(store_uri: str, run_id: str):
    return get_client(store_uri).get_run(run_id)


# --------------------------------------------------------------------------- URIs


def test_relative_sqlite_uri_resolves_against_base_dir(tmp_path: Path) -> None:
    # a relative SQLite path is anchored at the start directory, not the (Hydra) cwd
    assert resolve_tracking_uri("sqlite:///mlruns/mlflow.db", tmp_path) == (
        f"sqlite:///{tmp_path.resolve()}/mlruns/mlflow.db"
    )


@pytest.mark.parametrize(
    "uri",
    ["sqlite:////abs/dir/mlflow.db", "http://localhost:5000", "postgresql://u@h/db", "databricks"],
)
def test_absolute_and_remote_uris_are_unchanged(uri: str, tmp_path: Path) -> None:
    # only relative local paths depend on the base directory
    assert resolve_tracking_uri(uri, tmp_path) == uri


def test_plain_directory_becomes_file_uri(tmp_path: Path) -> None:
    # a bare directory (the MLflow 2 habit) becomes an absolute file: URI
    assert resolve_tracking_uri("mlruns", tmp_path) == (tmp_path.resolve() / "mlruns").as_uri()


def test_default_artifact_root_is_the_database_directory(tmp_path: Path) -> None:
    # artifacts of a local SQLite store live beside the database (mlruns/), remote: server decides
    assert default_artifact_root(f"sqlite:///{tmp_path}/mlruns/mlflow.db") == (
        (tmp_path / "mlruns").as_uri()
    )
    assert default_artifact_root("http://localhost:5000") is None


# --------------------------------------------------------------------------- params


def test_flatten_config_dotted_keys_and_yaml_like_values() -> None:
    # nested keys are joined with dots; lists, None and bools read as in the YAML; nothing skipped
    cfg = {
        "optimizer": {"name": "adam", "lr": 0.001},
        "model": {"hidden": [64, 32]},
        "loss": None,
        "early_stopping": {"enabled": True},
        "extra": {},
    }
    assert flatten_config(cfg) == {
        "optimizer.name": "adam",
        "optimizer.lr": "0.001",
        "model.hidden": "[64, 32]",
        "loss": "null",
        "early_stopping.enabled": "true",
        "extra": "{}",
    }


def test_log_params_flattens_chunks_and_truncates(store_uri: str, experiment_id: str) -> None:
    # more than MLflow's 100 params per batch all land; an over-long value is cut, not rejected
    params = {"group": {f"p{i:03d}": i for i in range(150)}, "model": {"hidden": [64, 32]}}
    params["long"] = "x" * 10_000
    with RunTracker.start(store_uri, experiment_id) as tracker:
        tracker.log_params(params)
    logged = _run(store_uri, tracker.run_id).data.params
    assert len(logged) == 152
    assert logged["group.p149"] == "149"
    assert logged["model.hidden"] == "[64, 32]"
    assert logged["long"] == "x" * 6000


# --------------------------------------------------------------------------- metrics


def test_epoch_metrics_land_with_step_epoch_after_flush(store_uri: str, experiment_id: str) -> None:
    # each epoch's value is stored at step=epoch, none lost by the buffering
    with RunTracker.start(store_uri, experiment_id) as tracker:
        for epoch in range(1, 31):
            tracker.log_epoch(epoch, {"train_loss": 1.0 / epoch, "val_accuracy": epoch / 100})
    client = get_client(store_uri)
    history = client.get_metric_history(tracker.run_id, "train_loss")
    assert sorted((m.step, m.value) for m in history) == [(e, 1.0 / e) for e in range(1, 31)]
    accuracy = client.get_metric_history(tracker.run_id, "val_accuracy")
    assert sorted(m.step for m in accuracy) == list(range(1, 31))


def test_metrics_are_buffered_until_flush(store_uri: str, experiment_id: str) -> None:
    # within the flush interval nothing is written; flush writes it all in one batch
    tracker = RunTracker.start(store_uri, experiment_id)
    tracker.flush_interval = 3600.0
    calls = []
    real_log_batch = tracker.client.log_batch

    def counting_log_batch(*args, **kwargs):
        calls.append(kwargs)
        return real_log_batch(*args, **kwargs)

    tracker.client = type("Spy", (), {})()  # only log_batch is used for metrics
    tracker.client.log_batch = counting_log_batch
    for epoch in range(1, 101):
        tracker.log_epoch(epoch, {"a": 1.0, "b": 2.0, "c": 3.0})
    assert calls == []
    tracker.flush()
    assert len(calls) == 1 and len(calls[0]["metrics"]) == 300
    tracker.client = get_client(store_uri)
    tracker.end()
    assert len(get_client(store_uri).get_metric_history(tracker.run_id, "c")) == 100


def test_full_buffer_is_written_without_waiting(store_uri: str, experiment_id: str) -> None:
    # a large buffer is flushed at once even when the interval has not passed
    tracker = RunTracker.start(store_uri, experiment_id, tags={"kind": "buffer"})
    tracker.flush_interval = 3600.0
    tracker.max_buffered = 10
    for epoch in range(1, 5):
        tracker.log_epoch(epoch, {"a": float(epoch), "b": 0.0, "c": 0.0})
    history = get_client(store_uri).get_metric_history(tracker.run_id, "a")
    assert sorted(m.step for m in history) == [1, 2, 3, 4]  # 12 values >= 10: written
    tracker.end()


def test_final_metrics_default_to_step_zero(store_uri: str, experiment_id: str) -> None:
    # log_metrics without a step (test_* at the end) is written too, at step 0
    with RunTracker.start(store_uri, experiment_id) as tracker:
        tracker.log_metrics({"test_accuracy": 0.9, "best_epoch": 7})
    run = _run(store_uri, tracker.run_id)
    assert run.data.metrics == {"test_accuracy": 0.9, "best_epoch": 7.0}


# --------------------------------------------------------------------------- status


def test_normal_exit_finishes_the_run(store_uri: str, experiment_id: str) -> None:
    # leaving the block normally ends the run FINISHED, with its name
    with RunTracker.start(store_uri, experiment_id, run_name="fine") as tracker:
        tracker.log_epoch(1, {"val_loss": 0.5})
    run = _run(store_uri, tracker.run_id)
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "fine"
    assert run.info.end_time is not None


def test_exception_fails_the_run_with_one_line_reason(store_uri: str, experiment_id: str) -> None:
    # an error marks the run FAILED, records the reason on one line, and still propagates
    with pytest.raises(ValueError), RunTracker.start(store_uri, experiment_id) as tracker:
        tracker.log_epoch(1, {"val_loss": 0.5})
        raise ValueError("loss became nan\nat epoch 3")
    run = _run(store_uri, tracker.run_id)
    assert run.info.status == "FAILED"
    assert run.data.tags[FAILURE_REASON_TAG] == "ValueError: loss became nan at epoch 3"
    assert run.data.metrics == {"val_loss": 0.5}  # buffered metrics were written first


def test_user_error_reason_is_its_own_message(store_uri: str, experiment_id: str) -> None:
    # a user error already names the key: its message is the reason, verbatim
    error = ConfigError("optimizer.lr", "a positive number", -1)
    with pytest.raises(ConfigError), RunTracker.start(store_uri, experiment_id) as tracker:
        raise error
    assert _run(store_uri, tracker.run_id).data.tags[FAILURE_REASON_TAG] == str(error)


def test_keyboard_interrupt_kills_the_run(store_uri: str, experiment_id: str) -> None:
    # Ctrl-C (or SIGTERM turned into an interrupt) leaves the run KILLED, not RUNNING
    with pytest.raises(KeyboardInterrupt), RunTracker.start(store_uri, experiment_id) as tracker:
        raise KeyboardInterrupt
    assert _run(store_uri, tracker.run_id).info.status == "KILLED"


def test_nonzero_system_exit_kills_the_run(store_uri: str, experiment_id: str) -> None:
    # a SIGTERM handler raising SystemExit(143) ends the run KILLED
    with pytest.raises(SystemExit), RunTracker.start(store_uri, experiment_id) as tracker:
        raise SystemExit(143)
    assert _run(store_uri, tracker.run_id).info.status == "KILLED"


def test_end_is_idempotent(store_uri: str, experiment_id: str) -> None:
    # the first end wins: a later end (the context exit) does not overwrite the status
    with RunTracker.start(store_uri, experiment_id) as tracker:
        tracker.end("KILLED")
    assert _run(store_uri, tracker.run_id).info.status == "KILLED"
    with pytest.raises(ValueError):
        tracker.end("RUNNING")


def test_unreachable_store_at_end_only_warns(
    store_uri: str, experiment_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    # ending never raises past a warning, so it cannot hide the training error that caused it
    tracker = RunTracker.start(store_uri, experiment_id)
    tracker.log_epoch(1, {"val_loss": 0.5})

    class DeadClient:
        def __getattr__(self, name: str):
            def fail(*args, **kwargs):
                raise ConnectionError("store unreachable")

            return fail

    tracker.client = DeadClient()
    tracker.end("FAILED", failure_reason="boom")
    assert tracker.ended
    assert "could not mark it FAILED" in caplog.text
    # clean up: the run really is still RUNNING in the store, end it for the session store
    RunTracker(get_client(store_uri), tracker.run_id).end("KILLED")


# --------------------------------------------------------------------------- tags and artifacts


def test_parent_run_and_tags(store_uri: str, experiment_id: str) -> None:
    # a child run points at its parent and carries the given tags
    with RunTracker.start(store_uri, experiment_id, run_name="sweep") as parent:
        child = RunTracker.start(
            store_uri, experiment_id, parent_run_id=parent.run_id, tags={"trial": "3"}
        )
        with child:
            child.set_tags({"task": "classification"})
    tags = _run(store_uri, child.run_id).data.tags
    assert tags["mlflow.parentRunId"] == parent.run_id
    assert tags["trial"] == "3" and tags["task"] == "classification"
    assert "mlflow.parentRunId" not in _run(store_uri, parent.run_id).data.tags


def test_git_commit_tag_inside_a_repository(
    store_uri: str, experiment_id: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a run started inside a git repository records the commit it ran from
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    subprocess.run([*git, "init", "-q", str(tmp_path)], check=True)
    subprocess.run(
        [*git, "-C", str(tmp_path), "commit", "-q", "--allow-empty", "-m", "x"], check=True
    )
    head = subprocess.run(
        ["git", "-C", str(tmp_path), "rev-parse", "HEAD"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    monkeypatch.chdir(tmp_path)
    with RunTracker.start(store_uri, experiment_id) as tracker:
        pass
    assert _run(store_uri, tracker.run_id).data.tags["mlflow.source.git.commit"] == head


def test_config_text_and_png_figure_artifacts(store_uri: str, experiment_id: str) -> None:
    # the resolved config and the learning-curve picture are stored with the run
    figure = Figure()
    figure.subplots().plot([1, 2, 3], [3, 1, 2])
    with RunTracker.start(store_uri, experiment_id) as tracker:
        tracker.log_text("optimizer:\n  lr: 0.1\n", "config.yaml")
        tracker.log_figure(figure, "learning_curves.png")
    root = Path(tracker.artifact_uri().removeprefix("file://"))
    assert (root / "config.yaml").read_text() == "optimizer:\n  lr: 0.1\n"
    assert (root / "learning_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the experiment keeps artifacts beside the database, not under the cwd
    assert root.is_relative_to(Path(store_uri.removeprefix("sqlite:///")).parent)


def test_same_experiment_name_gives_same_id(store_uri: str) -> None:
    # get_or_create is idempotent within a process
    name = f"same-{uuid.uuid4().hex[:8]}"
    assert get_or_create_experiment(store_uri, name) == get_or_create_experiment(store_uri, name)


def test_deleted_experiment_is_a_config_error(store_uri: str) -> None:
    # a deleted experiment is not silently reused: the error names mlflow.experiment
    name = f"deleted-{uuid.uuid4().hex[:8]}"
    get_client(store_uri).delete_experiment(get_or_create_experiment(store_uri, name))
    with pytest.raises(ConfigError, match=r"^mlflow\.experiment: "):
        get_or_create_experiment(store_uri, name)


# --------------------------------------------------------------------------- concurrency


def _first_use(uri: str, barrier, results) -> None:
    barrier.wait()  # all processes hit the fresh store at the same moment
    try:
        prepare_store(uri)
        experiment_id = get_or_create_experiment(uri, "shared")
        with RunTracker.start(uri, experiment_id) as tracker:
            tracker.log_epoch(1, {"val_loss": 1.0})
        results.put(("ok", experiment_id))
    except Exception as exc:  # reported to the parent, which fails the test
        results.put(("error", repr(exc)))


@pytest.mark.slow
def test_concurrent_first_use_creates_one_store_and_one_experiment(tmp_path: Path) -> None:
    # 4 processes opening a fresh store and creating one experiment at once: no corruption,
    # one experiment id, every run in it (without the lock, 3 of 4 fail with "table exists")
    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("needs the fork start method (workers must not re-import for seconds)")
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(4), context.Queue()
    workers = [context.Process(target=_first_use, args=(uri, barrier, results)) for _ in range(4)]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
    assert [status for status, _ in outcomes] == ["ok"] * 4, outcomes
    assert len({experiment_id for _, experiment_id in outcomes}) == 1
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("shared")
    assert experiment.experiment_id == outcomes[0][1]
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 4 and {run.info.status for run in runs} == {"FINISHED"}


def test_prepare_store_is_cached_per_process(store_uri: str) -> None:
    # a second prepare of the same URI reuses the client instead of reopening the store
    prepare_store(store_uri)
    client = tracking_store._clients[store_uri]
    prepare_store(store_uri)
    assert tracking_store._clients[store_uri] is client
