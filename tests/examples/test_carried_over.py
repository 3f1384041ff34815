"""Configs written for hydra-optuna-sweeper run here as they are published (at most their
``_target_`` line removed): the plugin's own examples and lightning-hydra-template's search file,
each against an app of ours with the keys it sweeps (``tests/examples/carried_over/``), run from
the command line in a directory of its own, as their users run them."""

from __future__ import annotations

import math
import shlex
import shutil
import subprocess
from pathlib import Path

import optuna
import pytest
from example_runs import only_study, run_ok
from mlflow import MlflowClient
from optuna.trial import TrialState
from study_trials import counted

pytestmark = pytest.mark.slow
optuna.logging.set_verbosity(optuna.logging.WARNING)

CARRIED_OVER = Path(__file__).resolve().parent / "carried_over"
HOS = CARRIED_OVER / "hydra_optuna_sweeper"


def copied(name: str, tmp_path: Path) -> Path:
    """A copy of ``carried_over/<name>`` in the test's own directory."""
    return Path(shutil.copytree(CARRIED_OVER / name, tmp_path / Path(name).name))


def trial_runs(cwd: Path, experiment: str) -> dict[int, object]:
    client = MlflowClient(f"sqlite:///{cwd}/mlruns/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
    return {int(r.data.tags["optuna.trial_number"]): r for r in runs
            if r.data.tags.get("sweep.role") != "parent"}


def reproduce_line(done: subprocess.CompletedProcess[str]) -> list[str]:
    [line] = [ln.split("reproduce it: ", 1)[1] for ln in (done.stdout + done.stderr).splitlines()
              if "reproduce it: " in ln]
    return shlex.split(line)


def test_the_plugins_sphere_config_runs_as_published(tmp_path):
    # example/conf/config.yaml: override hydra/sweeper/sampler: tpe with sampler.seed 123,
    # study_name sphere, storage null (ours: mlruns/optuna.db here), max_failure_rate 0.0
    example = copied("hydra_optuna_sweeper/example", tmp_path)
    done = run_ok(example, "sphere.py", "--multirun")
    study = only_study(example)
    assert study.study_name == "sphere"
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 20
    assert all(t.value == t.params["x"] ** 2 + t.params["y"] ** 2 for t in study.trials)
    assert all(t.params["y"] in (-5, 0, 5) and (t.params["x"] * 2) % 1 == 0
               for t in study.trials)
    assert len(trial_runs(example, "sphere")) == 20
    best = study.best_trial
    assert reproduce_line(done)[:2] == ["python", "sphere.py"]
    assert set(reproduce_line(done)[2:]) == {f"x={best.params['x']}", f"y={best.params['y']}"}


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_the_plugins_custom_search_space_config_runs_as_published(tmp_path, n_jobs):
    # example/custom-search-space/config.yaml: custom_search_space names
    # custom-search-space-objective.configure, which suggests z near x and a new key +w; with
    # two workers it runs in the worker process too. The task gets both as overrides.
    example = copied("hydra_optuna_sweeper/example", tmp_path)
    run_ok(example, "custom-search-space-objective.py", "--multirun",
           f"hydra.sweeper.n_jobs={n_jobs}")
    study = only_study(example)
    assert study.study_name == "custom-search-space"
    assert [t.state for t in counted(study)] == [TrialState.COMPLETE] * 20
    runs = trial_runs(example, "custom-search-space-objective")
    for trial in counted(study):
        p = trial.params
        assert set(p) == {"x", "y", "z", "+w"}
        assert abs(p["x"] - p["z"]) <= 0.5 and 0 <= p["+w"] <= 1
        assert trial.value == pytest.approx(p["+w"] ** 2 + p["x"] ** 2 + p["y"] ** 2
                                            + p["z"] ** 2, rel=1e-12)
        assert {"z", "w"} <= set(runs[trial.number].data.params)
    if n_jobs == 2:
        assert len({t.user_attrs["worker"] for t in study.trials}) == 2


def test_lightning_hydra_templates_search_file_runs_against_an_app_with_its_keys(tmp_path):
    # configs/hparams_search/mnist_optuna.yaml without its _target_ line: `# @package _global_`,
    # `override /hydra/sweeper: optuna`, hydra.mode MULTIRUN (no --multirun needed), direction
    # maximize, a _target_ TPESampler seeded 1234; its 20 trials cut to 4 on the command line
    app = copied("lightning_hydra_template", tmp_path)
    done = run_ok(app, "train.py", "hparams_search=mnist_optuna", "hydra.sweeper.n_trials=4")
    study = only_study(app)
    assert study.direction == optuna.study.StudyDirection.MAXIMIZE
    assert len(study.trials) == 4
    assert {t.state for t in study.trials} <= {TrialState.COMPLETE, TrialState.PRUNED}
    assert all(0 < t.value <= 1 for t in study.trials if t.state == TrialState.COMPLETE)
    swept = {"model.optimizer.lr", "data.batch_size", "model.net.lin1_size",
             "model.net.lin2_size", "model.net.lin3_size"}
    assert all(set(t.params) == swept for t in study.trials)
    assert len({tuple(sorted(t.params.items())) for t in study.trials}) == 4
    # the best trial runs alone again: the search file stays chosen, in run mode
    line = reproduce_line(done)
    assert line[:3] == ["python", "train.py", "hparams_search=mnist_optuna"]
    assert line[-1] == "hydra.mode=RUN"
    again = run_ok(app, *line[1:])
    assert "study" not in again.stdout + again.stderr  # one job, not a sweep
    assert math.isfinite(study.best_value)
