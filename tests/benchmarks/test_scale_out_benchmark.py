"""The scale-out benchmark: its figures come from real worker loops, and it rewrites only its
own part of RESULTS.md."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # benchmarks/ is not an installed package
    sys.path.insert(0, str(REPO))

from benchmarks import _scale_out  # noqa: E402
from benchmarks.scale_out import BEGIN, END, replace_section  # noqa: E402


def test_only_the_measured_part_is_replaced() -> None:
    # the other benchmarks' sections and the hand-written text around the tables stay as is
    text = (f"# Results\n\n## 1. Other\nkeep me\n\n## Scale-out\nby hand\n{BEGIN}\nold\n{END}"
            "\ntail\n")
    again = replace_section(text, "new table")
    assert again == text.replace("\nold\n", "\nnew table\n")
    assert replace_section(again, "newer") == text.replace("\nold\n", "\nnewer\n")
    fresh = replace_section("# Results\n", "first")
    assert fresh.endswith(f"{BEGIN}\nfirst\n{END}\n") and fresh.startswith("# Results\n")


@pytest.mark.slow  # two spawned worker processes
def test_coordination_counts_every_trial_and_statement(tmp_path: Path) -> None:
    # two workers share one SQLite study of no-work trials: exactly n_trials, SQL counted
    result = _scale_out.run_coordination(f"sqlite:///{tmp_path}/c.db", "SQLite", workers=2,
                                         n_trials=6, epochs=3)
    assert result.trials == 6 and result.workers == 2
    assert result.statements_per_trial > 3  # at least ask, report, tell
    assert result.seconds_per_trial > 0 and result.wall_seconds <= result.worker_seconds + 1
    text = _scale_out.render([result, *[_scale_out.CoordinationResult(
        "PostgreSQL", 2, 6, 3, result.wall_seconds, result.worker_seconds, result.statements)]],
        [_scale_out.SweepRun(2, 8, 30.0)], when="now", machine="here")
    assert "| 2 |" in text and "1.00x" in text and "| 16.0 |" in text
