"""Workers: the ask -> run -> tell loop, the pruning bridge, the worker processes and what their
fork server preloads (the fork server itself is ``sweeps._fork_server``: it must start before
this package, which imports Optuna, is imported)."""

from sweeps.workers._bridge import PruningBridge
from sweeps.workers._worker import HydraJob, TrackingTarget, WorkerPlan, WorkerReport, run_worker

__all__ = ["HydraJob", "PruningBridge", "TrackingTarget", "WorkerPlan", "WorkerReport",
           "run_worker"]
