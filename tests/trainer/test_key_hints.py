"""The closest config key for an override Hydra cannot place."""

from trainer import CONFIG_DIR
from trainer.key_hints import config_keys, did_you_mean, key_owners


def test_keys_come_from_the_main_config_the_groups_and_their_options():
    keys = config_keys(CONFIG_DIR)
    assert {"epochs", "early_stopping.patience", "optimizer", "optimizer.lr",
            "optimizer.momentum", "data.path", "sweep"} <= keys


def test_a_typo_gets_the_close_key_and_the_value_back():
    message = ("Could not override 'epoch'.\nTo append to your config use +epoch=3\n"
               "Key 'epoch' is not in struct")
    assert did_you_mean(message, CONFIG_DIR) == (
        "epoch: no such key in the config; did you mean epochs=3? "
        "(+epoch=3 would add it as a new key)")


def test_nothing_close_or_another_error_gives_no_hint():
    assert did_you_mean("Could not override 'colour'.\nuse +colour=red", CONFIG_DIR) is None
    assert did_you_mean("Could not load 'optimizer/adamw'", CONFIG_DIR) is None


def _unknown(key: str, value: str) -> str:
    return f"Could not override '{key}'.\nTo append to your config use +{key}={value}"


def test_a_key_of_another_option_of_its_group_names_that_option():
    # optimizer.momentum with Adam chosen exists, in optimizer=momentum: say so, not "did you
    # mean optimizer.momentum" (the key itself)
    assert did_you_mean(_unknown("optimizer.momentum", "-0.1"), CONFIG_DIR) == (
        "optimizer.momentum: no such key in the optimizer chosen; it belongs to "
        "optimizer=momentum (optimizer=momentum optimizer.momentum=-0.1)")
    assert did_you_mean(_unknown("optimizer.eps", "1e-6"), CONFIG_DIR) == (
        "optimizer.eps: no such key in the optimizer chosen; it belongs to optimizer=adam, "
        "optimizer=rmsprop (e.g. optimizer=adam optimizer.eps=1e-6)")


def test_a_typo_of_another_options_key_names_the_option_too():
    assert did_you_mean(_unknown("optimizer.momentun", "0.5"), CONFIG_DIR) == (
        "optimizer.momentun: no such key in the config; did you mean optimizer.momentum=0.5, "
        "a key of optimizer=momentum? (+optimizer.momentun=0.5 would add it as a new key)")


def test_an_option_has_the_keys_of_the_options_it_extends():
    # model/large.yaml is `defaults: [mlp, _self_]` + hidden: every model option has every key,
    # so a typo there names no option
    owners = key_owners(CONFIG_DIR)
    assert owners["model.activation"] == {"model=mlp", "model=small", "model=large"}
    assert did_you_mean(_unknown("model.activatio", "tanh"), CONFIG_DIR) == (
        "model.activatio: no such key in the config; did you mean model.activation=tanh? "
        "(+model.activatio=tanh would add it as a new key)")
