"""Hydra discovers sweepers only under ``hydra_plugins``: this shim forwards to ``sweeps``.

Hydra imports every ``hydra_plugins`` module at start-up, even for a single run, so the sweep
engine (Optuna, MLflow) is imported only when the sweeper is actually built. Building it is the
first moment ``n_jobs`` is known: a sweep with worker processes starts their fork server then,
so that it imports the app on another core while this process imports the sweep engine.
"""

from __future__ import annotations

from typing import Any

from hydra.plugins.sweeper import Sweeper


class OptunaSweeper(Sweeper):
    """``hydra/sweeper=optuna``: the keys are those of ``sweeps._sweeper.OptunaSweep`` and
    ``sweeps._settings.SweeperSettings``."""

    def __init__(self, **keys: Any) -> None:
        from sweeps._fork_server import start_fork_server, wants_worker_processes

        if wants_worker_processes(keys.get("n_jobs")):
            start_fork_server()
        from sweeps._sweeper import OptunaSweep

        self._sweep = OptunaSweep(**keys)

    def setup(self, *, hydra_context: Any, task_function: Any, config: Any) -> None:
        self.hydra_context = hydra_context
        self.config = config
        self._sweep.setup(hydra_context=hydra_context, task_function=task_function,
                          config=config)

    def sweep(self, arguments: list[str]) -> Any:
        return self._sweep.sweep(arguments)
