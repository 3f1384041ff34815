"""A sweep's result as written: optimization_results.yaml (hydra-optuna-sweeper's format), the
Pareto front's lines and table."""

from __future__ import annotations

import sys

import optuna
from omegaconf import OmegaConf

from sweeps.search import parse_search_space
from sweeps.tracking._front import (
    front_lines,
    front_table,
    pareto_front,
    write_optimization_results,
)
from sweeps.tracking._parent import best_trial

optuna.logging.set_verbosity(optuna.logging.WARNING)
SPACE = parse_search_space({"x": "interval(0, 1)"})


def study_of(values: list[list[float]], directions: list[str]) -> optuna.Study:
    study = optuna.create_study(directions=directions)
    for i, v in enumerate(values):
        trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
        trial.set_user_attr("overrides", [f"x={i / 10}"])
        study.tell(trial, v)
    return study


def test_one_objective_writes_name_best_params_and_best_value(tmp_path) -> None:
    study = study_of([[3.0], [1.0], [2.0]], ["minimize"])
    best = best_trial(study, SPACE.overrides)
    assert best is not None and best.number == 1
    path = write_optimization_results(tmp_path, study, best, [])
    assert OmegaConf.to_container(OmegaConf.load(path)) == {
        "name": "optuna", "best_params": study.best_params, "best_value": 1.0}


def test_several_objectives_write_the_front_and_nothing_dominated(tmp_path, monkeypatch) -> None:
    # the command line of a sweep (with --multirun, the reproduce line needs no hydra.mode=RUN)
    argv = ["app.py", "--multirun", "x=interval(0, 1)"]
    monkeypatch.setattr(sys, "argv", argv)
    monkeypatch.setattr(sys, "orig_argv", [sys.executable, *argv])
    monkeypatch.setattr("sweeps._command.app_command", lambda: ("python", "app.py"))  # cached
    # (1, 5) and (3, 2) trade off; (4, 6) is dominated by both; (1, 5) twice stays twice
    study = study_of([[3.0, 2.0], [4.0, 6.0], [1.0, 5.0], [1.0, 5.0]], ["minimize", "minimize"])
    assert best_trial(study, SPACE.overrides) is None  # no single best
    front = pareto_front(study, SPACE.overrides)
    assert [p.number for p in front] == [2, 3, 0]  # by their values
    path = write_optimization_results(tmp_path, study, None, front)
    solutions = OmegaConf.to_container(OmegaConf.load(path))
    assert solutions == {"name": "optuna", "solutions": [
        {"params": study.trials[n].params, "values": study.trials[n].values} for n in (2, 3, 0)]}
    lines = front_lines(study, front)
    assert lines[0] == (f"Pareto front of study {study.study_name!r} (minimize values_0, "
                        "minimize values_1): 3 trials")
    assert lines[1:3] == ["  trial 2: values_0=1  values_1=5",
                          f"    reproduce it: {front[0].command}"]
    assert front[0].command == "python app.py x=0.2"
    table = front_table(study, front)
    assert table["trial"] == [2, 3, 0] and table["values_1"] == [5.0, 5.0, 2.0]
    assert table["params.x"] == [study.trials[n].params["x"] for n in (2, 3, 0)]


def test_nothing_is_written_before_a_trial_completed(tmp_path) -> None:
    for directions in (["minimize"], ["minimize", "maximize"]):
        study = optuna.create_study(directions=directions)
        assert write_optimization_results(tmp_path, study, None, []) is None
    assert not list(tmp_path.iterdir())
