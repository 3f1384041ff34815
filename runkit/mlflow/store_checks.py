"""Opening the MLflow store a run logs to, with one line for whatever is wrong with it.

MLflow answers a bad ``mlflow.tracking_uri`` with a long traceback, sometimes after minutes: an
unknown scheme, a directory (the file store MLflow 3 refuses), a SQLite file that is damaged or
is a directory, a store directory that is a file or read-only, a server nobody answers on (its
HTTP client retries for about four minutes by default). Each is checked here, in milliseconds,
before MLflow is asked; what MLflow still refuses is reported in one line naming the key.
Opening a store also ends the runs a dead process left RUNNING there
(:func:`runkit.mlflow.owner.end_abandoned_runs`).
"""

from __future__ import annotations

import os
import socket
from typing import Any
from urllib.parse import urlparse

from runkit.errors import ConfigError
from runkit.sqlite import check_sqlite_file, sqlite_path

__all__ = [
    "HTTP_DEFAULTS",
    "check_experiment_name",
    "check_tracking_uri",
    "open_experiment",
]

KEY = "mlflow.tracking_uri"
_EXPECTED = "an MLflow tracking URI such as sqlite:///mlruns/mlflow.db or http://host:5000"
# Schemes MLflow 3 can track to (SQLAlchemy URLs may name a driver: postgresql+psycopg2).
_DATABASES = ("sqlite", "postgresql", "mysql", "mssql")
_SCHEMES = (*_DATABASES, "http", "https", "databricks", "databricks-uc", "uc", "file")
# MLflow's HTTP client retries a dead server for minutes (7 retries, backoff factor 2, 120 s
# timeouts). A run fails within seconds instead, unless the user set these.
HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "20",
}
_CONNECT_TIMEOUT = 5.0  # seconds to reach a tracking server's port
_reaped: set[str] = set()  # stores this process has cleaned up already


def check_tracking_uri(value: Any, key: str = KEY) -> str:
    """The configured tracking URI if MLflow can use it; else one line why not, naming ``key``
    (the config key the value came from)."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(key, _EXPECTED, value)
    scheme = urlparse(value).scheme.split("+")[0].lower()
    if value in ("databricks", "databricks-uc", "uc"):
        return value
    if not scheme or scheme == "file":
        if os.environ.get("MLFLOW_ALLOW_FILE_STORE", "").lower() not in ("1", "true"):
            raise ConfigError(key, f"{_EXPECTED} (a directory is MLflow's old file store, which "
                              "MLflow 3 refuses unless MLFLOW_ALLOW_FILE_STORE=true; for a "
                              "store in that directory write sqlite:///DIR/mlflow.db)", value)
        return value
    if len(scheme) == 1:  # a Windows drive letter: a path, i.e. a file store
        return value
    if scheme not in _SCHEMES:
        raise ConfigError(key, f"{_EXPECTED} (schemes: {', '.join(_SCHEMES)})", value)
    return value


def check_experiment_name(value: Any, key: str = "mlflow.experiment") -> str:
    """An experiment's name (the config's ``key``): a non-empty string."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(key, "a non-empty experiment name", value)
    return value


def _check_server(uri: str, key: str) -> None:
    """Something answers on the server's port (a dead server fails in seconds, not minutes)."""
    for name, value in HTTP_DEFAULTS.items():
        os.environ.setdefault(name, value)
    parsed = urlparse(uri)
    host = parsed.hostname
    if not host:
        raise ConfigError(key, f"{_EXPECTED} (no host in it)", uri)
    try:
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
    except ValueError:
        raise ConfigError(key, f"{_EXPECTED} (its port is not a number)", uri) from None
    try:
        with socket.create_connection((host, port), timeout=_CONNECT_TIMEOUT):
            pass
    except OSError as error:
        reason = error.strerror or str(error) or type(error).__name__
        raise ConfigError(key, f"a reachable MLflow server (nothing answers on {host}:{port}: "
                          f"{reason})", uri) from None


def _one_line(error: BaseException, limit: int = 240) -> str:
    # A server that is not MLflow's answers with a page of HTML after "Response body:".
    text = " ".join(str(error).split(" Response body")[0].split()) or type(error).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def open_experiment(uri: str, name: str, *, key: str = KEY,
                    experiment_key: str = "mlflow.experiment") -> str:
    """Open (creating if needed) the store at ``uri`` and the experiment ``name``; return its id.

    Runs left RUNNING in the store by processes that are gone are ended KILLED on the first
    opening in this process.

    Raises:
        ConfigError: the store cannot be used, in one line naming ``key`` (or
            ``experiment_key``): the config keys the URI and the name came from.
    """
    from runkit.mlflow.owner import end_abandoned_runs
    from runkit.mlflow.store import created_here, get_client, get_or_create_experiment

    check_experiment_name(name, experiment_key)
    scheme = urlparse(uri).scheme.lower()
    db = sqlite_path(uri)
    if db is not None:
        check_sqlite_file(db, key=key, what="an MLflow SQLite store", shown=uri)
    elif scheme in ("http", "https"):
        _check_server(uri, key)
    try:
        client = get_client(uri)
        experiment_id = get_or_create_experiment(uri, name, key=experiment_key)
    except ConfigError:
        raise
    except Exception as error:  # MLflow's, SQLAlchemy's or the OS's refusal, as one line
        raise ConfigError(key, "a store MLflow can open", f"{uri} ({_one_line(error)})") from None
    if uri not in _reaped:
        _reaped.add(uri)
        if not created_here(uri):  # a store created just now has no run to end (0.1 s saved)
            end_abandoned_runs(client)
    return experiment_id
