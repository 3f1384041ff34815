"""hydra-optuna-sweeper's own virtual environment, made by the benchmark and cached.

hydra-optuna-sweeper 1.3.0 requires Optuna below 3, so it cannot share the trainer's
environment (Optuna 5). The benchmark makes a virtual environment for it once per set of
requirements and Python version, under ``<trainer cache>/benchmarks/`` (``$TRAINER_CACHE_DIR``,
``$XDG_CACHE_HOME/trainer`` or ``~/.cache/trainer``): the plugin, Hydra's joblib launcher, and
Hydra, numpy, numba and threadpoolctl at the versions installed here, so the trainer's core
computes there exactly what it computes here. The trainer's package itself is not installed
there: each run puts a directory holding a link to it on PYTHONPATH (:func:`core_path`), so
that Hydra finds hydra-optuna-sweeper's ``optuna`` sweeper and not ours.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from runkit.sqlite import cache_dir

REPO = Path(__file__).resolve().parent.parent
PLUGIN = "hydra-optuna-sweeper==1.3.0"
LAUNCHER = "hydra-joblib-launcher==1.2.0"
# installed at the trainer's own versions: the same core, the same BLAS, the same Hydra
SAME_AS_HERE = ("hydra-core", "numpy", "numba", "threadpoolctl")


class EnvironmentUnavailable(RuntimeError):
    """The environment could not be made (no package index, a failed install ...)."""


def requirements() -> list[str]:
    """What the environment holds, pinned."""
    return [PLUGIN, LAUNCHER, *(f"{name}=={importlib.metadata.version(name)}"
                                for name in SAME_AS_HERE)]


def location() -> Path:
    tag = f"py{sys.version_info.major}{sys.version_info.minor}"
    return cache_dir() / "benchmarks" / f"hydra-optuna-sweeper-1.3.0-{tag}"


def python(directory: Path) -> Path:
    return directory / "bin" / "python"


def ensure(*, progress: object = None) -> Path:
    """The environment's Python, made first when missing or made for other requirements.

    Raises:
        EnvironmentUnavailable: with pip's last lines when it could not be made.
    """
    wanted = "\n".join(requirements()) + "\n"
    target = location()
    marker = target / "benchmark-requirements.txt"
    if marker.exists() and marker.read_text() == wanted and python(target).exists():
        return python(target)
    if callable(progress):
        progress(f"making hydra-optuna-sweeper's virtual environment in {target} (once)")
    target.parent.mkdir(parents=True, exist_ok=True)
    # made beside its place and renamed into it: a half-made environment is never used
    building = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
    try:
        _run([sys.executable, "-m", "venv", str(building)])
        _run([str(python(building)), "-m", "pip", "install", "--quiet",
              "--disable-pip-version-check", *requirements()])
        marker_tmp = building / marker.name
        marker_tmp.write_text(wanted)
        if target.exists():
            shutil.rmtree(target)
        os.rename(building, target)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    # a venv's scripts name their interpreter by path: the renamed venv's python still runs
    # (bin/python is a link to the base interpreter); pip is always called as `python -m pip`
    return python(target)


def _run(command: list[str]) -> None:
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise EnvironmentUnavailable(f"`{' '.join(command)}` did not run: {error}") from None
    if proc.returncode != 0:
        tail = "; ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])
        raise EnvironmentUnavailable(f"`{' '.join(command[:4])} ...` failed: {tail}")


def core_path(workdir: Path) -> Path:
    """A directory holding only links to this repository's ``trainer`` package and ``runkit``
    (the process helpers below it), for PYTHONPATH in the plugin's environment (the repository
    root would also expose our ``hydra_plugins`` and ``sweeps`` to Hydra there)."""
    core = workdir / "trainer-core"
    core.mkdir(parents=True, exist_ok=True)
    for package in ("trainer", "runkit"):
        link = core / package
        if not link.exists():
            link.symlink_to(REPO / package, target_is_directory=True)
    return core
