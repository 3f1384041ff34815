"""The Optuna sweep engine behind ``python -m trainer --multirun sweep=NAME``.

Search-space grammar (``_search_space``), sampler and pruner registries (``_factories``), the
study's storage and crash recovery (``_storage``), the trial budget shared by every process
(``_budget``), the per-epoch pruning bridge handed to the trainer (``_bridge``), one worker's
ask -> run -> tell loop (``_worker``), the worker processes (``_processes``), the MLflow parent
run (``_tracking``) and the sweep that ties them together (``_sweeper``).
``hydra_plugins.trainer_sweeper`` only forwards to :class:`OptunaSweep`.

The names below are imported on first use (PEP 562): the sweeper plugin starts the workers'
fork server (``_fork_server``) before Optuna, matplotlib and the trainer are imported here.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sweeps._bridge import PruningBridge
    from sweeps._budget import Budget, count_trials, counted_trials, within_budget
    from sweeps._factories import PRUNERS, SAMPLERS, build_pruner, build_sampler
    from sweeps._search_space import Condition, Param, SearchSpace, parse_search_space
    from sweeps._storage import (
        StorageSpec,
        default_storage_url,
        load_or_create_study,
        open_storage,
        resolve_storage_url,
    )
    from sweeps._sweeper import OptunaSweep, SweepResult
    from sweeps._tracking import BestTrial, best_trial, reproduce_command
    from sweeps._worker import HydraJob, TrackingTarget, WorkerPlan, WorkerReport, run_worker

_MODULES = {
    "_bridge": ["PruningBridge"],
    "_budget": ["Budget", "count_trials", "counted_trials", "within_budget"],
    "_factories": ["PRUNERS", "SAMPLERS", "build_pruner", "build_sampler"],
    "_search_space": ["Condition", "Param", "SearchSpace", "parse_search_space"],
    "_storage": ["StorageSpec", "default_storage_url", "load_or_create_study", "open_storage",
                 "resolve_storage_url"],
    "_sweeper": ["OptunaSweep", "SweepResult"],
    "_tracking": ["BestTrial", "best_trial", "reproduce_command"],
    "_worker": ["HydraJob", "TrackingTarget", "WorkerPlan", "WorkerReport", "run_worker"],
}
_HOME = {name: module for module, names in _MODULES.items() for name in names}

__all__ = [
    "PRUNERS",
    "SAMPLERS",
    "BestTrial",
    "Budget",
    "Condition",
    "HydraJob",
    "OptunaSweep",
    "Param",
    "PruningBridge",
    "SearchSpace",
    "StorageSpec",
    "SweepResult",
    "TrackingTarget",
    "WorkerPlan",
    "WorkerReport",
    "best_trial",
    "build_pruner",
    "build_sampler",
    "count_trials",
    "counted_trials",
    "default_storage_url",
    "load_or_create_study",
    "open_storage",
    "parse_search_space",
    "reproduce_command",
    "resolve_storage_url",
    "run_worker",
    "within_budget",
]


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module 'sweeps' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"sweeps.{module}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
