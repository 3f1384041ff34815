"""The sweep's best model in MLflow's Model Registry: registered once, tagged with its trial, and
served by `mlflow models serve` in the data's own labels."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from mlflow import MlflowClient
from readme_commands import free_port, serving

from runkit.mlflow import RunTracker, get_client, get_or_create_experiment
from sweeps.tracking._registry import register_best_model
from trainer.core.network import MLP
from trainer.core.preprocessing import Preprocessor
from trainer.tracking.model import log_trained_model

REPO = Path(__file__).resolve().parents[2]
IRIS_COLUMNS = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]


def _logged_run(uri: str) -> str:
    """A run with a tiny 2-feature classifier as its logged model."""
    experiment_id = get_or_create_experiment(uri, f"registry-{uuid.uuid4().hex[:8]}")
    net = MLP(2, [3], 2, rng=np.random.default_rng(0))
    pre = Preprocessor(x_mean=np.zeros(2), x_scale=np.ones(2), n_features=2)
    with RunTracker.start(uri, experiment_id) as tracker:
        log_trained_model(tracker, step=1, network_state=net.state_dict(),
                          network_config=net.config(), loss="categorical_crossentropy",
                          task="classification", preprocessor_arrays=pre.to_arrays(),
                          classes=np.array(["a", "b"]),
                          feature_names=["x", "y"])
    return tracker.run_id


def test_best_model_is_registered_once_with_its_trial(store_uri: str) -> None:
    # a version points at the run's logged model, tagged with study and trial; registering the
    # same best trial again (the command run again) adds no version
    run_id = _logged_run(store_uri)
    client = get_client(store_uri)
    name = f"best-{uuid.uuid4().hex[:8]}"
    first = register_best_model(client, name, run_id=run_id, study_name="s", trial_number=4,
                                value=0.25)
    again = register_best_model(client, name, run_id=run_id, study_name="s", trial_number=4,
                                value=0.25)
    assert first is not None and first.new and first.uri == f"models:/{name}/1"
    assert again is not None and not again.new and again.version == "1"
    (version,) = client.search_model_versions(f"name = '{name}'")
    assert version.run_id == run_id
    assert version.tags == {"optuna.study_name": "s", "optuna.trial_number": "4",
                            "optuna.value": "0.25", "optuna.objective": "objective (minimize)"}
    assert first.is_champion and again.is_champion  # the first version takes the alias
    assert str(client.get_model_version_by_alias(name, "champion").version) == "1"
    links = json.loads(client.get_logged_model(first.model_id).tags["mlflow.modelVersions"])
    assert links == [{"name": name, "version": "1"}]


def test_the_champion_alias_follows_the_best_version(store_uri: str) -> None:
    # a later sweep's better best takes models:/NAME@champion; a worse one leaves it in place;
    # a version chosen by another objective is not compared
    client = get_client(store_uri)
    name = f"champ-{uuid.uuid4().hex[:8]}"

    def register(value: float, objective: str = "val_loss", direction: str = "minimize"):
        registered = register_best_model(client, name, run_id=_logged_run(store_uri),
                                         study_name="s", trial_number=0, value=value,
                                         objective=objective, direction=direction)
        assert registered is not None
        return registered, str(client.get_model_version_by_alias(name, "champion").version)

    first, champion = register(0.30)
    assert (first.version, champion, first.is_champion) == ("1", "1", True)
    better, champion = register(0.20)
    assert (better.version, champion, better.is_champion) == ("2", "2", True)
    worse, champion = register(0.25)
    assert (worse.version, champion, worse.is_champion, worse.champion) == ("3", "2", False, "2")
    other, champion = register(0.99, objective="val_accuracy", direction="maximize")
    assert (other.version, champion) == ("4", "2")  # not comparable: the alias stays
    model = client.get_registered_model(name)
    assert {alias: str(version) for alias, version in model.aliases.items()} == {"champion": "2"}


def test_a_run_without_a_model_registers_nothing(store_uri: str) -> None:
    experiment_id = get_or_create_experiment(store_uri, f"registry-{uuid.uuid4().hex[:8]}")
    with RunTracker.start(store_uri, experiment_id) as tracker:
        pass
    assert register_best_model(get_client(store_uri), "nothing", run_id=tracker.run_id,
                               study_name="s", trial_number=0, value=1.0) is None


@contextlib.contextmanager
def _serving(model_uri: str, cwd: Path, env: dict[str, str]) -> Iterator[str]:
    """`mlflow models serve` on a free test port; stopped (its process group) at the end."""
    url = f"http://127.0.0.1:{free_port()}"
    command = shlex.join([sys.executable, "-m", "mlflow", "models", "serve", "-m", model_uri,
                          "--env-manager", "local", "-h", "127.0.0.1", "-p",
                          url.rsplit(":", 1)[1]])
    with serving(command, cwd, f"{url}/ping", env=env, timeout=120):
        yield url


def _post(url: str, body: dict) -> dict:
    request = urllib.request.Request(f"{url}/invocations", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


@pytest.mark.slow
def test_sweep_registers_its_best_model_and_mlflow_serves_it(tmp_path: Path) -> None:
    # hydra.sweeper.register_model=NAME: models:/NAME/1 is the best trial's model, the alias
    # champion points at it, and the REST server serving the alias answers in the data's own
    # labels (iris species names)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    result = subprocess.run(
        [sys.executable, "-m", "trainer", "--multirun", "hydra/sweeper=optuna", "data=iris",
         "optimizer.lr=tag(log, interval(1e-2, 1e-1))", "epochs=20", "model.hidden=[16]",
         "hydra.sweeper.n_trials=2", "hydra.sweeper.pruner=none",
         "hydra.sweeper.register_model=iris-best"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    output = result.stdout + result.stderr
    assert "registered as 'iris-best' version 1: models:/iris-best/1" in output
    assert "models:/iris-best@champion is version 1" in output
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    (version,) = MlflowClient(uri, registry_uri=uri).search_model_versions("name = 'iris-best'")
    assert version.tags["optuna.trial_number"] in ("0", "1")

    with _serving("models:/iris-best@champion", tmp_path,
                  {**env, "MLFLOW_TRACKING_URI": uri}) as url:
        rows = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]  # a setosa, a virginica
        by_name = _post(url, {"dataframe_split": {"columns": IRIS_COLUMNS, "data": rows}})
        records = _post(url, {"dataframe_records": [dict(zip(IRIS_COLUMNS, row, strict=True))
                                                    for row in rows]})
        # the input schema names the features: rows without their names are refused
        with pytest.raises(urllib.error.HTTPError) as refused:
            _post(url, {"inputs": rows})
        assert refused.value.code == 400
        assert "Model is missing inputs" in refused.value.read().decode()
    assert by_name == records
    assert set(by_name["predictions"]) <= {"setosa", "versicolor", "virginica"}
    assert by_name["predictions"][0] == "setosa"  # far from the others: any trained net has it
