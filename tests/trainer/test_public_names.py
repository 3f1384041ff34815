"""One import: the public names come from the package itself, and a script that only fits an
estimator loads neither MLflow, Hydra nor Optuna."""

from __future__ import annotations

import subprocess
import sys

import trainer

HEAVY = ["mlflow", "hydra", "omegaconf", "optuna", "matplotlib"]


def _loaded_after(code: str) -> list[str]:
    # a fresh interpreter: this test process has imported everything already
    probe = f"import sys\n{code}\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            check=True)
    return result.stdout.split()


def test_every_public_name_is_in_all_and_importable() -> None:
    # `from trainer import MLPClassifier, MLP, FitLoop, Adam, EarlyStopping, load_dataset, ...`
    assert set(trainer.__all__) == {"CONFIG_DIR", "__version__", *trainer._EXPORTS}
    assert len(trainer.__all__) == len(set(trainer.__all__))
    for name in trainer.__all__:
        assert getattr(trainer, name) is not None
    assert set(trainer.__all__) <= set(dir(trainer))
    from trainer import MLP, Adam, EarlyStopping, FitLoop, MLPClassifier, load_dataset
    from trainer.core import network
    from trainer.estimators import MLPClassifier as EstimatorClass

    assert MLP is network.MLP and MLPClassifier is EstimatorClass
    assert Adam and EarlyStopping and FitLoop and load_dataset


def test_an_unknown_name_is_an_attribute_error() -> None:
    try:
        trainer.MLPClassifer  # noqa: B018
    except AttributeError as error:
        assert "has no attribute 'MLPClassifer'" in str(error)
    else:
        raise AssertionError("expected an AttributeError")


def test_importing_trainer_loads_no_mlflow_hydra_or_optuna() -> None:
    assert _loaded_after("import trainer") == []
    assert _loaded_after("from trainer import *") == []


def test_fitting_an_estimator_loads_no_mlflow_hydra_or_optuna() -> None:
    code = (
        "from trainer import MLPClassifier, load_dataset\n"
        "data = load_dataset({'name': 'iris'}, seed=0)\n"
        "clf = MLPClassifier(hidden=(8,), epochs=3).fit(data.X_train, data.y_train)\n"
        "assert clf.predict(data.X_test).shape == data.y_test.shape\n"
    )
    assert _loaded_after(code) == []
