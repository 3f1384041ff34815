"""A trial's config composed from a cached base equals Hydra's full composition."""

from __future__ import annotations

import pytest
from hydra import initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import ConfigCompositionException
from hydra.types import RunMode
from omegaconf import OmegaConf

from sweeps.workers._compose import TrialConfigs
from trainer import CONFIG_DIR

TRIALS = [
    ["sweep=digits", "optimizer=momentum", "optimizer.lr=0.03", "optimizer.momentum=0.8",
     "batch_size=64", "model.hidden=[128,64]", "regularization.dropout=0.1"],
    ["sweep=digits", "optimizer=adam", "optimizer.lr=0.001", "batch_size=16",
     "model.hidden=[64]"],
    ["sweep=digits", "optimizer=momentum", "optimizer.lr=0.5", "optimizer.momentum=0.6",
     "batch_size=128", "model.hidden=[256,128,64]", "regularization.dropout=0.0"],
    ["sweep=digits", "mlflow.experiment='a b'", "data=wine", "epochs=3"],
    # Hydra's own path: an added key, a deleted one, a hydra key
    ["sweep=digits", "+extra=1", "optimizer.lr=0.1"],
    ["sweep=digits", "~progress", "optimizer.lr=0.1"],
    ["sweep=digits", "hydra.job.name=other", "optimizer.lr=0.1"],
]


@pytest.fixture(scope="module")
def loader_and_master():
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()
        master = loader.load_configuration("config", ["sweep=digits"], run_mode=RunMode.MULTIRUN)
        yield loader, master


def test_cached_composition_equals_hydras(loader_and_master) -> None:
    # Every trial's config, hydra node included (overrides, override_dirname, choices), is the
    # one Hydra composes from scratch, whichever trial came first for a group choice.
    loader, master = loader_and_master
    configs = TrialConfigs(loader, master)
    for overrides in [*TRIALS, *TRIALS]:  # the second round comes from the cache
        got = configs.compose(overrides)
        want = loader.load_sweep_config(master, overrides)
        for node in (got, want):  # set at composition time, not by the overrides
            node.hydra.runtime.cwd = "."
        assert OmegaConf.to_container(got) == OmegaConf.to_container(want), overrides
        assert OmegaConf.is_struct(got)


def test_trials_do_not_share_a_config(loader_and_master) -> None:
    # Each trial gets its own copy: changing one leaves the next trial's config alone.
    loader, master = loader_and_master
    configs = TrialConfigs(loader, master)
    first = configs.compose(TRIALS[1])
    first.optimizer.lr = 123.0
    assert configs.compose(TRIALS[1]).optimizer.lr == 0.001


def test_a_bad_override_fails_as_in_hydra(loader_and_master) -> None:
    # An override of a key the config does not have raises Hydra's own error.
    loader, master = loader_and_master
    with pytest.raises(ConfigCompositionException, match="optimizer.nope"):
        TrialConfigs(loader, master).compose(["sweep=digits", "optimizer.nope=1"])


def test_hydra_composes_once_per_group_choice(loader_and_master) -> None:
    # Trials that differ only in values reuse one composition per choice of config groups.
    loader, master = loader_and_master
    calls: list[list[str]] = []

    class CountingLoader:
        repository = loader.repository

        def load_sweep_config(self, master_config, overrides):
            calls.append(list(overrides))
            return loader.load_sweep_config(master_config, overrides)

    configs = TrialConfigs(CountingLoader(), master)
    for overrides in (TRIALS[0], TRIALS[1], TRIALS[2], TRIALS[1]):
        configs.compose(overrides)
    assert calls == [["sweep=digits", "optimizer=momentum"], ["sweep=digits", "optimizer=adam"]]
