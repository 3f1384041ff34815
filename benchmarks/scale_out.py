"""Scale-out benchmark: coordination cost per trial on PostgreSQL next to SQLite, and sweeps
through PostgreSQL and an MLflow server at 1, 2 and 4 workers (see ``benchmarks._scale_out``).

    source .ci/services.sh             # PostgreSQL and an MLflow server, as in CI
    python -m benchmarks.scale_out     # about 3 minutes on 2 cores; rewrites only its section
    python -m benchmarks.scale_out --quick --out /tmp/scale-out.md

The URLs come from ``--pg-url`` / ``--mlflow-url`` or from ``TRAINER_TEST_PG_URL`` /
``TRAINER_TEST_MLFLOW_URL`` (what ``.ci/services.sh`` exports). The measured tables replace the
part of ``benchmarks/RESULTS.md`` between the scale-out markers, inside the hand-written part
that ``python -m benchmarks`` keeps; nothing else in the file changes.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):  # `python benchmarks/scale_out.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import _scale_out  # noqa: E402

DEFAULT_OUT = _scale_out.REPO / "benchmarks" / "RESULTS.md"
BEGIN = "<!-- scale-out: measured by python -m benchmarks.scale_out -->"
END = "<!-- scale-out: end of measured part -->"


def say(message: str) -> None:
    print(f"[scale-out] {message}", file=sys.stderr, flush=True)


def replace_section(text: str, measured: str) -> str:
    """``text`` with the part between the markers replaced (appended with them if missing)."""
    block = f"{BEGIN}\n{measured}\n{END}"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        return head + block + rest.split(END, 1)[1]
    return text.rstrip("\n") + "\n\n## Scale-out: one study through PostgreSQL\n\n" + block + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scale_out", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer trials (about a minute)")
    parser.add_argument("--pg-url", default=os.environ.get("TRAINER_TEST_PG_URL"),
                        help="a PostgreSQL SQLAlchemy URL (postgresql+psycopg2://...)")
    parser.add_argument("--mlflow-url", default=os.environ.get("TRAINER_TEST_MLFLOW_URL"),
                        help="an MLflow tracking server (http://...)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the RESULTS.md to update")
    args = parser.parse_args(argv)
    if not args.pg_url or not args.mlflow_url:
        parser.error("needs --pg-url and --mlflow-url (or `source .ci/services.sh` first)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    trials, sweep_trials = (40, 8) if args.quick else (120, 16)
    with tempfile.TemporaryDirectory(prefix="bench-scale-out-") as tmp:
        coordination, sweeps = _scale_out.run_all(
            args.pg_url, args.mlflow_url, Path(tmp), coordination_trials=trials, epochs=10,
            sweep_trials=sweep_trials, progress=say)
    when = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    measured = _scale_out.render(coordination, sweeps, when=when, machine=machine)
    previous = args.out.read_text() if args.out.exists() else ""
    args.out.write_text(replace_section(previous, measured))
    print(measured)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
