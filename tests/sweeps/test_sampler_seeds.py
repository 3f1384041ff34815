"""Parallel workers draw distinct points however the sampler and its seed are given: a seed is a
base from which each worker derives its own (issue 19: a ``_target_`` sampler with a seed was
built with that same seed in every worker, and the two workers drew the same points).

The spaces are continuous, so any repeated point is the defect: TPE and the random sampler draw
floats and never repeat one by chance. On a discrete space TPE or the random sampler may repeat a
point legitimately (they do not remember what was drawn), so a count of zero is expected only
from the grid sampler there: it gives trial number n the n-th point of the grid as its seed
shuffled it, so there all workers share one seed (a seed per worker would shuffle the grid
differently in each, and two trials would get one point)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import optuna
import pytest
from example_runs import only_study, run_ok
from study_trials import MEET_WORKERS, counted, meeting

pytestmark = pytest.mark.slow
optuna.logging.set_verbosity(optuna.logging.WARNING)

APP = MEET_WORKERS + textwrap.dedent("""\
    import hydra


    @hydra.main(version_base="1.3", config_path=None)
    def app(cfg) -> float:
        meet()
        return (cfg.x - 1) ** 2 + (cfg.y + 2) ** 2


    if __name__ == "__main__":
        app()
""")


def sweep(cwd: Path, *args: str) -> optuna.Study:
    """The study a successful ``python ARGS`` in ``cwd`` left."""
    run_ok(cwd, *args)
    return only_study(cwd)


def duplicates(study: optuna.Study) -> int:
    """How many trials had parameters an earlier trial already had."""
    seen: set[tuple] = set()
    count = 0
    for trial in counted(study):
        point = tuple(sorted(trial.params.items()))
        count += point in seen
        seen.add(point)
    return count


@pytest.mark.parametrize("n_trials,form", [
    (24, ["hydra.sweeper.sampler={_target_:optuna.samplers.TPESampler,seed:0}"]),  # the issue's
    (12, ["hydra/sweeper/sampler=tpe", "hydra.sweeper.sampler.seed=0"]),  # the plugin's group
    (12, ["hydra.sweeper.sampler={name:random,seed:0}"]),
    (12, ["hydra.sweeper.sampler=tpe", "hydra.sweeper.seed=0"]),
    (12, ["hydra.sweeper.sampler={_target_:optuna.samplers.RandomSampler}",
          "hydra.sweeper.seed=0"]),
])
def test_two_workers_draw_no_point_twice_however_the_seed_is_given(tmp_path, n_trials, form,
                                                                   monkeypatch):
    meeting(monkeypatch, tmp_path, 2)
    (tmp_path / "app.py").write_text(APP)
    study = sweep(tmp_path, "app.py", "--multirun", "hydra/sweeper=optuna",
                  "+x=interval(-5, 5)", "+y=interval(-5, 5)", f"hydra.sweeper.n_trials={n_trials}",
                  "hydra.sweeper.n_jobs=2", *form)
    assert len(counted(study)) == n_trials
    assert len({t.user_attrs["worker"] for t in study.trials}) == 2  # both drew
    assert duplicates(study) == 0


@pytest.mark.parametrize("form", [
    ["hydra.sweeper.sampler={_target_:optuna.samplers.GridSampler,seed:0}"],
    ["hydra.sweeper.sampler=grid"],  # unseeded: the workers still shuffle the grid alike
])
def test_the_grid_runs_each_point_once_with_two_workers_and_a_rerun(tmp_path, form):
    (tmp_path / "app.py").write_text(APP)
    args = ["app.py", "--multirun", "hydra/sweeper=optuna", "+x=choice(-1, 0, 1, 2)",
            "+y=range(-3, 0)", "hydra.sweeper.n_jobs=2", *form]
    study = sweep(tmp_path, *args, "hydra.sweeper.n_trials=7")
    assert len(counted(study)) == 7 and duplicates(study) == 0
    study = sweep(tmp_path, *args, "hydra.sweeper.n_trials=50")  # resumed, lowered to the grid
    assert len(counted(study)) == 12 and duplicates(study) == 0


def test_the_issues_trainer_command_repeats_no_learning_rate(tmp_path):
    # trainer --multirun hydra/sweeper=optuna 'optimizer.lr=tag(log, interval(1e-4,1e-1))'
    # hydra.sweeper.n_trials=10 hydra.sweeper.n_jobs=2 'hydra.sweeper.sampler={_target_:...}'
    # ran 5 of its 10 trials with a learning rate another trial already had
    study = sweep(tmp_path, "-m", "trainer", "--multirun", "hydra/sweeper=optuna",
                  "optimizer.lr=tag(log, interval(1e-4,1e-1))", "hydra.sweeper.n_trials=10",
                  "hydra.sweeper.n_jobs=2",
                  "hydra.sweeper.sampler={_target_:optuna.samplers.TPESampler,seed:0}")
    assert len(counted(study)) == 10
    assert len({t.user_attrs["worker"] for t in study.trials}) == 2
    assert duplicates(study) == 0
