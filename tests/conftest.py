"""Shared fixtures: composed configs and one MLflow store per test session (opening a store
costs about a second, so tests share it)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

CONFIG_DIR = Path(__file__).resolve().parent.parent / "conf"


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

