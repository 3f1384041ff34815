"""The fork server sweep workers come from, started as early as a sweep knows it needs one.

It imports and warms the app (``sweeps._preload``) in its own interpreter, on a core
the sweep process is not using, while the sweep process still imports, composes its config and
opens the study. Started from the sweeper plugin's constructor, before the sweep engine or the
trainer is imported here, it is ready about 2.5 s sooner than when the sweep itself started it
(benchmarks/RESULTS.md, sweep efficiency). Nothing heavy is imported by this module.
"""

from __future__ import annotations

import multiprocessing
from typing import Any

from runkit._private_apis import HYDRA_BASIC_LAUNCHER
from runkit.process import available_cores

__all__ = ["PRELOAD", "launcher_target", "start_fork_server", "wants_worker_processes"]

# What every worker imports before its first trial (sweeps/_preload.py).
PRELOAD = ["sweeps._preload"]


def start_fork_server() -> None:
    """Start the fork server (idempotent), importing the app in the background."""
    from multiprocessing import forkserver

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
