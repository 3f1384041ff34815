"""The model directory the trainer writes itself is the one ``mlflow.pyfunc.save_model`` writes
for the same model (compared here with MLflow's own, so a change of MLflow's format fails), and
MLflow itself saves the model where it would write more."""

from __future__ import annotations

import warnings
from pathlib import Path

import mlflow.pyfunc
import numpy as np
import pytest
import yaml
from mlflow.models import Model

from trainer.core.network import MLP
from trainer.core.preprocessing import Preprocessor
from trainer.tracking import model_env, numpy_mlp_predictor
from trainer.tracking.model import _signature, save_model

FEATURES = ["a", "b", "c"]


@pytest.fixture(scope="module")
def save_kwargs() -> dict:
    """A 3 -> 4 -> 2 classifier (its weights do not matter here)."""
    net = MLP(3, [4], 2, activation="relu", dtype="float32", rng=np.random.default_rng(0))
    pre = Preprocessor(x_mean=np.zeros(3), x_scale=np.ones(3), n_features=3, dtype="float32")
    return dict(network_state=net.state_dict(), network_config=net.config(),
                loss="categorical_crossentropy", task="classification",
                preprocessor_arrays=pre.to_arrays(), classes=np.array(["no", "yes"]),
                feature_names=FEATURES)


def _logged(model_uuid: str = "0123456789abcdef0123456789abcdef") -> Model:
    """The Model a logged model's save fills (log_model passes the same fields)."""
    return Model(artifact_path="file:///store/models/m-1/artifacts", model_uuid=model_uuid,
                 run_id="run-1", model_id="m-1")


def _mlflow_save(path: Path, data_dir: Path, classes: np.ndarray, mlflow_model: Model) -> None:
    """MLflow's own save of the same data, code, requirement and signature."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*input example was not provided")
        mlflow.pyfunc.save_model(
            str(path), loader_module="numpy_mlp_predictor", data_path=str(data_dir),
            code_paths=[numpy_mlp_predictor.__file__],
            pip_requirements=[model_env.pinned("numpy")],
            signature=_signature("classification", classes, 2, FEATURES, None),
            mlflow_model=mlflow_model,
        )


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


@pytest.mark.parametrize("logged", [True, False], ids=["logged-model", "plain-directory"])
def test_written_model_is_what_mlflow_save_model_writes(
    save_kwargs: dict, tmp_path: Path, logged: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the same files, byte for byte (requirements.txt, conda.yaml, python_env.yaml, data, code),
    # and the same MLmodel but for its creation time (and a plain directory's random uuid)
    monkeypatch.chdir(tmp_path)
    assert model_env.mlflow_writes_more() is None
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    save_model(ours, **save_kwargs, mlflow_model=_logged() if logged else None)
    _mlflow_save(theirs, ours / "data" / "nn", save_kwargs["classes"],
                 _logged() if logged else Model())
    ours_files, theirs_files = _files(ours), _files(theirs)
    ours_mlmodel = yaml.safe_load(ours_files.pop("MLmodel"))
    theirs_mlmodel = yaml.safe_load(theirs_files.pop("MLmodel"))
    assert ours_files == theirs_files
    for mlmodel in (ours_mlmodel, theirs_mlmodel):
        assert mlmodel.pop("utc_time_created")
        assert len(mlmodel.pop("model_uuid")) == 32
    assert ours_mlmodel == theirs_mlmodel
    assert set(ours_files) >= {"requirements.txt", "conda.yaml", "python_env.yaml",
                               "code/numpy_mlp_predictor.py", "data/nn/weights.npz"}


def test_requirements_are_this_mlflow_and_numpy(save_kwargs: dict, tmp_path: Path) -> None:
    # what get_model_dependencies hands a user to install: the installed MLflow and NumPy
    save_model(tmp_path / "model", **save_kwargs)
    requirements = Path(mlflow.pyfunc.get_model_dependencies(str(tmp_path / "model")))
    major, minor = np.__version__.split(".")[:2]
    assert requirements.read_text().split() == [f"mlflow=={mlflow.__version__}",
                                                f"numpy~={major}.{minor}.0"]
    conda = yaml.safe_load(Path(mlflow.pyfunc.get_model_dependencies(
        str(tmp_path / "model"), format="conda")).read_text())
    assert conda["dependencies"][-1] == {"pip": requirements.read_text().split()}


def test_a_uv_project_is_saved_by_mlflow_with_its_files(
    save_kwargs: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # MLflow copies a uv project's uv.lock and pyproject.toml into the model: so does the trainer
    (tmp_path / "uv.lock").write_text("version = 1\n")
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'p'\nversion = '0'\n")
    monkeypatch.chdir(tmp_path)
    assert "uv project" in (model_env.mlflow_writes_more() or "")
    save_model(tmp_path / "model", **save_kwargs)
    assert (tmp_path / "model" / "uv.lock").read_text() == "version = 1\n"
    assert (tmp_path / "model" / "pyproject.toml").is_file()
    monkeypatch.setenv("MLFLOW_LOG_UV_FILES", "false")
    assert model_env.mlflow_writes_more() is None


def test_an_input_example_is_saved_by_mlflow(save_kwargs: dict, tmp_path: Path) -> None:
    # the example's files and MLmodel entry come from MLflow itself
    save_model(tmp_path / "model", **save_kwargs, input_example=np.ones((2, 3)))
    mlmodel = yaml.safe_load((tmp_path / "model" / "MLmodel").read_text())
    assert mlmodel["saved_input_example_info"]["artifact_path"] == "input_example.json"
    assert (tmp_path / "model" / "input_example.json").is_file()


def test_a_directory_that_is_not_empty_is_refused(save_kwargs: dict, tmp_path: Path) -> None:
    # as MLflow refuses it: nothing of an earlier model is overwritten or mixed in
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "notes.txt").write_text("mine")
    with pytest.raises(Exception, match="already exists and is not empty"):
        save_model(tmp_path / "model", **save_kwargs)
    assert [p.name for p in (tmp_path / "model").iterdir()] == ["notes.txt"]
