"""Shared fixtures: composed configs, one MLflow store per test session (opening a store costs
about a second, so tests share it), the runs a test starts."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

CONFIG_DIR = Path(__file__).resolve().parent.parent / "conf"


def pytest_configure(config: pytest.Config) -> None:
    # Started in the background of a non-interactive shell (`pytest &`, nohup), this process
    # ignores Ctrl-C, and so does every command it starts (an ignored signal stays ignored
    # across exec). The tests of Ctrl-C need it delivered as a terminal delivers it.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def store_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    """An MLflow SQLite store shared by the in-process tests of this session."""
    root = tmp_path_factory.mktemp("mlruns")
    return f"sqlite:///{root}/mlflow.db"


@pytest.fixture
def make_config(store_uri: str) -> Callable[..., DictConfig]:
    """Compose ``conf/config.yaml`` with overrides, tracking into the session store, quiet."""

    def make(*overrides: str) -> DictConfig:
        with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
            return compose(
                "config",
                overrides=[f"mlflow.tracking_uri={store_uri}", "progress=none", *overrides],
            )

    return make


@pytest.fixture
def started_runs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The ids of the MLflow runs this process starts during the test, in order."""
    from runkit.mlflow.run import RunTracker

    started: list[str] = []
    real = RunTracker.start

    def start(*args: object, **kwargs: object) -> RunTracker:
        tracker = real(*args, **kwargs)  # type: ignore[arg-type]
        started.append(tracker.run_id)
        return tracker

    monkeypatch.setattr(RunTracker, "start", start)
    return started


@pytest.fixture
def run_and_capture(started_runs: list[str]
                    ) -> Callable[[Any], tuple[float | None, str, BaseException | None]]:
    """Runs a config; returns (objective, MLflow run id, error raised)."""

    from runkit.errors import UserError
    from trainer.app import run

    def run_and_capture(cfg: Any) -> tuple[float | None, str, BaseException | None]:
        try:
            return run(cfg), started_runs[-1], None
        except (UserError, ValueError) as error:
            return None, started_runs[-1], error

    return run_and_capture
