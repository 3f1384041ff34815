"""Workers: the ask -> run -> tell loop, the worker processes and launched worker jobs (their
fork server, ``sweeps._fork_server``, and what it preloads, ``sweeps._preload``, live outside this
package, which imports Optuna: the server starts before it is imported)."""

from sweeps.workers._worker import HydraJob, WorkerPlan, WorkerReport, run_worker

__all__ = ["HydraJob", "WorkerPlan", "WorkerReport", "run_worker"]
