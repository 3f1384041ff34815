"""The closest config key for an override Hydra cannot place."""

from trainer import CONFIG_DIR
from trainer.key_hints import config_keys, did_you_mean


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
