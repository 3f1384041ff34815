"""Who owns an MLflow run, whether that owner still lives, and ending the runs whose owner died.

Every run records its owner as tags: the host, the process id and the process's start time (a
pid alone is reused once the process is gone). While it lives the run refreshes a heartbeat tag.
A later command on the same store ends KILLED, with the reason as the ``failure_reason`` tag,
every RUNNING run that a process of this project started and that nobody is writing anymore:

- owned by this host: its process is gone (or the pid now belongs to a later process);
- owned by another host: its heartbeat is older than :data:`STALE_AFTER` seconds (that host's
  processes cannot be looked at from here, so the heartbeat is the only signal).

Runs without owner tags (started by other tools) are never touched.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlflow import MlflowClient

from runkit.mlflow.tags import (
    FAILURE_REASON_TAG,
    OWNER_HOST_TAG,
    OWNER_PID_TAG,
    OWNER_STARTED_TAG,
    RUN_HEARTBEAT_TAG,
)
from runkit.process import process_alive, process_start_time

__all__ = [
    "HEARTBEAT_INTERVAL",
    "STALE_AFTER",
    "Heartbeat",
    "abandoned_reason",
    "end_abandoned_runs",
    "end_killed",
    "kill_run",
    "owner_tags",
]

logger = logging.getLogger(__name__)

HEARTBEAT_INTERVAL = 30.0  # seconds between heartbeats of a run that writes nothing else
STALE_AFTER = 600.0  # seconds without a heartbeat after which another host's run is abandoned


def owner_tags() -> dict[str, str]:
    """The owner tags of a run started by this process, with a first heartbeat."""
    tags = {OWNER_HOST_TAG: socket.gethostname(), OWNER_PID_TAG: str(os.getpid()),
            RUN_HEARTBEAT_TAG: f"{time.time():.0f}"}
    started = process_start_time(os.getpid())
    if started is not None:
        tags[OWNER_STARTED_TAG] = started
    return tags


def abandoned_reason(tags: Mapping[str, str], *, now: float | None = None,
                     host: str | None = None) -> str | None:
    """Why a RUNNING run with these tags is abandoned, or None (alive, or not ours to judge)."""
    owner_host = tags.get(OWNER_HOST_TAG)
    pid = tags.get(OWNER_PID_TAG, "")
    if not owner_host or not pid.isdigit():
        return None  # not started by this project: leave it alone
    now = time.time() if now is None else now
    if owner_host == (host or socket.gethostname()):
        if process_alive(int(pid), tags.get(OWNER_STARTED_TAG)):
            return None
        return f"its process (pid {pid} on {owner_host}) ended without ending the run"
    try:
        beat = float(tags.get(RUN_HEARTBEAT_TAG, ""))
    except ValueError:
        return None
    if now - beat > STALE_AFTER:
        return (f"no heartbeat from its process (pid {pid} on {owner_host}) for "
                f"{now - beat:.0f} s")
    return None


class Heartbeat:
    """A daemon thread refreshing the heartbeat tag of this process's open runs every
    ``interval`` seconds (a run whose epochs take minutes writes nothing else meanwhile)."""

    def __init__(self, open_runs: Callable[[], Iterable[Any]], interval: float) -> None:
        self.open_runs = open_runs
        self.interval = interval
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def ensure_running(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="run-heartbeat",
                                                daemon=True)
                self._thread.start()

    def forget(self) -> None:
        """After a fork: the thread did not come along."""
        self._thread = None
        self._lock = threading.Lock()

    def _loop(self) -> None:
        while True:
            time.sleep(self.interval)
            for tracker in list(self.open_runs()):
                with contextlib.suppress(Exception):  # a busy store: the next beat
                    tracker.beat()


def end_killed(client: MlflowClient, run_id: str, reason: str,
               tags: Mapping[str, str] | None = None) -> None:
    """End the run KILLED with ``reason`` as its ``failure_reason`` (and ``tags``): a run whose
    own process can no longer end it."""
    for key, value in {FAILURE_REASON_TAG: reason, **(tags or {})}.items():
        client.set_tag(run_id, key, value)
    client.set_terminated(run_id, "KILLED")


def kill_run(client: MlflowClient, run_id: str, reason: str, *,
             tags: Mapping[str, str] | None = None) -> bool:
    """:func:`end_killed` for a run still RUNNING; returns whether it was. A run that cannot be
    read (deleted, never created) is left alone."""
    try:
        run = client.get_run(run_id)
    except Exception:
        return False
    if run.info.status != "RUNNING":
        return False
    end_killed(client, run_id, reason, tags)
    return True


def end_abandoned_runs(client: MlflowClient) -> list[str]:
    """End KILLED every RUNNING run of the store whose owner is gone (see the module docstring),
    with the reason as ``failure_reason``; returns their ids. A store that cannot be searched
    is left as it is: this is housekeeping, never a reason to stop the command."""
    ended: list[str] = []
    try:
        experiments = [e.experiment_id for e in client.search_experiments(max_results=1000)]
        runs = client.search_runs(experiments, "attributes.status = 'RUNNING'",
                                  max_results=5000) if experiments else []
    except Exception as error:
        logger.debug("could not look for abandoned runs: %s", error)
        return ended
    now, host = time.time(), socket.gethostname()
    for run in runs:
        reason = abandoned_reason(run.data.tags, now=now, host=host)
        if reason is None:
            continue
        try:
            end_killed(client, run.info.run_id, reason)
        except Exception as error:
            logger.debug("could not end abandoned run %s: %s", run.info.run_id, error)
            continue
        logger.info("MLflow run %s was left RUNNING: ended KILLED (%s)", run.info.run_id, reason)
        ended.append(run.info.run_id)
    return ended
