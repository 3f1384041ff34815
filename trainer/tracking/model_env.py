"""A model's environment files, written as ``mlflow.pyfunc.save_model`` writes them, without its
scan of every installed package.

Given ``pip_requirements``, MLflow writes three files beside ``MLmodel`` (its pyfunc flavor's
``env`` entry names two of them): ``requirements.txt`` (``mlflow==<version>`` and the
requirements, one a line), ``conda.yaml`` (this Python, ``pip<=<version>`` and those requirements
under ``pip:``) and ``python_env.yaml`` (this Python, the installed pip, setuptools and wheel as
build dependencies, ``-r requirements.txt``). Before writing, it checks each requirement against
the installed distributions through ``importlib_metadata.packages_distributions()``: 0.25-0.3 s
on the first save in every process (one ``python -m trainer``, each sweep worker's first trial).
A model of this project needs NumPy alone, pinned here from the installed version, so that check
cannot fail: the same files are written without it, their text built once per process.
``tests/trainer/tracking/test_model_env.py`` compares them with MLflow's own.

Where MLflow would write something else, :func:`mlflow_writes_more` says why, and the model is
saved by MLflow itself (:mod:`trainer.tracking.model`).
"""

from __future__ import annotations

import functools
import sys
from importlib import metadata
from pathlib import Path

import yaml

__all__ = ["CONDA_FILE", "PYTHON_ENV_FILE", "REQUIREMENTS_FILE", "environment_files",
           "mlflow_writes_more", "pinned", "python_version", "requirements"]

CONDA_FILE = "conda.yaml"
PYTHON_ENV_FILE = "python_env.yaml"
REQUIREMENTS_FILE = "requirements.txt"
_BUILD_PACKAGES = ("pip", "setuptools", "wheel")  # python_env.yaml's build dependencies


def _installed(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def python_version() -> str:
    """This Python as MLflow records it (``3.11.7``)."""
    return "{}.{}.{}".format(*sys.version_info[:3])


def pinned(package: str) -> str:
    """``package~=X.Y.0``: the installed major.minor, any patch."""
    major, minor = metadata.version(package).split(".")[:2]
    return f"{package}~={major}.{minor}.0"


@functools.cache
def requirements() -> tuple[str, ...]:
    """What a model needs to predict: this MLflow (as MLflow pins itself) and NumPy."""
    import mlflow

    return (f"mlflow=={mlflow.__version__}", pinned("numpy"))


@functools.cache
def environment_files() -> dict[str, str]:
    """The text of ``requirements.txt``, ``conda.yaml`` and ``python_env.yaml`` (by file name)."""
    pip = _installed("pip")
    conda_env = {
        "name": "mlflow-env",
        "channels": ["conda-forge"],
        "dependencies": [f"python={python_version()}", f"pip<={pip}" if pip else "pip",
                         {"pip": list(requirements())}],
    }
    python_env = {
        "python": python_version(),
        "build_dependencies": [f"{name}=={version}" if (version := _installed(name)) else name
                               for name in _BUILD_PACKAGES],
        "dependencies": [f"-r {REQUIREMENTS_FILE}"],
    }
    return {
        REQUIREMENTS_FILE: "\n".join(requirements()),
        CONDA_FILE: yaml.safe_dump(conda_env, default_flow_style=False),
        PYTHON_ENV_FILE: yaml.safe_dump(python_env, sort_keys=False, default_flow_style=False),
    }


def mlflow_writes_more(cwd: Path | None = None) -> str | None:
    """Why ``mlflow.pyfunc.save_model`` would write other environment files here, or None.

    - ``MLFLOW_LOCK_MODEL_DEPENDENCIES``: it locks the requirements with uv;
    - a uv project in the working directory (``uv.lock`` and ``pyproject.toml``, with
      ``MLFLOW_UV_AUTO_DETECT`` and ``MLFLOW_LOG_UV_FILES`` on, their defaults): it copies the
      project's files into the model;
    - a development build of MLflow: it pins the release before it.
    """
    import mlflow
    from mlflow.environment_variables import (
        MLFLOW_LOCK_MODEL_DEPENDENCIES,
        MLFLOW_LOG_UV_FILES,
        MLFLOW_UV_AUTO_DETECT,
    )
    from packaging.version import Version

    if MLFLOW_LOCK_MODEL_DEPENDENCIES.get():
        return "MLFLOW_LOCK_MODEL_DEPENDENCIES is set"
    here = Path.cwd() if cwd is None else cwd
    if (MLFLOW_UV_AUTO_DETECT.get() and MLFLOW_LOG_UV_FILES.get()
            and (here / "uv.lock").exists() and (here / "pyproject.toml").exists()):
        return f"{here} is a uv project"
    if Version(mlflow.__version__).is_devrelease:
        return f"MLflow {mlflow.__version__} is a development build"
    return None
