"""When the workers' fork server starts, and the lazy ``sweeps`` package that lets it start soon."""

from __future__ import annotations

import subprocess
import sys

import pytest

import sweeps
from sweeps.workers import _fork_server
from sweeps.workers._fork_server import wants_worker_processes


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


_CONSTRUCT_SWEEPER = """
import sys
import multiprocessing.forkserver as forkserver

seen = []
forkserver.ensure_running = lambda: seen.append(
    sorted(m for m in ("optuna", "matplotlib", "mlflow", "trainer.app") if m in sys.modules))
from hydra_plugins.trainer_sweeper import OptunaSweeper

OptunaSweeper(n_jobs={n_jobs})
print(seen)
"""


@pytest.mark.parametrize(("n_jobs", "expected"), [(2, "[[]]"), (1, "[]")])
def test_sweeper_plugin_starts_the_fork_server_before_the_heavy_imports(
        n_jobs: int, expected: str) -> None:
    # the fork server imports the app on the other core while this process imports the sweep
    # engine; a one-slot sweep starts none
    out = subprocess.run([sys.executable, "-c", _CONSTRUCT_SWEEPER.format(n_jobs=n_jobs)],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == expected


def test_lazy_package_exports_every_name() -> None:
    for name in sweeps.__all__:
        assert getattr(sweeps, name) is not None
    assert set(dir(sweeps)) >= set(sweeps.__all__)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        sweeps.nope  # noqa: B018
