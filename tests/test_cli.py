"""`python -m trainer` as a user runs it: from any directory, output, exit codes, MLflow store."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

QUICK = ["epochs=3", "model.hidden=[16]"]


def trainer(cwd: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trainer", *args],
        cwd=cwd, capture_output=True, text=True, timeout=timeout,
    )


def runs_in(cwd: Path) -> list:
    client = MlflowClient(f"sqlite:///{cwd}/mlruns/mlflow.db")
    experiment = client.get_experiment_by_name("trainer")
    return client.search_runs([experiment.experiment_id])


def test_default_command_trains_and_logs_under_the_start_directory(tmp_path):
    done = trainer(tmp_path, *QUICK)
    assert done.returncode == 0, done.stderr
    assert "epoch 3/3" in done.stderr  # one quiet line per epoch when not a terminal
    assert "test: test_loss=" in done.stdout and "MLflow run " in done.stdout
    assert (tmp_path / "mlruns" / "mlflow.db").exists()
    assert (tmp_path / "outputs").is_dir()  # Hydra's outputs land beside it too
    [logged] = runs_in(tmp_path)
    assert logged.info.status == "FINISHED"
    assert logged.info.run_id in done.stdout
    assert logged.data.params["epochs"] == "3"


def test_bad_override_is_one_line_and_exit_code_1(tmp_path):
    done = trainer(tmp_path, *QUICK, "optimizer.lr=-0.1")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "error: optimizer.lr: expected a finite number > 0, got -0.1"
    ]
    [logged] = runs_in(tmp_path)
    assert logged.info.status == "FAILED"


@pytest.mark.parametrize(("override", "line"), [
    ("early_stopping.restore_best_weights=2",
     "error: early_stopping.restore_best_weights: expected true or false, got 2"),
    ("model.hidden=64",
     "error: model.hidden: expected a list of layer widths (integers >= 1), got 64"),
    ("+data.extra=1", "error: data.extra: expected no such key for data (valid: name, path, "
                      "target, task, val_fraction, test_fraction, standardize, dropna), got 1"),
])
def test_bad_value_or_unknown_key_is_one_line(tmp_path, override, line):
    # a switch that is not true/false, a width that is not a list, a key the node lacks
    done = trainer(tmp_path, *QUICK, override)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [line]


def test_missing_values_name_the_column_and_count(tmp_path):
    # column a misses 10 values, column b 20
    (tmp_path / "data.csv").write_text("a,b,label\n" + "1,2,x\n,3,y\n4,,x\n5,,y\n" * 10)
    done = trainer(tmp_path, *QUICK, "data=csv", "data.path=data.csv", "data.target=label")
    assert done.returncode == 1
    [line] = done.stderr.strip().splitlines()
    assert "'a'" in line and "10" in line and "'b'" in line and "20" in line
    assert "data.dropna=true" in line


def test_help_lists_the_config_groups(tmp_path):
    done = trainer(tmp_path, "--help")
    assert done.returncode == 0
    for group in ("data:", "model:", "optimizer:", "regularization:"):
        assert group in done.stdout
    assert "breast_cancer" in done.stdout and "momentum" in done.stdout


def test_hydra_grid_logs_every_run(tmp_path):
    done = trainer(tmp_path, "--multirun", *QUICK, "optimizer=sgd,adam")
    assert done.returncode == 0, done.stderr
    runs = runs_in(tmp_path)
    assert sorted(r.data.params["optimizer.name"] for r in runs) == ["adam", "sgd"]
    assert {r.info.status for r in runs} == {"FINISHED"}


@pytest.mark.slow
def test_sigterm_marks_the_run_killed(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "trainer", "epochs=100000", "early_stopping.enabled=false",
         "model.hidden=[16]", "progress=lines"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    # wait for the first epochs, so the run exists and is training
    deadline = time.monotonic() + 120
    assert process.stderr is not None
    while time.monotonic() < deadline:
        if process.stderr.readline().startswith("epoch"):
            break
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=60)
    assert process.returncode != 0
    [logged] = runs_in(tmp_path)
    assert logged.info.status == "KILLED"


@pytest.mark.parametrize(
    "override,expected",
    [
        ("epoch=5", "epoch: no such key in the config; did you mean epochs=5? "
                    "(+epoch=5 would add it as a new key)"),
        ("optimizer.lrr=0.1", "did you mean optimizer.lr=0.1?"),
        ("early_stoping.patience=3", "did you mean early_stopping.patience=3?"),
        ("colour=red", "Could not override 'colour'"),  # nothing close: Hydra's own words
        ("optimizer=adamw", "Available options in 'optimizer': adam, momentum, rmsprop, sgd"),
    ],
)
def test_hydra_errors_are_one_line(tmp_path, override, expected):
    # a typo in a key or a group option is told in one line, without a stack trace
    done = trainer(tmp_path, override)
    assert done.returncode == 1
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("error: ") and expected in line


def test_one_line_joins_hydra_messages():
    from trainer.__main__ import one_line

    message = ("In 'config': Could not find 'data/foo'\n\nAvailable options in 'data':\n"
               "\tdigits\n\twine\nConfig search path:\n\tprovider=hydra, path=pkg://hydra.conf")
    assert one_line(message) == (
        "In 'config': Could not find 'data/foo'; Available options in 'data': digits, wine"
    )
