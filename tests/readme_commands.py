"""README.md's command blocks, read from README.md itself: the README and its tests cannot drift.

The convention, for everyone who edits README.md:

- Every shell block (a fence opened with ```bash, ```sh, ```shell or ```console) has an HTML
  comment on the line right above its fence that names it::

      <!-- readme-test: train-default -->
      ```bash
      python -m trainer
      ```

  Names are lowercase words joined by hyphens, unique in the README.
- A block that must not run says why instead, ``<!-- readme-test: skip: REASON -->`` (e.g. it
  needs a browser). Keep that list short: a server that starts and answers HTTP is testable, so
  is a command that needs a service the CI starts (PostgreSQL, MLflow, SLURM).
- A test runs a named block through :func:`readme_block` (its text exactly as in README.md) or
  :func:`commands` (its commands, one per logical line), always with the name written out as a
  string literal, ``readme_block("NAME")`` or ``commands("NAME", ...)``: ``tests/test_readme.py``
  finds the tests of each block that way and fails when a shell block has no marker, a name is
  used twice, or a named block is run by no test.
- Substitute only hosts, passwords and sizes (``db-host`` -> ``127.0.0.1``, ``secret``,
  ``n_trials=1000`` -> ``n_trials=4``), never the shape of a command: each substitution is a
  plain text replacement that must occur in the block, so a README edit that removes its text
  fails the test loudly instead of letting it run something else.

:func:`run_shell` runs a command line with bash as a user's shell would (this interpreter's
``python``, ``pip``, ``trainer`` first on PATH); :func:`serving` starts a server command and
waits until its URL answers.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

__all__ = ["NAME", "PORTS", "README", "Block", "blocks", "commands", "free_port", "readme_block",
           "run_shell", "serving", "shell_env", "substitute"]

README = Path(__file__).resolve().parents[1] / "README.md"
SHELL_LANGUAGES = frozenset({"bash", "sh", "shell", "console"})

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>```+|~~~+)\s*(?P<info>[^`\s]*)")
_MARKER = re.compile(r"^\s*<!--\s*readme-test:\s*(?P<body>.*?)\s*-->\s*$")
_SKIP = re.compile(r"^skip(?::(?P<reason>.*)|\s*)$", re.DOTALL)
NAME = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


@dataclass(frozen=True)
class Block:
    """One fenced block of README.md.

    Attributes:
        line: the line number of its opening fence (1-based).
        language: the fence's info string (``bash``, ``python``, ``text`` ...).
        text: its content exactly as written, without the fences' indentation.
        marker: the body of the ``readme-test`` comment right above it (None: no marker).
    """

    line: int
    language: str
    text: str
    marker: str | None

    @property
    def is_shell(self) -> bool:
        return self.language in SHELL_LANGUAGES

    @property
    def skip_reason(self) -> str | None:
        """The reason of a ``skip: REASON`` marker (``""`` when it gives none), else None."""
        skip = _SKIP.match(self.marker or "")
        return None if skip is None else (skip["reason"] or "").strip()

    @property
    def name(self) -> str | None:
        """The block's name (None when unmarked or skipped)."""
        if self.marker is None or self.skip_reason is not None:
            return None
        return self.marker


def blocks(text: str | None = None) -> list[Block]:
    """Every fenced block of ``text`` (README.md when None), in order."""
    lines = (README.read_text(encoding="utf-8") if text is None else text).splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        indent, fence = opening["indent"], opening["fence"]
        close = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}\s*$")
        end = i + 1
        while end < len(lines) and not close.match(lines[end]):
            end += 1
        body = [line[len(indent):] if line.startswith(indent) else line.lstrip()
                for line in lines[i + 1:end]]
        marker = _MARKER.match(lines[i - 1]) if i > 0 else None
        found.append(Block(line=i + 1, language=opening["info"].lower(),
                           text="\n".join(body) + ("\n" if body else ""),
                           marker=marker["body"] if marker else None))
        i = end + 1
    return found


@cache
def _readme_blocks() -> dict[str, Block]:
    named: dict[str, Block] = {}
    for block in blocks():
        if block.name is not None:
            if block.name in named:
                raise ValueError(f"README.md: the block name {block.name!r} is used twice (lines "
                                 f"{named[block.name].line} and {block.line})")
            named[block.name] = block
    return named


def readme_block(name: str) -> str:
    """The text of README.md's block ``name``, exactly as written there."""
    named = _readme_blocks()
    if name not in named:
        raise KeyError(f"README.md has no block named {name!r} (a '<!-- readme-test: {name} -->' "
                       f"line right above its fence); named blocks: {', '.join(sorted(named))}")
    return named[name].text


def substitute(text: str, substitutions: Mapping[str, str], *, where: str = "the text") -> str:
    """``text`` with each ``old`` replaced by ``new``; every ``old`` must occur in it."""
    for old, new in substitutions.items():
        if old not in text:
            raise ValueError(f"{where} no longer contains {old!r}: the README changed, so update "
                             "the test's substitution (only hosts, passwords and sizes)")
        text = text.replace(old, new)
    return text


def _open_quote(text: str) -> bool:
    """Whether ``text`` ends inside a quoted string (the command goes on on the next line)."""
    try:
        shlex.split(text, comments=True)
    except ValueError:  # "No closing quotation"
        return True
    return False


def logical_lines(text: str) -> list[str]:
    """The commands of a shell block: backslash continuations joined (the next line's indent
    becomes one space), a quoted string that spans lines kept whole (its newlines kept),
    blank lines and comment lines (``#`` first) dropped."""
    result: list[str] = []
    pending = ""
    for raw in text.splitlines():
        if pending.endswith("\n"):  # inside a quoted string: the line as written
            line = raw.rstrip()
        else:
            line = raw.strip() if pending else raw.rstrip()
            if not pending and (not line.strip() or line.lstrip().startswith("#")):
                continue
        if line.endswith("\\"):
            pending += line[:-1].rstrip() + " "
            continue
        if _open_quote(pending + line):
            pending += line + "\n"
            continue
        result.append((pending + line).strip())
        pending = ""
    if pending:
        result.append(pending.strip())
    return result


def commands(name: str, substitutions: Mapping[str, str] | None = None) -> list[str]:
    """The commands of README.md's block ``name``, one per logical line (see
    :func:`logical_lines`), with ``substitutions`` applied to them (each must occur)."""
    lines = logical_lines(readme_block(name))
    where = f"README.md's block {name!r}"
    substitute("\n".join(lines), substitutions or {}, where=where)  # each must occur
    return [substitute(line, {old: new for old, new in (substitutions or {}).items()
                              if old in line}, where=where) for line in lines]


# --------------------------------------------------------------------------- running them


def shell_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment a README command runs in: this test's, with its interpreter's directory
    first on PATH (the README's ``python``, ``pip``, ``trainer`` and ``mlflow`` are this one's)
    and the repository on PYTHONPATH."""
    base = dict(os.environ)
    base["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), base.get("PATH", "")])
    base["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(README.parent), base.get("PYTHONPATH")]))
    return {**base, **(extra or {})}


def run_shell(command: str, cwd: Path, *, env: Mapping[str, str] | None = None,
              timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run one command line with bash, as a user's shell would; stdout and stderr together."""
    return subprocess.run(["bash", "-c", command], cwd=cwd, env=shell_env(env), text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)


# The ports this project's tests serve on: outside the ephemeral range, where a client's
# connection could take a port between the probe and the server's bind.
PORTS = range(5500, 5520)


def free_port() -> int:
    """A port of :data:`PORTS` nobody listens on now, on loopback."""
    for port in PORTS:
        with socket.socket() as probe, contextlib.suppress(OSError):
            probe.bind(("127.0.0.1", port))
            return port
    raise OSError(f"no free port in {PORTS.start}-{PORTS.stop - 1} on 127.0.0.1")


@contextlib.contextmanager
def serving(command: str, cwd: Path, url: str, *, env: Mapping[str, str] | None = None,
            timeout: float = 300) -> Iterator[subprocess.Popen[bytes]]:
    """Start a server command (``mlflow ui``, ``mlflow models serve`` ...) with bash in its own
    process group, wait until ``url`` answers HTTP 200, and stop the whole group at the end.
    Its output goes to a file (a pipe nobody reads would fill up and stop it)."""
    with tempfile.TemporaryFile() as output:
        server = subprocess.Popen(["bash", "-c", command], cwd=cwd, env=shell_env(env),
                                  stdout=output, stderr=subprocess.STDOUT,
                                  start_new_session=True)

        def said() -> str:
            output.seek(0)
            return output.read().decode(errors="replace")[-3000:]

        try:
            deadline = time.monotonic() + timeout
            while True:
                if server.poll() is not None:
                    raise AssertionError(f"{command!r} exited {server.returncode} before {url} "
                                         f"answered:\n{said()}")
                with contextlib.suppress(OSError), \
                        urllib.request.urlopen(url, timeout=5) as answer:
                    if answer.status == 200:
                        break
                if time.monotonic() > deadline:
                    raise AssertionError(f"{url} did not answer within {timeout:.0f} s:\n{said()}")
                time.sleep(0.5)
            yield server
        finally:
            _stop_group(server)


def _stop_group(leader: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the process group (the server's workers too), SIGKILL to what is left 30 s
    later."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(leader.pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        leader.poll()  # reap the leader: the group lives while any member does
        try:
            os.killpg(leader.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(leader.pid, signal.SIGKILL)
    leader.wait()
