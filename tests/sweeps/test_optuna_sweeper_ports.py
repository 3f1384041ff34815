"""hydra-optuna-sweeper's own tests (``tests/test_optuna_sweeper_plugin.py`` in
facebookresearch/hydra's ``plugins/hydra_optuna_sweeper``), written anew for this plugin: the same
apps, configs and command lines, checked against the study and the MLflow runs (the original reads
``optimization_results.yaml``). Where this plugin means something else on purpose, the test says
what and checks ours. The distribution parsing tests have theirs in test_search_space.py; the
multi-objective example is in the multi-objective tests."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import optuna
import pytest
from example_runs import only_study, run_app, run_ok
from optuna.trial import TrialState
from study_trials import MEET_WORKERS, counted, meeting

pytestmark = pytest.mark.slow
optuna.logging.set_verbosity(optuna.logging.WARNING)

HOS = Path(__file__).resolve().parents[1] / "examples" / "carried_over" / "hydra_optuna_sweeper"


@pytest.fixture
def plugin_dir(tmp_path: Path) -> Path:
    """The plugin's example/ and tests/conf/ (its configs, our apps), as its tests see them."""
    root = tmp_path / "plugin"
    shutil.copytree(HOS, root)
    return root


def test_launch_jobs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # n_trials=8 with n_jobs=3 through Hydra's basic launcher named on the command line: eight
    # jobs, each in its own sweep subdirectory with its overrides, run by three workers
    meeting(monkeypatch, tmp_path, 3)
    (tmp_path / "app.py").write_text(MEET_WORKERS + textwrap.dedent("""\
        import hydra


        @hydra.main(version_base="1.3", config_path=None)
        def app(cfg) -> float:
            meet()
            return (cfg.x - 1) ** 2
        if __name__ == "__main__":
            app()
    """))
    run_ok(tmp_path, "app.py", "--multirun", "hydra/sweeper=optuna", "hydra/launcher=basic",
           "hydra.sweeper.n_trials=8", "hydra.sweeper.n_jobs=3", "+x=interval(-3, 3)",
           f"hydra.sweep.dir={tmp_path / 'multirun'}")
    trials = counted(only_study(tmp_path))
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 8
    assert len({t.user_attrs["worker"] for t in trials}) == 3
    for trial in trials:
        overrides = (tmp_path / "multirun" / str(trial.number) / ".hydra" / "overrides.yaml")
        assert f"+x={trial.params['x']!r}" in overrides.read_text()


@pytest.mark.parametrize("with_commandline", [True, False])
def test_optuna_example(plugin_dir: Path, with_commandline: bool, tmp_path: Path) -> None:
    # the sphere example with the original's command line; its search-performance check too:
    # 2.27 is the 95th percentile of TPE's best value over 1000 seeds (hydra PR 1746). The
    # workers' seeds derive from 123 here, so the draws are not the original's: the check
    # holds for this seed as for 95% of them, and the run is repeatable.
    storage = f"sqlite:///{tmp_path}/test.db"
    cmd = ["example/sphere.py", "--multirun", f"hydra.sweep.dir={tmp_path / 'sweep'}",
           "hydra.job.chdir=True", "hydra.sweeper.n_trials=20", "hydra.sweeper.n_jobs=1",
           f"hydra.sweeper.storage={storage}", "hydra.sweeper.study_name=test-optuna-example",
           "hydra/sweeper/sampler=tpe", "hydra.sweeper.sampler.seed=123", "~z"]
    if with_commandline:
        cmd += ["x=choice(0, 1, 2)", "y=0"]  # y fixed
    run_ok(plugin_dir, *cmd)
    study = optuna.load_study(study_name="test-optuna-example", storage=storage)
    best = study.best_trial
    assert len(study.trials) == 20
    if with_commandline:
        assert set(best.params) == {"x"} and best.params["x"] in (0, 1, 2)
        assert best.value == best.params["x"] ** 2  # the task got y=0
    else:
        assert set(best.params) == {"x", "y"}
    assert best.value <= 2.27


@pytest.mark.parametrize("num_trials", [10, 1])
def test_example_with_grid_sampler(plugin_dir: Path, tmp_path: Path, num_trials: int) -> None:
    # tests/conf/test_grid.yaml: x in {-1, 1}, y = range(-1.0, 1.0, step=1) is {-1.0, 0.0}, z in
    # {foo, bar}: 8 points. n_trials above that is lowered to 8 and every point runs once (the
    # original checks only that the best lies on the grid); one trial runs one point.
    storage = f"sqlite:///{tmp_path}/test.db"
    run_ok(plugin_dir, "example/sphere.py", "--multirun", "--config-dir=tests/conf",
           "--config-name=test_grid", f"hydra.sweep.dir={tmp_path / 'sweep'}",
           "hydra.job.chdir=False", f"hydra.sweeper.n_trials={num_trials}",
           "hydra.sweeper.n_jobs=1", f"hydra.sweeper.storage={storage}",
           "hydra.sweeper.study_name=test-grid-sampler")
    study = optuna.load_study(study_name="test-grid-sampler", storage=storage)
    points = [(t.params["x"], t.params["y"], t.params["z"]) for t in study.trials]
    grid = {(x, y, z) for x in (-1, 1) for y in (-1.0, 0.0) for z in ("foo", "bar")}
    assert len(points) == min(num_trials, 8) and set(points) <= grid
    assert len(set(points)) == len(points)
    best = study.best_trial
    assert best.params["x"] in (-1, 1) and best.params["y"] in (-1, 0)
    assert best.params["z"] in ("foo", "bar")
    if num_trials >= 8:
        assert set(points) == grid
        assert best.value == 1 and abs(best.params["x"]) == 1 and best.params["y"] == 0


def test_optuna_custom_search_space_example(plugin_dir: Path, tmp_path: Path) -> None:
    # the random sampler seeded 123 and max_z_difference_from_x=0.3 on the command line: the
    # function reads it from the sweep's config; every trial (the original: the best) keeps
    # z within 0.3 of x and w in [0, 1]
    max_z_difference_from_x = 0.3
    run_ok(plugin_dir, "example/custom-search-space-objective.py", "--multirun",
           f"hydra.sweep.dir={tmp_path / 'sweep'}", "hydra.job.chdir=True",
           "hydra.sweeper.n_trials=20", "hydra.sweeper.n_jobs=1", "hydra/sweeper/sampler=random",
           "hydra.sweeper.sampler.seed=123", f"max_z_difference_from_x={max_z_difference_from_x}")
    study = only_study(plugin_dir)
    assert study.study_name == "custom-search-space"
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 20
    for trial in study.trials:
        assert abs(trial.params["x"] - trial.params["z"]) <= max_z_difference_from_x
        assert 0 <= trial.params["+w"] <= 1


@pytest.mark.parametrize("max_failure_rate", [0.5, 1.0])
def test_failure_rate(plugin_dir: Path, tmp_path: Path, max_failure_rate: float) -> None:
    # error=true: every trial raises. Below 1.0 the sweep stops early (ours: after at least 4
    # finished trials, not per batch), fails, and its one line quotes the task's error; at 1.0
    # failures never stop it: it runs all 20 trials (and then fails, none having completed,
    # where the original crashes reading the best trial).
    done = run_app(plugin_dir, "example/sphere.py", "--multirun",
                   f"hydra.sweep.dir={tmp_path / 'sweep'}", "hydra.job.chdir=True",
                   "hydra.sweeper.n_trials=20", "hydra.sweeper.n_jobs=2",
                   "hydra/sweeper/sampler=random", "hydra.sweeper.sampler.seed=123",
                   f"hydra.sweeper.max_failure_rate={max_failure_rate}", "error=true")
    assert done.returncode == 1
    study = only_study(plugin_dir)
    assert study.study_name == "sphere"
    finished = [t for t in counted(study) if t.state == TrialState.FAIL]
    assert all(t.user_attrs["fail_reason"] == "RuntimeError: cfg.error is True" for t in finished)
    error_lines = [ln for ln in done.stderr.splitlines() if ln.startswith("error: ")]
    assert len(error_lines) == 1 and "RuntimeError: cfg.error is True" in error_lines[0]
    if max_failure_rate < 1.0:
        assert 4 <= len(finished) < 20
        assert "more than max_failure_rate=0.5" in error_lines[0]
    else:
        assert len(finished) == 20
        assert "no trial completed" in error_lines[0]
