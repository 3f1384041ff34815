"""The README's Python section runs as written (its code blocks, in order, in one namespace)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def _python_blocks(section: str) -> list[str]:
    text = README.read_text()
    start = text.index(f"## {section}")
    end = text.index("\n## ", start + 1)
    return re.findall(r"```python\n(.*?)```", text[start:end], re.S)


@pytest.mark.slow  # a grid search of 12 fits
def test_the_python_section_runs_as_written(capsys: pytest.CaptureFixture[str]) -> None:
    blocks = _python_blocks("Use the library from Python")
    assert len(blocks) == 2 and "from trainer import MLPClassifier" in blocks[0]
    for block in blocks:
        exec(compile(block, str(README), "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    assert float(printed[0].split()[0]) > 0.9  # the estimator's test accuracy on wine
    assert set(eval(printed[1])) == {"hidden", "optimizer"}  # the grid search's best params
