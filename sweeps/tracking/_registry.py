"""The sweep's best model in the MLflow Model Registry (``hydra.sweeper.register_model=NAME``).

The best COMPLETE trial's run holds its model as an MLflow 3 logged model; registering makes it
a version of the registered model ``NAME`` (``models:/NAME/<version>``, what ``mlflow models
serve`` serves), tagged with its study, trial and value, and linked from the logged model the way
``mlflow.register_model`` links it. A study whose best model is already a version of ``NAME``
(the same command run again) registers nothing new.

The alias ``champion`` (``models:/NAME@champion``) points at the best version registered so far:
a new version takes it when no version has it yet, or when its value beats the champion's by
the same objective in the same direction (registry stages are deprecated since MLflow 2.9;
aliases replace them). A version chosen by another objective is not compared: the alias stays,
and the log says so.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from sweeps.tracking._tags import STUDY_TAG, TRIAL_NUMBER_TAG

__all__ = ["CHAMPION_ALIAS", "OBJECTIVE_TAG", "OBJECTIVE_VALUE_TAG", "RegisteredModel",
           "register_best_model"]

log = logging.getLogger(__name__)

OBJECTIVE_VALUE_TAG = "optuna.value"
OBJECTIVE_TAG = "optuna.objective"  # the metric the value is of, with its direction
CHAMPION_ALIAS = "champion"
_MODEL_VERSIONS_TAG = "mlflow.modelVersions"  # MLflow's own link from a logged model


@dataclass(frozen=True)
class RegisteredModel:
    name: str
    version: str
    model_id: str
    new: bool
    champion: str | None = None  # the version the alias points at after registering

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"

    @property
    def champion_uri(self) -> str:
        return f"models:/{self.name}@{CHAMPION_ALIAS}"

    @property
    def is_champion(self) -> bool:
        return self.champion == self.version


def register_best_model(client: Any, name: str, *, run_id: str, study_name: str,
                        trial_number: int, value: float, objective: str = "objective",
                        direction: str = "minimize") -> RegisteredModel | None:
    """Register the logged model of the best trial's run ``run_id`` as a version of ``name``
    and point the alias ``champion`` at it when it beats the current champion.

    Args:
        objective, direction: what ``value`` measures (``val_loss``, ``minimize``).

    Returns:
        The version, or None when the run logged no model (a warning says so).
    """
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import RESOURCE_ALREADY_EXISTS, ErrorCode

    outputs = client.get_run(run_id).outputs
    models = [] if outputs is None else outputs.model_outputs
    if not models:
        log.warning("best trial %d: its run %s logged no model, none registered as %r",
                    trial_number, run_id, name)
        return None
    model_id = max(models, key=lambda output: output.step).model_id
    logged = client.get_logged_model(model_id)
    for version in client.search_model_versions(f"name = '{name}' and run_id = '{run_id}'"):
        if version.source == logged.artifact_location:  # (a SQL store keeps no model_id)
            champion = _crown(client, name, str(version.version), value, objective, direction)
            return RegisteredModel(name, str(version.version), model_id, new=False,
                                   champion=champion)

    try:
        client.create_registered_model(name)
    except MlflowException as error:
        if error.error_code != ErrorCode.Name(RESOURCE_ALREADY_EXISTS):
            raise
    tags = {STUDY_TAG: study_name, TRIAL_NUMBER_TAG: str(trial_number),
            OBJECTIVE_VALUE_TAG: repr(float(value)),
            OBJECTIVE_TAG: f"{objective} ({direction})"}
    # The source is the logged model's own location, not models:/<id>: the registry store
    # resolves the latter through MLflow's global tracking URI, not this client's.
    version = client.create_model_version(name, source=logged.artifact_location, run_id=run_id,
                                          tags=tags, model_id=model_id, await_creation_for=0)
    links = json.loads(logged.tags.get(_MODEL_VERSIONS_TAG, "[]"))
    links.append({"name": name, "version": str(version.version)})
    client.set_logged_model_tags(model_id, {_MODEL_VERSIONS_TAG: json.dumps(links)})
    champion = _crown(client, name, str(version.version), value, objective, direction)
    return RegisteredModel(name, str(version.version), model_id, new=True, champion=champion)


def _crown(client: Any, name: str, version: str, value: float, objective: str,
           direction: str) -> str:
    """Point ``champion`` at ``version`` unless the current champion is at least as good by the
    same objective; returns the version the alias points at."""
    from mlflow.exceptions import MlflowException

    try:
        current = client.get_model_version_by_alias(name, CHAMPION_ALIAS)
    except MlflowException:  # no version holds the alias yet
        current = None
    if current is not None and str(current.version) != version:
        criterion = current.tags.get(OBJECTIVE_TAG)
        if criterion != f"{objective} ({direction})":
            log.warning("%r@%s (version %s) was chosen by %s; this sweep's best (version %s) "
                        "by %s (%s): not compared, the alias stays (move it with "
                        "MlflowClient().set_registered_model_alias(%r, %r, %s))", name,
                        CHAMPION_ALIAS, current.version, criterion or "no recorded objective",
                        version, objective, direction, name, CHAMPION_ALIAS, version)
            return str(current.version)
        best = float(current.tags[OBJECTIVE_VALUE_TAG])
        better = value < best if direction == "minimize" else value > best
        if not better:
            return str(current.version)
    client.set_registered_model_alias(name, CHAMPION_ALIAS, version)
    return version
