"""The config schema: every key checked once, naming the key; unknown keys and non-booleans
refused; the optimizer node built from its own table."""

from __future__ import annotations

import math

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from trainer import CONFIG_DIR
from trainer.config import build_optimizer, check_config
from trainer.core.optimizers import OPTIMIZERS, SGD, Adam, Momentum
from trainer.errors import ConfigError, ParameterError


def plain_config(*overrides: str) -> dict:
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("config", overrides=list(overrides))
    return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]


def test_every_shipped_config_passes() -> None:
    # the defaults and every group option are valid
    for override in ("", "data=csv", "data=npz", "optimizer=sgd", "optimizer=momentum",
                     "optimizer=rmsprop", "model=large", "regularization=dropout",
                     "regularization=l2"):
        check_config(plain_config(*[o for o in [override] if o]))


@pytest.mark.parametrize(("override", "message"), [
    ("optimizer.lr=-0.1", "optimizer.lr: expected a finite number > 0, got -0.1"),
    ("early_stopping.enabled=maybe", "early_stopping.enabled: expected true or false, got 'maybe'"),
    ("early_stopping.restore_best_weights=2",
     "early_stopping.restore_best_weights: expected true or false, got 2"),
    ("mlflow.log_model=maybe", "mlflow.log_model: expected true or false, got 'maybe'"),
    ("data.standardize=1", "data.standardize: expected true or false, got 1"),
    ("model.hidden=64", "model.hidden: expected a list of layer widths (integers >= 1), got 64"),
    ("model.hidden=null",
     "model.hidden: expected a list of layer widths (integers >= 1), got None"),
    ("model.dtype=null", "model.dtype: expected one of float32, float64, got None"),
    ("seed=-1", "seed: expected an integer >= 0, got -1"),
    ("epochs=1.5", "epochs: expected a positive integer, got 1.5"),
    ("early_stopping.patience=-1", "early_stopping.patience: expected an integer >= 0, got -1"),
    ("early_stopping.mode=up", "early_stopping.mode: expected one of auto, min, max, got 'up'"),
    ("progress=loud", "progress: expected one of auto, bar, lines, none, got 'loud'"),
    ("regularization.l1=inf", "regularization.l1: expected a finite number >= 0, got inf"),
    ("+data.extra=1", "data.extra: expected no such key for data (valid: name, path, target, "
                      "task, val_fraction, test_fraction, standardize, dropna), got 1"),
    ("+model.depth=3", "model.depth: expected no such key for model (valid: hidden, "
                       "activation, init, dtype), got 3"),
    ("+optimizer.x=1", "optimizer.x: expected no such key for optimizer adam (valid: lr, "
                       "beta1, beta2, eps), got 1"),
    ("+extra=1", "extra: expected no such key for the config (valid: epochs, batch_size, seed, "
                 "loss, objective, progress), got 1"),
    ("~epochs", "epochs: expected a positive integer, got None"),
])
def test_bad_value_is_one_line_naming_the_key(override: str, message: str) -> None:
    # each is refused before anything is built, with the key, what it accepts and what it got
    with pytest.raises(ConfigError) as info:
        check_config(plain_config(override))
    assert str(info.value) == message


def test_build_optimizer_from_dict_and_dictconfig():
    # the Hydra node (plain dict or DictConfig) builds the named optimizer with its keys
    opt = build_optimizer({"name": "momentum", "lr": 0.05, "momentum": 0.5, "nesterov": True})
    assert isinstance(opt, Momentum) and opt.lr == 0.05 and opt.momentum == 0.5 and opt.nesterov
    cfg = OmegaConf.create({"name": "adam", "lr": 1e-3, "beta1": 0.8, "beta2": 0.99, "eps": 1e-7})
    adam = build_optimizer(cfg)
    assert isinstance(adam, Adam)
    assert (adam.beta1, adam.beta2, adam.eps) == (0.8, 0.99, 1e-7)
    assert type(adam.lr) is float
    assert isinstance(build_optimizer({"name": "sgd", "lr": 1}), SGD)
    assert set(OPTIMIZERS) == {"sgd", "momentum", "rmsprop", "adam"}


def test_every_shipped_optimizer_config_builds():
    # conf/optimizer/*.yaml are valid inputs to build_optimizer
    files = sorted((CONFIG_DIR / "optimizer").glob("*.yaml"))
    assert files
    for path in files:
        opt = build_optimizer(OmegaConf.load(path))
        assert opt.name == path.stem


@pytest.mark.parametrize(("cfg", "key"), [
    ({"name": "sgd", "lr": 0.0}, "optimizer.lr"),
    ({"name": "sgd", "lr": -1.0}, "optimizer.lr"),
    ({"name": "sgd", "lr": math.inf}, "optimizer.lr"),
    ({"name": "sgd", "lr": "fast"}, "optimizer.lr"),
    ({"name": "sgd"}, "optimizer.lr"),
    ({"name": "momentum", "lr": 0.1, "momentum": 1.0}, "optimizer.momentum"),
    ({"name": "momentum", "lr": 0.1, "momentum": -0.1}, "optimizer.momentum"),
    ({"name": "momentum", "lr": 0.1, "nesterov": "yes"}, "optimizer.nesterov"),
    ({"name": "rmsprop", "lr": 0.1, "rho": 1.0}, "optimizer.rho"),
    ({"name": "rmsprop", "lr": 0.1, "eps": 0.0}, "optimizer.eps"),
    ({"name": "adam", "lr": 0.1, "beta1": 1.0}, "optimizer.beta1"),
    ({"name": "adam", "lr": 0.1, "beta2": -0.5}, "optimizer.beta2"),
    ({"name": "adam", "lr": 0.1, "eps": -1e-8}, "optimizer.eps"),
    ({"name": "sgd", "lr": 0.1, "momentum": 0.9}, "optimizer.momentum"),
    ({"name": "adam", "lr": 0.1, "rho": 0.9}, "optimizer.rho"),
])
def test_invalid_values_raise_config_error_naming_the_key(cfg, key):
    # each bad value is reported as a ConfigError whose message starts with the key
    with pytest.raises(ConfigError) as info:
        build_optimizer(cfg)
    assert info.value.key == key
    assert str(info.value).startswith(key)


def test_unknown_name_lists_valid_ones():
    # an unknown optimizer name lists every valid name
    with pytest.raises(ConfigError, match="optimizer.name") as info:
        build_optimizer({"name": "adagrad", "lr": 0.1})
    for name in ("sgd", "momentum", "rmsprop", "adam"):
        assert name in str(info.value)


@pytest.mark.parametrize("error", [
    ConfigError("optimizer.lr", "a finite number > 0", -0.1),
    ParameterError("lr", "a finite number > 0", -1),
])
def test_errors_cross_process_boundaries_whole(error):
    # a launched worker's error reaches the sweep pickled (a failed job's result)
    import pickle

    again = pickle.loads(pickle.dumps(error))
    assert type(again) is type(error) and str(again) == str(error)
    assert again.expected == error.expected and again.received == error.received
