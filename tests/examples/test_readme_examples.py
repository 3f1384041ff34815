"""The README's "Sweep any Hydra app" shows the sphere example as it is in examples/sphere/."""

from __future__ import annotations

import ast
import re
from pathlib import Path

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
