"""The worker slots of a sweep: start, signals, stop.

Slot 0 runs in the sweep's own process, which has the app imported already, so the first trial
starts as soon as the study is open; each further slot is a long-lived process running
``sweeps.workers._worker.run_worker`` until the study's budget is spent, so it imports the app and
opens the stores once. Stopping is graceful: Ctrl-C or SIGTERM reaches each slot as one
KeyboardInterrupt, which ends its running trial FAIL (its parameters queued again, its MLflow
run KILLED) before the process exits. A worker whose sweep process died (SIGKILL) interrupts
itself the same way.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import multiprocessing
import os
import signal
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Sequence

from optuna.storages import BaseStorage

from runkit.errors import UserError
from runkit.process import process_alive, process_start_time
from runkit.redact import scrub
from runkit.signals import interrupts
from sweeps.study._storage import storage_error
from sweeps.workers._worker import HydraJob, WorkerPlan, WorkerReport, run_worker

__all__ = ["EXIT_INTERRUPTED", "run_local_worker", "run_processes", "stop_workers",
           "worker_process_main"]

log = logging.getLogger("sweeps")

EXIT_INTERRUPTED = 130
REPORT_SUFFIX = ".report"  # beside a worker's payload file: its WorkerReport as JSON
_JOIN_GRACE = 60.0  # seconds interrupted workers get to record their trial before being killed
_RESEND = 0.5  # seconds between SIGINTs to a worker that has not stopped yet
_WATCH_INTERVAL = 0.5  # seconds between a worker's checks that its sweep process lives


def run_local_worker(plan: WorkerPlan, job: HydraJob, index: int = 0, *,
                     storage: BaseStorage | None = None) -> WorkerReport:
    """Run slot ``index`` in this process, with its interrupts flagged as in a worker process;
    the previous signal handlers come back afterwards. ``storage``: see ``run_worker``.

    Every Ctrl-C raises here (not only the first), so that a second one still reaches the
    sweep's own slot."""
    with interrupts():
        return run_worker(plan, job, index, storage=storage)


def _watch_sweep(sweep_pid: int, sweep_started: str | None) -> None:
    """Interrupt this worker within a second of its sweep process dying (``kill -9``, a crash):
    the trial ends KILLED and is queued again instead of the worker running the study alone.

    The sweep process itself is watched by its pid and start time (a later process reusing the
    pid is not the sweep), and so is the worker's parent, the fork server: that one exits as
    soon as the sweep is gone, and the worker is then re-parented.
    """
    parent_pid = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(_WATCH_INTERVAL)
            if os.getppid() != parent_pid or not process_alive(sweep_pid, sweep_started):
                os.kill(os.getpid(), signal.SIGINT)
                return

    threading.Thread(target=watch, name="sweep-watch", daemon=True).start()


def worker_process_main(payload: str, index: int, sweep_pid: int | None = None,
                        sweep_started: str | None = None) -> None:
    """Entry point of a worker process: unpickle the plan and the Hydra job from the file
    ``payload``, run the loop, write its report to ``payload + ".report"`` (JSON); stop when
    the sweep process ``sweep_pid``, started at ``sweep_started``, dies.

    Exits 0 when the budget is spent, 130 when interrupted, 1 on an unexpected error. Every
    stopping signal after the first is dropped: the interrupted trial records itself.
    """
    with interrupts(once=True):
        try:
            _run_worker_process(payload, index, sweep_pid, sweep_started)
        except KeyboardInterrupt:  # the first one landed outside the run's own handling
            sys.exit(EXIT_INTERRUPTED)


def _run_worker_process(payload: str, index: int, sweep_pid: int | None,
                        sweep_started: str | None) -> None:
    plan: WorkerPlan | None = None
    try:
        # Inside the try: Ctrl-C reaches the whole process group, and may land while this
        # worker still imports or starts its watch thread; it then exits 130 without a trace.
        import cloudpickle
        from hydra.core.singleton import Singleton
        from hydra.core.utils import configure_log, setup_globals

        _watch_sweep(os.getppid() if sweep_pid is None else sweep_pid, sweep_started)
        with open(payload, "rb") as file:
            plan, job, singleton_state = cloudpickle.loads(file.read())
        os.unlink(payload)  # read once: nothing is left behind even if the sweep is killed
        setup_globals()
        Singleton.set_state(singleton_state)
        configure_log(job.config.hydra.hydra_logging, job.config.hydra.verbose)
        report = run_worker(plan, job, index)
        with open(payload + REPORT_SUFFIX, "w") as file:
            json.dump(dataclasses.asdict(report), file)
    except KeyboardInterrupt:
        sys.exit(EXIT_INTERRUPTED)
    except BaseException as error:
        # A storage it cannot open or that failed it: one line, as the sweep says it; anything
        # else with its traceback. Never the storage URL's password.
        url = "" if plan is None else plan.storage.url
        failed = error if isinstance(error, UserError) else storage_error(error, url)
        print(f"error: {failed}\n" if failed is not None else scrub(traceback.format_exc(), url),
              end="", file=sys.stderr, flush=True)
        sys.exit(1)
    finally:
        # A forked worker leaves with os._exit, which skips atexit: a run interrupted before
        # its own handler could end it is ended KILLED here.
        from runkit.mlflow import end_open_runs

        end_open_runs()


def run_processes(plan: WorkerPlan, job: HydraJob, n_workers: int,
                  pids: list[int] | None = None,
                  reports: list[WorkerReport] | None = None, *,
                  storage: BaseStorage | None = None) -> bool:
    """Run slot 0 here (on ``storage`` when this process opened it already) and
    ``n_workers - 1`` worker processes, all to the end; returns whether a worker process
    crashed. Each worker's pid is appended to ``pids`` as it starts, and each worker's report
    to ``reports`` once it ended (none for one interrupted or crashed).

    Workers are forked from a fork server (a fresh interpreter that imported the app once,
    see :func:`sweeps._fork_server.start_fork_server`: no inherited locks, threads or
    open database connections); the plan, the task function and Hydra's state travel by
    cloudpickle, as in Hydra's joblib launcher. They go through a file: as an argument, a payload
    larger than a pipe's buffer would block ``start()`` until each child has imported the whole app.

    Raises:
        KeyboardInterrupt: after the workers recorded their interrupted trials.
    """
    import cloudpickle
    from hydra.core.singleton import Singleton

    data = cloudpickle.dumps((plan, job, Singleton.get_state()))
    sweep_pid = os.getpid()
    sweep_started = process_start_time(sweep_pid)
    context = multiprocessing.get_context("forkserver")
    workers: list[multiprocessing.process.BaseProcess] = []
    payloads: list[str] = []
    stopping = threading.Event()
    start_error: list[BaseException] = []

    def start_workers() -> None:
        # start() waits until the fork server has imported the app: from this thread, slot 0
        # trains meanwhile instead of waiting too (about 2 s of every n_jobs > 1 sweep).
        try:
            for index in range(1, n_workers):
                if stopping.is_set():
                    return
                handle, payload = tempfile.mkstemp(prefix="sweep-worker-", suffix=".pkl")
                payloads.append(payload)
                with os.fdopen(handle, "wb") as file:  # one file per worker, which deletes it
                    file.write(data)
                worker = context.Process(target=worker_process_main,
                                         args=(payload, index, sweep_pid, sweep_started),
                                         name=f"sweep-worker-{index}")
                worker.start()
                workers.append(worker)
                if pids is not None and worker.pid is not None:
                    pids.append(worker.pid)
        except BaseException as error:  # re-raised in the sweep's thread
            start_error.append(error)

    starter = threading.Thread(target=start_workers, name="sweep-worker-start", daemon=True)
    starter.start()
    try:
        local = run_local_worker(plan, job, 0, storage=storage)
        if reports is not None:
            reports.append(local)
        starter.join()
        if start_error:
            raise start_error[0]
        for worker in workers:
            worker.join()
        if reports is not None:
            reports += [r for payload in payloads if (r := _read_report(payload)) is not None]
    except BaseException:  # Ctrl-C, SIGTERM, or an error in slot 0: the others stop too
        stopping.set()
        starter.join()  # every worker started is in `workers`
        stop_workers(workers)
        raise
    finally:
        for payload in payloads:  # a worker that died before reading its file, its report
            for path in (payload, payload + REPORT_SUFFIX):
                with contextlib.suppress(OSError):
                    os.unlink(path)
    crashed = [w for w in workers if w.exitcode not in (0, EXIT_INTERRUPTED)]
    for worker in crashed:
        log.warning("sweep: %s (pid %s) stopped unexpectedly: %s", worker.name, worker.pid,
                    _how_it_ended(worker.exitcode))
    return bool(crashed)


def _how_it_ended(exitcode: int | None) -> str:
    """``killed by SIGKILL`` or ``exit code 1``: a worker process's end, for the sweep's log."""
    if exitcode is not None and exitcode < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-exitcode).name}"
    return f"exit code {exitcode}"


def _read_report(payload: str) -> WorkerReport | None:
    try:
        with open(payload + REPORT_SUFFIX) as file:
            return WorkerReport(**json.load(file))
    except (OSError, ValueError, TypeError):  # interrupted or crashed before writing it
        return None


def stop_workers(workers: Sequence[multiprocessing.process.BaseProcess]) -> None:
    """Interrupt the workers (their trials end KILLED and are queued again), wait for them,
    and kill whichever does not stop in time or when interrupted again.

    SIGINT is sent again every ``_RESEND`` seconds until a worker exits: one that was still
    starting (a fork server child ignores SIGINT until ``worker_process_main`` installs its
    handler) would otherwise miss it and run the study on. Repeats are harmless: a worker
    acts on the first signal its handler sees and ignores the rest.
    """
    deadline = time.monotonic() + _JOIN_GRACE
    try:
        while time.monotonic() < deadline:
            alive = [w for w in workers if w.is_alive() and w.pid is not None]
            if not alive:
                break
            for worker in alive:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(worker.pid, signal.SIGINT)  # type: ignore[arg-type]
            alive[0].join(_RESEND)
    except KeyboardInterrupt:
        pass
    for worker in workers:
        if worker.is_alive():
            worker.kill()
            worker.join()
