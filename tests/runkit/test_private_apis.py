"""The private APIs of MLflow, Hydra and Optuna the project uses: all in one module, all still
there in the installed versions."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from runkit._private_apis import PRIVATE_APIS, PrivateAPI

ROOT = Path(__file__).resolve().parents[2]
ADAPTER = ROOT / "runkit" / "_private_apis.py"


@pytest.mark.parametrize("api", PRIVATE_APIS, ids=str)
def test_private_api_still_exists(api: PrivateAPI) -> None:
    # an upgrade that renames or drops one fails here, naming the library, version and name
    if api.extra is not None and not api.installed():
        missing = f"{api.library} is not installed (pip install -e \".[{api.extra}]\")"
        if os.environ.get("TRAINER_TEST_CLUSTER") == "required":  # CI installs every extra
            pytest.fail(f"{missing} (TRAINER_TEST_CLUSTER=required)")
        pytest.skip(missing)
    problem = api.problem()
    assert problem is None, problem


def test_a_changed_api_is_reported_with_library_and_name() -> None:
    def gone() -> None:
        raise AttributeError("type object 'SqlAlchemyStore' has no attribute '_engine_map'")

    problem = PrivateAPI("mlflow", "SqlAlchemyStore._engine_map", gone).problem()
    assert problem is not None
    assert re.match(r"mlflow \d+\.\d+\S* changed its private API SqlAlchemyStore\._engine_map "
                    r"\(AttributeError: .*\); update runkit/_private_apis\.py$", problem)


@pytest.mark.parametrize("name", ["_initialize_tables", "_engine_map", "_tracking_client",
                                  "_return_value", "storages._rdb", "study._optimize",
                                  "hydra._internal", "hydra_ray_launcher._core",
                                  "launch_job_on_ray"])
def test_private_names_are_used_only_through_the_adapter(name: str) -> None:
    # the project's code reaches each private name through runkit/_private_apis.py alone
    users = [path.relative_to(ROOT).as_posix()
             for package in ("runkit", "trainer", "sweeps", "hydra_plugins", "examples",
                             "benchmarks")
             for path in (ROOT / package).rglob("*.py")
             if path != ADAPTER and name in path.read_text()]
    assert users == []
