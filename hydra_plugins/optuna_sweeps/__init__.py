"""Hydra discovers sweepers only under ``hydra_plugins``: this shim registers the sweeper's config
(``hydra/sweeper=optuna``, ``sweeps._config``) and forwards to ``sweeps``.

Hydra imports every ``hydra_plugins`` module at the start of every app, even for a single run,
so the sweep engine (Optuna, MLflow) is imported only when the sweeper is set up. Setting it up
is the first moment ``n_jobs`` and the launcher are both known: a sweep whose worker processes
run here (Hydra's basic launcher) starts their fork server then, so that it imports the sweep
engine and the app on another core while this process imports the engine. With another launcher
the workers are the launcher's jobs, and no fork server is started.
"""

from __future__ import annotations

from typing import Any

from hydra.core.config_search_path import ConfigSearchPath
from hydra.plugins.search_path_plugin import SearchPathPlugin
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig

from sweeps._config import register

register()


class OptunaSweepsSearchPath(SearchPathPlugin):
    """Puts ``hydra/sweeper/optuna.yaml`` (the schema ``optuna_sweeps`` and the sampler group)
    on Hydra's search path, after the app's own config directory."""

    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        search_path.append(provider="optuna_sweeps", path="pkg://hydra_plugins.optuna_sweeps")


class OptunaSweeper(Sweeper):
    """``hydra/sweeper=optuna``: the keys are ``sweeps._config.OptunaSweepsConf``'s."""

    def __init__(self, **keys: Any) -> None:
        self._keys = keys
        self._sweep: Any = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction,
              config: DictConfig) -> None:
        from runkit._private_apis import HYDRA_BASIC_LAUNCHER
        from sweeps._fork_server import (
            app_modules,
            launcher_target,
            start_fork_server,
            wants_worker_processes,
        )

        if (wants_worker_processes(self._keys.get("n_jobs"))
                and launcher_target(config) == HYDRA_BASIC_LAUNCHER):
            start_fork_server(app_modules(task_function, self._keys.get("preload")))
        from sweeps._sweeper import OptunaSweep

        self._sweep = OptunaSweep(**self._keys)
        self._sweep.setup(hydra_context=hydra_context, task_function=task_function,
                          config=config)

    def sweep(self, arguments: list[str]) -> Any:
        return self._sweep.sweep(arguments)
