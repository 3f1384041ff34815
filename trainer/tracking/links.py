"""Links into the MLflow UI that open on the model-training view.

MLflow 3's UI opens an experiment on its GenAI view (traces) until the "Model training" switch is
clicked; ``?workflowType=machine_learning`` asks for the model-training view instead, so the run
lines the trainer prints link straight to it.
"""

from __future__ import annotations

from urllib.parse import urlparse

__all__ = ["LOCAL_UI", "VIEW", "run_link"]

VIEW = "workflowType=machine_learning"
LOCAL_UI = "http://127.0.0.1:5000"  # where `mlflow ui` serves by default


def run_link(uri: str, experiment_id: str, run_id: str) -> str:
    """The run's page: on the tracking server itself for an ``http(s)`` URI; for a local store,
    the page of ``mlflow ui`` started on it (the command is part of the text)."""
    path = f"#/experiments/{experiment_id}/runs/{run_id}?{VIEW}"
    if urlparse(uri).scheme in ("http", "https"):
        return f"{uri.rstrip('/')}/{path}"
    return f"{LOCAL_UI}/{path} (after `mlflow ui --backend-store-uri {uri}`)"
