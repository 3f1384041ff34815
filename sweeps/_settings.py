"""The sweeper's own keys (``hydra.sweeper.*`` besides sampler, pruner, params and conditions),
declared once with what each accepts and checked when the sweep starts.

Checked in ``OptunaSweep.sweep`` rather than its constructor: Hydra instantiates the sweeper, and
an error raised there would reach the user wrapped in Hydra's instantiation message instead of as
one line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from functools import cache
from typing import Any

from trainer.config import check_node
from trainer.core.parameters import (
    NON_NEGATIVE_INT,
    POSITIVE_INT,
    Constraint,
    Integer,
    Nullable,
    Options,
    Real,
    Text,
)

__all__ = ["KEY", "PARAMETERS", "SweeperSettings", "parse_settings"]

KEY = "hydra.sweeper"


class _Slots(Integer):
    """``n_jobs``: a positive integer, or -1 for one slot per core."""

    def __init__(self) -> None:
        super().__init__(-1)

    @property
    def expected(self) -> str:
        return "a positive integer or -1"

    def convert(self, value: Any) -> int:
        slots = super().convert(value)
        if slots == 0:
            raise ValueError(value)
        return slots


class _AnyInteger(Constraint):
    @property
    def expected(self) -> str:
        return "an integer"

    def convert(self, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(value)
        return value


class _ModelName(Constraint):
    """A registered model's name, which MLflow's ``models:/NAME/VERSION`` URIs must parse."""

    @property
    def expected(self) -> str:
        return "a registered model's name (no '/') or null"

    def convert(self, value: Any) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip() or "/" in value:
            raise ValueError(value)
        return value


@dataclass(frozen=True)
class SweeperSettings:
    """The checked keys. Their defaults are those of ``conf/hydra/sweeper/optuna.yaml``.

    Attributes:
        n_trials: the study's total number of trials (re-running resumes up to it).
        n_jobs: trials at once, each slot a worker process (-1: one per core).
        storage: a SQLAlchemy URL; None: ``sqlite:///<start dir>/mlruns/optuna.db``.
        study_name: None: the sweep's name plus a hash of its search space and fixed overrides.
        direction: ``minimize``, ``maximize`` or ``auto`` (follows ``objective``).
        seed: sampler seed; None: the app's ``seed``.
        heartbeat_interval, grace_period: crash detection (seconds); ``heartbeat_interval:
            null`` disables it.
        max_retry: how often a crashed trial's parameters are run again (None: always).
        max_failure_rate: stop when more than this share of (at least 4) finished trials failed.
        role: ``controller`` (creates the study and the MLflow parent run, runs or launches the
            workers, reports) or ``worker`` (joins the study with ``n_jobs`` local workers and
            no controller: N copies of one command together run ``n_trials``).
        register_model: a registered model's name: the best trial's model becomes its next
            version in MLflow's Model Registry at the end of the sweep; None: no registration.
    """

    n_trials: int
    n_jobs: int
    storage: str | None
    study_name: str | None
    direction: str
    seed: int | None
    heartbeat_interval: int | None
    grace_period: int | None
    max_retry: int | None
    max_failure_rate: float
    role: str
    register_model: str | None


PARAMETERS: dict[str, Constraint] = {
    "n_trials": POSITIVE_INT,
    "n_jobs": _Slots(),
    "storage": Nullable(Text()),
    "study_name": Nullable(Text()),
    "direction": Options(["auto", "minimize", "maximize"]),
    "seed": Nullable(_AnyInteger()),
    "heartbeat_interval": Nullable(POSITIVE_INT),
    "grace_period": Nullable(POSITIVE_INT),
    "max_retry": Nullable(NON_NEGATIVE_INT),
    "max_failure_rate": Real(0.0, 1.0),
    "role": Options(["controller", "worker"]),
    "register_model": _ModelName(),
}
assert set(PARAMETERS) == {f.name for f in fields(SweeperSettings)}



@cache
def defaults() -> dict[str, Any]:
    """The values ``conf/hydra/sweeper/optuna.yaml`` gives the keys of :class:`SweeperSettings`."""
    from omegaconf import OmegaConf

    from trainer import CONFIG_DIR

    path = CONFIG_DIR / "hydra" / "sweeper" / "optuna.yaml"
    values = OmegaConf.to_container(OmegaConf.load(path))
    assert isinstance(values, dict)
    return {key: values[key] for key in PARAMETERS if key in values}


def parse_settings(keys: Mapping[str, Any]) -> SweeperSettings:
    """The settings from the sweeper's keys (those of other keys are ignored); keys left out
    take their defaults.

    Raises:
        ConfigError: naming the first ``hydra.sweeper.*`` key that holds a value outside what
            it accepts.
    """
    given = {key: value for key, value in keys.items() if key in PARAMETERS}
    return SweeperSettings(**check_node(KEY, {**defaults(), **given}, PARAMETERS))
