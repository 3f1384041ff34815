"""Running an app as its user would, and reading back the study it left (the examples' tests
and the sweeps' end-to-end tests)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import optuna


def run_app(cwd: Path, *args: str, timeout: float = 400) -> subprocess.CompletedProcess[str]:
    """``python ARGS`` in ``cwd``, with no MLflow URI of the test's environment."""
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def run_ok(cwd: Path, *args: str, timeout: float = 400) -> subprocess.CompletedProcess[str]:
    """:func:`run_app`, which must exit 0 (the test fails with the end of its stderr)."""
    done = run_app(cwd, *args, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def only_study(cwd: Path) -> optuna.Study:
    """The one study in the start directory's default storage."""
    storage = f"sqlite:///{cwd}/mlruns/optuna.db"
    [name] = optuna.get_all_study_names(storage)
    return optuna.load_study(study_name=name, storage=storage)
