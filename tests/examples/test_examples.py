"""The apps of examples/, swept as their users run them: from the command line, in an empty
directory, with nothing of the trainer."""

from __future__ import annotations

import shlex
import textwrap
from pathlib import Path

import optuna
import pytest
from example_runs import only_study, run_ok
from mlflow import MlflowClient
from optuna.trial import TrialState
from study_trials import MEET_WORKERS, counted, meeting

pytestmark = pytest.mark.slow
optuna.logging.set_verbosity(optuna.logging.WARNING)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def runs_in(cwd: Path, experiment: str) -> tuple[MlflowClient, list, list]:
    """The client of the start directory's store, the sweep's parent runs and trial runs."""
    client = MlflowClient(f"sqlite:///{cwd}/mlruns/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
    parents = [r for r in runs if r.data.tags.get("sweep.role") == "parent"]
    return client, parents, [r for r in runs if r not in parents]


def test_the_sphere_selected_by_its_defaults_runs_its_study_tracked_in_mlflow(tmp_path):
    # `override hydra/sweeper: optuna` in the app's config: no file of ours; a parent run and
    # one child per trial with its params and value; the reproduce line is the app's command
    script = EXAMPLES / "sphere" / "sphere.py"
    done = run_ok(tmp_path, str(script), "--multirun", "hydra.sweeper.n_trials=6")
    trials = counted(only_study(tmp_path))
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 6
    assert all(t.value == t.params["x"] ** 2 + t.params["y"] ** 2 for t in trials)
    client, [parent], children = runs_in(tmp_path, "sphere")  # the app's name
    assert parent.info.status == "FINISHED" and len(children) == 6
    by_number = {int(r.data.tags["optuna.trial_number"]): r for r in children}
    for trial in trials:
        run = by_number[trial.number]
        assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert run.data.params == {"x": str(trial.params["x"]), "y": str(trial.params["y"])}
        assert run.data.metrics["value"] == trial.value
        assert run.info.status == "FINISHED"
    [line] = [ln.split("reproduce it: ", 1)[1] for ln in (done.stdout + done.stderr).splitlines()
              if "reproduce it: " in ln]
    best = only_study(tmp_path).best_trial
    assert shlex.split(line)[:2] == ["python", str(script)]
    assert set(shlex.split(line)[2:]) == {f"x={best.params['x']}", f"y={best.params['y']}"}
    assert parent.data.tags["best.command"] == line


def test_an_iterative_model_reports_every_epoch_and_weak_trials_are_pruned(tmp_path):
    # sweeps.report each epoch: the curves reach the study and the trials' MLflow runs, and
    # the median pruner stops the weak ones; a pruned trial's run says where
    run_ok(tmp_path, str(EXAMPLES / "sgd" / "train.py"), "--multirun",
          "hydra.sweeper.n_trials=12")
    trials = counted(only_study(tmp_path))
    states = [t.state for t in trials]
    assert TrialState.PRUNED in states and TrialState.COMPLETE in states
    assert set(states) <= {TrialState.PRUNED, TrialState.COMPLETE}
    assert all(len(t.intermediate_values) == 15 for t in trials
               if t.state == TrialState.COMPLETE)
    assert all(4 <= len(t.intermediate_values) < 15 for t in trials
               if t.state == TrialState.PRUNED)
    client, _, children = runs_in(tmp_path, "train")
    by_number = {int(r.data.tags["optuna.trial_number"]): r for r in children}
    for trial in trials:
        run = by_number[trial.number]
        curve = client.get_metric_history(run.info.run_id, "intermediate_value")
        assert {m.step: m.value for m in curve} == trial.intermediate_values
        assert run.data.tags["optuna.trial_state"] == trial.state.name
        if trial.state == TrialState.PRUNED:
            assert run.info.run_name == (f"trial-{trial.number} (pruned at step "
                                         f"{trial.last_step}) {only_study(tmp_path).study_name}")


TEN_LINE_APP = textwrap.dedent("""\
    import hydra
    import mlflow


    @hydra.main(version_base="1.3", config_path=None)
    def app(cfg) -> float:
        loss = (cfg.x - 2) ** 2
        mlflow.log_metric("loss", loss)
        return loss


    if __name__ == "__main__":
        app()
""")


def test_a_ten_line_app_in_an_empty_directory_is_swept_and_its_own_mlflow_logs_land_in_its_trial(
        tmp_path, monkeypatch):
    # hydra/sweeper=optuna on the command line, two workers (one a forked process): the app's
    # mlflow.log_metric writes into the MLflow run of the trial that ran it
    meeting(monkeypatch, tmp_path, 2)  # and both run a trial, however busy the machine
    (tmp_path / "app.py").write_text(MEET_WORKERS + TEN_LINE_APP.replace(
        "    loss = ", "    meet()\n    loss = "))
    run_ok(tmp_path, "app.py", "--multirun", "hydra/sweeper=optuna", "+x=interval(-5, 5)",
          "hydra.sweeper.n_trials=6", "hydra.sweeper.n_jobs=2")
    trials = counted(only_study(tmp_path))
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 6
    assert len({t.user_attrs["worker"] for t in trials}) == 2
    client, [parent], children = runs_in(tmp_path, "app")
    assert len(children) == 6
    by_number = {int(r.data.tags["optuna.trial_number"]): r for r in children}
    for trial in trials:
        run = by_number[trial.number]
        assert run.info.run_id == trial.user_attrs["mlflow_run_id"]
        assert run.data.metrics["loss"] == pytest.approx(trial.value)  # the app's own metric
        assert run.data.metrics["value"] == trial.value  # the sweep's
        assert run.data.params == {"x": str(trial.params["x"])}
        assert run.info.status == "FINISHED"


def test_a_custom_search_space_searches_y_near_x_squared_and_passes_it_to_the_task(tmp_path):
    # custom_search_space: rosenbrock.valley, the app's own function, suggests y within width
    # of x² after x is drawn; the task gets y as an override, its run logs it as a param, and
    # the reproduce line carries it
    script = EXAMPLES / "custom_search_space" / "rosenbrock.py"
    done = run_ok(tmp_path, str(script), "--multirun", "hydra.sweeper.n_trials=8")
    study = only_study(tmp_path)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 8
    _, [parent], children = runs_in(tmp_path, "rosenbrock")
    by_number = {int(r.data.tags["optuna.trial_number"]): r for r in children}
    for trial in study.trials:
        x, y = trial.params["x"], trial.params["y"]
        assert abs(y - x**2) <= 0.5
        assert trial.value == (1 - x) ** 2 + 100 * (y - x**2) ** 2
        assert by_number[trial.number].data.params == {"x": repr(x), "y": repr(y)}
    [line] = [ln.split("reproduce it: ", 1)[1] for ln in (done.stdout + done.stderr).splitlines()
              if "reproduce it: " in ln]
    best = study.best_trial
    assert set(shlex.split(line)[2:]) == {f"x={best.params['x']!r}", f"y={best.params['y']!r}"}
