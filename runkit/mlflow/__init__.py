"""MLflow tracking through :class:`mlflow.MlflowClient`, for every run of this project.

Modules: ``store`` (tracking URIs, one client per process, experiments; ``store_template``
copies fresh SQLite stores; ``store_checks`` tells what is wrong with a store in one line),
``run`` (:class:`RunTracker`, one run; ending a run someone else left RUNNING), ``owner`` (which
process owns a run, and the runs whose process is gone), ``params`` (a config as params),
``tags`` (the tag names every run carries), ``disk_full`` (a full disk told in one line).

The client API (never the fluent ``mlflow.start_run`` global state) lets several runs, threads
and processes log at once without sharing a hidden active run.
"""

from __future__ import annotations

from runkit.mlflow.owner import end_killed, kill_run
from runkit.mlflow.params import flatten_config
from runkit.mlflow.run import RunTracker, end_open_runs
from runkit.mlflow.store import (
    created_here,
    default_artifact_root,
    get_client,
    get_or_create_experiment,
    prepare_store,
    resolve_tracking_uri,
)
from runkit.mlflow.store_checks import check_tracking_uri, open_experiment
from runkit.mlflow.tags import FAILURE_REASON_TAG

__all__ = [
    "FAILURE_REASON_TAG",
    "RunTracker",
    "check_tracking_uri",
    "created_here",
    "default_artifact_root",
    "end_killed",
    "end_open_runs",
    "flatten_config",
    "get_client",
    "get_or_create_experiment",
    "kill_run",
    "open_experiment",
    "prepare_store",
    "resolve_tracking_uri",
]
