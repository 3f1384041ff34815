"""Several objectives, as hydra-optuna-sweeper's users write them (its multi-objective example and
test, written anew), and the sweep directory's optimization_results.yaml for one and several."""

from __future__ import annotations

import json
import shlex
import shutil
from pathlib import Path

import optuna
import pytest
from example_runs import only_study, run_app
from mlflow import MlflowClient
from omegaconf import OmegaConf
from optuna.trial import TrialState
from study_trials import counted

pytestmark = pytest.mark.slow
optuna.logging.set_verbosity(optuna.logging.WARNING)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
BINH_AND_KORN = EXAMPLES / "binh_and_korn" / "binh_and_korn.py"


def dominates(a: list[float], b: list[float]) -> bool:
    """``a`` is at least as good in every objective and better in one (all minimized)."""
    return all(x <= y for x, y in zip(a, b, strict=True)) and any(
        x < y for x, y in zip(a, b, strict=True))


def binh_and_korn(x: float, y: float) -> list[float]:
    return [4 * x**2 + 4 * y**2, (x - 5) ** 2 + (y - 5) ** 2]


@pytest.mark.parametrize("with_commandline", [True, False])
def test_the_two_objective_example_writes_its_pareto_front(tmp_path, with_commandline):
    # hydra-optuna-sweeper's test_optuna_multi_objective_example, written anew: the solutions
    # are exactly the completed trials no other dominates, compared by their values (the
    # original compares the solutions' dict keys, which cannot fail)
    out = tmp_path / "out"
    args = [str(BINH_AND_KORN), "--multirun", f"hydra.sweep.dir={out}",
            "hydra.sweeper.n_trials=20", "hydra.sweeper.n_jobs=1",
            "hydra.sweeper.sampler=random", "hydra.sweeper.seed=123"]
    if with_commandline:
        args += ["x=range(0, 5)", "y=range(0, 3)"]
    done = run_app(tmp_path, *args)
    assert done.returncode == 0, done.stderr[-3000:]
    results = OmegaConf.to_container(OmegaConf.load(out / "optimization_results.yaml"))
    assert isinstance(results, dict) and set(results) == {"name", "solutions"}
    assert results["name"] == "optuna"
    solutions = results["solutions"]
    grid = {0.0} if with_commandline else {0.0, 0.5}
    for solution in solutions:
        x, y = solution["params"]["x"], solution["params"]["y"]
        assert x % 1 in grid and y % 1 in grid
        assert solution["values"] == pytest.approx(binh_and_korn(x, y))
    for a in solutions:
        for b in solutions:
            assert not dominates(a["values"], b["values"])

    study = only_study(tmp_path)
    completed = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert len(completed) == 20
    undominated = {t.number for t in completed
                   if not any(dominates(o.values, t.values) for o in completed)}
    assert len(solutions) == len(undominated) >= 2
    assert sorted((s["params"]["x"], s["params"]["y"]) for s in solutions) == sorted(
        (t.params["x"], t.params["y"]) for t in completed if t.number in undominated)

    # the console: every point of the front with the app's own command reproducing it
    output = done.stdout + done.stderr
    assert f"Pareto front of study '{study.study_name}' (minimize v0, minimize v1): " \
           f"{len(solutions)} trials" in output
    commands = [shlex.split(line.split("reproduce it: ", 1)[1])
                for line in output.splitlines() if "reproduce it: " in line]
    assert len(commands) == len(solutions)
    by_number = {t.number: t for t in completed}
    for command in commands:
        assert command[:2] == ["python", str(BINH_AND_KORN)]
        overrides = dict(o.split("=", 1) for o in command[2:])
        assert any(overrides == {k: str(v) for k, v in by_number[n].params.items()}
                   for n in undominated)


def test_the_front_reaches_mlflow_and_each_trial_run_holds_both_values(tmp_path):
    # the parent run: the front as a table and a picture; each trial's run: values_0, values_1
    done = run_app(tmp_path, str(BINH_AND_KORN), "--multirun", "hydra.sweeper.n_trials=8")
    assert done.returncode == 0, done.stderr[-3000:]
    study = only_study(tmp_path)
    client = MlflowClient(f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    experiment = client.get_experiment_by_name("binh_and_korn").experiment_id
    runs = client.search_runs([experiment])
    [parent] = [r for r in runs if r.data.tags.get("sweep.role") == "parent"]
    children = {int(r.data.tags["optuna.trial_number"]): r for r in runs if r is not parent}
    assert parent.info.status == "FINISHED"
    assert parent.data.params["direction"] == "minimize,minimize"
    assert parent.data.params["pruner"] == "none"
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"pareto_front.json", "pareto_front.png", "pareto_front.txt"} <= artifacts
    front = {t.number: t for t in study.best_trials}
    assert parent.data.metrics["pareto_front_trials"] == len(front)
    path = client.download_artifacts(parent.info.run_id, "pareto_front.json", str(tmp_path))
    table = json.loads(Path(path).read_text())  # MLflow's log_table: pandas' "split" form
    rows = [dict(zip(table["columns"], row, strict=True)) for row in table["data"]]
    assert sorted(row["trial"] for row in rows) == sorted(front)
    for row in rows:
        trial = front[int(row["trial"])]
        assert [row["v0"], row["v1"]] == pytest.approx(trial.values)
        assert row["mlflow_run_id"] == trial.user_attrs["mlflow_run_id"]
        assert shlex.split(row["command"])[2:] == trial.user_attrs["overrides"]
    for trial in study.trials:
        run = children[trial.number]
        assert run.info.status == "FINISHED"
        assert [run.data.metrics["values_0"], run.data.metrics["values_1"]] == trial.values


def test_a_pruner_with_several_directions_is_refused_in_one_line(tmp_path):
    # Optuna cannot prune a trial of a multi-objective study: said before any study exists
    done = run_app(tmp_path, str(BINH_AND_KORN), "--multirun", "hydra.sweeper.pruner=median")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        "error: hydra.sweeper.pruner: expected null or none with 2 directions (Optuna cannot "
        "prune a trial of a multi-objective study), got 'median'")
    assert not (tmp_path / "mlruns" / "optuna.db").exists()


def test_a_task_returning_one_value_for_two_directions_fails_each_trial_saying_so(tmp_path):
    # the sphere returns one number; two directions on the command line: every trial FAILs
    # with the expected and the received value, and the sweep stops in one line
    done = run_app(tmp_path, str(EXAMPLES / "sphere" / "sphere.py"), "--multirun",
                   "hydra.sweeper.n_trials=4", "hydra.sweeper.direction=[minimize,maximize]")
    assert done.returncode == 1
    study = only_study(tmp_path)
    assert [t.state for t in study.trials] == [TrialState.FAIL] * 4
    reason = study.trials[0].user_attrs["fail_reason"]
    value = study.trials[0].params["x"] ** 2 + study.trials[0].params["y"] ** 2
    assert reason == (f"the task returned {value!r}: expected a tuple or list of 2 finite "
                      "numbers, one per direction of hydra.sweeper.direction")
    assert done.stderr.strip().splitlines()[-1].startswith("error: sweep stopped: 4 of 4")


def test_one_objective_writes_the_best_trial_as_hydra_optuna_sweeper_does(tmp_path):
    # optimization_results.yaml: name, best_params, best_value (the study's best)
    out = tmp_path / "out"
    done = run_app(tmp_path, str(EXAMPLES / "sphere" / "sphere.py"), "--multirun",
                   f"hydra.sweep.dir={out}", "hydra.sweeper.n_trials=5")
    assert done.returncode == 0, done.stderr[-3000:]
    results = OmegaConf.to_container(OmegaConf.load(out / "optimization_results.yaml"))
    best = only_study(tmp_path).best_trial
    assert results == {"name": "optuna", "best_params": best.params, "best_value": best.value}


def test_every_placement_of_workers_runs_the_two_objective_study_to_its_total(tmp_path):
    # launched joblib jobs, then a rerun that resumes with local worker processes, then a
    # joining worker: one study whose every trial holds both values, in the study and in its
    # MLflow run; each invocation writes the front it ends with
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
    steps = [("a", "hydra.sweeper.n_trials=4", "hydra/launcher=joblib"),
             ("b", "hydra.sweeper.n_trials=6"),
             ("c", "hydra.sweeper.n_trials=8", "hydra.sweeper.role=worker")]
    for name, *keys in steps:
        done = run_app(tmp_path, str(BINH_AND_KORN), "--multirun", "hydra.sweeper.n_jobs=2",
                       f"hydra.sweep.dir={tmp_path / name}", *keys)
        assert done.returncode == 0, done.stderr[-3000:]
        study = only_study(tmp_path)
        solutions = OmegaConf.load(tmp_path / name / "optimization_results.yaml").solutions
        assert sorted(list(s["values"]) for s in solutions) == sorted(
            t.values for t in study.best_trials)
    trials = counted(only_study(tmp_path))
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 8
    client = MlflowClient(f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    for trial in trials:
        assert trial.values == binh_and_korn(trial.params["x"], trial.params["y"])
        metrics = client.get_run(trial.user_attrs["mlflow_run_id"]).data.metrics
        assert [metrics["values_0"], metrics["values_1"]] == trial.values


def test_the_readmes_two_objective_command_as_written(tmp_path):
    # README "Several objectives": the command in a copy of the example's directory (fewer
    # trials); its front is printed with the app's own command and written as the README shows
    from readme_commands import commands, run_shell

    shutil.copytree(EXAMPLES / "binh_and_korn", tmp_path / "examples" / "binh_and_korn")
    [command] = commands("sweep-two-objectives",
                         {"--multirun ": "--multirun hydra.sweeper.n_trials=6 "})
    done = run_shell(command, tmp_path)
    assert done.returncode == 0, done.stdout[-3000:]
    example = tmp_path / "examples" / "binh_and_korn"
    study = only_study(example)
    assert len(counted(study)) == 6
    assert "Pareto front of study" in done.stdout
    assert "reproduce it: python binh_and_korn.py x=" in done.stdout
    [results] = example.glob("multirun/*/*/optimization_results.yaml")
    solutions = OmegaConf.load(results).solutions
    assert sorted(list(s["values"]) for s in solutions) == sorted(
        t.values for t in study.best_trials)
