"""One MLflow run: :class:`RunTracker`, written through the process's client.

A metric value logged alone costs ~1 ms, ~0.15 ms through ``log_batch``, so per-epoch metrics are
buffered and written in batches (every ~2 s, when the buffer is full, and at the end); params
and tags ride along with them. Artifacts go straight to the run's artifact repository, built
once from the URI ``create_run`` returned.
"""

from __future__ import annotations

import atexit
import contextlib
import getpass
import logging
import os
import posixpath
import re
import subprocess
import sys
import tempfile
import time
import weakref
from collections.abc import Iterator, Mapping
from functools import lru_cache
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.utils.validation import (
    MAX_ENTITIES_PER_BATCH,
    MAX_METRICS_PER_BATCH,
    MAX_PARAM_VAL_LENGTH,
    MAX_PARAMS_TAGS_PER_BATCH,
    MAX_TAG_VAL_LENGTH,
)

from runkit.errors import ConfigError, one_line, squeezed
from runkit.mlflow import owner, store
from runkit.mlflow.params import flatten_config
from runkit.mlflow.store import get_client
from runkit.mlflow.tags import (
    FAILURE_REASON_TAG,
    GIT_COMMIT_TAG,
    PARENT_RUN_TAG,
    RUN_HEARTBEAT_TAG,
    SOURCE_NAME_TAG,
    SOURCE_TYPE_TAG,
    USER_TAG,
)
from runkit.signals import interrupt_name, shielded

if TYPE_CHECKING:
    from mlflow.store.artifact.artifact_repo import ArtifactRepository

__all__ = ["RunTracker", "end_open_runs"]

logger = logging.getLogger("runkit.mlflow")
# MLflow logs each SQL error with its whole traceback, then raises it as an MlflowException that
# the run reports in one line (a full disk, a locked store): the duplicate traceback is muted.
logging.getLogger("mlflow.store.db.utils").setLevel(logging.CRITICAL)

_TERMINAL_STATUSES = ("FINISHED", "FAILED", "KILLED")
_PARAM_CHANGED = "INVALID_PARAMETER_VALUE"  # MLflow's error code for a changed param (and more)

_open_trackers: weakref.WeakSet[RunTracker] = weakref.WeakSet()  # started, not yet ended
store._after_fork_hooks.append(_open_trackers.clear)  # a forked child never ends the parent's runs
_heartbeat = owner.Heartbeat(lambda: list(_open_trackers), owner.HEARTBEAT_INTERVAL)
store._after_fork_hooks.append(_heartbeat.forget)


@lru_cache(maxsize=8)
def _git_commit(cwd: str) -> str | None:
    """HEAD of the git repository containing ``cwd`` (once per process and directory)."""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = result.stdout.strip()
    return commit if result.returncode == 0 and re.fullmatch(r"[0-9a-f]{40,64}", commit) else None


def _source_tags() -> dict[str, str]:
    tags = {SOURCE_TYPE_TAG: "LOCAL", SOURCE_NAME_TAG: sys.argv[0] or "python"}
    with contextlib.suppress(Exception):  # no user name in some containers
        tags[USER_TAG] = getpass.getuser()
    try:
        commit = _git_commit(os.getcwd())
    except OSError:  # the working directory was removed
        commit = None
    if commit:
        tags[GIT_COMMIT_TAG] = commit
    return tags


@atexit.register
def end_open_runs() -> None:
    """End every run of this process still open as KILLED: the last resort, at exit, so that no
    run stays RUNNING. Processes that leave with ``os._exit`` (multiprocessing children) skip
    atexit and call it themselves."""
    with shielded(interrupted=True):
        for tracker in list(_open_trackers):
            tracker.end("KILLED", failure_reason="the process exited before the run was ended")


class RunTracker:
    """One MLflow run, written through a per-process :class:`MlflowClient`.

    Use it as a context manager: a normal exit ends the run FINISHED, an exception FAILED (its
    one-line message in the ``failure_reason`` tag), a ``KeyboardInterrupt`` (Ctrl-C, or a
    SIGTERM that ``runkit.signals.sigterm_as_interrupt`` turned into one) or a non-zero
    ``SystemExit`` KILLED. Metrics are buffered and written with ``log_batch``.
    """

    def __init__(
        self,
        client: MlflowClient,
        run_id: str,
        *,
        experiment_id: str | None = None,
        run_name: str | None = None,
        artifact_uri: str | None = None,
        flush_interval: float = 2.0,
        max_buffered: int = MAX_METRICS_PER_BATCH,
        owned: bool = True,
    ) -> None:
        self.client = client
        self.run_id = run_id
        self._experiment_id = experiment_id
        self.run_name = run_name
        self._artifact_root = artifact_uri
        self._artifact_repo: ArtifactRepository | None = None
        self.flush_interval = flush_interval
        self.max_buffered = max_buffered
        self._buffer: list[Metric] = []
        # Params and tags wait for the next metrics write: each store call costs ~5 ms on
        # SQLite whatever it carries, so a run's few params and tags ride along with its
        # metrics (benchmarks/RESULTS.md, tracking overhead).
        self._params: dict[str, Param] = {}
        self._defaults: set[str] = set()  # params the run may already hold (its value stays)
        self._tags: dict[str, RunTag] = {}
        self._step_times: dict[int, int] = {}  # step -> the timestamp its metrics were logged at
        self._last_flush = time.monotonic()
        self._ended = False
        self.last_step = 0  # the last epoch logged
        self.end_error: Exception | None = None  # why the run's last writes or status failed
        self.status_recorded = False  # whether the store has the run's final status
        self.status: str | None = None  # the final status asked for, once ended
        # the run's dataset inputs by part (``val``, ``test`` ...), each with its ``name`` and
        # ``digest``: a model metric named after a part (``val_loss``) is linked to it
        self.datasets: dict[str, Any] = {}
        self.owned = owned  # started by this process, which ends it (else borrowed)
        if owned:
            _open_trackers.add(self)

    @classmethod
    def start(
        cls,
        uri: str,
        experiment_id: str,
        *,
        run_name: str | None = None,
        tags: Mapping[str, str] | None = None,
        parent_run_id: str | None = None,
    ) -> RunTracker:
        """Create a RUNNING run in ``experiment_id`` (the child of ``parent_run_id`` if given),
        tagged with its source (user, entry point, git commit when the cwd is in a repo) and
        its owner (host, pid, the process's start time; see :mod:`runkit.mlflow.owner`)."""
        client = get_client(uri)
        all_tags = {**_source_tags(), **owner.owner_tags()}
        if parent_run_id is not None:
            all_tags[PARENT_RUN_TAG] = parent_run_id
        all_tags.update({k: str(v)[:MAX_TAG_VAL_LENGTH] for k, v in (tags or {}).items()})
        # create_run also sets the mlflow.runName tag (a generated name when None)
        run = client.create_run(experiment_id, tags=all_tags, run_name=run_name)
        _heartbeat.ensure_running()
        return cls(client, run.info.run_id, experiment_id=experiment_id,
                   run_name=run.info.run_name, artifact_uri=run.info.artifact_uri)

    @classmethod
    def borrow(cls, uri: str, run_id: str) -> RunTracker:
        """A run another owner started and ends, handed over as MLflow hands runs over
        (``MLFLOW_RUN_ID``, e.g. a sweep's run of a trial): this process's own tracker of it when
        it has one open, whose batches its writes then share, else a tracker on the existing run
        that never ends it. Write into it inside :meth:`writing`.

        Raises:
            ConfigError: no run ``run_id`` in the store at ``uri``.
        """
        for tracker in list(_open_trackers):
            if tracker.run_id == run_id and not tracker.ended:
                return tracker
        client = get_client(uri)
        try:
            run = client.get_run(run_id)
        except MlflowException:
            raise ConfigError("MLFLOW_RUN_ID", f"the id of a run in {uri}", run_id) from None
        return cls(client, run_id, experiment_id=run.info.experiment_id,
                   run_name=run.info.run_name, artifact_uri=run.info.artifact_uri, owned=False)

    @contextlib.contextmanager
    def writing(self) -> Iterator[RunTracker]:
        """A block that writes into a borrowed run (:meth:`borrow`) and never ends it. On leaving
        it, what the block buffered is written, unless this process owns the run: its owner
        writes it all when it ends the run (one batch instead of two). A write that fails as
        the block raises only warns: the block's own error is the one that counts."""
        try:
            yield self
        except BaseException:
            if not self.owned:
                try:
                    self.flush()
                except Exception as exc:
                    self.end_error = exc
                    logger.warning("MLflow run %s: could not write metrics: %s", self.run_id,
                                   squeezed(str(exc), 300))
            raise
        if not self.owned:
            self.flush()

    @property
    def experiment_id(self) -> str:
        if self._experiment_id is None:
            self._experiment_id = self.client.get_run(self.run_id).info.experiment_id
        return self._experiment_id

    @property
    def ended(self) -> bool:
        return self._ended

    # -- params and tags: buffered with the metrics

    def log_params(self, params: Mapping[str, Any], *, keep_logged: bool = False) -> None:
        """Log params (nested mappings are flattened with dots), each value truncated to
        MLflow's limit; written with the next :meth:`flush`.

        ``keep_logged``: a key the run already holds keeps its value (MLflow never changes a
        param): the params of a run someone else also writes, who may have logged them first
        in a form of their own. A key logged again without it is an ordinary param.
        """
        for key, value in flatten_config(params).items():
            self._params[key] = Param(key, value[:MAX_PARAM_VAL_LENGTH])
            if keep_logged:
                self._defaults.add(key)
            else:
                self._defaults.discard(key)

    def set_tags(self, tags: Mapping[str, str]) -> None:
        """Set tags, each value truncated to MLflow's limit; written with the next
        :meth:`flush` (a tag set twice keeps its last value)."""
        for key, value in tags.items():
            self._tags[key] = RunTag(key, str(value)[:MAX_TAG_VAL_LENGTH])

    # -- metrics: buffered

    def log_epoch(self, epoch: int, metrics: Mapping[str, float]) -> None:
        """Buffer one epoch's metrics with ``step=epoch``; written once ~2 s passed since the
        last write (a long run's curves grow while it trains), when the buffer is full, or by
        :meth:`flush` / :meth:`end`."""
        self.last_step = max(self.last_step, int(epoch))
        self.log_metrics(metrics, step=epoch)
        if time.monotonic() - self._last_flush >= self.flush_interval:
            self.flush()

    def log_metrics(
        self, metrics: Mapping[str, float], step: int | None = None, *, model_id: str | None = None
    ) -> None:
        """Buffer metrics at ``step`` (0 when None); written when the buffer is full, or by
        :meth:`flush` / :meth:`end`. Only epochs are also written on a timer: a run's last
        metrics are logged just before its final write, and a timed write among them was a
        second ``log_batch`` for every run lasting over 2 s (~5 ms; 2 s pass before the
        first model of a ``python -m trainer`` run is logged).

        With ``model_id`` the values also become metrics of that logged model (its Models tab
        columns), each linked to the dataset part it was measured on (``val_*`` the validation
        part, ``test_*`` the test part) once :meth:`log_datasets` logged them. They keep the
        timestamp of the step's earlier values, so a value the run already has, logged again for
        the model, stays one point of the run's history (MLflow's ``log_model`` links a step's
        metrics the same way).
        """
        step = 0 if step is None else int(step)
        now = int(time.time() * 1000)
        timestamp = self._step_times.setdefault(step, now) if model_id else now
        self._step_times.setdefault(step, timestamp)
        if model_id:
            # A value still buffered for the run alone is the same row of the run's history:
            # the linked one replaces it, instead of both reaching the store, whose insert then
            # fails on the duplicate key and is redone without it (~3 ms of a run's last write)
            linked = {(key, float(value)) for key, value in metrics.items()}
            self._buffer = [
                m for m in self._buffer
                if m.model_id is not None or m.step != step or m.timestamp != timestamp
                or (m.key, m.value) not in linked
            ]
        for key, value in metrics.items():
            dataset = self.datasets.get(key.split("_", 1)[0]) if model_id else None
            self._buffer.append(Metric(
                key, float(value), timestamp, step, model_id=model_id,
                dataset_name=None if dataset is None else dataset.name,
                dataset_digest=None if dataset is None else dataset.digest))
        if len(self._buffer) >= self.max_buffered:
            self.flush()

    def flush(self) -> None:
        """Write the buffered params, tags and metrics, as few ``log_batch`` calls as MLflow's
        limits allow; the run's heartbeat rides along."""
        self._last_flush = time.monotonic()
        if self._buffer or self._params or self._tags:
            self._tags[RUN_HEARTBEAT_TAG] = RunTag(RUN_HEARTBEAT_TAG, f"{time.time():.0f}")
        while self._buffer or self._params or self._tags:
            params = list(self._params.values())[:MAX_PARAMS_TAGS_PER_BATCH]
            tags = list(self._tags.values())[:MAX_PARAMS_TAGS_PER_BATCH]
            room = min(MAX_METRICS_PER_BATCH, MAX_ENTITIES_PER_BATCH - len(params) - len(tags))
            metrics = self._buffer[:room]
            try:
                self.client.log_batch(self.run_id, metrics=metrics, params=params, tags=tags,
                                      synchronous=True)
            except MlflowException as error:
                kept = [p for p in params if p.key in self._defaults]
                if error.error_code != _PARAM_CHANGED or not kept:
                    raise
                for param in kept:  # the run holds them already, in their logger's form
                    del self._params[param.key]
                    self._defaults.discard(param.key)
                continue
            # removed only once written: a failed write can be retried
            del self._buffer[: len(metrics)]
            for param in params:
                del self._params[param.key]
                self._defaults.discard(param.key)
            for tag in tags:
                del self._tags[tag.key]

    def beat(self) -> None:
        """Refresh the heartbeat tag unless a write did lately (called from the heartbeat
        thread, so that a run with minutes-long epochs still shows it is alive)."""
        if not self._ended and time.monotonic() - self._last_flush >= owner.HEARTBEAT_INTERVAL:
            self.client.set_tag(self.run_id, RUN_HEARTBEAT_TAG, f"{time.time():.0f}")

    # -- artifacts

    def log_text(self, text: str, artifact_file: str) -> None:
        """Store ``text`` as the artifact ``artifact_file`` (e.g. ``config.yaml``)."""
        with self._artifact_file(artifact_file) as path:
            path.write_text(text, encoding="utf-8")

    def log_figure(self, figure: Any, artifact_file: str) -> None:
        """Store a Matplotlib figure as the PNG artifact ``artifact_file``."""
        with self._artifact_file(artifact_file) as path:
            figure.savefig(path, format="png")

    @contextlib.contextmanager
    def _artifact_file(self, artifact_file: str) -> Iterator[Path]:
        """A temporary path to write ``artifact_file`` (run-relative, POSIX) to, then logged to
        the run's artifact repository, as ``MlflowClient.log_text``/``log_figure`` do."""
        relative = posixpath.normpath(artifact_file)
        with tempfile.TemporaryDirectory(prefix="run-artifact-") as tmp:
            path = Path(tmp) / posixpath.basename(relative)
            yield path
            self._artifacts().log_artifact(str(path), posixpath.dirname(relative) or None)

    def _artifacts(self) -> ArtifactRepository:
        # MlflowClient's artifact calls first look the run up for its artifact URI (an eager
        # get_run), which create_run returned already: the config costs 1.1 ms instead of
        # 5.6 ms a run (8-12 ms in a fresh process).
        if self._artifact_repo is None:
            from mlflow.store.artifact.artifact_repository_registry import (
                get_artifact_repository,
            )
            from mlflow.utils.uri import add_databricks_profile_info_to_artifact_uri

            uri = add_databricks_profile_info_to_artifact_uri(self.artifact_uri(),
                                                              self.client.tracking_uri)
            self._artifact_repo = get_artifact_repository(uri,
                                                          tracking_uri=self.client.tracking_uri)
        return self._artifact_repo

    def artifact_uri(self, artifact_path: str = "") -> str:
        """The absolute URI of the run's artifact directory (or of a path inside it); loading
        from it needs no tracking URI, unlike ``runs:/``."""
        if self._artifact_root is None:  # a tracker made from a run id alone
            self._artifact_root = self.client.get_run(self.run_id).info.artifact_uri
        root = self._artifact_root
        return f"{root.rstrip('/')}/{artifact_path}" if artifact_path else root

    # -- end

    def end(self, status: str = "FINISHED", failure_reason: str | None = None) -> None:
        """Flush, record ``failure_reason`` as a tag when given, and terminate the run with
        ``status`` (FINISHED, FAILED or KILLED). Idempotent; a store that cannot be reached
        only logs a warning, so ending never hides the error that caused it (``end_error`` and
        ``status_recorded`` tell what happened). Ctrl-C, SIGTERM or SIGHUP cannot cut it short:
        a signal arriving meanwhile waits for the end (and is dropped when the run is ending
        KILLED already)."""
        if status not in _TERMINAL_STATUSES:
            raise ValueError(f"status must be one of {_TERMINAL_STATUSES}, got {status!r}")
        if self._ended:
            return
        with shielded(interrupted=status == "KILLED"):
            self._end(status, failure_reason)

    def _end(self, status: str, failure_reason: str | None) -> None:
        self._ended = True
        self.status = status
        _open_trackers.discard(self)
        if failure_reason is not None:
            self.set_tags({FAILURE_REASON_TAG: squeezed(failure_reason, MAX_TAG_VAL_LENGTH)})
        try:
            self.flush()
        except Exception as exc:  # keep going: the status matters more than the last metrics
            self.end_error = exc
            logger.warning("MLflow run %s: could not write metrics: %s", self.run_id,
                           squeezed(str(exc), 300))
            if failure_reason is not None:  # the reason alone, without what was rejected
                with contextlib.suppress(Exception):
                    reason = self._tags[FAILURE_REASON_TAG]
                    self.client.set_tag(self.run_id, reason.key, reason.value)
        try:
            self.client.set_terminated(self.run_id, status)
            self.status_recorded = True
        except Exception as exc:
            self.end_error = exc
            logger.warning("MLflow run %s: could not mark it %s: %s", self.run_id, status,
                           squeezed(str(exc), 300))

    def __enter__(self) -> RunTracker:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc is None:
            self.end("FINISHED")
        elif isinstance(exc, KeyboardInterrupt):
            self.end("KILLED", failure_reason=f"interrupted ({interrupt_name(exc)})")
        elif isinstance(exc, SystemExit):
            if exc.code in (None, 0):
                self.end("FINISHED")
            else:  # a SIGTERM handler raising SystemExit, or an explicit non-zero exit
                self.end("KILLED", failure_reason=f"exited with code {exc.code}")
        else:
            self.end("FAILED", failure_reason=one_line(exc, MAX_TAG_VAL_LENGTH))
