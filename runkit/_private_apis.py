"""Every private API of MLflow, Hydra, Optuna and Hydra's launcher plugins the project relies on,
and nothing else.

A library may rename or drop a name that starts with an underscore in any release. Each one used
here is reached through this module only, so an upgrade breaks one place, and
``tests/runkit/test_private_apis.py`` checks every entry of :data:`PRIVATE_APIS` against the
installed libraries: a change fails that test naming the library, its version and the attribute.

Nothing heavy is imported at module level: the sweep workers' fork server and the commands
import this module before (or without) MLflow, Hydra and Optuna.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna
    from hydra.core.utils import JobReturn
    from mlflow import MlflowClient
    from sqlalchemy.engine import Engine

__all__ = [
    "HYDRA_BASIC_LAUNCHER",
    "OPTUNA_OPTIMIZE_LOGGER",
    "PRIVATE_APIS",
    "PrivateAPI",
    "client_engine",
    "forget_cached_engines",
    "import_optuna_rdb_models",
    "initialize_mlflow_tables",
    "job_error",
    "overrides_dirname",
    "ray_launcher_tasks",
    "study_engine",
    "trial_id",
]

# The class path of Hydra's default launcher (hydra/launcher=basic), an internal module: a
# sweep tells it from the launchers that place workers elsewhere by comparing _target_ strings.
HYDRA_BASIC_LAUNCHER = "hydra._internal.core_plugins.basic_launcher.BasicLauncher"

# The logger Optuna's study.optimize warns on for every failed trial (with a traceback); the
# sweep workers filter it and log one line per trial instead.
OPTUNA_OPTIMIZE_LOGGER = "optuna.study._optimize"


def initialize_mlflow_tables(engine: Engine) -> None:
    """Create MLflow's tables and run its migrations on an empty database, as MLflow does when
    it opens a new store (``mlflow.store.db.utils._initialize_tables``); the store template
    builds its empty database with it."""
    from mlflow.store.db.utils import _initialize_tables

    _initialize_tables(engine)


def forget_cached_engines(matches: Callable[[str], bool]) -> None:
    """Dispose of and drop MLflow's process-wide cached SQLAlchemy engines whose database URI
    ``matches`` (``SqlAlchemyStore._engine_map``), e.g. before the file they point at goes."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    engines = SqlAlchemyStore._engine_map
    for uri in [uri for uri in engines if matches(uri)]:
        engines.pop(uri).dispose()


def client_engine(client: MlflowClient) -> Engine:
    """The SQLAlchemy engine behind a client of a database store
    (``client._tracking_client.store.engine``)."""
    return client._tracking_client.store.engine


def job_error(result: JobReturn) -> BaseException:
    """The exception a failed Hydra job raised (``JobReturn._return_value``): the public
    ``return_value`` would re-raise it and print Hydra's banner."""
    error = result._return_value
    if isinstance(error, BaseException):
        return error
    return RuntimeError(f"the job failed with {error!r}")


def overrides_dirname(overrides: list[Any], exclude_keys: list[str], item_sep: str,
                      kv_sep: str) -> str:
    """``hydra.job.override_dirname`` as Hydra builds it from parsed overrides
    (``hydra._internal.config_loader_impl.get_overrides_dirname``); a sweep composing a trial's
    config from a cached base fills it the same way."""
    from hydra._internal.config_loader_impl import get_overrides_dirname

    return get_overrides_dirname(overrides, exclude_keys, item_sep, kv_sep)


_RAY_LAUNCHER_CORE = "hydra_plugins.hydra_ray_launcher._core"


@contextlib.contextmanager
def ray_launcher_tasks() -> Iterator[list[Any]]:
    """The Ray tasks (ObjectRefs) Hydra's Ray launcher submits inside the block, in a list that
    fills as it submits them. Its ``_core.launch`` submits each job through
    ``_core.launch_job_on_ray`` and keeps the refs to itself until every job has ended; a sweep
    needs them to cancel the tasks on Ctrl-C."""
    core: Any = importlib.import_module(_RAY_LAUNCHER_CORE)
    submit = core.launch_job_on_ray
    tasks: list[Any] = []

    def recorded(*args: Any, **kwargs: Any) -> Any:
        task = submit(*args, **kwargs)
        tasks.append(task)
        return task

    core.launch_job_on_ray = recorded
    try:
        yield tasks
    finally:
        core.launch_job_on_ray = submit


def import_optuna_rdb_models() -> None:
    """Import Optuna's RDB table mappings (``optuna.storages._rdb.models``), so a process that
    forks workers sets them up once for all of them."""
    importlib.import_module("optuna.storages._rdb.models")


def study_engine(study: optuna.Study) -> Engine | None:
    """The SQLAlchemy engine of a study's RDB storage (``study._storage``, under Optuna's
    ``_CachedStorage._backend``), None for other storages: the sweeps read the heartbeat table
    and the database's clock through it."""
    storage = getattr(study._storage, "_backend", study._storage)
    return getattr(storage, "engine", None)


def trial_id(trial: optuna.trial.FrozenTrial) -> int:
    """A trial's storage id (``FrozenTrial._trial_id``), the key of Optuna's heartbeat rows."""
    return int(trial._trial_id)


@dataclass(frozen=True)
class PrivateAPI:
    """One private name: the distribution it belongs to, where it lives, and a probe that
    resolves it (raising ``ImportError``/``AttributeError``/``AssertionError`` when gone)."""

    library: str
    name: str
    probe: Callable[[], Any]
    extra: str | None = None  # the extra that installs the library (None: a core dependency)

    def installed(self) -> bool:
        try:
            version(self.library)
        except PackageNotFoundError:
            return False
        return True

    def problem(self) -> str | None:
        """None while the name works as used here; otherwise one line naming the library, its
        installed version and the name."""
        try:
            self.probe()
        except (ImportError, AttributeError, AssertionError, TypeError) as error:
            try:
                installed = version(self.library)
            except PackageNotFoundError:
                installed = "not installed"
            return (f"{self.library} {installed} changed its private API {self.name} "
                    f"({type(error).__name__}: {error}); update runkit/_private_apis.py")
        return None

    def __str__(self) -> str:
        return f"{self.library}:{self.name}"


def _attribute(module: str, path: str) -> Any:
    value: Any = importlib.import_module(module)
    for part in path.split("."):
        value = getattr(value, part)
    return value


def _probe_initialize_tables() -> None:
    function = _attribute("mlflow.store.db.utils", "_initialize_tables")
    assert callable(function), "not callable"


def _probe_engine_map() -> None:
    engines = _attribute("mlflow.store.tracking.sqlalchemy_store", "SqlAlchemyStore._engine_map")
    assert isinstance(engines, dict), f"a {type(engines).__name__}, not a dict"


def _probe_tracking_client() -> None:
    from mlflow import MlflowClient

    # Creating a client opens no store; the store is built on first use.
    client = MlflowClient(tracking_uri="sqlite:///:memory:")
    tracking_client = client._tracking_client
    assert isinstance(getattr(type(tracking_client), "store", None), property), \
        "_tracking_client.store is no property"


def _probe_return_value() -> None:
    from hydra.core.utils import JobReturn, JobStatus

    error = ValueError("x")
    result = JobReturn(status=JobStatus.FAILED)
    result.return_value = error  # the public setter writes the private field
    assert result._return_value is error, "JobReturn keeps its value elsewhere"


def _probe_study_storage() -> None:
    import optuna

    study = optuna.create_study(storage="sqlite:///:memory:")
    assert study_engine(study) is not None, "no RDB engine under study._storage"
    trial = study.ask()
    assert trial_id(study.trials[0]) == trial._trial_id, "FrozenTrial._trial_id differs"


def _probe_overrides_dirname() -> None:
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(["a=1", "b=x"])
    assert overrides_dirname(parsed, ["b"], ",", "=") == "a=1", "another dirname"


def _probe_basic_launcher() -> None:
    module, _, name = HYDRA_BASIC_LAUNCHER.rpartition(".")
    _attribute(module, name)


def _probe_optimize_logger() -> None:
    importlib.import_module(OPTUNA_OPTIMIZE_LOGGER)


def _probe_ray_launcher_core() -> None:
    import inspect

    core = importlib.import_module(_RAY_LAUNCHER_CORE)
    submit = core.launch_job_on_ray
    assert callable(submit), "launch_job_on_ray is not callable"
    # launch() must look the name up in _core when it submits, not hold its own reference
    assert "launch_job_on_ray(" in inspect.getsource(core.launch), \
        "_core.launch no longer submits through launch_job_on_ray"
    with ray_launcher_tasks():
        assert core.launch_job_on_ray is not submit, "the submit function was not replaced"
    assert core.launch_job_on_ray is submit, "the submit function was not restored"


PRIVATE_APIS: tuple[PrivateAPI, ...] = (
    PrivateAPI("mlflow", "mlflow.store.db.utils._initialize_tables", _probe_initialize_tables),
    PrivateAPI("mlflow", "mlflow.store.tracking.sqlalchemy_store.SqlAlchemyStore._engine_map",
               _probe_engine_map),
    PrivateAPI("mlflow", "MlflowClient._tracking_client.store", _probe_tracking_client),
    PrivateAPI("hydra-core", "hydra.core.utils.JobReturn._return_value", _probe_return_value),
    PrivateAPI("hydra-core", HYDRA_BASIC_LAUNCHER, _probe_basic_launcher),
    PrivateAPI("hydra-core", "hydra._internal.config_loader_impl.get_overrides_dirname",
               _probe_overrides_dirname),
    PrivateAPI("optuna", "optuna.storages._rdb.models", import_optuna_rdb_models),
    PrivateAPI("optuna", f"the logger {OPTUNA_OPTIMIZE_LOGGER}", _probe_optimize_logger),
    PrivateAPI("optuna", "Study._storage(._backend).engine, FrozenTrial._trial_id",
               _probe_study_storage),
    PrivateAPI("hydra-ray-launcher", f"{_RAY_LAUNCHER_CORE}.launch_job_on_ray",
               _probe_ray_launcher_core, extra="ray"),
)
