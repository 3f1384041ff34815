"""`python -m trainer` as a user runs it: from any directory, output, exit codes, MLflow store."""

from __future__ import annotations

import contextlib
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


def _as_in_a_terminal() -> None:
    # A run started in a terminal gets SIGHUP's default; one started under nohup (as a test
    # suite may be) inherits SIG_IGN, and the trainer then keeps ignoring SIGHUP, as asked.
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


def start_long_run(cwd: Path, *args: str) -> subprocess.Popen[str]:
    """A run that trains until stopped, returned once its first epochs are logged."""
    process = subprocess.Popen(
        [sys.executable, "-m", "trainer", "epochs=100000", "early_stopping.enabled=false",
         "model.hidden=[16]", "progress=lines", "mlflow.log_model=false", *args],
        cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"}, preexec_fn=_as_in_a_terminal,
    )
    assert process.stderr is not None
    epochs = 0
    for line in process.stderr:
        epochs += line.startswith("epoch")
        if epochs == 3:
            return process
    raise AssertionError(f"the run ended (exit {process.wait()}) before training")


@pytest.mark.slow
@pytest.mark.parametrize("sig,code,name", [(signal.SIGINT, 130, "Ctrl-C"),
                                           (signal.SIGTERM, 143, "SIGTERM"),
                                           (signal.SIGHUP, 129, "SIGHUP")])
def test_a_stopped_run_says_what_it_kept_and_ends_killed(tmp_path, sig, code, name):
    # Ctrl-C, SIGTERM, SIGHUP (terminal closed): one line, the shell's exit code, run KILLED
    process = start_long_run(tmp_path)
    process.send_signal(sig)
    _, err = process.communicate(timeout=60)
    assert process.returncode == code, err
    lines = [line for line in err.splitlines() if not line.startswith("epoch")]
    [logged] = runs_in(tmp_path)
    [line] = lines
    assert line.startswith(f"interrupted ({name}): MLflow run {logged.info.run_id} ended KILLED "
                           "with its config and the metrics of ")
    assert logged.info.status == "KILLED"
    assert logged.data.tags["failure_reason"] == f"interrupted ({name})"


@pytest.mark.slow
def test_two_quick_ctrl_c_still_end_the_run_killed(tmp_path):
    # the second Ctrl-C, 30 ms after the first, finds the run ending: the ending finishes
    process = start_long_run(tmp_path)
    process.send_signal(signal.SIGINT)
    time.sleep(0.03)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "Traceback" not in err
    [logged] = runs_in(tmp_path)
    assert logged.info.status == "KILLED"


@pytest.mark.slow
def test_a_run_whose_process_was_killed_is_ended_by_the_next_command(tmp_path):
    # SIGKILL (or power loss) leaves the run RUNNING; the next command on the store sees that
    # its process is gone and ends it KILLED, naming why
    process = start_long_run(tmp_path)
    process.kill()
    process.communicate(timeout=60)
    [abandoned] = runs_in(tmp_path)
    assert abandoned.info.status == "RUNNING"
    assert abandoned.data.tags["trainer.owner.pid"] == str(process.pid)
    done = trainer(tmp_path, *QUICK, "mlflow.log_model=false")
    assert done.returncode == 0, done.stderr
    runs = {r.info.run_id: r for r in runs_in(tmp_path)}
    ended = runs[abandoned.info.run_id]
    assert ended.info.status == "KILLED"
    assert ended.data.tags["failure_reason"] == (
        f"its process (pid {process.pid} on {abandoned.data.tags['trainer.owner.host']}) ended "
        "without ending the run")
    assert {r.info.status for r in runs.values()} == {"FINISHED", "KILLED"}


def _garbage_db(cwd: Path) -> None:
    (cwd / "mlruns").mkdir()
    (cwd / "mlruns" / "mlflow.db").write_bytes(os.urandom(5000))


def _db_is_a_directory(cwd: Path) -> None:
    (cwd / "mlruns" / "mlflow.db").mkdir(parents=True)


def _mlruns_is_a_file(cwd: Path) -> None:
    (cwd / "mlruns").write_text("")


@pytest.mark.slow
@pytest.mark.parametrize("override,prepare,expected", [
    ("mlflow.tracking_uri=ftp://x", None, "mlflow.tracking_uri: expected an MLflow tracking URI"),
    ("mlflow.tracking_uri=", None, "mlflow.tracking_uri: expected a"),
    ("mlflow.tracking_uri=null", None, "mlflow.tracking_uri: expected a"),
    ("mlflow.tracking_uri=./dir", None, "MLFLOW_ALLOW_FILE_STORE=true"),
    ("mlflow.tracking_uri=http://127.0.0.1:9/", None, "a reachable MLflow server"),
    ("mlflow.experiment=", None, "mlflow.experiment: expected a non-empty"),
    ("mlflow.experiment=[a,b]", None, "mlflow.experiment: expected a non-empty"),
    ("epochs=3", _garbage_db, "is not a SQLite database"),
    ("epochs=3", _db_is_a_directory, "not a directory"),
    ("epochs=3", _mlruns_is_a_file, "mlruns is a file"),
])
def test_a_store_that_cannot_be_used_is_one_line(tmp_path, override, prepare, expected):
    # each bad tracking setting or store is named in one line, exit 1, before MLflow is asked
    if prepare is not None:
        prepare(tmp_path)
    done = trainer(tmp_path, *QUICK, override, timeout=60)
    assert done.returncode == 1
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("error: mlflow.") and expected in line


@pytest.mark.slow
def test_a_full_disk_mid_run_is_one_line_and_no_run_stays_running(tmp_path):
    # the store's disk fills up while the run trains: one line naming where, exit 1; the run
    # is ended (FAILED, or KILLED by the next command when nothing could be written any more)
    mlruns = tmp_path / "mlruns"
    mlruns.mkdir()
    if os.geteuid() != 0 or os.system(f"mount -t tmpfs -o size=8m tmpfs {mlruns}") != 0:
        pytest.skip("needs a small file system of its own (root, mount)")
    try:
        process = start_long_run(tmp_path)
        # fill the disk to the last byte
        with open(mlruns / "filler", "wb") as filler, contextlib.suppress(OSError):
            while True:
                filler.write(b"\0" * 65536)
                filler.flush()
        _, err = process.communicate(timeout=120)
        (mlruns / "filler").unlink()
        assert process.returncode == 1, err
        [line] = [ln for ln in err.splitlines() if not ln.startswith("epoch")]
        assert line.startswith(f"error: no space left on device for the MLflow store {mlruns}")
        done = trainer(tmp_path, *QUICK, "mlflow.log_model=false")
        assert done.returncode == 0, done.stderr
        statuses = {r.info.status for r in runs_in(tmp_path)}
        assert "RUNNING" not in statuses and statuses & {"FAILED", "KILLED"}
    finally:
        os.system(f"umount -l {mlruns}")


@pytest.mark.parametrize(
    "override,expected",
    [
        ("epoch=5", "epoch: no such key in the config; did you mean epochs=5? "
                    "(+epoch=5 would add it as a new key)"),
        ("optimizer.lrr=0.1", "did you mean optimizer.lr=0.1?"),
        ("optimizer.momentum=-0.1", "optimizer.momentum: no such key in the optimizer chosen; "
                                    "it belongs to optimizer=momentum (optimizer=momentum "
                                    "optimizer.momentum=-0.1)"),
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


@pytest.mark.slow
@pytest.mark.parametrize(("override", "line"), [
    ("epochs=${nope}", "error: epochs: expected an interpolation that resolves (the config has "
                       "no key 'nope'), got '${nope}'"),
    ("epochs=${oc.env:TRAINER_TEST_UNSET}",
     "error: epochs: expected an interpolation that resolves (the environment variable "
     "TRAINER_TEST_UNSET is not set; ${oc.env:TRAINER_TEST_UNSET,DEFAULT} gives a default), "
     "got '${oc.env:TRAINER_TEST_UNSET}'"),
    ("hydra.run.dir=${nope}", "error: hydra.run.dir: expected an interpolation that resolves "
                              "(the config has no key 'nope'), got '${nope}'"),
])
def test_an_interpolation_that_does_not_resolve_is_one_line_naming_its_key(tmp_path, override,
                                                                             line):
    # not OmegaConf's "Interpolation key 'nope' not found", nor Hydra's "Error executing job"
    done = trainer(tmp_path, override)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [line]


def test_one_line_joins_hydra_messages():
    from trainer.__main__ import one_line

    message = ("In 'config': Could not find 'data/foo'\n\nAvailable options in 'data':\n"
               "\tdigits\n\twine\nConfig search path:\n\tprovider=hydra, path=pkg://hydra.conf")
    assert one_line(message) == (
        "In 'config': Could not find 'data/foo'; Available options in 'data': digits, wine"
    )


@pytest.mark.slow
def test_a_network_too_large_for_memory_is_one_line_before_allocating(tmp_path):
    # ten billion weights: how much they need and what is available, not a MemoryError
    done = trainer(tmp_path, "epochs=1", "model.hidden=[100000,100000]", timeout=60)
    assert done.returncode == 1
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("error: model.hidden: expected a network that fits in memory")
    assert "GiB are available" in line
    [logged] = runs_in(tmp_path)
    assert logged.info.status == "FAILED"
