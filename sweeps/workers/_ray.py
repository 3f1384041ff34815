"""Hydra's Ray launcher (``hydra/launcher=ray``, hydra-ray-launcher) on a running Ray cluster.

The plugin connects with ``ray.init(**hydra.launcher.ray.init)`` and runs each job as a Ray task.
What it leaves to its user is done here:

- Connecting. The sweep connects this process (the Ray driver) itself, before it records
  anything: an address where no Ray cluster answers fails at once in one line naming
  ``hydra.launcher.ray.init.address`` (``ray.init`` would retry for minutes), and the plugin's
  own default ``object_store_memory``, which Ray refuses when connecting to a cluster
  (hydra#2893), is never passed. The plugin then finds Ray initialized and uses the connection.
- Environment. Ray workers start with the environment of the ``ray start`` that started their
  node, not the sweep command's: the variables the stores need (``PG*`` for PostgreSQL,
  ``MLFLOW_*`` for the tracking server) go to them through Ray's ``runtime_env``.
- Threads. A task gets the CPUs Ray assigned it (1 unless ``hydra.launcher.ray.remote``
  says otherwise), whatever the CPU affinity of its worker process says.
- Output. Ray forwards the workers' output to this console (``log_to_driver``), so the sweep
  does not print their trials a second time; Ray's merging of similar lines is off, or it
  would fold trial lines that differ only in their numbers into one.
- Ctrl-C. When the driver exits, Ray kills its running tasks at once, without their signal
  handlers: their trials and MLflow runs would stay RUNNING. On Ctrl-C (or SIGTERM) the sweep
  cancels its tasks first (Ray raises KeyboardInterrupt in each: the worker ends its trial as
  interrupted, queues it again and ends its run KILLED) and waits for them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
import time
from collections.abc import Iterator, Mapping
from typing import Any

from runkit.errors import ConfigError

__all__ = [
    "ADDRESS_KEY",
    "PASSED_ENV_PREFIXES",
    "RAY_LAUNCHER",
    "assigned_cpus",
    "connect",
    "forwards_output",
    "is_ray",
    "tasks_stopped_on_interrupt",
    "worker_env",
]

log = logging.getLogger("sweeps")

RAY_LAUNCHER = "hydra_plugins.hydra_ray_launcher.ray_launcher.RayLauncher"
ADDRESS_KEY = "hydra.launcher.ray.init.address"
# What a worker needs of the sweep command's environment to reach the two stores: libpq's
# variables (PGPASSWORD, PGPASSFILE, PGSSLMODE ...) and MLflow's (MLFLOW_TRACKING_USERNAME,
# MLFLOW_TRACKING_PASSWORD, MLFLOW_TRACKING_TOKEN, MLFLOW_HTTP_REQUEST_* ...).
PASSED_ENV_PREFIXES = ("PG", "MLFLOW_")
_CONNECT_TIMEOUT = 5.0  # seconds for a cluster's port to answer, and then to speak gRPC
_STOP_GRACE = 60.0  # seconds cancelled tasks get to record their trials before being killed


def is_ray(target: str) -> bool:
    """Whether ``hydra.launcher._target_`` is Hydra's Ray launcher."""
    return target == RAY_LAUNCHER


def _init_settings(config: Any) -> dict[str, Any]:
    from omegaconf import OmegaConf

    node = OmegaConf.select(config, "hydra.launcher.ray.init", default=None)
    settings = OmegaConf.to_container(node, resolve=True) if node is not None else {}
    return {str(k): v for k, v in settings.items()} if isinstance(settings, dict) else {}


def forwards_output(config: Any) -> bool:
    """Whether Ray prints the workers' output on this console (``log_to_driver``, Ray's
    default)."""
    return bool(_init_settings(config).get("log_to_driver", True))


def worker_env(environ: Mapping[str, str], configured: Mapping[str, Any] | None = None
               ) -> dict[str, str]:
    """The environment variables a Ray worker gets: those of ``environ`` the stores need
    (:data:`PASSED_ENV_PREFIXES`), then ``hydra.launcher.ray.init.runtime_env.env_vars``
    (which win)."""
    passed = {name: value for name, value in environ.items()
              if name.startswith(PASSED_ENV_PREFIXES)}
    return {**passed, **{str(k): str(v) for k, v in (configured or {}).items()}}


def _host_port(address: str) -> tuple[str, int] | None:
    """``host`` and ``port`` of ``host:port`` or ``ray://host:port``, else None."""
    rest = address.removeprefix("ray://")
    host, sep, port = rest.rpartition(":")
    if not sep or not host or not port.isdigit():
        return None
    return host.strip("[]"), int(port)


def _check_address(address: str, origin: str) -> None:
    """A Ray cluster answers at ``address``: something listens there and speaks gRPC (a wrong
    port would leave ``ray.init`` retrying for minutes)."""
    import grpc

    where = _host_port(address)
    if where is None:
        raise ConfigError(ADDRESS_KEY, "a running Ray cluster's address, host:port as "
                          "`ray start --head` prints it (or auto)", f"{address}{origin}")
    host, port = where
    try:
        with socket.create_connection((host, port), timeout=_CONNECT_TIMEOUT):
            pass
    except OSError as error:
        raise ConfigError(ADDRESS_KEY, "the address of a running Ray cluster (`ray start "
                          f"--head` starts one; nothing answers on {host}:{port}: "
                          f"{error.strerror or error})", f"{address}{origin}") from None
    channel = grpc.insecure_channel(f"{host}:{port}")
    try:
        grpc.channel_ready_future(channel).result(timeout=_CONNECT_TIMEOUT)
    except grpc.FutureTimeoutError:
        raise ConfigError(ADDRESS_KEY, f"the address of a running Ray cluster ({host}:{port} "
                          "answers, but not as Ray does: another service's port?)",
                          f"{address}{origin}") from None
    finally:
        channel.close()


def connect(config: Any) -> None:
    """Connect this process to the Ray cluster of ``hydra.launcher.ray.init`` (or start a local
    one when it names none and none runs, as ``ray.init`` does).

    Raises:
        ConfigError: naming ``hydra.launcher.ray.init.address`` when no Ray cluster answers
            there, or ``hydra.launcher.ray.init`` when Ray refuses the settings.
    """
    # Read when Ray is imported: Ray would merge trial lines that differ only in their numbers
    # ("[repeated 2x across cluster]"), and colour its prefixes in a file or a pipe.
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    if not sys.stderr.isatty():
        os.environ.setdefault("RAY_COLOR_PREFIX", "0")
    import ray

    if ray.is_initialized():
        return
    settings = _init_settings(config)
    address = settings.get("address")
    from_env = os.environ.get("RAY_ADDRESS")
    if address in (None, "auto") and from_env:  # Ray's own order: RAY_ADDRESS first
        _check_address(from_env, " (from RAY_ADDRESS)")
    elif address not in (None, "auto", "local"):
        _check_address(str(address), "")
    runtime_env = dict(settings.pop("runtime_env", None) or {})
    runtime_env["env_vars"] = worker_env(os.environ, runtime_env.get("env_vars"))
    started = time.monotonic()
    try:
        ray.init(**settings, runtime_env=runtime_env)
    except Exception as error:  # Ray's refusal (settings, authentication ...): one line
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        key = ADDRESS_KEY if isinstance(error, ConnectionError) else "hydra.launcher.ray.init"
        raise ConfigError(key, "settings that connect to a running Ray cluster",
                          f"{address} ({type(error).__name__}: {first})") from None
    log.info("connected to Ray in %.1f s: %s CPUs", time.monotonic() - started,
             ray.cluster_resources().get("CPU", 0))


def assigned_cpus() -> int | None:
    """The CPUs Ray assigned the task running in this process, None outside a Ray task."""
    ray = sys.modules.get("ray")
    if ray is None or not ray.is_initialized():
        return None
    context = ray.get_runtime_context()
    if context.get_task_id() is None:  # the driver
        return None
    cpus = context.get_assigned_resources().get("CPU")
    return max(1, int(cpus)) if cpus is not None else None


@contextlib.contextmanager
def tasks_stopped_on_interrupt() -> Iterator[None]:
    """While Hydra's Ray launcher launches and awaits its tasks: on KeyboardInterrupt (Ctrl-C,
    SIGTERM) cancel them and wait for their ends, then let the interrupt go on."""
    from runkit._private_apis import ray_launcher_tasks

    with ray_launcher_tasks() as tasks:
        try:
            yield
        except KeyboardInterrupt:
            _stop(tasks)
            raise


def _stop(tasks: list[Any]) -> None:
    """Cancel ``tasks`` (KeyboardInterrupt in the running ones), wait up to
    :data:`_STOP_GRACE` for them, then kill those still running."""
    import ray

    if not tasks:
        return
    log.info("stopping %d Ray tasks: each records its trial as interrupted", len(tasks))
    for task in tasks:
        with contextlib.suppress(Exception):
            ray.cancel(task)
    try:
        _, running = ray.wait(tasks, num_returns=len(tasks), timeout=_STOP_GRACE,
                              fetch_local=False)
    except KeyboardInterrupt:  # asked again: stop now
        running = tasks
    if running:
        log.warning("%d Ray tasks did not stop within %.0f s: killed; their trials are run "
                    "again once their heartbeats are stale", len(running), _STOP_GRACE)
        for task in running:
            with contextlib.suppress(Exception):
                ray.cancel(task, force=True)
