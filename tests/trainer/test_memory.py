"""A network too large for memory is refused before any array is allocated, saying how much it
needs and how much is available."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from trainer.errors import ConfigError
from trainer.memory import available_memory, check_fits_in_memory, memory_limits, training_bytes


def test_training_bytes_count_params_grads_optimizer_state_and_best_copy() -> None:
    # 2 -> 3 -> 1: 9 + 4 = 13 parameters; adam keeps 2 more vectors, early stopping 1 copy
    assert training_bytes([2, 3, 1], batch_size=1, dtype=np.float32, optimizer="adam") == (
        (5 * 13 + 6 * 4) * 4)
    assert training_bytes([2, 3, 1], batch_size=1, dtype=np.float64, optimizer="sgd") == (
        (3 * 13 + 6 * 4) * 8)


@pytest.mark.skipif(available_memory() is None, reason="the system does not say")
def test_a_network_larger_than_memory_is_one_line_naming_model_hidden() -> None:
    with pytest.raises(ConfigError) as caught:
        check_fits_in_memory([64, 100_000, 100_000, 10], batch_size=64, dtype=np.float32,
                             optimizer="adam", hidden=[100_000, 100_000])
    line = str(caught.value)
    assert line.startswith("model.hidden: expected a network that fits in memory (64 -> 100000")
    assert "10,007,600,010 parameters" in line and "GiB are available" in line
    check_fits_in_memory([64, 32, 10], batch_size=64, dtype=np.float32, optimizer="adam",
                         hidden=[32])  # a small one passes


GIB = 2**30


def _tree(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def _proc(root: Path, *, cgroup: str, mountinfo: str, vm_size_kib: int = 0,
          available_kib: int = 20 * 2**20) -> Path:
    _tree(root, {"proc/meminfo": f"MemTotal: 25000000 kB\nMemAvailable: {available_kib} kB\n",
                 "proc/self/status": f"Name: python\nVmSize:\t{vm_size_kib} kB\n",
                 "proc/self/cgroup": cgroup, "proc/self/mountinfo": mountinfo})
    return root / "proc"


V2_MOUNT = "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw\n"
V1_MOUNT = ("35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
            "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n")


def _smallest(proc: Path, root: Path, rlimit_as: int | None = None):
    return min(memory_limits(proc=proc, root=root, rlimit_as=rlimit_as), key=lambda m: m.bytes)


def test_the_address_space_limit_less_what_the_process_maps_counts(tmp_path) -> None:
    # ulimit -v 8 GiB with 1.5 GiB mapped already: 6.5 GiB left, though 20 GiB are available
    proc = _proc(tmp_path, cgroup="0::/\n", mountinfo="", vm_size_kib=3 * 2**19)
    limit = _smallest(proc, tmp_path, rlimit_as=8 * GIB)
    assert limit.bytes == 8 * GIB - 3 * 2**29
    assert "RLIMIT_AS" in limit.source and "8.0 GiB" in limit.source


def test_a_cgroup_v2_limit_of_the_job_or_above_it_counts_without_its_page_cache(tmp_path):
    # a SLURM job step (v2): the job's cgroup has memory.max 4 GiB, 1.5 GiB charged of which
    # 0.5 GiB is reclaimable page cache; the step's own cgroup has no limit
    job = "sys/fs/cgroup/system.slice/slurmstepd.scope/job_7"
    _tree(tmp_path, {f"{job}/memory.max": f"{4 * GIB}\n",
                     f"{job}/memory.current": f"{3 * GIB // 2}\n",
                     f"{job}/memory.stat": f"anon 1000\ninactive_file {GIB // 2}\n",
                     f"{job}/step_0/memory.max": "max\n",
                     f"{job}/step_0/memory.current": "1000\n",
                     "sys/fs/cgroup/memory.max": "max\n"})
    proc = _proc(tmp_path, cgroup="0::/system.slice/slurmstepd.scope/job_7/step_0\n",
                 mountinfo=V2_MOUNT)
    limit = _smallest(proc, tmp_path)
    assert limit.bytes == 3 * GIB
    assert limit.source == ("the cgroup's memory limit (memory.max) of 4.0 GiB less the "
                            "1.0 GiB it uses")


def test_a_cgroup_v1_limit_counts_also_when_the_container_sees_its_cgroup_as_the_root(tmp_path):
    # v1: /proc/self/cgroup names a path the container's mount does not show: its root holds
    # the limit (2 GiB, hierarchical 1 GiB), with 0.25 GiB used
    _tree(tmp_path, {"sys/fs/cgroup/memory/memory.limit_in_bytes": f"{2 * GIB}\n",
                     "sys/fs/cgroup/memory/memory.usage_in_bytes": f"{GIB // 4}\n",
                     "sys/fs/cgroup/memory/memory.stat":
                         f"cache 0\nhierarchical_memory_limit {GIB}\ntotal_inactive_file 0\n"})
    proc = _proc(tmp_path, cgroup="4:memory:/process_api/24cf\n1:cpu:/\n", mountinfo=V1_MOUNT)
    limit = _smallest(proc, tmp_path)
    assert limit.bytes == GIB - GIB // 4 and "memory.limit_in_bytes" in limit.source


def test_no_limit_anywhere_leaves_what_is_available(tmp_path) -> None:
    # v1's "no limit" is 2**63 rounded to a page; v2's is "max"
    _tree(tmp_path, {"sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712\n",
                     "sys/fs/cgroup/memory/memory.usage_in_bytes": "1000\n"})
    proc = _proc(tmp_path, cgroup="4:memory:/\n", mountinfo=V1_MOUNT, available_kib=2**20)
    assert [(m.bytes, m.source) for m in memory_limits(proc=proc, root=tmp_path)] == [
        (GIB, "available")]


@pytest.mark.slow  # starts a process
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux's /proc")
def test_a_network_past_the_address_space_limit_is_one_line_and_the_run_failed(tmp_path):
    # prlimit --as=8589934592 python -m trainer model.hidden=[20000,20000] epochs=1: 7.5 GiB of
    # weights and Adam's state fit in what the system has, not in 8 GiB of address space
    import resource
    import subprocess
    import sys

    from mlflow import MlflowClient

    def limit_address_space() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (8 * GIB, 8 * GIB))

    done = subprocess.run([sys.executable, "-m", "trainer", "model.hidden=[20000,20000]",
                           "epochs=1"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300, preexec_fn=limit_address_space)
    assert done.returncode == 1
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("error: model.hidden: expected a network that fits in memory "
                           "(64 -> 20000 -> 20000 -> 10 has 401,520,010 parameters: training "
                           "it with adam needs about 7.5 GiB, ")
    assert "the address-space limit (ulimit -v, RLIMIT_AS) of 8.0 GiB less the" in line
    client = MlflowClient(f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    [run] = client.search_runs([client.get_experiment_by_name("trainer").experiment_id])
    assert run.info.status == "FAILED" and line.endswith(run.data.tags["failure_reason"])


ALLOCATION = ("Unable to allocate 1.49 GiB for an array with shape (20000, 20000) and data "
              "type float32")


@pytest.mark.parametrize(("where", "line"), [
    ("FitLoop.run", "model.hidden: expected a network that fits in memory (training ran out of "
                    f"memory: {ALLOCATION}), got [16]"),
    ("load_dataset_reused", "data: expected a data set that fits in memory, got 'digits' "
                            f"(loading it ran out of memory: {ALLOCATION})"),
])
def test_a_memory_error_past_the_check_is_one_line_and_the_run_failed(make_config, store_uri,
                                                                      started_runs, monkeypatch,
                                                                      capsys, where, line):
    # what the estimate misses (a temporary, another process taking the memory meanwhile):
    # named after what ran out, not a MemoryError traceback
    from mlflow import MlflowClient

    from trainer import app

    def out_of_memory(*args, **kwargs):
        raise MemoryError(ALLOCATION)

    owner, _, name = where.rpartition(".")
    monkeypatch.setattr(getattr(app, owner) if owner else app, name, out_of_memory)
    with pytest.raises(SystemExit) as exited:
        app.run_cli(make_config("epochs=1", "model.hidden=[16]"))
    assert exited.value.code == 1
    assert capsys.readouterr().err == f"error: {line}\n"
    logged = MlflowClient(store_uri).get_run(started_runs[-1])
    assert logged.info.status == "FAILED" and logged.data.tags["failure_reason"] == line
