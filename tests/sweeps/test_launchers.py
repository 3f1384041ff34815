"""What launched worker jobs are handed: a sweep directory that holds wherever a job starts."""

from __future__ import annotations

import pytest
from hydra import initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.types import RunMode

from sweeps.workers._compose import TrialConfigs
from sweeps.workers._launchers import _quoted, _with_absolute_sweep_dir
from trainer import CONFIG_DIR


@pytest.mark.parametrize("path", ["/srv/sweeps/multirun/2026-01-01/10-00-00", "/tmp/a b/c",
                                  "/tmp/it's", "/tmp/a=b,c", "/tmp/(x)[y]{z}", "/tmp/end\\",
                                  "/tmp/x\\'y"])
def test_a_quoted_path_reads_back_as_itself_in_hydras_grammar(path):
    override = OverridesParser.create().parse_override(f"hydra.sweep.dir={_quoted(path)}")
    assert override.value() == path


@pytest.fixture(scope="module")
def loader():
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        yield GlobalHydra.instance().config_loader()


@pytest.mark.parametrize("given, expected", [
    ([], None),  # Hydra's default, relative: under the start directory
    (["hydra.sweep.dir=rel/sweeps"], "/start dir/rel/sweeps"),
    (["hydra.sweep.dir=/abs/sweeps"], "/abs/sweeps"),
])
def test_jobs_and_trials_get_the_sweep_directory_as_an_absolute_path(loader, given, expected):
    # A Ray worker starts where its node's `ray start` ran: the job's and each trial's config,
    # composed again from the overrides, name the sweep's directory absolutely.
    master = loader.load_configuration("config", ["sweep=digits", *given],
                                       run_mode=RunMode.MULTIRUN)
    master.hydra.runtime.cwd = "/start dir"
    relative = str(master.hydra.sweep.dir)
    expected = expected or f"/start dir/{relative}"
    placed = _with_absolute_sweep_dir(master)
    job = loader.load_sweep_config(placed, ["sweep=digits", "hydra.sweep.subdir=worker_0"])
    trial = TrialConfigs(loader, placed).compose(["sweep=digits", "optimizer.lr=0.1"])
    assert job.hydra.sweep.dir == trial.hydra.sweep.dir == expected
    assert job.hydra.sweep.subdir == "worker_0"
    assert master.hydra.sweep.dir == relative  # the sweep's own config is left alone
    assert sum(o.startswith("hydra.sweep.dir=") for o in placed.hydra.overrides.hydra) == 1
