"""Side-by-side timing: every peer once per repeat, in rotating order, median over repeats.

These machines are noisy (shared cores, frequency changes), so no figure is a single run:
each peer gets one untimed warm-up, then ``repeats`` timed calls interleaved with the other
peers, so a slow spell hits all of them alike, and the claim is the ratio of medians.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Timing:
    """All timed repeats of one peer, in seconds."""

    name: str
    seconds: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def spread(self) -> float:
        """(max - min) / median: how noisy the repeats were."""
        return (max(self.seconds) - min(self.seconds)) / self.median


def time_once(fn: Callable[[], object]) -> float:
    """Wall time of one call; garbage is collected before, so no peer pays for another's."""
    gc.collect()
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def interleaved(
    peers: Mapping[str, Callable[[], object]],
    repeats: int,
    *,
    warmup: int = 1,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Timing]:
    """Time every peer ``repeats`` times, alternating peers within each repeat.

    Args:
        peers: name -> a callable doing the measured work once (e.g. one epoch).
        repeats: timed calls per peer; the order of peers rotates by one each repeat.
        warmup: untimed calls per peer first (caches, allocator, lazy imports, BLAS threads).
        progress: called with a one-line status after each repeat.
    """
    names = list(peers)
    for _ in range(warmup):
        for name in names:
            peers[name]()
    seconds: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            seconds[name].append(time_once(peers[name]))
        if progress is not None:
            progress(f"repeat {r + 1}/{repeats}: " + ", ".join(
                f"{name} {seconds[name][-1] * 1e3:.0f} ms" for name in names
            ))
    return {name: Timing(name, tuple(values)) for name, values in seconds.items()}
