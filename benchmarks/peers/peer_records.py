"""What a trial of a peer sweep tool leaves for the benchmark: one JSON line per event.

    {"trial": "3f2a9c1e", "event": "start", "t": 1765000000.12}
    {"trial": "3f2a9c1e", "event": "epoch", "t": 1765000000.31, "epoch": 1, "value": 0.53,
     "compute": 0.18}
    {"trial": "3f2a9c1e", "event": "end", "t": 1765000001.02, "state": "COMPLETE", "value": 0.12}

``state`` is COMPLETE (the task returned its value), PRUNED (the tool's pruner stopped it),
FAIL (the task raised, e.g. training diverged) or STOPPED (the tool ended it from outside, as
Ray Tune's ASHA does). A trial the tool killed before it could say so has no end line: its last
epoch line is its end. An epoch line is written as the epoch ends, before the tool hears of it;
``compute`` is the epoch's own time, from the moment the previous epoch's report returned (so a
tool's per-epoch reporting is not in it). Each line is one ``os.write`` on a file opened with
``O_APPEND``, so concurrent processes never interleave lines.

The standard library only: this module runs in every peer's environment, hydra-optuna-sweeper's
own virtual environment included. ``python -m benchmarks`` reads the lines back with
:func:`read`.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path


class TrialRecorder:
    """Appends one trial's events to ``path``; with ``path=None`` it records nothing (an app
    run outside the benchmark)."""

    def __init__(self, path: str | os.PathLike[str] | None) -> None:
        self.path = None if path in (None, "") else os.fspath(path)
        self.trial = uuid.uuid4().hex[:12]

    def _write(self, event: str, **fields: object) -> None:
        if self.path is None:
            return
        line = json.dumps({"trial": self.trial, "event": event, "t": time.time(), **fields})
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (line + "\n").encode())
        finally:
            os.close(fd)

    def start(self) -> None:
        self._write("start")

    def epoch(self, epoch: int, value: float, compute: float | None = None) -> None:
        self._write("epoch", epoch=epoch, value=value, compute=compute)

    def end(self, state: str, value: float | None = None) -> None:
        self._write("end", state=state, value=value)


@dataclass
class RecordedTrial:
    """One trial as its lines tell it (times in POSIX seconds)."""

    trial: str
    start: float | None = None
    epoch_times: list[float] = field(default_factory=list)
    compute: list[float] = field(default_factory=list)  # each epoch's own seconds, where known
    state: str | None = None  # None: no end line (the tool killed it)
    value: float | None = None
    end: float | None = None

    @property
    def finished(self) -> float | None:
        """When the trial ended: its end line, else its last epoch."""
        if self.end is not None:
            return self.end
        return self.epoch_times[-1] if self.epoch_times else None


def read(path: str | os.PathLike[str]) -> list[RecordedTrial]:
    """Every trial recorded in ``path``, in the order they started."""
    trials: dict[str, RecordedTrial] = {}
    file = Path(path)
    if not file.exists():
        return []
    for line in file.read_text().splitlines():
        if not line.strip():
            continue
        event = json.loads(line)
        trial = trials.setdefault(event["trial"], RecordedTrial(event["trial"]))
        if event["event"] == "start":
            trial.start = event["t"]
        elif event["event"] == "epoch":
            trial.epoch_times.append(event["t"])
            if event.get("compute") is not None:
                trial.compute.append(event["compute"])
        elif event["event"] == "end":
            trial.state, trial.value, trial.end = event["state"], event["value"], event["t"]
    return sorted(trials.values(), key=lambda t: t.start if t.start is not None else 0.0)
