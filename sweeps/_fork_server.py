"""The fork server sweep workers come from, started as early as a sweep knows it needs one.

It imports the sweep engine and the app's modules (``sweeps._preload``) in its own interpreter,
on a core the sweep process is not using, while the sweep process still imports, composes its
config and opens the study. Started from the sweeper plugin's ``setup``, before the sweep engine
is imported here, it is ready about 2.5 s sooner than when the sweep itself started it
(benchmarks/RESULTS.md, sweep efficiency). This module imports nothing heavy.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from typing import Any

from runkit._private_apis import HYDRA_BASIC_LAUNCHER
from runkit.process import available_cores

__all__ = ["APP_MODULES", "PRELOAD", "app_modules", "launcher_target", "start_fork_server",
           "wants_worker_processes"]

# What the fork server imports: the sweep engine, then the app's modules named by APP_MODULES
# (an environment variable: the server inherits the environment it is started with).
PRELOAD = ["sweeps._preload"]
APP_MODULES = "SWEEPS_PRELOAD"


def app_modules(task_function: Callable[..., Any] | None,
                preload: str | Sequence[str] | None) -> list[str]:
    """The modules a worker imports before its first trial: the task function's (unless it is
    the script's ``__main__``, which is not imported again: a script may run on import) and the
    sweeper's ``preload`` key (a module or a list of them)."""
    module = getattr(task_function, "__module__", None)
    named = [module] if module and module not in ("__main__", "__mp_main__") else []
    listed = [preload] if isinstance(preload, str) else [str(m) for m in preload or ()]
    return [*named, *(m for m in listed if m not in named)]


def start_fork_server(modules: Sequence[str] = ()) -> None:
    """Start the fork server (idempotent), importing the sweep engine and ``modules`` in the
    background."""
    from multiprocessing import forkserver

    os.environ[APP_MODULES] = ",".join(modules)
    multiprocessing.get_context("forkserver").set_forkserver_preload(PRELOAD)
    forkserver.ensure_running()


def wants_worker_processes(n_jobs: object) -> bool:
    """Whether ``hydra.sweeper.n_jobs`` asks for more than one slot (-1: one per core). Anything
    else, invalid values included, is left to the sweep's own checks."""
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int):
        return False
    if n_jobs == -1:
        return available_cores() > 1
    return n_jobs > 1


def launcher_target(config: Any) -> str:
    """The ``_target_`` of ``hydra.launcher`` (Hydra's basic launcher when none is set): only
    the basic launcher's workers are forked here."""
    from omegaconf import OmegaConf

    return str(OmegaConf.select(config, "hydra.launcher._target_", default=None)
               or HYDRA_BASIC_LAUNCHER)
