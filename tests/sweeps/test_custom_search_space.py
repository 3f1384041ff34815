"""``hydra.sweeper.custom_search_space``: a dotted path to ``fn(cfg, trial)`` suggesting further
parameters, called wherever a trial runs, each parameter passed to the task as an override;
a path that does not import, or a function that raises, is one line naming the key."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import optuna
import pytest
from example_runs import only_study, run_app, run_ok
from omegaconf import OmegaConf
from optuna.trial import TrialState
from study_trials import MEET_WORKERS, counted, meeting

from runkit.errors import ConfigError
from sweeps.search import CustomSearchSpace
from sweeps.search._custom import CustomSearchSpaceError

optuna.logging.set_verbosity(optuna.logging.WARNING)


def shifted(cfg, trial):
    trial.suggest_float("z", trial.params["x"] - cfg.spread, trial.params["x"] + cfg.spread)
    trial.suggest_categorical("+mode", ["a", "b"])


def broken(cfg, trial):
    raise ValueError("no spread given")


def test_its_parameters_become_overrides_and_run_params():
    # called after the params (trial.params holds x), with the sweep's config
    trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1)).ask()
    x = trial.suggest_float("x", 0, 1)
    custom = CustomSearchSpace(f"{__name__}.shifted")
    added = custom.suggest(OmegaConf.create({"spread": 0.1}), trial, {"x": x}, {})
    assert set(added) == {"z", "+mode"} and abs(added["z"] - x) <= 0.1
    assert custom.overrides(added) == [f"z={added['z']!r}", f"+mode={added['+mode']}"]
    assert custom.assignments(added) == {"z": repr(added["z"]), "mode": added["+mode"]}


def test_a_bad_path_or_a_failing_function_is_one_line_naming_the_key():
    with pytest.raises(ConfigError, match=r"^hydra.sweeper.custom_search_space: expected a "
                       r"dotted path to a function fn\(cfg, trial\), importable by the sweep, "
                       r"got \"nowhere.configure \(No module named 'nowhere'; Are you sure "
                       r"that module 'nowhere' is installed\?\)\"$"):
        CustomSearchSpace("nowhere.configure").function()
    trial = optuna.create_study().ask()
    with pytest.raises(CustomSearchSpaceError, match=r"^hydra.sweeper.custom_search_space: "
                       rf"{__name__}.broken raised ValueError: no spread given$"):
        CustomSearchSpace(f"{__name__}.broken").suggest(OmegaConf.create({}), trial, {}, {})
    # a parameter a fixed override sets too (the plugin refuses the overlap as well)
    trial = optuna.create_study().ask()
    trial.suggest_float("x", 0, 1)
    with pytest.raises(CustomSearchSpaceError, match=r"suggested z, which a fixed override"):
        CustomSearchSpace(f"{__name__}.shifted").suggest(
            OmegaConf.create({"spread": 0.1}), trial, {"x": 0.5}, {"z": "3"})


APP = MEET_WORKERS + textwrap.dedent("""\
    import hydra


    @hydra.main(version_base="1.3", config_path=None)
    def app(cfg) -> float:
        meet()
        return (cfg.x - 1) ** 2 + (cfg.z - cfg.x) ** 2 + (0 if cfg.mode == "a" else 0.5)


    def configure(cfg, trial):
        x = trial.params["x"]
        trial.suggest_float("+z", x - 1, x + 1)
        trial.suggest_categorical("+mode", ["a", "b"])


    def broken(cfg, trial):
        raise ValueError("no spread given")


    if __name__ == "__main__":
        app()
""")


def sweep(cwd: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    """app.py's sweep over x with ``args``, which must succeed unless ``ok`` is false."""
    run = run_ok if ok else run_app
    return run(cwd, "app.py", "--multirun", "hydra/sweeper=optuna", "+x=interval(-2, 2)", *args)


def check_two_workers_called_it(cwd: Path) -> None:
    """The study's 6 trials (a surplus one left out: two workers asked for the last trial at
    once) completed in both workers, each with app.configure's parameters in their ranges and
    the value the task computes from them (it got them as overrides)."""
    found = counted(only_study(cwd))
    assert [t.state for t in found] == [TrialState.COMPLETE] * 6
    assert len({t.user_attrs["worker"] for t in found}) == 2
    for trial in found:
        p = trial.params
        assert abs(p["+z"] - p["x"]) <= 1 and p["+mode"] in ("a", "b")
        assert trial.value == pytest.approx((p["x"] - 1) ** 2 + (p["+z"] - p["x"]) ** 2
                                            + (0 if p["+mode"] == "a" else 0.5), rel=1e-12)


@pytest.mark.slow
@pytest.mark.parametrize("launcher", ["basic", "joblib", "submitit_local"])
def test_every_worker_calls_it_local_processes_and_launched_jobs(tmp_path, launcher,
                                                                monkeypatch):
    # two workers: the sweep's own slot and a forked process (basic), or two launched jobs;
    # the task got z and +mode as overrides (its value is computed from them)
    meeting(monkeypatch, tmp_path, 2)
    (tmp_path / "app.py").write_text(APP)
    sweep(tmp_path, f"hydra/launcher={launcher}", "hydra.sweeper.n_trials=6",
          "hydra.sweeper.n_jobs=2", "hydra.sweeper.custom_search_space=app.configure")
    check_two_workers_called_it(tmp_path)


@pytest.mark.slow
def test_a_joining_worker_calls_it_too(tmp_path):
    # role=worker: a second command joins the study and runs its own trials with it
    (tmp_path / "app.py").write_text(APP)
    keys = ["hydra.sweeper.custom_search_space=app.configure",
            "hydra.sweeper.study_name=joined"]
    sweep(tmp_path, "hydra.sweeper.n_trials=3", *keys)
    sweep(tmp_path, "hydra.sweeper.n_trials=6", "hydra.sweeper.role=worker", *keys)
    check_two_workers_called_it(tmp_path)


@pytest.mark.slow
def test_a_path_that_does_not_import_stops_the_sweep_before_any_trial(tmp_path):
    (tmp_path / "app.py").write_text(APP)
    done = sweep(tmp_path, "hydra.sweeper.custom_search_space=app.configur", ok=False)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        "error: hydra.sweeper.custom_search_space: expected a dotted path to a function "
        "fn(cfg, trial), importable by the sweep, got \"app.configur (No module named "
        "'app.configur'; 'app' is not a package; Are you sure that 'configur' is importable "
        "from module 'app'?)\"")
    assert not (tmp_path / "mlruns" / "optuna.db").exists() or not counted(only_study(tmp_path))


@pytest.mark.slow
def test_a_function_that_raises_fails_its_trials_naming_the_key(tmp_path):
    (tmp_path / "app.py").write_text(APP)
    done = sweep(tmp_path, "hydra.sweeper.custom_search_space=app.broken",
                 "hydra.sweeper.n_trials=6", ok=False)
    assert done.returncode == 1
    reason = "hydra.sweeper.custom_search_space: app.broken raised ValueError: no spread given"
    found = counted(only_study(tmp_path))
    assert found and all(t.state == TrialState.FAIL and t.user_attrs["fail_reason"] == reason
                         for t in found)
    [line] = [ln for ln in done.stderr.splitlines() if ln.startswith("error: ")]
    assert line.endswith(f"; last: trial {found[-1].number}: {reason}")


@pytest.mark.slow
def test_with_the_grid_sampler_it_is_refused(tmp_path):
    # the grid holds params' values only: a custom parameter has no place in it
    (tmp_path / "app.py").write_text(APP)
    done = sweep(tmp_path, "hydra.sweeper.custom_search_space=app.configure",
                 "hydra.sweeper.sampler=grid", "+x=choice(0, 1)", ok=False)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        "error: hydra.sweeper.custom_search_space: expected null with the grid sampler (its "
        "grid is params' values only), got 'app.configure'")
