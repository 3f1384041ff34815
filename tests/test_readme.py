"""The README's shell blocks are all named and unique (the convention of
``tests/readme_commands.py``), and the harness reads blocks the way a shell would."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from readme_commands import NAME, README, blocks, commands, logical_lines, readme_block, substitute

SAMPLE = """\
Some text.

<!-- readme-test: first -->
```bash
python -m trainer optimizer=momentum \\
    batch_size=32   # a comment after a command stays
# a comment line goes

python -m trainer --multirun sweep=digits \\
    hydra.sweeper.n_trials=1000
python -c 'import json; print(json.dumps({
    "a": 1}))' > a.json
```

<!-- readme-test: skip: needs a browser -->
```bash
open http://127.0.0.1:5000
```

- in a list:

  <!-- readme-test: indented -->
  ```sh
  echo "indented"
  ```

```python
print("not a shell block")
```

```bash
echo no marker
```
"""


def test_blocks_are_read_with_their_markers():
    found = blocks(SAMPLE)
    assert [(b.language, b.name, b.skip_reason) for b in found] == [
        ("bash", "first", None), ("bash", None, "needs a browser"), ("sh", "indented", None),
        ("python", None, None), ("bash", None, None)]
    assert found[2].text == 'echo "indented"\n'  # the fence's indentation is not the block's
    assert found[0].text.startswith("python -m trainer optimizer=momentum \\\n    batch_size")


def test_logical_lines_join_continuations_and_drop_comment_lines():
    [first] = [b for b in blocks(SAMPLE) if b.name == "first"]
    assert logical_lines(first.text) == [
        "python -m trainer optimizer=momentum batch_size=32   # a comment after a command stays",
        "python -m trainer --multirun sweep=digits hydra.sweeper.n_trials=1000",
        # a quoted string that spans lines is one command, its newlines kept
        "python -c 'import json; print(json.dumps({\n    \"a\": 1}))' > a.json",
    ]


def test_a_substitution_that_does_not_occur_fails_loudly():
    assert substitute("n_trials=1000 n_jobs=32", {"n_trials=1000": "n_trials=4"}) == \
        "n_trials=4 n_jobs=32"
    with pytest.raises(ValueError, match="no longer contains 'db-host'"):
        substitute("n_trials=1000", {"db-host": "127.0.0.1"})


def test_an_unknown_block_name_lists_the_known_ones():
    with pytest.raises(KeyError, match="no block named 'nope'.*train"):
        readme_block("nope")


# --------------------------------------------------------------------------- README.md itself


def test_every_shell_block_of_the_readme_is_named_or_skipped_with_a_reason():
    unmarked = [b.line for b in blocks() if b.is_shell and b.marker is None]
    assert unmarked == [], (f"README.md: shell blocks at lines {unmarked} have no "
                            "'<!-- readme-test: NAME -->' line right above their fence")
    no_reason = [b.line for b in blocks() if b.skip_reason == ""]
    assert no_reason == [], f"README.md: 'skip' markers without a reason at lines {no_reason}"


def test_readme_block_names_are_unique_and_well_formed():
    names = [b.name for b in blocks() if b.name is not None]
    assert sorted({n for n in names if names.count(n) > 1}) == []
    assert [n for n in names if not NAME.match(n)] == []


def test_readme_commands_come_from_the_readme_as_written():
    # the block's text is README.md's, byte for byte between the fences
    text = readme_block("train")
    assert f"```bash\n{text}```" in README.read_text(encoding="utf-8")
    assert commands("train") == ["python -m trainer"]


def test_every_named_block_is_run_by_a_test():
    # a test runs a block through readme_block("NAME") or commands("NAME", ...), the name
    # written out; the harness and this file do not count
    use = re.compile(r"""\b(?:readme_block|commands)\(\s*["']([^"']+)["']""")
    used: dict[str, list[str]] = {}
    for path in sorted((README.parent / "tests").rglob("*.py")):
        if path.name in ("readme_commands.py", Path(__file__).name):
            continue
        for name in use.findall(path.read_text(encoding="utf-8")):
            used.setdefault(name, []).append(path.name)
    named = {b.name for b in blocks() if b.name is not None}
    assert sorted(named - set(used)) == [], "README.md blocks that no test runs"
    assert {n: where for n, where in used.items() if n not in named} == {}, \
        "tests that run README.md blocks that do not exist"
