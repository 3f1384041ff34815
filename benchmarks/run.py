"""Run the benchmarks of issue 4 and write benchmarks/RESULTS.md.

    python -m benchmarks               # the full run (about 6-10 minutes on 2 cores)
    python -m benchmarks --quick       # a short run: fewer small-run epochs, a 12-trial sweep
    python benchmarks/run.py --only medium small --out /tmp/results.md
    python -m benchmarks --quick --peers bounded   # sections 1-5 and 7 short, section 6 bounded

Every in-process peer runs under the same thread limit (``--threads``, default every core):
BLAS through threadpoolctl, PyTorch through ``torch.set_num_threads``. PyTorch is optional: it
is measured when importable. If OPENBLAS_CORETYPE or OPENBLAS_L2_SIZE are set (some machines
here set them for older OpenBLAS builds; they slow a current numpy), the report records them;
unset both for that one command to measure the kernel numpy would pick by itself:
``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m benchmarks``.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

if __package__ in (None, ""):  # `python benchmarks/run.py`: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import (  # noqa: E402
    _data,
    _env,
    _estimator,
    _mlp,
    _overhead,
    _peers,
    _peers_report,
    _report,
    _sweep,
    _tracking,
)

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "benchmarks" / "RESULTS.md"
BENCHMARKS = ("medium", "small", "tracking", "sweep", "overhead", "peers", "estimator")


@dataclass(frozen=True)
class Settings:
    """Sizes and repeat counts of one benchmark run."""

    mode: str = "full"
    repeats: int = 5  # timed calls per peer (the median is reported)
    medium_rows: int = 48_000
    medium_val_rows: int = 480
    small_rows: int | None = None  # None: all digits training rows
    small_epochs: int = 10  # epochs per timed call of the small MLP
    tracking_epochs: int = 50
    tracking_repeats: int = 15  # cheap calls whose 'off' time is short: more repeats
    app_repeats: int = 3
    sweep: str = "digits"
    sweep_trials: int = 40
    sweep_seeds: int = 3  # pruning pairs (pruned vs unpruned), one per sampler seed
    sweep_repeats: int = 3  # n_jobs=1 vs n_jobs=2 pairs on the same trials (median of 3)
    with_float64: bool = True
    overhead_repeats: int = 3  # rounds of the one-run / start-up / per-trial commands
    overhead_trials: tuple[int, int] = (_overhead.FEW, _overhead.MANY)  # short, long sweep
    peers: _peers.PeerSettings = _peers.FULL  # section 6's sizes


FULL = Settings()
QUICK = Settings(mode="quick", small_epochs=5, tracking_epochs=20, tracking_repeats=7,
                 app_repeats=1, sweep_trials=12, sweep_seeds=1, sweep_repeats=1,
                 overhead_repeats=1, peers=_peers.QUICK)


@dataclass
class Results:
    medium: _mlp.EpochResult | None = None
    small: _mlp.EpochResult | None = None
    tracking: _tracking.TrackingResult | None = None
    sweep: _sweep.SweepResult | None = None
    overhead: _overhead.OverheadResult | None = None
    peers: _peers.PeersResult | None = None
    estimator: _estimator.EstimatorResult | None = None


def say(message: str) -> None:
    print(f"[benchmarks] {message}", file=sys.stderr, flush=True)


def _cli_threads(problem: _data.Problem, available: int) -> int:
    """The BLAS threads `python -m trainer` trains ``problem``'s network on."""
    from trainer.training import blas_threads_for

    return blas_threads_for([problem.n_features, *problem.hidden, problem.n_classes],
                            problem.batch_size, available=available)


def run_benchmarks(
    settings: Settings,
    *,
    only: tuple[str, ...] = BENCHMARKS,
    threads: int,
    with_torch: bool = True,
    workdir: Path | None = None,
) -> tuple[Results, _env.Environment]:
    """Run the selected benchmarks under one thread limit; returns their results and the
    environment (collected last, so that threadpoolctl sees every library that was loaded)."""
    import warnings

    from threadpoolctl import threadpool_limits

    results = Results()
    load_start = _env.load_average()
    # MLflow's pyfunc logging warns about inferred integer columns on every whole run
    warnings.filterwarnings("ignore", category=UserWarning, module="mlflow")
    with threadpool_limits(limits=threads):
        if "medium" in only:
            say(f"medium MLP: {settings.medium_rows:,} rows, {settings.repeats} repeats")
            problem = _data.medium(settings.medium_rows, settings.medium_val_rows)
            results.medium = _mlp.run_epochs(
                problem, epochs=1, repeats=settings.repeats, threads=threads,
                with_torch=with_torch, with_float64=settings.with_float64, progress=say)
        if "small" in only:
            say(f"small MLP: digits, {settings.small_epochs} epochs per call")
            problem = _data.small(rows=settings.small_rows)
            # What the command line runs: such a model trains on the BLAS threads
            # `python -m trainer` picks for it (one: a second thread's synchronization costs
            # more than it saves at this size), and every peer gets the same.
            small_threads = _cli_threads(problem, threads)
            with threadpool_limits(limits=small_threads):
                results.small = _mlp.run_epochs(
                    problem, epochs=settings.small_epochs, repeats=settings.repeats,
                    threads=small_threads, with_torch=with_torch,
                    with_float64=settings.with_float64, progress=say)
        if "tracking" in only:
            say(f"tracking overhead: {settings.tracking_epochs} epochs per run")
            problem = _data.small(rows=settings.small_rows)
            with threadpool_limits(limits=_cli_threads(problem, threads)):  # as the CLI trains
                results.tracking = _tracking.run_tracking(
                    problem, epochs=settings.tracking_epochs,
                    repeats=settings.tracking_repeats, app_repeats=settings.app_repeats,
                    workdir=workdir, progress=say)
        if "estimator" in only:
            say(f"estimator fit: digits, {settings.repeats} repeats per peer")
            # as the small MLP: every peer on the threads the trainer picks for such a model
            with threadpool_limits(limits=_cli_threads(_data.small(rows=8), threads)):
                results.estimator = _estimator.run_estimator(repeats=settings.repeats,
                                                             progress=say)
        env = _env.collect(threads, REPO)
    env.load_start = load_start
    if "sweep" in only:
        variants = _sweep.plan(settings.sweep_seeds, settings.sweep_repeats)
        say(f"sweep efficiency: sweep={settings.sweep}, {settings.sweep_trials} trials, "
            f"{len(variants)} variants")
        with tempfile.TemporaryDirectory(prefix="bench-sweep-", dir=workdir) as tmp:
            results.sweep = _sweep.run_sweeps(sweep=settings.sweep,
                                              n_trials=settings.sweep_trials,
                                              seeds=settings.sweep_seeds,
                                              repeats=settings.sweep_repeats,
                                              workdir=Path(tmp), progress=say)
    if "overhead" in only:
        say(f"waiting for one run and a sweep: {settings.overhead_repeats} rounds of commands")
        with tempfile.TemporaryDirectory(prefix="bench-overhead-", dir=workdir) as tmp:
            few, many = settings.overhead_trials
            results.overhead = _overhead.run_overhead(repeats=settings.overhead_repeats,
                                                      workdir=Path(tmp), few=few, many=many,
                                                      progress=say)
    if "peers" in only:
        say("against other sweep tools: " + ", ".join(settings.peers.workloads)
            + f", {settings.peers.seeds} seeds")
        with tempfile.TemporaryDirectory(prefix="bench-peers-", dir=workdir) as tmp:
            results.peers = _peers.run_peers(settings.peers, workdir=Path(tmp), progress=say)
    if env.openblas_env:
        env.notes.append(
            "OpenBLAS overrides were set for this run; `env -u OPENBLAS_CORETYPE -u "
            "OPENBLAS_L2_SIZE python -m benchmarks` measures the kernel numpy picks itself")
    return results, env


def write_report(results: Results, env: _env.Environment, settings: Settings, out: Path,
                 seconds: float, command: str = "python -m benchmarks") -> str:
    """Render RESULTS.md to ``out``, keeping the hand-written part of an existing file."""
    previous = out.read_text() if out.exists() else ""
    when = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    text = _report.render(env, command=command, mode=settings.mode, when=when, seconds=seconds,
                          medium=results.medium, small=results.small,
                          tracking=results.tracking, sweep=results.sweep,
                          overhead=results.overhead, estimator=results.estimator,
                          hand_written=_report.hand_written_part(previous),
                          more=[(_peers_report.targets(results.peers),
                                 _peers_report.section(results.peers) if results.peers else [])])
    text = _report.carry_over(text, previous)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    return text


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a short run (about 3 minutes)")
    parser.add_argument("--only", nargs="+", choices=BENCHMARKS, default=list(BENCHMARKS),
                        help="run only these benchmarks")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                        help="threads for every peer (default: every core)")
    parser.add_argument("--repeats", type=int, help="timed repeats per peer (at least 5)")
    parser.add_argument("--sweep", help="the sweep= config to run (default digits)")
    parser.add_argument("--sweep-trials", type=int, help="trials per sweep variant")
    parser.add_argument("--peers", choices=sorted(_peers.SIZES),
                        help="section 6's sizes (default: full, or quick with --quick); bounded: "
                             "(a) and (c) at full size on 1 seed, the medium model on 5,000 "
                             "rows, 8 trials of 10 epochs (about 20 minutes on 2 shared cores)")
    parser.add_argument("--no-torch", action="store_true", help="leave PyTorch out")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to write RESULTS.md")
    args = parser.parse_args(argv)
    if args.repeats is not None and args.repeats < 5:
        parser.error(f"--repeats must be at least 5 (fewer make a noisy median), "
                     f"got {args.repeats}")
    if args.threads < 1:
        parser.error(f"--threads must be at least 1, got {args.threads}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = QUICK if args.quick else FULL
    if args.repeats is not None:
        settings = replace(settings, repeats=args.repeats)
    if args.sweep is not None:
        settings = replace(settings, sweep=args.sweep)
    if args.sweep_trials is not None:
        settings = replace(settings, sweep_trials=args.sweep_trials)
    if args.peers is not None:
        # "full; section 6 bounded", or only "section 6 bounded" when section 6 ran alone
        alone = tuple(args.only) == ("peers",)
        settings = replace(settings, peers=_peers.SIZES[args.peers],
                           mode=("" if alone else f"{settings.mode}; ")
                           + f"section 6 {args.peers}")
    overrides = [k for k in _env.OPENBLAS_OVERRIDES if k in os.environ]
    if overrides:
        say(f"{' and '.join(overrides)} set: numpy runs the kernel they force; to measure the "
            "one it picks itself: env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "
            "python -m benchmarks")
    start = time.perf_counter()
    results, env = run_benchmarks(settings, only=tuple(args.only), threads=args.threads,
                                  with_torch=not args.no_torch)
    command = " ".join(["python -m benchmarks", *(sys.argv[1:] if argv is None else argv)])
    text = write_report(results, env, settings, args.out, time.perf_counter() - start, command)
    say(f"wrote {args.out}")
    targets_start = text.index("## Targets")
    print(text[targets_start:text.index("\n## ", targets_start + 1)])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
