"""Whether a network fits in memory, said before anything is allocated.

``model.hidden=[100000,100000]`` asks for ten billion weights: NumPy would fail on the first
array with a MemoryError, or the system would start swapping and then kill the process. The
arrays a run keeps are known from the widths: the parameters, their gradients, the optimizer's
state per parameter and a copy of the best weights, plus per-batch activations.

What the process may use is the smallest of three limits: the memory the system has available
(``MemAvailable``), the process's address-space limit (``ulimit -v``, ``RLIMIT_AS``) less what it
maps already, and its cgroup's memory limit less what the cgroup uses (a SLURM job with
``--mem``, a container with ``--memory``: cgroup v2 ``memory.max``, v1 ``memory.limit_in_bytes``,
for the process's own cgroup and every one above it). A cgroup's page cache is not counted as
used: the kernel reclaims it before it refuses memory. A MemoryError that still happens while
training (the estimate is not every temporary) is told in one line too (:func:`memory_error`).
"""

from __future__ import annotations

import os
import resource
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trainer.errors import ConfigError

__all__ = ["MemoryLimit", "available_memory", "check_fits_in_memory", "memory_error",
           "memory_limits", "training_bytes"]

# Arrays of one parameter vector's size an optimizer keeps besides params and grads.
_OPTIMIZER_SLOTS = {"sgd": 0, "momentum": 1, "rmsprop": 1, "adam": 2}
_BEST_WEIGHTS_COPIES = 1  # early stopping's restore_best_weights keeps one copy
_BATCH_ARRAYS = 6  # per layer and batch row: pre-activations, activations, masks, backward
_UNLIMITED = 2**60  # a cgroup v1 limit at or above it is the kernel's "no limit" (2**63 - page)


@dataclass(frozen=True)
class MemoryLimit:
    """Bytes the process may still allocate under one limit, and what that limit is."""

    bytes: int
    source: str  # e.g. "the address-space limit (RLIMIT_AS) of 8.0 GiB less 1.9 GiB mapped"


def training_bytes(widths: Sequence[int], *, batch_size: int, dtype: np.dtype,
                   optimizer: str) -> int:
    """Bytes of the arrays a run of a network of layer ``widths`` (inputs ... outputs) keeps."""
    n_params = sum(a * b + b for a, b in zip(widths[:-1], widths[1:], strict=True))
    vectors = 2 + _OPTIMIZER_SLOTS.get(optimizer, 2) + _BEST_WEIGHTS_COPIES
    per_batch = _BATCH_ARRAYS * batch_size * sum(widths[1:])
    return (vectors * n_params + per_batch) * np.dtype(dtype).itemsize


def _gib(n: int) -> str:
    return f"{n / 2**30:.1f} GiB"


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError):
        return None


def _field(text: str | None, name: str) -> int | None:
    """The number after ``name`` in a ``/proc``-style ``name value`` or ``name: value`` list."""
    for line in (text or "").splitlines():
        parts = line.replace(":", " ").split()
        if len(parts) >= 2 and parts[0] == name:
            try:
                return int(parts[1])
            except ValueError:
                return None
    return None


def _number(text: str | None) -> int | None:
    """A cgroup file's number; None for ``max`` (v2's "no limit"), a missing or odd file."""
    try:
        value = int((text or "").strip())
    except ValueError:
        return None
    return value if value < _UNLIMITED else None


def _system_available(proc: Path) -> MemoryLimit | None:
    kib = _field(_read(proc / "meminfo"), "MemAvailable")
    if kib is not None:
        return MemoryLimit(kib * 1024, "available")
    if proc != Path("/proc"):
        return None
    try:
        return MemoryLimit(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"),
                           "available")
    except (AttributeError, OSError, ValueError):
        return None


def _address_space(proc: Path, rlimit_as: int | None) -> MemoryLimit | None:
    """``RLIMIT_AS`` less the address space the process maps already (``VmSize``)."""
    if rlimit_as is None:
        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        rlimit_as = None if soft == resource.RLIM_INFINITY else soft
    if rlimit_as is None:
        return None
    mapped = (_field(_read(proc / "self" / "status"), "VmSize") or 0) * 1024
    return MemoryLimit(max(0, rlimit_as - mapped),
                       f"the address-space limit (ulimit -v, RLIMIT_AS) of {_gib(rlimit_as)} "
                       f"less the {_gib(mapped)} this process maps")


def _mounts(proc: Path, root: Path) -> list[tuple[Path, str, str, str]]:
    """The cgroup mounts: (mount point, root of the mount, fs type, super options)."""
    mounts = []
    for line in (_read(proc / "self" / "mountinfo") or "").splitlines():
        fields = line.split()
        if " - " not in line or len(fields) < 5:
            continue
        after = line.split(" - ", 1)[1].split()
        if len(after) >= 3 and after[0] in ("cgroup", "cgroup2"):
            point = root / fields[4].lstrip("/")
            mounts.append((point, fields[3], after[0], after[2]))
    return mounts


def _cgroup_dir(point: Path, mount_root: str, path: str) -> Path:
    """The directory of cgroup ``path`` under a mount of hierarchy root ``mount_root``; the
    mount point itself when the process's cgroup is not visible there (a container that sees
    its own cgroup as the root)."""
    relative = os.path.relpath(path, mount_root) if path.startswith(mount_root) else path
    found = point / relative.lstrip("./") if relative not in (".", "/") else point
    return found if found.is_dir() else point


def _ancestors(directory: Path, top: Path) -> list[Path]:
    """``directory`` and each one above it up to the mount point ``top``."""
    found = [directory]
    while directory != top and top in directory.parents:
        directory = directory.parent
        found.append(directory)
    return found


def _cgroup_v2(directory: Path, top: Path) -> MemoryLimit | None:
    limits = []
    for level in _ancestors(directory, top):
        limit = _number(_read(level / "memory.max"))
        if limit is None:
            continue
        current = _number(_read(level / "memory.current")) or 0
        cache = _field(_read(level / "memory.stat"), "inactive_file") or 0
        limits.append(MemoryLimit(max(0, limit - max(0, current - cache)),
                                  f"the cgroup's memory limit (memory.max) of {_gib(limit)} less "
                                  f"the {_gib(max(0, current - cache))} it uses"))
    return min(limits, key=lambda m: m.bytes, default=None)


def _cgroup_v1(directory: Path) -> MemoryLimit | None:
    stat = _read(directory / "memory.stat")
    candidates = [_number(_read(directory / "memory.limit_in_bytes")),
                  _number(str(_field(stat, "hierarchical_memory_limit") or ""))]
    limit = min((c for c in candidates if c is not None), default=None)
    if limit is None:
        return None
    usage = _number(_read(directory / "memory.usage_in_bytes")) or 0
    used = max(0, usage - (_field(stat, "total_inactive_file") or 0))
    return MemoryLimit(max(0, limit - used),
                       f"the cgroup's memory limit (memory.limit_in_bytes) of {_gib(limit)} "
                       f"less the {_gib(used)} it uses")


def _cgroup(proc: Path, root: Path) -> MemoryLimit | None:
    """The tightest memory limit of the process's cgroup (v2 or v1) and those above it."""
    memberships = {}
    for line in (_read(proc / "self" / "cgroup") or "").splitlines():
        _, controllers, member = (line.split(":", 2) + ["", ""])[:3]
        memberships[controllers] = member.strip()
    limits = []
    for point, mount_root, kind, options in _mounts(proc, root):
        if kind == "cgroup2" and "" in memberships:
            limits.append(_cgroup_v2(_cgroup_dir(point, mount_root, memberships[""]), point))
        elif kind == "cgroup" and "memory" in options.split(","):
            v1 = next((p for c, p in memberships.items() if "memory" in c.split(",")), None)
            if v1 is not None:
                limits.append(_cgroup_v1(_cgroup_dir(point, mount_root, v1)))
    return min((m for m in limits if m is not None), key=lambda m: m.bytes, default=None)


def memory_limits(*, proc: Path = Path("/proc"), root: Path = Path("/"),
                  rlimit_as: int | None = None) -> list[MemoryLimit]:
    """What the process may still allocate under each limit that applies (see the module's
    docstring); ``proc``, ``root`` and ``rlimit_as`` stand in for the system's in tests."""
    found = [_system_available(proc), _address_space(proc, rlimit_as), _cgroup(proc, root)]
    return [limit for limit in found if limit is not None]


def available_memory() -> int | None:
    """Bytes the process can still allocate: the smallest of its limits, else None."""
    limits = memory_limits()
    return min(limit.bytes for limit in limits) if limits else None


def _network(widths: Sequence[int]) -> str:
    n_params = sum(a * b + b for a, b in zip(widths[:-1], widths[1:], strict=True))
    return f"{' -> '.join(map(str, widths))} has {n_params:,} parameters"


def check_fits_in_memory(widths: Sequence[int], *, batch_size: int, dtype: np.dtype,
                         optimizer: str, hidden: object) -> None:
    """Raise a one-line ConfigError naming ``model.hidden`` when the network needs more memory
    than the tightest limit leaves (nothing is checked where the system says nothing)."""
    limits = memory_limits()
    if not limits:
        return
    tightest = min(limits, key=lambda limit: limit.bytes)
    needed = training_bytes(widths, batch_size=batch_size, dtype=dtype, optimizer=optimizer)
    if needed > tightest.bytes:
        source = "" if tightest.source == "available" else f": {tightest.source}"
        raise ConfigError(
            "model.hidden",
            f"a network that fits in memory ({_network(widths)}: training it with {optimizer} "
            f"needs about {_gib(needed)}, {_gib(tightest.bytes)} are available{source})",
            hidden,
        )


def memory_error(error: MemoryError, hidden: object) -> ConfigError:
    """A MemoryError raised while training (the check's estimate is not every temporary) as
    the one line the check gives before training."""
    detail = str(error).strip().splitlines()[0] if str(error).strip() else "MemoryError"
    return ConfigError("model.hidden", f"a network that fits in memory (training ran out of "
                       f"memory: {detail})", hidden)
