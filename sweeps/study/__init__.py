"""The Optuna study: its storage, crash recovery, the shared trial budget, samplers and pruners."""

from sweeps.study._budget import (
    Budget,
    count_trials,
    counted_trials,
    fail_reason,
    within_budget,
)
from sweeps.study._factories import (
    PRUNERS,
    SAMPLERS,
    build_pruner,
    build_sampler,
    is_grid,
    split_seed,
)
from sweeps.study._storage import (
    StorageSpec,
    default_storage_url,
    load_or_create_study,
    open_storage,
    resolve_storage_url,
)

__all__ = [
    "PRUNERS",
    "SAMPLERS",
    "Budget",
    "StorageSpec",
    "build_pruner",
    "build_sampler",
    "count_trials",
    "counted_trials",
    "fail_reason",
    "default_storage_url",
    "is_grid",
    "load_or_create_study",
    "open_storage",
    "resolve_storage_url",
    "split_seed",
    "within_budget",
]
