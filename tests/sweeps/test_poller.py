"""The sweep's polling threads (``sweeps._poller``): the parent-run monitor and the controller's
finished-trial log poll from a daemon thread, stop at once when their block is left, poll a last
time then, and a busy store never stops the sweep."""

from __future__ import annotations

import logging
import threading

import optuna

from sweeps._poller import Poller
from sweeps.tracking._parent import SweepMonitor
from sweeps.workers._launchers import FinishedTrialLog

optuna.logging.set_verbosity(optuna.logging.WARNING)


class Recorder(Poller):
    """Records which thread ran each poll; ``polled`` is set after ``wanted`` polls."""

    def __init__(self, *, interval: float, wanted: int = 1) -> None:
        super().__init__(interval=interval, name="test-poller")
        self.threads: list[str] = []
        self.wanted = wanted
        self.polled = threading.Event()

    def poll(self) -> None:
        self.threads.append(threading.current_thread().name)
        if len(self.threads) >= self.wanted:
            self.polled.set()


def test_it_polls_from_its_thread_then_once_more_where_the_block_is_left():
    with Recorder(interval=0.01, wanted=3) as poller:
        assert poller.polled.wait(60)
    assert set(poller.threads[:3]) == {"test-poller"}
    assert poller.threads[-1] == threading.current_thread().name
    assert not poller._thread.is_alive()


def test_leaving_the_block_wakes_the_thread_at_once():
    # an hour between polls: leaving the block must not wait for the next one
    poller = Recorder(interval=3600)
    leave = threading.Thread(target=lambda: [poller.__enter__(), poller.__exit__()])
    leave.start()
    leave.join(60)  # a generous bound: a sleeping thread would hold it for the hour
    assert not leave.is_alive()
    assert poller.threads == [leave.name]  # only the last poll, from the leaving thread


class BusyTracker:
    """A parent run whose store answers the first update and then is busy."""

    def __init__(self) -> None:
        self.calls = 0

    def set_tags(self, tags):
        self.calls += 1
        if self.calls > 1:
            raise RuntimeError("database is locked")

    def log_metrics(self, metrics, step):
        pass

    def flush(self):
        pass


def test_a_busy_store_never_stops_the_monitor(caplog):
    study = optuna.create_study()
    tracker = BusyTracker()
    with caplog.at_level(logging.WARNING), \
            SweepMonitor(tracker, study, 4, fallback=lambda params: [], interval=3600):
        pass  # entered: one update went through
    assert tracker.calls == 2  # the last poll tried, and logged the store's error
    assert "could not update the MLflow parent run: database is locked" in caplog.text


def test_each_finished_trial_is_printed_once_the_last_ones_as_the_block_is_left(caplog):
    study = optuna.create_study()
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)  # before: not printed
    with caplog.at_level(logging.INFO, logger="sweeps"), \
            FinishedTrialLog(study, interval=3600) as trials:
        study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    trials.poll()  # again: nothing new
    printed = [r.getMessage().split()[:3] for r in caplog.records if "COMPLETE" in r.getMessage()]
    assert printed == [["trial", "1", "COMPLETE"], ["trial", "2", "COMPLETE"]]


def test_a_study_that_cannot_be_read_is_a_warning(caplog, monkeypatch):
    study = optuna.create_study()
    trials = FinishedTrialLog(study, interval=3600)
    monkeypatch.setattr(study, "get_trials", _locked)
    with caplog.at_level(logging.WARNING, logger="sweeps"):
        trials.poll()
    assert "could not read the study: database is locked" in caplog.text


def _locked(*args, **kwargs):
    raise RuntimeError("database is locked")
