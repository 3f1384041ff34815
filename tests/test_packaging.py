"""The distribution: every package and the Hydra configs ship in the wheel, which trains, sweeps,
serves its models and completes the shell from an empty directory in a fresh environment."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

import trainer

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "README.md", "conf", "runkit", "trainer", "sweeps", "hydra_plugins")


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _source_packages() -> set[str]:
    """Dotted names of the packages under the import roots (hydra_plugins is a namespace
    package, listed so that Hydra finds the sweeper in an editable install too)."""
    found = {"hydra_plugins"}
    for root in ("runkit", "trainer", "sweeps", "hydra_plugins"):
        for init in (ROOT / root).rglob("__init__.py"):
            if "__pycache__" not in init.parts:
                found.add(".".join(init.parent.relative_to(ROOT).parts))
    return found


def test_pyproject_lists_every_package_and_maps_the_configs() -> None:
    # packages are listed, not found (the configs need a package-dir mapping): a new
    # subpackage missing from the list would be missing from the wheel
    setuptools = _pyproject()["tool"]["setuptools"]
    assert set(setuptools["packages"]) == _source_packages() | {"trainer.conf"}
    assert setuptools["package-dir"] == {"trainer.conf": "conf"}
    assert (ROOT / setuptools["package-dir"]["trainer.conf"] / "config.yaml").is_file()


def test_distribution_name_is_not_an_import_name_and_has_the_console_command() -> None:
    project = _pyproject()["project"]
    assert project["name"] not in {"runkit", "trainer", "sweeps"}  # all taken on PyPI
    assert project["scripts"] == {"trainer": "trainer.__main__:cli"}


def test_config_dir_is_the_source_tree_conf_here() -> None:
    assert trainer.CONFIG_DIR == ROOT / "conf"


def _run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 300) -> str:
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=timeout, check=False)
    assert result.returncode == 0, f"{cmd} exited {result.returncode}:\n{result.stderr[-3000:]}"
    return result.stdout


@pytest.fixture(scope="module")
def installed_wheel(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The wheel built from a copy of the sources (no stale build/ of the checkout), installed
    without dependencies into a fresh virtual environment that sees this one's packages."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"
    source.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=ignore)
        else:
            shutil.copy2(path, source / name)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(tmp / "dist"),
          str(source)], tmp, env)
    (wheel,) = (tmp / "dist").glob("*.whl")
    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], tmp, env)
    python = venv / "bin" / "python"
    _run([str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--force-reinstall",
          str(wheel)], tmp, env)
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    work = tmp / "empty"
    work.mkdir()
    return {"wheel": wheel, "venv": venv, "python": python, "env": env, "work": work}


@pytest.mark.slow
def test_wheel_holds_the_configs_and_every_package(installed_wheel: dict) -> None:
    names = zipfile.ZipFile(installed_wheel["wheel"]).namelist()
    configs = {p.relative_to(ROOT / "conf").as_posix() for p in (ROOT / "conf").rglob("*.yaml")}
    assert {f"trainer/conf/{c}" for c in configs} <= set(names)
    for package in _source_packages() - {"hydra_plugins"}:  # a namespace: no __init__.py
        assert package.replace(".", "/") + "/__init__.py" in names


@pytest.mark.slow
def test_installed_package_imports_from_the_venv_with_its_configs(installed_wheel: dict) -> None:
    out = _run([str(installed_wheel["python"]), "-c",
                "import trainer; print(trainer.__file__); print(trainer.CONFIG_DIR)"],
               installed_wheel["work"], installed_wheel["env"])
    module, config_dir = out.split()
    site = installed_wheel["venv"] / "lib"
    assert Path(module).is_relative_to(site)
    assert Path(config_dir).is_relative_to(site) and (Path(config_dir) / "config.yaml").is_file()


@pytest.mark.slow
def test_console_command_trains_sweeps_and_serves_its_model(installed_wheel: dict) -> None:
    # `trainer` from an empty directory: the store lands there, the model loads by models:/
    work, env = installed_wheel["work"], installed_wheel["env"]
    out = _run(["trainer", "epochs=2", "progress=none"], work, env)
    assert "MLflow run" in out and (work / "mlruns" / "mlflow.db").is_file()
    _run(["trainer", "--multirun", "sweep=digits", "hydra.sweeper.n_trials=2", "epochs=2",
          "hydra.sweeper.n_jobs=2"], work, env)
    check = (
        "import mlflow, numpy as np\n"
        "from sklearn.datasets import load_digits\n"
        "client = mlflow.MlflowClient('sqlite:///mlruns/mlflow.db')\n"
        "mlflow.set_tracking_uri('sqlite:///mlruns/mlflow.db')\n"
        "exp = client.get_experiment_by_name('trainer')\n"
        "runs = client.search_runs([exp.experiment_id])\n"
        "assert len(runs) == 1 + 1 + 2, [r.info.run_name for r in runs]\n"
        "assert all(r.info.status == 'FINISHED' for r in runs)\n"
        "models = client.search_logged_models([exp.experiment_id])\n"
        "assert len(models) >= 2 and all(m.status.name == 'READY' for m in models)\n"
        "model = mlflow.pyfunc.load_model(f'models:/{models[0].model_id}')\n"
        "X = load_digits(as_frame=True).data[:5]  # the features by name, as the schema says\n"
        "print(set(model.predict(X).tolist()) <= set(range(10)))\n"
    )
    assert _run([str(installed_wheel["python"]), "-c", check], work, env).strip() == "True"


@pytest.mark.slow
def test_console_command_completes_the_shell(installed_wheel: dict) -> None:
    # Hydra's bash completion registers for the command that installs it and asks it back
    work, env = installed_wheel["work"], installed_wheel["env"]
    script = _run(["trainer", "-sc", "install=bash"], work, env)
    assert script.rstrip().endswith("hydra_bash_completion trainer")
    query = {**env, "COMP_LINE": "trainer optimizer=", "COMP_POINT": "18"}
    choices = _run(["trainer", "-sc", "query=bash"], work, query).split()
    assert {"optimizer=adam", "optimizer=sgd", "optimizer=momentum"} <= set(choices)
