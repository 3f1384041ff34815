"""An interpolation that does not resolve is one line naming its key, what it should do and the
interpolation as written, not OmegaConf's "Interpolation key 'nope' not found"."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf
from omegaconf.errors import InterpolationKeyError

from trainer.app import run
from trainer.errors import ConfigError
from trainer.interpolations import interpolation_error, resolve_config


@pytest.mark.parametrize(("value", "line"), [
    ("${nope}", "epochs: expected an interpolation that resolves (the config has no key "
                "'nope'), got '${nope}'"),
    ("${oc.env:TRAINER_TEST_UNSET}",
     "epochs: expected an interpolation that resolves (the environment variable "
     "TRAINER_TEST_UNSET is not set; ${oc.env:TRAINER_TEST_UNSET,DEFAULT} gives a default), "
     "got '${oc.env:TRAINER_TEST_UNSET}'"),
    ("${data.path}", "epochs: expected an interpolation that resolves (data.path has no "
                     "value (???)), got '${data.path}'"),
    ("${nosuch:1}", "epochs: expected an interpolation that resolves (no resolver named "
                    "'nosuch'), got '${nosuch:1}'"),
])
def test_the_key_holding_the_interpolation_is_named(monkeypatch, value, line):
    monkeypatch.delenv("TRAINER_TEST_UNSET", raising=False)
    config = OmegaConf.create({"epochs": value, "data": {"path": "???"}, "seed": 0})
    with pytest.raises(ConfigError) as raised:
        resolve_config(config)
    assert str(raised.value) == line


def test_a_nested_key_and_a_list_item_are_named_with_their_path():
    config = OmegaConf.create({"model": {"hidden": [64, "${nope}"]}})
    with pytest.raises(ConfigError, match=r"^model\.hidden\[1\]: expected an interpolation "
                                          r"that resolves .*, got '\$\{nope\}'$"):
        resolve_config(config)


def test_when_the_error_lost_its_key_the_command_line_names_it():
    # Hydra resolving its own node (hydra.sweeper.n_trials=${nope}) raises without full_key
    error = InterpolationKeyError("Interpolation key 'nope' not found")
    converted = interpolation_error(error, overrides=["sweep=digits",
                                                      "hydra.sweeper.n_trials=${nope}"])
    assert str(converted) == ("hydra.sweeper.n_trials: expected an interpolation that resolves "
                              "(the config has no key 'nope'), got '${nope}'")
    assert interpolation_error(ValueError("other"), overrides=[]) is None


def test_a_run_with_such_a_config_stops_before_any_mlflow_run(make_config, store_uri):
    # nothing is recorded: the run never started, so nothing is left RUNNING either
    from mlflow import MlflowClient

    def runs() -> int:
        client = MlflowClient(store_uri)
        ids = [e.experiment_id for e in client.search_experiments()]
        return len(client.search_runs(ids, max_results=10000)) if ids else 0

    before = runs()
    with pytest.raises(ConfigError, match="^epochs: expected an interpolation that resolves"):
        run(make_config("epochs=${nope}"))
    assert runs() == before
