"""What a test reads of a study a sweep left."""

from __future__ import annotations

import optuna
from optuna.trial import FrozenTrial

from sweeps.study._budget import SURPLUS_ATTR


def counted(study: optuna.Study) -> list[FrozenTrial]:
    """The study's trials less the surplus ones: with several workers, one may ask for a trial
    as another's completes the study; it is recorded FAIL, marked surplus and not run (README
    "Sharing a study"), and does not count."""
    return [t for t in study.trials if not t.user_attrs.get(SURPLUS_ATTR)]


# Prepended to a test's app whose assertion needs every worker to run a trial; the app calls
# meet() first in its task. With MEET_WORKERS=n (and MEET_DIR, a directory) in the environment,
# each worker's first trial waits, up to a minute, until n workers have started one: trials of
# a few milliseconds would otherwise all go to the sweep's own worker while a busy machine
# still forks and imports the others, and "both workers drew" would depend on the load.
MEET_WORKERS = '''\
import os as _os
import pathlib as _pathlib
import time as _time


def meet():
    n = int(_os.environ.get("MEET_WORKERS", "1"))
    if n <= 1:  # no meeting asked for: write nothing where the app runs
        return
    here = _pathlib.Path(_os.environ.get("MEET_DIR", ".")) / ".workers-met"
    here.mkdir(exist_ok=True)
    (here / str(_os.getpid())).touch()
    deadline = _time.monotonic() + 60
    while len(list(here.iterdir())) < n and _time.monotonic() < deadline:
        _time.sleep(0.05)


'''


def meeting(monkeypatch, directory, n: int) -> None:
    """Let an app given MEET_WORKERS wait for ``n`` workers (see MEET_WORKERS)."""
    monkeypatch.setenv("MEET_WORKERS", str(n))
    monkeypatch.setenv("MEET_DIR", str(directory))
