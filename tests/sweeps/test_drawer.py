"""The picture drawer: a trial's learning curves drawn by a helper process, none ever lost."""

from __future__ import annotations

import uuid

import pytest

from runkit.mlflow import RunTracker, get_client, get_or_create_experiment
from sweeps.tracking._drawer import PICTURE, PictureDrawer

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
