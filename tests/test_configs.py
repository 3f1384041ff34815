"""Every config group composes, and the documented overrides land where the code reads them."""

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

CONFIG_DIR = Path(__file__).resolve().parent.parent / "conf"


def group_options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONFIG_DIR / group).glob("*.yaml"))


@pytest.mark.parametrize(
    "group,option",
    [(g, o) for g in ("data", "model", "optimizer", "regularization") for o in group_options(g)],
)
def test_every_group_option_composes(group: str, option: str):
    # a group option that fails to compose would break `python -m trainer group=option`
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("config", overrides=[f"{group}={option}"])
    assert cfg[group] is not None
    if group == "optimizer":
        assert cfg.optimizer.name == option and cfg.optimizer.lr > 0


def test_readme_overrides_compose():
    overrides = [
        "optimizer=momentum", "optimizer.lr=0.05", "batch_size=32", "model.hidden=[128,64]",
        "regularization.dropout=0.2", "regularization.l2=1e-4", "early_stopping.patience=5",
    ]
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("config", overrides=overrides)
    assert cfg.optimizer.name == "momentum" and cfg.optimizer.momentum == 0.9
    assert cfg.optimizer.lr == 0.05 and cfg.batch_size == 32
    assert list(cfg.model.hidden) == [128, 64]
    assert cfg.regularization.dropout == 0.2 and cfg.regularization.l2 == 1e-4
    assert cfg.early_stopping.patience == 5


def test_monitor_follows_objective_by_default():
    # pruning and early stopping watch the same signal unless the user splits them
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("config", overrides=["objective=val_accuracy"])
    assert cfg.early_stopping.monitor == "val_accuracy"
