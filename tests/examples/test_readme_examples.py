"""The README's "Sweep any Hydra app" shows the examples as they are in examples/, and its
command runs."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _section(title: str) -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index(f"## {title}")
    return text[start:text.index("\n## ", start + 1)]


def _without_docstring(source: str) -> str:
    body = ast.parse(source).body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        source = "\n".join(source.splitlines()[body[0].end_lineno:])
    return source.strip()


def test_the_readme_shows_the_sphere_app_and_its_config_as_they_are() -> None:
    section = _section("Sweep any Hydra app")
    app = re.findall(r"```python\n(.*?)```", section, re.S)[0]
    config = re.findall(r"```yaml\n(.*?)```", section, re.S)[0]
    example = ROOT / "examples" / "sphere"
    assert app.strip() == _without_docstring((example / "sphere.py").read_text())
    # the file's comments aside
    written = [line.split("  #")[0].rstrip()
               for line in (example / "conf" / "config.yaml").read_text().splitlines()]
    assert config.strip() == "\n".join(written).strip()


def test_the_readme_shows_the_custom_search_space_function_as_it_is() -> None:
    # the README's valley() is the example's, its comments and the docstring aside
    section = _section("Sweep any Hydra app")
    [shown] = [b for b in re.findall(r"```python\n(.*?)```", section, re.S) if "def valley" in b]
    code = [line.split("  #")[0].rstrip() for line in shown.strip().splitlines()]
    source = (ROOT / "examples" / "custom_search_space" / "rosenbrock.py").read_text()
    tree = ast.parse(source)
    [valley] = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "valley"]
    lines = source.splitlines()
    body = [lines[valley.lineno - 1], *lines[valley.body[1].lineno - 1:valley.end_lineno]]
    assert code == [line.rstrip() for line in body]


@pytest.mark.slow
def test_the_custom_search_space_block_runs_with_two_seeded_workers_drawing_apart(tmp_path):
    # the README's block as written, in a copy of examples/: its 20 trials; y stays near
    # x², both workers drew, and no point was drawn twice (a continuous space: any repeat would
    # be the two workers' samplers sharing one seed)
    import shutil

    from example_runs import only_study
    from readme_commands import commands, run_shell
    from study_trials import counted

    shutil.copytree(ROOT / "examples" / "custom_search_space",
                    tmp_path / "examples" / "custom_search_space")
    line = " && ".join(commands("custom-search-space"))  # its 20 trials: both workers draw
    done = run_shell(line, tmp_path)
    assert done.returncode == 0, done.stdout[-3000:]
    trials = counted(only_study(tmp_path / "examples" / "custom_search_space"))
    assert len(trials) == 20 and len({t.user_attrs["worker"] for t in trials}) == 2
    assert all(abs(t.params["y"] - t.params["x"] ** 2) <= 0.5 for t in trials)
    assert len({(t.params["x"], t.params["y"]) for t in trials}) == 20
