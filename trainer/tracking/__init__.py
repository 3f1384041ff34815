"""MLflow tracking of training runs through :class:`mlflow.MlflowClient`.

Modules: ``store`` (tracking URIs, one client per process, experiments; ``store_template``
copies fresh SQLite stores), ``run`` (:class:`RunTracker`, one run), ``params`` (a config as
params), ``tags`` (every tag name), ``model`` (the pyfunc model), ``pictures`` (learning curves).

The client API (never the fluent ``mlflow.start_run`` global state) lets several runs, threads
and processes log at once without sharing a hidden active run.
"""

from __future__ import annotations

from trainer.tracking.params import flatten_config
from trainer.tracking.run import RunTracker, end_open_runs, failure_reason
from trainer.tracking.store import (
    default_artifact_root,
    get_client,
    get_or_create_experiment,
    prepare_store,
    resolve_tracking_uri,
)
from trainer.tracking.tags import FAILURE_REASON_TAG

__all__ = [
    "FAILURE_REASON_TAG",
    "RunTracker",
    "default_artifact_root",
    "end_open_runs",
    "failure_reason",
    "flatten_config",
    "get_client",
    "get_or_create_experiment",
    "prepare_store",
    "resolve_tracking_uri",
]
