"""A store a run cannot use is told in one line naming the key, in milliseconds, before MLflow
is asked (MLflow answers with tracebacks, a dead server after minutes of retries)."""

from __future__ import annotations

import os
import shutil
import socket
import time
from pathlib import Path

import pytest

from runkit.mlflow import get_client
from runkit.mlflow.store_checks import check_experiment_name, check_tracking_uri, open_experiment
from trainer.errors import ConfigError


@pytest.mark.parametrize("value", ["", "   ", None, 3, ["sqlite:///a.db"]])
def test_a_missing_tracking_uri_is_refused(value) -> None:
    with pytest.raises(ConfigError, match=r"^mlflow\.tracking_uri: expected an MLflow tracking"):
        check_tracking_uri(value)


def test_an_unknown_scheme_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"schemes: sqlite, postgresql.*got 'ftp://x'"):
        check_tracking_uri("ftp://x")


@pytest.mark.parametrize("value", ["./dir", "file:///tmp/dir", "mlruns"])
def test_a_directory_is_the_file_store_mlflow_3_refuses(value, monkeypatch) -> None:
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    with pytest.raises(ConfigError, match="MLFLOW_ALLOW_FILE_STORE=true.*sqlite:///DIR/mlflow.db"):
        check_tracking_uri(value)
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    assert check_tracking_uri(value) == value


@pytest.mark.parametrize("value", ["sqlite:///mlruns/mlflow.db", "http://h:5000",
                                   "postgresql+psycopg2://u@h/db", "databricks"])
def test_usable_uris_pass(value) -> None:
    assert check_tracking_uri(value) == value


@pytest.mark.parametrize("value", ["", None, ["a", "b"], 7])
def test_experiment_name_must_be_a_non_empty_string(value) -> None:
    with pytest.raises(ConfigError, match=r"^mlflow\.experiment: expected a non-empty"):
        check_experiment_name(value)


def _uri(db: Path) -> str:
    return f"sqlite:///{db}"


def _refused(uri: str, pattern: str) -> None:
    started = time.monotonic()
    with pytest.raises(ConfigError, match=pattern) as caught:
        open_experiment(uri, "trainer")
    assert "\n" not in str(caught.value)
    assert str(caught.value).startswith("mlflow.tracking_uri: expected")
    assert time.monotonic() - started < 30  # a bound on hanging, not a speed claim


def test_garbage_and_truncated_databases_are_refused_and_kept(tmp_path: Path) -> None:
    # a file that is not SQLite, or a store cut short, is named; the user's file stays as it was
    garbage = tmp_path / "garbage" / "mlflow.db"
    garbage.parent.mkdir()
    garbage.write_bytes(os.urandom(5000))
    _refused(_uri(garbage), "is not a SQLite database")
    assert garbage.stat().st_size == 5000
    good = tmp_path / "good" / "mlflow.db"
    get_client(_uri(good))  # a real store
    truncated = tmp_path / "truncated" / "mlflow.db"
    truncated.parent.mkdir()
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 3])
    _refused(_uri(truncated), "is damaged")


def test_a_database_that_is_a_directory_and_a_store_directory_that_is_a_file(tmp_path) -> None:
    (tmp_path / "a" / "mlflow.db").mkdir(parents=True)
    _refused(_uri(tmp_path / "a" / "mlflow.db"), "a SQLite file at .*, not a directory")
    (tmp_path / "mlruns").write_text("not a directory")
    _refused(_uri(tmp_path / "mlruns" / "mlflow.db"), r"mlruns is a file")


def test_a_read_only_store_directory(tmp_path: Path) -> None:
    # as root, permissions do not stop writes: only a read-only mount does (skipped without one)
    mlruns = tmp_path / "mlruns"
    mlruns.mkdir()
    if os.geteuid() == 0:
        if shutil.which("mount") is None or os.system(
                f"mount -t tmpfs -o size=1m,ro tmpfs {mlruns} 2>/dev/null") != 0:
            pytest.skip("root, and no read-only mount available")
    else:
        mlruns.chmod(0o555)
    try:
        _refused(_uri(mlruns / "mlflow.db"), "read-only")
    finally:
        if os.geteuid() == 0:
            os.system(f"umount -l {mlruns}")
        else:
            mlruns.chmod(0o755)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_server_nobody_answers_on_fails_at_once(monkeypatch) -> None:
    # nothing listens: refused in one line instead of MLflow's minutes of retries; MLflow's
    # retry settings are lowered for later calls unless the user set them
    monkeypatch.delenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", raising=False)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "77")
    port = _free_port()
    _refused(f"http://127.0.0.1:{port}/", rf"a reachable MLflow server \(nothing answers on "
                                          rf"127.0.0.1:{port}")
    assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "2"
    assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "77"


def test_a_server_that_is_not_mlflow_is_one_short_line(tmp_path) -> None:
    # something answers on the port but not MLflow's API: the status, not its HTML page
    import http.server
    import threading

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        uri = f"http://127.0.0.1:{server.server_address[1]}/"
        with pytest.raises(ConfigError, match="error code 404") as caught:
            open_experiment(uri, "trainer")
        assert "<html" not in str(caught.value).lower() and "\n" not in str(caught.value)
    finally:
        server.shutdown()


def test_only_a_store_this_process_did_not_create_is_searched_for_abandoned_runs(
        tmp_path, monkeypatch) -> None:
    # A store created just now holds no earlier command's run: no search. One that was there
    # (created by another process) is searched once, on its first opening here.
    import subprocess
    import sys

    from runkit.mlflow import store, store_checks

    searched: list[str] = []
    monkeypatch.setattr("runkit.mlflow.owner.end_abandoned_runs",
                        lambda client: searched.append(client.tracking_uri) or [])
    new = f"sqlite:///{tmp_path}/new/mlflow.db"
    open_experiment(new, "trainer")
    assert store.created_here(new) and searched == []

    existing = f"sqlite:///{tmp_path}/old/mlflow.db"
    subprocess.run([sys.executable, "-c", "from runkit.mlflow import get_client; "
                    f"get_client({existing!r})"], check=True, env={**os.environ})
    open_experiment(existing, "trainer")
    open_experiment(existing, "trainer")
    assert not store.created_here(existing) and searched == [existing]
    assert existing in store_checks._reaped
