"""The Optuna sweep engine behind ``python -m trainer --multirun sweep=NAME``.

Grouped by concern:

- ``search/``: the search-space grammar (``_space``);
- ``study/``: the study's storage and crash recovery (``_storage``), the trial budget shared by
  every process (``_budget``), the sampler and pruner registries (``_factories``);
- ``workers/``: one worker's ask -> run -> tell loop (``_worker``), the per-epoch pruning bridge
  handed to the trainer (``_bridge``), the worker processes (``_processes``), their fork server
  (``_fork_server``, ``_preload``) and the interrupt flag (``_interrupt``);
- ``reporting/``: the sweep's MLflow parent run and final report (``_tracking``, ``_plots``);
- ``_sweeper``: the sweep that ties them together.
``hydra_plugins.trainer_sweeper`` only forwards to :class:`OptunaSweep`.

The names below are imported on first use (PEP 562): the sweeper plugin starts the workers'
fork server (``_fork_server``) before Optuna, matplotlib and the trainer are imported here.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sweeps._sweeper import OptunaSweep, SweepResult
    from sweeps.reporting._tracking import BestTrial, best_trial, reproduce_command
    from sweeps.search._space import Condition, Param, SearchSpace, parse_search_space
    from sweeps.study._budget import Budget, count_trials, counted_trials, within_budget
    from sweeps.study._factories import PRUNERS, SAMPLERS, build_pruner, build_sampler
    from sweeps.study._storage import (
        StorageSpec,
        default_storage_url,
        load_or_create_study,
        open_storage,
        resolve_storage_url,
    )
    from sweeps.workers._bridge import PruningBridge
    from sweeps.workers._worker import (
        HydraJob,
        TrackingTarget,
        WorkerPlan,
        WorkerReport,
        run_worker,
    )

_MODULES = {
    "workers._bridge": ["PruningBridge"],
    "study._budget": ["Budget", "count_trials", "counted_trials", "within_budget"],
    "study._factories": ["PRUNERS", "SAMPLERS", "build_pruner", "build_sampler"],
    "search._space": ["Condition", "Param", "SearchSpace", "parse_search_space"],
    "study._storage": ["StorageSpec", "default_storage_url", "load_or_create_study", "open_storage",
                 "resolve_storage_url"],
    "_sweeper": ["OptunaSweep", "SweepResult"],
    "reporting._tracking": ["BestTrial", "best_trial", "reproduce_command"],
    "workers._worker": ["HydraJob", "TrackingTarget", "WorkerPlan", "WorkerReport", "run_worker"],
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
