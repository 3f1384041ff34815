"""Does one BLAS thread pool fight other work for the cores? Medium-model epochs at 1 and at
all BLAS threads, alone and beside other processes.

    python benchmarks/blas_contention.py [--rows 20000] [--repeats 5]

Times one epoch of 784-256-128-10 (batch 128, float32, Adam) with the trainer's FitLoop and
with scikit-learn's ``MLPClassifier`` (``warm_start``, one epoch a call), each at one BLAS
thread and at every core, while the cores are shared with:

- nothing;
- a busy loop (one process that keeps one core busy, as a CPU-bound command does);
- a busy loop half the time (busy 5 ms, asleep 5 ms: a test suite, a command waiting on I/O);
- two busy loops;
- a second training process (the same epochs at every core, without end: a second command or
  a sweep's other worker).

Prints the median seconds per epoch of each. OpenBLAS splits each matrix product between its
threads in equal parts and waits for the slowest: a thread whose core is taken finishes its part
only when the scheduler gives it the core back, so every product waits about a time slice.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # `python benchmarks/blas_contention.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from benchmarks import _data, _mlp  # noqa: E402

BUSY = "while True: pass"
HALF_BUSY = ("import time\nwhile True:\n    end = time.perf_counter() + 0.005\n"
             "    while time.perf_counter() < end: pass\n    time.sleep(0.005)")
TRAINING = ("import sys; sys.path.insert(0, {repo!r})\nfrom benchmarks import _data, _mlp\n"
            "epoch = _mlp.trainer_fitloop(_data.medium({rows}, 480), epochs=1)\n"
            "while True: epoch()")
CASES = {
    "alone": [],
    "beside a busy loop": [BUSY],
    "beside a busy loop half the time": [HALF_BUSY],
    "beside two busy loops": [BUSY, BUSY],
    "beside a second training process": [TRAINING],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=20_000, help="training rows")
    parser.add_argument("--repeats", type=int, default=5, help="timed epochs per variant")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    problem = _data.medium(args.rows, 480)
    peers = {"trainer": _mlp.trainer_fitloop(problem, epochs=1),
             "scikit-learn": _mlp.sklearn_mlp(problem, 1, np.float32)}
    repo = str(Path(__file__).resolve().parent.parent)
    print(f"{args.rows:,} rows, {cores} cores, load average {os.getloadavg()[0]:.1f}; "
          "seconds per epoch (median):")
    print(f"{'case':36s} {'trainer 1':>10s} {'trainer ' + str(cores):>10s} "
          f"{'sklearn 1':>10s} {'sklearn ' + str(cores):>10s}")
    for case, programs in CASES.items():
        others = [subprocess.Popen([sys.executable, "-c",
                                    p.format(repo=repo, rows=args.rows)]) for p in programs]
        try:
            time.sleep(3.0 if any("benchmarks" in p for p in programs) else 0.5)
            medians = {}
            for threads in (1, cores):
                with threadpool_limits(limits=threads, user_api="blas"):
                    for name, epoch in peers.items():
                        epoch()  # warm-up at this thread count
                        seconds = []
                        for _ in range(args.repeats):
                            start = time.perf_counter()
                            epoch()
                            seconds.append(time.perf_counter() - start)
                        medians[name, threads] = statistics.median(seconds)
        finally:
            for other in others:
                other.kill()
                other.wait()
        print(f"{case:36s} " + " ".join(f"{medians[n, t]:10.3f}" for n in peers
                                        for t in (1, cores)))


if __name__ == "__main__":
    main()
