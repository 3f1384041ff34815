"""What the figures were measured on: machine, BLAS (threadpoolctl), thread settings, versions.

Printed at the top of RESULTS.md, because a ratio means little without the BLAS kernel and
thread count behind it.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import platform
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

# Set on some processors of this workplace for older OpenBLAS builds; they slow a current numpy.
OPENBLAS_OVERRIDES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
VERSIONED = ("numpy", "scikit-learn", "torch", "mlflow", "optuna", "hydra-core", "threadpoolctl")


@dataclass
class Environment:
    """A snapshot of the machine and libraries; ``threadpools`` is threadpoolctl's list."""

    cpu: str
    cores: int
    platform: str
    python: str
    versions: dict[str, str]
    threadpools: list[dict[str, object]]
    openblas_env: dict[str, str]
    git_commit: str | None
    threads: int
    load_start: float | None = None  # 1-minute load average when the run started
    load_end: float | None = None  # ... and when it ended (the sweeps excepted)
    notes: list[str] = field(default_factory=list)


def cpu_model() -> str:
    """The processor's model name (from /proc/cpuinfo on Linux)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries measured here ('not installed' when absent)."""
    versions = {}
    for name in VERSIONED:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def git_commit(cwd: Path) -> str | None:
    """HEAD of the repository holding the benchmarks, with ``+dirty`` for local changes."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=cwd, capture_output=True, text=True,
            timeout=5, check=False,
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
            capture_output=True, text=True, timeout=5, check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if head.returncode != 0:
        return None
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def load_average() -> float | None:
    """The 1-minute load average (None where the OS has none): other work sharing the cores
    shows here, and explains a noisy run."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def collect(threads: int, repo: Path) -> Environment:
    """Describe this process: call it after every measured library has been imported, so that
    threadpoolctl sees their thread pools (OpenBLAS for numpy, OpenMP/MKL for torch)."""
    from threadpoolctl import threadpool_info

    pools = [
        {k: v for k, v in pool.items() if k != "filepath"} for pool in threadpool_info()
    ]
    return Environment(
        cpu=cpu_model(),
        cores=os.cpu_count() or 1,
        platform=platform.platform(),
        python=platform.python_version(),
        versions=library_versions(),
        threadpools=pools,
        openblas_env={k: os.environ[k] for k in OPENBLAS_OVERRIDES if k in os.environ},
        git_commit=git_commit(repo),
        threads=threads,
        load_end=load_average(),
    )


def blas_kernel(env: Environment) -> str:
    """e.g. ``openblas 0.3.31 (SkylakeX, pthreads, 2 threads)`` for numpy's BLAS."""
    for pool in env.threadpools:
        if pool.get("user_api") == "blas":
            return (
                f"{pool.get('internal_api')} {pool.get('version')} ({pool.get('architecture')}, "
                f"{pool.get('threading_layer')}, {threads(pool.get('num_threads'))})"
            )
    return "no BLAS found by threadpoolctl"


def threads(count: object) -> str:
    """``1 thread``, ``2 threads``."""
    return f"{count} thread" + ("" if count == 1 else "s")
