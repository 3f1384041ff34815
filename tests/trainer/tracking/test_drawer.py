"""The picture drawer: a trial's learning curves drawn by a helper process, none ever lost."""

from __future__ import annotations

import uuid

import pytest

from runkit.mlflow import RunTracker, get_client, get_or_create_experiment
from trainer.tracking.drawer import PICTURE, PictureDrawer

HISTORY = [{"epoch": float(e), "train_loss": 1.0 / e, "val_loss": 1.2 / e,
            "train_accuracy": 1 - 0.5 / e, "val_accuracy": 1 - 0.6 / e} for e in range(1, 6)]


def _finished_run(uri: str) -> str:
    experiment_id = get_or_create_experiment(uri, f"drawer-{uuid.uuid4().hex[:8]}")
    with RunTracker.start(uri, experiment_id) as tracker:
        return tracker.run_id


def _pictures(uri: str, run_id: str) -> list[str]:
    return [a.path for a in get_client(uri).list_artifacts(run_id) if a.path == PICTURE]


@pytest.mark.slow  # the drawer is a Python process importing MLflow and matplotlib
def test_the_drawer_logs_each_picture_to_its_run(store_uri: str) -> None:
    # Pictures handed to the drawer are logged to their (already finished) runs by the time
    # finish() returns.
    runs = [_finished_run(store_uri) for _ in range(2)]
    drawer = PictureDrawer(store_uri)
    for run_id in runs:
        drawer.draw(run_id, HISTORY, "digits (categorical_crossentropy)", 3)
    drawer.finish()
    for run_id in runs:
        assert _pictures(store_uri, run_id) == [PICTURE]


def test_a_dead_drawer_loses_no_picture(store_uri: str) -> None:
    # If the drawer process dies, finish() draws what it did not confirm in this process.
    run_id = _finished_run(store_uri)
    drawer = PictureDrawer(store_uri)
    drawer._process.kill()
    drawer._process.wait()
    drawer.draw(run_id, HISTORY, "digits", None)
    drawer.finish()
    assert _pictures(store_uri, run_id) == [PICTURE]


@pytest.mark.slow  # the drawer is a Python process importing MLflow and matplotlib
def test_only_a_swept_run_with_the_machine_to_itself_hands_its_picture_over(
        store_uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # outside a sweep, or with the cores shared among workers, a run draws its own picture;
    # a worker alone on 2 cores gets one drawer, finished when its trials are done
    import optuna

    from runkit import process
    from sweeps._session import TrialSession, running  # the worker's side, to run as a trial
    from trainer.tracking import drawer

    monkeypatch.setattr(process, "available_cores", lambda: 2)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert drawer.drawer_for(store_uri) is None  # not a sweep
    with running(TrialSession(optuna.create_study().ask())):
        monkeypatch.setenv("OMP_NUM_THREADS", "1")  # one of two workers
        assert drawer.drawer_for(store_uri) is None
        monkeypatch.setenv("OMP_NUM_THREADS", "2")  # the only one
        first = drawer.drawer_for(store_uri)
        assert first is not None and drawer.drawer_for(store_uri) is first
        run_id = _finished_run(store_uri)
        first.draw(run_id, HISTORY, "digits", 2)
    process.done()  # the worker's trials are done: every picture is in place
    assert _pictures(store_uri, run_id) == [PICTURE]
    assert drawer._drawer is None
