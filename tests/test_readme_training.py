"""README.md's commands for setting up, testing, completing and training, run as written (read
from README.md by ``readme_commands``), each in an empty start directory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from readme_commands import README, commands, run_shell


def without_comment(command: str) -> str:
    return command.split("  #", 1)[0].strip()


def test_ci_installs_and_tests_with_the_readmes_commands():
    # The set-up block (install, then the whole suite) and the cluster extra's install cannot
    # run inside the suite they start: CI (.ci/run) runs them, as written.
    ci = [line.strip() for line in (README.parent / ".ci" / "run").read_text().splitlines()]
    for command in [*commands("set-up-and-test"), *commands("install-cluster")]:
        assert without_comment(command) in ci, f"{command!r} is not a line of .ci/run"


def finished_runs(cwd: Path) -> list:
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{cwd}/mlruns/mlflow.db")
    experiment = client.get_experiment_by_name("trainer")
    runs = client.search_runs([experiment.experiment_id], max_results=100)
    assert [r.info.status for r in runs] == ["FINISHED"] * len(runs)
    return runs


@pytest.mark.slow
def test_shell_completion_completes_the_command(tmp_path):
    # the block turns completion on in bash; bash then completes `trainer optimizer=` with the
    # optimizer group's options
    [turn_on] = commands("shell-completion")
    done = run_shell(f"{turn_on}\ncomplete -p trainer\n"
                     'COMP_LINE="trainer optimizer=" COMP_POINT=18 COMP_CWORD=1 '
                     'hydra_bash_completion\nprintf "%s\\n" "${COMPREPLY[@]}"', tmp_path)
    assert done.returncode == 0, done.stdout
    lines = done.stdout.split()
    assert "hydra_bash_completion" in done.stdout.splitlines()[0]  # `complete -p` names it
    assert {"optimizer=adam", "optimizer=sgd", "optimizer=momentum"} <= set(lines)


@pytest.mark.slow
def test_train_the_default_model(tmp_path):
    [train] = commands("train")
    done = run_shell(train, tmp_path)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "test: test_loss=" in done.stdout and "MLflow run" in done.stdout
    [run] = finished_runs(tmp_path)
    assert run.data.params["data.name"] == "digits" and "test_accuracy" in run.data.metrics


@pytest.mark.slow
def test_change_anything_from_the_command_line(tmp_path):
    # three runs and a 2x2 grid, each a run of its own
    ran = commands("train-overrides", {"epochs=50": "epochs=5"})
    for command in ran:
        done = run_shell(command, tmp_path)
        assert done.returncode == 0, f"{command}:\n{done.stdout[-3000:]}"
    runs = finished_runs(tmp_path)
    assert len(runs) == 3 + 4
    by_data = {}
    for run in runs:
        by_data.setdefault(run.data.params["data.name"], []).append(run)
    assert sorted((k, len(v)) for k, v in by_data.items()) == [
        ("diabetes", 1), ("digits", 5), ("wine", 1)]
    assert "val_r2" in by_data["diabetes"][0].data.metrics
    momentum = [r for r in by_data["digits"] if r.data.params["optimizer.name"] == "momentum"]
    assert [(r.data.params["optimizer.lr"], r.data.params["model.hidden"]) for r in momentum] \
        == [("0.05", "[128, 64]")]


@pytest.mark.slow
def test_your_own_data(tmp_path):
    # a CSV with a header and a string target, and an .npz with X and y
    from sklearn.datasets import load_iris

    iris = load_iris()
    species = np.asarray(iris.target_names)[iris.target]
    header = ",".join(["sepal_length", "sepal_width", "petal_length", "petal_width", "species"])
    rows = [",".join([*map(str, x), s]) for x, s in zip(iris.data, species, strict=True)]
    (tmp_path / "measurements.csv").write_text("\n".join([header, *rows]) + "\n")
    np.savez(tmp_path / "arrays.npz", X=iris.data, y=iris.target)
    for command in commands("own-data"):
        done = run_shell(command, tmp_path)
        assert done.returncode == 0, f"{command}:\n{done.stdout[-3000:]}"
    assert sorted(r.data.params["data.name"] for r in finished_runs(tmp_path)) == ["csv", "npz"]
