"""A swept run's picture drawn by a helper process while the next trials train.

A trial's learning-curve picture costs about 0.1 s of CPU (matplotlib's Agg rendering 50 ms, the
PNG 20 ms, the figure and the upload the rest), a third of what a small trial costs besides its
epochs (benchmarks/RESULTS.md, per-trial cost). When a sweep's worker has the machine to itself
and a core to spare (``n_jobs=1`` on 2 cores: its thread budget is every core, and a small model
trains on one), the trials of that worker hand their histories to one drawing process
(:func:`drawer_for`) instead; each trial goes on to the next one at once.

Each picture is the one the trial would have drawn (``trainer.tracking.pictures``), logged to
the trial's MLflow run as ``learning_curves.png``. :meth:`PictureDrawer.finish` waits for the
drawer and draws here whatever it did not confirm (a crashed drawer loses no picture); it runs
when the worker's trials are done (``runkit.process.when_done``), so every picture is in place
when the worker, and so the sweep, ends.

The drawer is ``python -m trainer.tracking.drawer TRACKING_URI``: one JSON line per picture on
stdin (``run_id``, ``history``, ``title``, ``best_epoch``), one line with the run id on stdout
once it is logged.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["PICTURE", "PictureDrawer", "draw_and_log", "drawer_for"]

log = logging.getLogger(__name__)

PICTURE = "learning_curves.png"
_FINISH_TIMEOUT = 120.0  # seconds a worker waits for the drawer's last pictures


def draw_and_log(uri: str, run_id: str, history: Sequence[Mapping[str, float]], title: str,
                 best_epoch: int | None) -> None:
    """Draw the run's learning curves and log them to the run, as a trial does itself."""
    from runkit.mlflow import get_client
    from trainer.tracking.pictures import learning_curves_figure

    figure = learning_curves_figure(history, title=title, best_epoch=best_epoch)
    get_client(uri).log_figure(run_id, figure, PICTURE, save_kwargs={"format": "png"})


class PictureDrawer:
    """The sweep process's side: starts the drawer, hands it pictures, collects what is left."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self._pending: dict[str, dict[str, Any]] = {}  # run id -> its picture, until confirmed
        self._lock = threading.Lock()
        repo = str(Path(__file__).resolve().parents[2])
        env = {**os.environ,
               "PYTHONPATH": os.pathsep.join(filter(None, [repo, os.environ.get("PYTHONPATH")]))}
        self._process: subprocess.Popen[str] | None = subprocess.Popen(
            [sys.executable, "-m", "trainer.tracking.drawer", uri],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
            start_new_session=True,  # Ctrl-C is the sweep's to handle: the worker ends the drawer
        )
        self._reader = threading.Thread(target=self._read_confirmations, daemon=True,
                                        name="picture-drawer")
        self._reader.start()

    def _read_confirmations(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        for line in self._process.stdout:
            with self._lock:
                self._pending.pop(line.strip(), None)

    def draw(self, run_id: str, history: Sequence[Mapping[str, float]], title: str,
             best_epoch: int | None) -> None:
        """Queue the run's picture: the learning curves of ``history`` with ``title``, the
        ``best_epoch`` marked."""
        job = {"run_id": run_id, "history": [dict(row) for row in history], "title": title,
               "best_epoch": best_epoch}
        with self._lock:
            self._pending[run_id] = job
        process = self._process
        try:
            assert process is not None and process.stdin is not None
            process.stdin.write(json.dumps(job) + "\n")
            process.stdin.flush()
        except (AssertionError, OSError, ValueError):  # the drawer is gone: finish() draws it
            pass

    def finish(self) -> None:
        """Wait for the drawer's last pictures and draw any it did not confirm here."""
        process, self._process = self._process, None
        if process is not None:
            try:
                if process.stdin is not None:
                    process.stdin.close()
                process.wait(timeout=_FINISH_TIMEOUT)
            except (OSError, subprocess.TimeoutExpired):
                process.kill()
                process.wait()
            self._reader.join(timeout=5.0)
        with self._lock:
            left = list(self._pending.values())
            self._pending.clear()
        if left:
            log.info("sweep: drawing %d trial picture(s) the drawer did not log", len(left))
        for job in left:
            try:
                draw_and_log(self.uri, job["run_id"], job["history"], job["title"],
                             job["best_epoch"])
            except Exception as error:  # a picture must not fail the sweep
                log.warning("sweep: no %s for run %s (%s)", PICTURE, job["run_id"], error)



_drawer: PictureDrawer | None = None  # this process's, once a swept run started it


def drawer_for(uri: str) -> PictureDrawer | None:
    """This process's drawer for runs of ``uri``, started at its first call, when the process
    runs a sweep's trials on a machine it has to itself with a core to spare; else None (the
    run draws its own picture). It is finished when the worker's trials are done."""
    global _drawer
    import sweeps
    from runkit.process import available_cores, thread_budget, when_done

    if sweeps.current_trial() is None or not thread_budget() == available_cores() > 1:
        return None
    if _drawer is None or _drawer.uri != uri:
        drawer = _drawer = PictureDrawer(uri)

        def finish() -> None:
            global _drawer
            if _drawer is drawer:
                _drawer = None
            drawer.finish()

        when_done(finish)
    return _drawer


def main(uri: str) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the worker decides when the drawer stops
    # Imported while the first trial trains, not when the first picture comes; with the
    # collector off meanwhile (0.5 s less CPU, runkit/startup_gc.py).
    from runkit import startup_gc

    startup_gc.pause()
    import runkit.mlflow  # noqa: F401
    import trainer.tracking.pictures  # noqa: F401  (matplotlib)

    startup_gc.resume()
    for line in sys.stdin:
        job = json.loads(line)
        try:
            draw_and_log(uri, job["run_id"], job["history"], job["title"], job["best_epoch"])
        except Exception as error:  # left to the sweep process, which draws it again
            print(f"drawer: no picture for run {job['run_id']}: {error}", file=sys.stderr)
            continue
        print(job["run_id"], flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
