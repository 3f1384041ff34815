"""The reproduce line starts with the app's own command, as its user typed it."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from sweeps._command import command_of


@pytest.mark.parametrize(("argv", "command"), [
    (["/venv/bin/python", "sphere.py", "--multirun", "x=range(0,5)"], ("python", "sphere.py")),
    (["python3", "-m", "trainer", "--multirun", "sweep=digits"], ("python", "-m", "trainer")),
    (["python", "-u", "-W", "ignore", "examples/app.py", "-m", "-cn", "exp1",
      "--config-dir=conf", "hydra.sweeper.n_trials=3", "x=1"],
     ("python", "examples/app.py", "-cn", "exp1", "--config-dir=conf")),
])
def test_the_command_without_the_sweep_and_its_overrides(argv, command) -> None:
    # what made it a sweep (--multirun, the search space, hydra.sweeper.*) goes; what chose
    # the config stays
    assert command_of(argv) == command


def test_an_installed_command_is_named_as_the_user_types_it(tmp_path: Path,
                                                             monkeypatch) -> None:
    # a console script found on PATH as this very file: `trainer`, not python /venv/bin/trainer
    script = tmp_path / "bin" / "sphere-app"
    script.parent.mkdir()
    script.write_text("#!/usr/bin/env python\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{script.parent}{os.pathsep}{os.environ.get('PATH', '')}")
    assert command_of(["/venv/bin/python", str(script), "--multirun", "x=1"]) == ("sphere-app",)
    other = tmp_path / "elsewhere" / "sphere-app"
    other.parent.mkdir()
    other.write_text("")
    assert command_of(["python", str(other), "-m"]) == ("python", str(other))


def test_a_sweep_whose_config_chose_multirun_is_reproduced_in_run_mode(monkeypatch):
    # lightning-hydra-template's search files set hydra.mode: MULTIRUN: the line that reruns a
    # trial says hydra.mode=RUN, or it would start the sweep again; after --multirun it need not
    from sweeps._command import reproduce_line, started_with_multirun

    monkeypatch.setattr("sys.argv", ["train.py", "hparams_search=mnist_optuna"])
    assert not started_with_multirun()
    assert reproduce_line(["x=1"]).endswith(" x=1 hydra.mode=RUN")
    monkeypatch.setattr("sys.argv", ["train.py", "-m", "hparams_search=mnist_optuna"])
    assert reproduce_line(["x=1"]).endswith(" x=1")
