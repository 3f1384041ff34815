"""Every run logs its data as MLflow datasets: the train, validation and test parts, with name,
digest, source and schema; a sweep's trials share the digests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from tests.commands import run_trainer
from trainer.data.loaders import BUNDLED_DIR

REPO = Path(__file__).resolve().parents[3]
FAST = ("epochs=3", "model.hidden=[8]", "mlflow.log_model=false")


def _inputs(client: MlflowClient, run_id: str) -> dict[str, object]:
    """context -> the logged dataset."""
    return {tag.value: item.dataset for item in client.get_run(run_id).inputs.dataset_inputs
            for tag in item.tags if tag.key == "mlflow.data.context"}


def test_a_run_logs_its_three_parts_as_datasets(run_and_capture, make_config, store_uri):
    _, run_id, error = run_and_capture(make_config(*FAST, "data=wine"))
    assert error is None
    datasets = _inputs(MlflowClient(store_uri), run_id)
    assert set(datasets) == {"training", "validation", "test"}
    for dataset in datasets.values():
        assert dataset.name == "wine" and dataset.source_type == "local"
        assert json.loads(dataset.source) == {"uri": str(BUNDLED_DIR / "wine.npz")}
        columns = json.loads(dataset.schema)["mlflow_colspec"]
        assert columns[0] == {"type": "double", "name": "alcohol", "required": True}
        assert columns[-1]["name"] == "target" and len(columns) == 14
    profiles = {context: json.loads(d.profile)["num_rows"] for context, d in datasets.items()}
    assert profiles == {"training": 106, "validation": 36, "test": 36}  # 178 rows, 60/20/20
    assert len({d.digest for d in datasets.values()}) == 3


def test_the_same_split_has_the_same_digests(run_and_capture, make_config, store_uri):
    # what a sweep's trials (one seed, other hyperparameters) rely on; another seed splits anew
    client = MlflowClient(store_uri)
    digests = []
    for overrides in (("optimizer.lr=0.01",), ("optimizer=sgd",), ("seed=1",)):
        _, run_id, error = run_and_capture(make_config(*FAST, "data=iris", *overrides))
        assert error is None
        digests.append({c: d.digest for c, d in _inputs(client, run_id).items()})
    assert digests[0] == digests[1] != digests[2]


def test_runs_on_the_same_data_in_one_process_hash_it_once(run_and_capture, make_config,
                                                            store_uri, monkeypatch):
    # a sweep's trials in one worker: the data set is loaded and its parts hashed for the first
    # trial only (trainer/data/reuse.py); each run still logs all three parts
    from trainer.data import reuse
    from trainer.tracking import datasets

    reuse.forget()
    described = []
    describe = datasets._describe
    monkeypatch.setattr(datasets, "_describe", lambda data: described.append(data) or
                        describe(data))
    client = MlflowClient(store_uri)
    logged = []
    for overrides in (("optimizer.lr=0.01",), ("optimizer=sgd",), ("seed=1",)):
        _, run_id, error = run_and_capture(make_config(*FAST, "data=wine", *overrides))
        assert error is None
        logged.append({c: (d.digest, d.profile) for c, d in _inputs(client, run_id).items()})
    assert len(described) == 2  # the first run, then seed=1's other split
    assert logged[0] == logged[1] != logged[2]
    assert set(logged[1]) == {"training", "validation", "test"}


def test_a_csv_is_named_after_its_file_with_its_column_types(run_and_capture, make_config,
                                                             store_uri, tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"count": rng.integers(0, 9, 60), "size": rng.normal(size=60),
                          "kind": np.where(rng.random(60) > 0.5, "big", "small")})
    path = tmp_path / "measurements.csv"
    frame.to_csv(path, index=False)
    _, run_id, error = run_and_capture(make_config(
        "epochs=2", "model.hidden=[4]", "data=csv", f"data.path={path}", "data.target=kind"))
    assert error is None
    client = MlflowClient(store_uri)
    training = _inputs(client, run_id)["training"]
    assert training.name == "measurements"
    assert json.loads(training.source) == {"uri": str(path)}
    types = {c["name"]: c["type"] for c in json.loads(training.schema)["mlflow_colspec"]}
    assert types == {"count": "long", "size": "double", "kind": "string"}
    # the model's input schema declares the features with the same types
    (output,) = client.get_run(run_id).outputs.model_outputs
    from mlflow.models import Model

    location = client.get_logged_model(output.model_id).artifact_location
    model = Model.load(str(Path(location.removeprefix("file://")) / "MLmodel"))
    assert {s.name: s.type.name for s in model.signature.inputs.inputs} == {
        "count": "long", "size": "double"}


@pytest.mark.slow
def test_a_sweeps_trials_share_digests_and_are_named_by_number(tmp_path: Path) -> None:
    # trial runs: trial-N-<study> (the number first), each model named after its run, and the
    # same three dataset digests in every trial
    result = run_trainer(tmp_path, "--multirun", "hydra/sweeper=optuna", "data=iris",
                         "optimizer.lr=tag(log, interval(1e-2, 1e-1))", "epochs=5",
                         "model.hidden=[8]", "hydra.sweeper.n_trials=3",
                         "hydra.sweeper.pruner=none", "hydra.sweeper.study_name=names")
    assert result.returncode == 0, result.stderr[-3000:]
    client = MlflowClient(f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    experiment = client.get_experiment_by_name("trainer")
    trials = [run for run in client.search_runs([experiment.experiment_id])
              if "optuna.trial_number" in run.data.tags]
    assert sorted(run.info.run_name for run in trials) == [
        "trial-0-names", "trial-1-names", "trial-2-names"]
    digests = {tuple(sorted((c, d.digest) for c, d in _inputs(client, run.info.run_id).items()))
               for run in trials}
    assert len(digests) == 1 and len(next(iter(digests))) == 3
    for run in trials:
        (output,) = run.outputs.model_outputs
        assert client.get_logged_model(output.model_id).name == run.info.run_name
        assert run.data.metrics["best_val_loss"] == pytest.approx(
            float(run.data.tags.get("optuna.value", run.data.metrics["best_val_loss"])))


def test_the_models_metrics_name_the_part_they_were_measured_on(run_and_capture, make_config,
                                                                store_uri):
    # the Models tab groups a model's metrics by dataset: val_* on the validation part,
    # test_* on the test part; best_* and the epochs belong to none
    _, run_id, error = run_and_capture(make_config("epochs=3", "model.hidden=[8]", "data=iris"))
    assert error is None
    client = MlflowClient(store_uri)
    datasets = _inputs(client, run_id)
    (output,) = client.get_run(run_id).outputs.model_outputs
    linked = {m.key: (m.dataset_name, m.dataset_digest)
              for m in client.get_logged_model(output.model_id).metrics}
    assert linked["val_loss"] == ("iris", datasets["validation"].digest)
    assert linked["test_accuracy"] == ("iris", datasets["test"].digest)
    assert linked["train_loss"] == ("iris", datasets["training"].digest)
    assert linked["best_val_loss"] == linked["best_epoch"] == (None, None)
