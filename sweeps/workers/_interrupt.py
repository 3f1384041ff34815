"""The flag that says this sweep process or worker was interrupted (Ctrl-C or SIGTERM).

Its signal handler (``sweeps.workers._processes``) sets it and raises KeyboardInterrupt. That
exception can be lost: sqlite3 reports it as an OperationalError, which ``study.optimize``'s
catch records as a plain failure, and one raised inside a garbage-collection callback is only
printed ("Exception ignored in ..."). The worker loop and the trial's epoch callback check the
flag, so the interrupt stops the trial and the worker all the same.
"""

from __future__ import annotations

import threading

__all__ = ["INTERRUPT_REQUESTED", "stop_if_interrupted"]

INTERRUPT_REQUESTED = threading.Event()


def stop_if_interrupted() -> None:
    """Raise KeyboardInterrupt if an interrupt was requested (and maybe swallowed)."""
    if INTERRUPT_REQUESTED.is_set():
        raise KeyboardInterrupt("interrupted (Ctrl-C or SIGTERM)")
