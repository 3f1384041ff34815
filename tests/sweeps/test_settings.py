"""The sweeper's own keys: typed settings, defaults from conf/hydra/sweeper/optuna.yaml, one-line
errors naming hydra.sweeper.KEY."""

from __future__ import annotations

import pytest

from sweeps._settings import SweeperSettings, parse_settings
from trainer.errors import ConfigError


def test_defaults_come_from_the_sweeper_config() -> None:
    # keys left out take the values conf/hydra/sweeper/optuna.yaml shows the user
    assert parse_settings({}) == SweeperSettings(
        n_trials=20, n_jobs=1, storage=None, study_name=None, direction="auto", seed=None,
        heartbeat_interval=5, grace_period=20, max_retry=3, max_failure_rate=0.5,
        role="controller", register_model=None)
    assert parse_settings({"n_jobs": -1, "max_failure_rate": 1}).max_failure_rate == 1.0


@pytest.mark.parametrize(("keys", "message"), [
    ({"n_trials": 0}, "hydra.sweeper.n_trials: expected a positive integer, got 0"),
    ({"n_jobs": 0}, "hydra.sweeper.n_jobs: expected a positive integer or -1, got 0"),
    ({"n_jobs": "2"}, "hydra.sweeper.n_jobs: expected a positive integer or -1, got '2'"),
    ({"seed": True}, "hydra.sweeper.seed: expected an integer or null, got True"),
    ({"direction": "up"},
     "hydra.sweeper.direction: expected one of auto, minimize, maximize, got 'up'"),
    ({"max_retry": -1}, "hydra.sweeper.max_retry: expected an integer >= 0 or null, got -1"),
    ({"grace_period": 0}, "hydra.sweeper.grace_period: expected a positive integer or null, "
                          "got 0"),
    ({"role": "boss"}, "hydra.sweeper.role: expected one of controller, worker, got 'boss'"),
    ({"register_model": "a/b"},
     "hydra.sweeper.register_model: expected a registered model's name (no '/') or null, "
     "got 'a/b'"),
    ({"max_failure_rate": 1.5}, "hydra.sweeper.max_failure_rate: expected a number in [0, 1], "
                                "got 1.5"),
])
def test_bad_key_is_one_line_naming_it(keys: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_settings(keys)
    assert str(info.value) == message
