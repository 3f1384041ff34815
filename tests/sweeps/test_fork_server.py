"""When the workers' fork server starts, and the import-free ``sweeps`` package that lets it
start before the heavy modules are imported."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from sweeps import _fork_server
from sweeps._fork_server import wants_worker_processes


@pytest.mark.parametrize(("n_jobs", "wanted"), [(2, True), (8, True), (1, False), (0, False),
                                                ("2", False), (True, False), (None, False)])
def test_worker_processes_only_for_more_than_one_slot(n_jobs: object, wanted: bool) -> None:
    # invalid values start nothing: the sweep's own checks report them
    assert wants_worker_processes(n_jobs) is wanted


@pytest.mark.parametrize(("cores", "wanted"), [(1, False), (2, True)])
def test_minus_one_means_one_slot_per_core(cores: int, wanted: bool,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_fork_server, "available_cores", lambda: cores)
    assert wants_worker_processes(-1) is wanted


_SET_UP_SWEEPER = """
import sys
import types
import multiprocessing.forkserver as forkserver
from omegaconf import OmegaConf

seen = []
forkserver.ensure_running = lambda: seen.append(
    sorted(m for m in ("optuna", "matplotlib", "mlflow", "trainer.app") if m in sys.modules))
engine = types.ModuleType("sweeps._sweeper")  # the sweep engine itself is not under test


class OptunaSweep:
    def __init__(self, **keys):
        pass

    def setup(self, **kwargs):
        pass


engine.OptunaSweep = OptunaSweep
sys.modules["sweeps._sweeper"] = engine
from hydra_plugins.optuna_sweeps import OptunaSweeper

launcher = {launcher!r}
hydra = {{"launcher": {{"_target_": launcher}}}} if launcher else {{}}
config = OmegaConf.create({{"hydra": hydra}})
OptunaSweeper(n_jobs={n_jobs}).setup(hydra_context=None, task_function=None, config=config)
print(seen)
"""

BASIC = "hydra._internal.core_plugins.basic_launcher.BasicLauncher"
SUBMITIT = "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"


@pytest.mark.parametrize(("n_jobs", "launcher", "expected"), [
    (2, BASIC, "[[]]"),
    (2, None, "[[]]"),
    (1, BASIC, "[]"),  # a one-slot sweep runs its trials in this process
    (4, SUBMITIT, "[]"),  # the launcher's jobs are the workers: nothing forks here
])
def test_sweeper_plugin_starts_the_fork_server_before_the_heavy_imports(
        n_jobs: int, launcher: str | None, expected: str) -> None:
    # the fork server imports the app on the other core while this process imports the sweep
    # engine; only a sweep whose worker processes run here starts one
    script = _SET_UP_SWEEPER.format(n_jobs=n_jobs, launcher=launcher)
    out = subprocess.run([sys.executable, "-c", script],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == expected


_IMPORT_FORK_SERVER = """
import sys
import sweeps
import sweeps._fork_server
import hydra_plugins.optuna_sweeps
print(sorted(m for m in ("optuna", "matplotlib", "mlflow", "numpy", "sqlalchemy", "trainer")
             if m in sys.modules))
"""


def test_the_package_the_plugin_and_the_fork_server_import_nothing_heavy() -> None:
    # Hydra imports the plugin at every start of every app, and an app imports `sweeps` for
    # report(): neither loads Optuna, MLflow or NumPy; the plugin can start the fork server
    # before they are imported
    out = subprocess.run([sys.executable, "-c", _IMPORT_FORK_SERVER],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("name", ["search", "study", "workers", "tracking"])
def test_each_subpackage_exports_its_public_names(name: str) -> None:
    # plain imports: every name in __all__ is there, nothing loaded on first use
    package = importlib.import_module(f"sweeps.{name}")
    assert package.__all__
    for exported in package.__all__:
        assert getattr(package, exported) is not None


def test_the_workers_preload_the_task_functions_module_and_the_apps_list() -> None:
    # a script's __main__ is not imported again in the server (it may run on import)
    from sweeps._fork_server import app_modules

    def task() -> None: ...

    task.__module__ = "trainer.__main__"
    assert app_modules(task, ["trainer.preload"]) == ["trainer.__main__", "trainer.preload"]
    task.__module__ = "__main__"
    assert app_modules(task, "numpy") == ["numpy"]
    assert app_modules(None, None) == []
