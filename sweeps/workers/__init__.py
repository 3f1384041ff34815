"""Workers: the ask -> run -> tell loop, the pruning bridge, the worker processes (their fork
server, ``sweeps._fork_server``, and what it preloads, ``sweeps._preload``, live outside this
package, which imports Optuna: the server starts before it is imported)."""

from sweeps.workers._bridge import PruningBridge
from sweeps.workers._worker import HydraJob, TrackingTarget, WorkerPlan, WorkerReport, run_worker

__all__ = ["HydraJob", "PruningBridge", "TrackingTarget", "WorkerPlan", "WorkerReport",
           "run_worker"]
