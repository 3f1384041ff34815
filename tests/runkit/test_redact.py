"""A database URL's password never reaches what a sweep writes: ``user:***@`` instead."""

from __future__ import annotations

from omegaconf import OmegaConf

from runkit.redact import redact_url, scrub, scrub_hydra_node, url_password

URL = "postgresql+psycopg2://sweeper:s3cr%40t-pw@db-host:5432/optuna"


def test_the_password_of_a_url_is_hidden_and_the_rest_kept():
    assert url_password(URL) == "s3cr%40t-pw"
    assert redact_url(URL) == "postgresql+psycopg2://sweeper:***@db-host:5432/optuna"
    # no password, no scheme, not a URL at all: unchanged, or hidden all the same
    assert redact_url("postgresql+psycopg2://sweeper@db-host/optuna") == (
        "postgresql+psycopg2://sweeper@db-host/optuna")
    assert redact_url("sqlite:////tmp/mlruns/optuna.db") == "sqlite:////tmp/mlruns/optuna.db"
    assert redact_url("sweeper:pw@db-host/optuna") == "sweeper:***@db-host/optuna"


def test_a_message_quoting_the_url_or_the_bare_password_is_scrubbed():
    # SQLAlchemy quotes a URL it cannot parse; a driver may echo a connection string
    message = (f"Could not parse SQLAlchemy URL from string '{URL}'; "
               "dsn: host=db-host password=s3cr@t-pw")
    scrubbed = scrub(message, URL)
    assert "s3cr" not in scrubbed
    assert "sweeper:***@db-host" in scrubbed and "password=***" in scrubbed
    assert scrub("nothing secret", None, "sqlite:///x.db") == "nothing secret"
    # a short password is hidden in its URL form only, not wherever its letters occur
    assert scrub("pw at postgresql://u:pw@h/db", "postgresql://u:pw@h/db") == (
        "pw at postgresql://u:***@h/db")


def test_the_hydra_node_hides_the_storage_password_in_place():
    # what Hydra writes to .hydra/hydra.yaml and the sweep to multirun.yaml
    config = OmegaConf.create({
        "epochs": 3,
        "hydra": {"sweeper": {"storage": URL, "n_trials": 4},
                  "overrides": {"hydra": [f"hydra.sweeper.storage={URL}",
                                          "hydra.sweeper.n_trials=4"],
                                "task": ["epochs=3"]}},
    })
    OmegaConf.set_struct(config, True)
    scrub_hydra_node(config)
    written = OmegaConf.to_yaml(config)
    assert "s3cr" not in written
    assert config.hydra.sweeper.storage == redact_url(URL)
    assert list(config.hydra.overrides.hydra) == [
        f"hydra.sweeper.storage={redact_url(URL)}", "hydra.sweeper.n_trials=4"]
    assert config.epochs == 3 and list(config.hydra.overrides.task) == ["epochs=3"]


def test_a_runs_params_hide_the_password_of_its_tracking_uri():
    # mlflow.tracking_uri=postgresql://user:PASSWORD@host/db is a param of every trainer run
    from runkit.mlflow import flatten_config

    params = flatten_config({"mlflow": {"tracking_uri": URL, "experiment": "digits"},
                             "hidden": [64, 32]})
    assert params == {"mlflow.tracking_uri": "postgresql+psycopg2://sweeper:***@db-host:5432/optuna",
                      "mlflow.experiment": "digits", "hidden": "[64, 32]"}
