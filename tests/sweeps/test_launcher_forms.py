"""Every way the README selects and sets the sweeper works with the launchers that place workers
(submitit_local, joblib; submitit_slurm in test_slurm.py), and launched workers get exactly the
settings the controller had.

The forms: ``sweep=NAME`` (a sweep file that selects the sweeper and sets keys of its own) with
``hydra.sweeper.*`` overrides on the command line, and ``hydra/sweeper=optuna`` with the search
space and the keys on the command line. Hydra's launchers compose each job's config again, in
run mode (issue 20: ``sweep=digits hydra/launcher=submitit_local hydra.sweeper.n_jobs=2`` failed
in every job). The app of ``launched_app/`` writes, from inside each trial, the task config and
the ``hydra.sweeper`` node it got; the tests compare them with the controller's.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from optuna.trial import TrialState
from test_sweep_cli import env, run, study_in

from sweeps.study import count_trials
from sweeps.study._budget import OVERRIDES_ATTR

pytestmark = pytest.mark.slow
optuna.logging.set_verbosity(optuna.logging.WARNING)

APP = Path(__file__).resolve().parent / "launched_app" / "app.py"
N_TRIALS = 4
# Hydra's basic launcher is not among them: its workers are the sweep's own processes, forked
# with the controller's config (test_sweep_cli runs both forms with it).
LAUNCHERS = {
    "submitit_local": ["hydra/launcher=submitit_local"],
    "joblib": ["hydra/launcher=joblib"],
}
FORMS = {
    # the sweep file's own settings (direction, params, pruner, offset=1.0), two set again here
    "sweep=NAME": ["sweep=quad", "hydra.sweeper.n_jobs=2", f"hydra.sweeper.n_trials={N_TRIALS}"],
    "hydra/sweeper=optuna": [
        "hydra/sweeper=optuna", "x=interval(0.0, 1.0)", "hydra.sweeper.direction=minimize",
        "hydra.sweeper.pruner=none", "hydra.sweeper.n_jobs=2",
        f"hydra.sweeper.n_trials={N_TRIALS}"],
}


def _app_module():
    """The app, imported here: it registers the sweeper's config, which composing needs."""
    spec = importlib.util.spec_from_file_location("launched_app", APP)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_app(cwd: Path, *args: str, extra_env: dict[str, str] | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """The app's sweep, run to its end; ``.args`` holds the controller's pid."""
    proc = subprocess.Popen([sys.executable, str(APP), "--multirun", f"record_dir={cwd}", *args],
                            cwd=cwd, env={**env(), **(extra_env or {})}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return subprocess.CompletedProcess(proc.pid, proc.returncode, out, err)


def the_study(cwd: Path) -> optuna.Study:
    storage = f"sqlite:///{cwd}/mlruns/optuna.db"
    [name] = optuna.get_all_study_names(storage)
    return optuna.load_study(study_name=name, storage=storage)


def records(cwd: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(cwd.glob("trial-*.json"))]


def controller_config(cwd: Path):
    [saved] = cwd.glob("multirun/*/*/multirun.yaml")  # what the controller composed
    return OmegaConf.load(saved)


def check_workers_saw_the_controllers_settings(cwd: Path, done: subprocess.CompletedProcess,
                                               study: optuna.Study, form: str) -> list[dict]:
    """Exactly n_trials, and each trial, wherever it ran, saw the controller's hydra.sweeper
    node and the task config the controller composes for its overrides (the sweep file's
    offset among them), in the launcher's two jobs, not in the controller. Returns the trials'
    records."""
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    trials = study.get_trials()
    budget = count_trials(trials, N_TRIALS)
    assert (budget.complete, budget.running, budget.waiting) == (N_TRIALS, 0, 0), budget

    controller = controller_config(cwd)
    sweeper = OmegaConf.to_container(controller.hydra.sweeper, resolve=True)
    assert (sweeper["n_jobs"], sweeper["n_trials"]) == (2, N_TRIALS)
    seen = records(cwd)
    assert len(seen) == N_TRIALS
    by_overrides = {tuple(t.user_attrs[OVERRIDES_ATTR]): t for t in trials
                    if t.state == TrialState.COMPLETE}
    _app_module()
    with initialize_config_dir(config_dir=str(APP.parent / "conf"), version_base="1.3"):
        for record in seen:
            assert record["sweeper"] == sweeper
            trial = by_overrides[tuple(record["overrides"])]  # the overrides the trial was given
            expected = compose("config", overrides=record["overrides"])
            assert record["task"] == OmegaConf.to_container(expected, resolve=True)
            assert record["task"]["x"] == trial.params["x"]
            assert record["task"]["offset"] == (1.0 if form == "sweep=NAME" else 0.0)

    assert "launching 2 worker jobs" in done.stdout + done.stderr
    assert sorted(p.name for p in cwd.glob("multirun/*/*/worker_*")) == ["worker_0", "worker_1"]
    assert done.args not in {record["pid"] for record in seen}
    return seen


@pytest.mark.parametrize("launcher", list(LAUNCHERS))
@pytest.mark.parametrize("form", list(FORMS))
def test_every_form_runs_with_every_launcher_and_workers_see_the_controllers_settings(
        tmp_path, form, launcher):
    done = run_app(tmp_path, *FORMS[form], *LAUNCHERS[launcher])
    check_workers_saw_the_controllers_settings(tmp_path, done, the_study(tmp_path), form)


def test_workers_that_fail_before_their_first_trial_are_quoted_without_a_rerun_advice(tmp_path):
    # the task needs a module only the controller can import (as a package missing on a
    # cluster's nodes): every job fails unpickling it; the controller's last line quotes the
    # jobs' error and does not ask for the same command again, which would fail the same way
    helper = tmp_path / "helper"
    helper.mkdir()
    (helper / "controller_only.py").write_text("def touch():\n    pass\n")
    # (joblib's form of the same failure, a remote traceback: test_launch_failures.py)
    done = run_app(tmp_path, *FORMS["sweep=NAME"], *LAUNCHERS["submitit_local"],
                   extra_env={"RECORDING_APP_LOCAL_MODULE": str(helper)})
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: the launched workers failed before their first trial: "
                           "ModuleNotFoundError: No module named 'controller_only' (see "), last
    assert "run the same command again" not in done.stderr
    assert the_study(tmp_path).get_trials() == []


def test_the_trainers_ready_sweep_runs_in_submitit_jobs_with_overrides(tmp_path):
    # issue 20 as a user met it: `trainer --multirun sweep=digits hydra/launcher=submitit_local
    # hydra.sweeper.n_jobs=2` failed in every job ("Could not override 'hydra.sweeper.n_jobs'")
    done = run(tmp_path, "sweep=digits", "hydra/launcher=submitit_local", "hydra.sweeper.n_jobs=2",
               "hydra.sweeper.n_trials=2", "mlflow.log_model=false", timeout=400)
    assert done.returncode == 0, done.stderr[-3000:]
    budget = count_trials(study_in(tmp_path).get_trials(), 2)
    assert (budget.finished, budget.running, budget.waiting) == (2, 0, 0), budget
    assert sorted(p.name for p in tmp_path.glob("multirun/*/*/worker_*")) == \
        ["worker_0", "worker_1"]
