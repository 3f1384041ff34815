"""Hydra's Ray launcher (``hydra/launcher=ray``) on a running Ray cluster, as the README runs it.

The cluster is ``.ci/ray.sh``'s: one node with 2 CPUs on loopback (why one node: see the
script), shared by every test here; PostgreSQL and the MLflow server are ``.ci/services.sh``'s.
``.ci/run`` starts it and exports ``TRAINER_TEST_RAY_ADDRESS``; without that variable the tests
start the script themselves, once. Where Ray is not installed they skip, and in CI
(``TRAINER_TEST_CLUSTER=required``) they fail instead.
"""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import socket
import subprocess
import time
from collections import Counter
from collections.abc import Iterator

import optuna
import pytest
from optuna.trial import TrialState
from readme_commands import commands, run_shell, shell_env
from test_scale_out import SLOW_TRIALS, TINY, check_study_and_runs, shared_stores, unique
from test_sweep_cli import REPO, run, start, wait_for

from sweeps.study import count_trials
from sweeps.study._budget import PARENT_RUN_ATTR, RUN_ID_ATTR, SURPLUS_ATTR, WORKER_ATTR
from sweeps.workers import _ray
from trainer.errors import ConfigError

optuna.logging.set_verbosity(optuna.logging.WARNING)

RAY = ["hydra/launcher=ray", "hydra.launcher.ray.init.address=auto"]
# a worker's first line, as Ray forwards it: "(_run_job pid=4242) ... worker 0 on vm:4242: 1 BLAS"
WORKER_LINE = re.compile(r"\(_run_job pid=(\d+)(?:, ip=\S+)?\).* worker (\d+) on \S+:(\d+): "
                         r"(\d+) BLAS thread")


def _missing(reason: str) -> None:
    if os.environ.get("TRAINER_TEST_CLUSTER") == "required":
        pytest.fail(f"{reason} (TRAINER_TEST_CLUSTER=required)")
    pytest.skip(reason)


def _ray_installed() -> None:
    for module in ("ray", "hydra_plugins.hydra_ray_launcher"):
        if importlib.util.find_spec(module) is None:
            _missing(f"{module} is not installed: pip install -e \".[ray]\"")


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[dict[str, str]]:
    """The environment that reaches a running Ray cluster on loopback (``.ci/ray.sh``'s):
    RAY_ADDRESS, the variable that keeps Ray's driver on loopback, its token's settings."""
    _ray_installed()
    names = ("RAY_ADDRESS", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "RAY_AUTH_MODE",
             "RAY_AUTH_TOKEN_PATH")
    if os.environ.get("TRAINER_TEST_RAY_ADDRESS"):  # .ci/run sourced .ci/ray.sh
        yield {name: os.environ[name] for name in names if name in os.environ}
        return
    script = subprocess.Popen(["bash", str(REPO / ".ci" / "ray.sh")], cwd=REPO, env=shell_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert script.stdout is not None
    exported = dict(re.findall(r"(RAY_\w+)=(\S+)", script.stdout.readline().split("#")[0]))
    try:
        if "RAY_ADDRESS" not in exported:
            script.terminate()
            _, err = script.communicate(timeout=60)
            pytest.fail(f".ci/ray.sh started no Ray cluster:\n{err[-2000:]}")
        yield exported
    finally:
        if script.poll() is None:
            script.terminate()  # the script stops the node by its PID
            script.wait(timeout=60)


@pytest.fixture
def on_ray(ray_cluster: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> str:
    """The sweep commands started by this test reach the cluster as ``address=auto`` does on
    its head node; PGPASSWORD is not set unless the test sets it."""
    for name, value in ray_cluster.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("PGPASSWORD", raising=False)
    return ray_cluster["RAY_ADDRESS"]


def trial_lines(output: str) -> Counter[int]:
    """How often each trial's line (COMPLETE, PRUNED, FAIL) was printed."""
    return Counter(int(n) for n in re.findall(r"\] trial (\d+) (?:COMPLETE|PRUNED|FAIL)", output))


def workers_in(output: str) -> dict[int, int]:
    """{pid of the Ray worker process: BLAS threads} from the workers' first lines; each line's
    Ray prefix names the process that printed it, which must be the worker's own."""
    found = {}
    for prefix_pid, _, pid, threads in WORKER_LINE.findall(output):
        assert prefix_pid == pid, f"worker pid {pid} printed by Ray process {prefix_pid}"
        found[int(pid)] = int(threads)
    return found


def lost_and_run_again(trials: list, lost: optuna.trial.FrozenTrial) -> optuna.trial.FrozenTrial:
    assert trials[lost.number].state == TrialState.FAIL
    again = [t for t in trials if t.system_attrs.get("failed_trial") == lost.number]
    assert len(again) == 1 and again[0].params == lost.params
    return again[0]


# --------------------------------------------------------------------------- on the cluster


@pytest.mark.slow
def test_the_readme_ray_recipe_runs_exactly_n_trials_on_the_clusters_workers(
        tmp_path, fresh_pg_database, mlflow_server, on_ray):
    # README's block as written (hosts, the password and sizes substituted), on a fresh
    # database: the password only in PGPASSWORD, which the Ray workers' environment lacks unless
    # the sweep passes it on. Exactly n_trials over the cluster's two worker processes (not the
    # driver), each with the 1 CPU Ray gave it as its BLAS threads; every run on the server and
    # nothing RUNNING; each trial's line printed once; the trials' folders under the sweep's
    # directory.
    from mlflow import MlflowClient
    from sqlalchemy.engine import make_url

    url = make_url(fresh_pg_database)
    n_trials = 4
    lines = commands("cluster-ray", {
        "PGPASSWORD=secret": f"PGPASSWORD={url.password}",
        "sweeper@db-host:5432/optuna": f"{url.username}@{url.host}:{url.port}/{url.database}",
        "http://mlflow-host:5000": mlflow_server,
        "n_jobs=16": "n_jobs=2", "n_trials=1000": f"n_trials={n_trials}",
    })
    started = time.monotonic()
    done = run_shell("\n".join(lines), tmp_path)
    print(f"README's Ray recipe: {time.monotonic() - started:.1f} s")  # for the closing note
    assert done.returncode == 0, done.stdout[-3000:]

    name = "digits-ray"  # the README's study, alone in its fresh database
    study = optuna.load_study(study_name=name, storage=fresh_pg_database)
    trials = study.get_trials()
    budget = count_trials(trials, n_trials)
    assert (budget.finished, budget.running, budget.waiting) == (n_trials, 0, 0), budget
    client = MlflowClient(mlflow_server)
    parent = client.get_run(study.user_attrs[PARENT_RUN_ATTR])
    assert parent.info.status == "FINISHED"
    finished = [t for t in trials if t.state.is_finished() and not t.user_attrs.get(SURPLUS_ATTR)]
    for trial in finished:
        run = client.get_run(trial.user_attrs[RUN_ID_ATTR])
        assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert run.info.status == "FINISHED", (trial.number, run.info.status)
    running = client.search_runs([parent.info.experiment_id], "attributes.status = 'RUNNING' "
                                 f"and tags.`optuna.study_name` = '{name}'")
    assert list(running) == []

    ran_on = {int(t.user_attrs[WORKER_ATTR].rsplit(":", 1)[1]) for t in finished}
    workers = workers_in(done.stdout)
    assert len(ran_on) == 2 and ran_on <= set(workers), (ran_on, workers)
    assert set(workers.values()) == {1}  # Ray gave each task 1 CPU: 1 BLAS thread
    numbers = [t.number for t in finished]
    assert trial_lines(done.stdout) == Counter(numbers)
    [sweep_dir] = tmp_path.glob("multirun/*/*")
    assert {int(p.parent.name) for p in sweep_dir.glob("*/.hydra")
            if p.parent.name.isdigit()} == set(numbers)


@pytest.mark.slow
def test_a_killed_ray_worker_loses_only_its_trial(tmp_path, pg_url, mlflow_server, on_ray):
    # kill -9 of the Ray worker process running a trial: Ray runs its task again in a new
    # worker, the lost trial fails once its heartbeat is stale and its parameters run again;
    # exactly n_trials, its run KILLED, nothing RUNNING, the sweep FINISHED.
    name, n_trials = unique("ray-killed"), 3
    proc = start(tmp_path, *TINY, *SLOW_TRIALS, *shared_stores(pg_url, mlflow_server, name),
                 *RAY, f"hydra.sweeper.n_trials={n_trials}", "hydra.sweeper.n_jobs=2",
                 "mlflow.log_model=false")
    found: list[optuna.trial.FrozenTrial] = []

    def a_trial_trains() -> bool:
        trials = optuna.load_study(study_name=name, storage=pg_url).get_trials()
        found[:] = [t for t in trials if t.state == TrialState.RUNNING
                    and RUN_ID_ATTR in t.user_attrs][:1]
        return bool(found)

    wait_for(proc, a_trial_trains, timeout=240, every=0.5)
    [killed] = found
    host, pid = killed.user_attrs[WORKER_ATTR].rsplit(":", 1)
    assert host == socket.gethostname() and int(pid) != proc.pid  # a Ray worker, not the driver
    os.kill(int(pid), signal.SIGKILL)
    out, err = proc.communicate(timeout=400)
    assert proc.returncode == 0, (out + err)[-3000:]

    trials, parents, children = check_study_and_runs(pg_url, mlflow_server, name, n_trials)
    again = lost_and_run_again(trials, killed)
    assert again.state == TrialState.COMPLETE
    runs = {r.info.run_id: r for r in children}
    assert runs[killed.user_attrs[RUN_ID_ATTR]].info.status == "KILLED"
    assert [r.info.status for r in parents] == ["FINISHED"]


@pytest.mark.slow
def test_ctrl_c_on_a_ray_sweep_leaves_nothing_running(tmp_path, pg_url, mlflow_server, on_ray):
    # Ctrl-C on the sweep command while both Ray workers train: it cancels its Ray tasks and
    # waits for them (Ray would kill them without their handlers once the driver exits), so
    # each trial is recorded interrupted and queued again, its run KILLED, the parent KILLED,
    # exit 130, and nothing is RUNNING, then or later.
    name = unique("ray-ctrl-c")
    proc = start(tmp_path, *TINY, *SLOW_TRIALS, *shared_stores(pg_url, mlflow_server, name),
                 *RAY, "hydra.sweeper.n_trials=6", "hydra.sweeper.n_jobs=2",
                 "mlflow.log_model=false")

    def both_train() -> bool:
        trials = optuna.load_study(study_name=name, storage=pg_url).get_trials()
        return sum(t.state == TrialState.RUNNING and RUN_ID_ATTR in t.user_attrs
                   for t in trials) == 2

    wait_for(proc, both_train, timeout=240, every=0.5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 130, (out + err)[-3000:]
    assert err.strip().splitlines()[-1].startswith("interrupted: ")

    time.sleep(3)  # a task Ray left running would start a trial or keep its own by now
    study = optuna.load_study(study_name=name, storage=pg_url)
    trials = study.get_trials()
    assert count_trials(trials, 6).running == 0
    interrupted = [t for t in trials if t.state == TrialState.FAIL]
    assert len(interrupted) == 2
    assert all(t.user_attrs["fail_reason"].startswith("interrupted") for t in interrupted)
    queued = [t for t in trials if t.state == TrialState.WAITING]
    assert sorted(t.params["optimizer.lr"] for t in queued) == \
        sorted(t.params["optimizer.lr"] for t in interrupted)
    from test_scale_out import server_runs

    runs = server_runs(mlflow_server, name)
    assert [r.info.run_name for r in runs if r.info.status == "RUNNING"] == []
    by_id = {r.info.run_id: r for r in runs}
    assert {by_id[t.user_attrs[RUN_ID_ATTR]].info.status for t in interrupted} == {"KILLED"}
    [parent] = [r for r in runs if r.data.tags.get("sweep.role") == "parent"]
    assert parent.info.status == "KILLED"


# --------------------------------------------------------------------------- before connecting


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_a_wrong_ray_address_is_one_line_before_anything_is_recorded(tmp_path, pg_url,
                                                                      mlflow_server):
    # nothing listening, or a port that is not Ray's (the MLflow server's): one line naming
    # the key, at once, instead of Ray's minutes of retries; no parent run was created
    _ray_installed()
    name = unique("ray-address")
    port = mlflow_server.rsplit(":", 1)[1]
    for address, says in [(f"127.0.0.1:{_closed_port()}", "nothing answers on"),
                          (f"127.0.0.1:{port}", "answers, but not as Ray does")]:
        done = run(tmp_path, *TINY, *shared_stores(pg_url, mlflow_server, name),
                   "hydra/launcher=ray", f"hydra.launcher.ray.init.address={address}",
                   timeout=120)
        assert done.returncode == 1, done.stderr[-3000:]
        last = done.stderr.strip().splitlines()[-1]
        assert last.startswith("error: hydra.launcher.ray.init.address: expected the address "
                               "of a running Ray cluster"), last
        assert says in last and address in last
    from mlflow import MlflowClient

    assert MlflowClient(mlflow_server).get_experiment_by_name(name) is None


# --------------------------------------------------------------------------- settings


def test_workers_get_the_stores_variables_and_the_configured_ones():
    environ = {"PGPASSWORD": "pw", "PGSSLMODE": "require", "MLFLOW_TRACKING_TOKEN": "t",
               "PATH": "/bin", "AWS_SECRET_ACCESS_KEY": "s", "HOME": "/root"}
    assert _ray.worker_env(environ, {"AWS_SECRET_ACCESS_KEY": "mine", "N": 1}) == {
        "PGPASSWORD": "pw", "PGSSLMODE": "require", "MLFLOW_TRACKING_TOKEN": "t",
        "AWS_SECRET_ACCESS_KEY": "mine", "N": "1"}


@pytest.mark.parametrize("address", ["nohost", "host:port", "ray://:10001"])
def test_a_malformed_ray_address_names_the_key(address):
    pytest.importorskip("grpc")
    with pytest.raises(ConfigError, match=r"^hydra\.launcher\.ray\.init\.address: expected"):
        _ray._check_address(address, "")


def test_ray_forwards_the_workers_output_unless_told_not_to():
    from omegaconf import OmegaConf

    from sweeps.workers._launchers import shares_the_console

    config = OmegaConf.create({"hydra": {"launcher": {"ray": {"init": {"address": "auto"}}}}})
    assert shares_the_console(_ray.RAY_LAUNCHER, config)
    config.hydra.launcher.ray.init.log_to_driver = False
    assert not shares_the_console(_ray.RAY_LAUNCHER, config)


def test_ci_installs_the_ray_extra_with_the_readmes_command():
    # README's `pip install -e ".[ray]"` is a line of .ci/run, as written (it cannot run inside
    # the suite it installs); the extra requires the Ray launcher and the PostgreSQL driver, and
    # every requirement it names is installed here as it asks
    from importlib.metadata import PackageNotFoundError, requires, version

    from packaging.requirements import Requirement

    [line] = commands("install-ray")
    command = line.split("  #", 1)[0].strip()
    ci = [ci_line.strip() for ci_line in (REPO / ".ci" / "run").read_text().splitlines()]
    assert command in ci, f"{command!r} is not a line of .ci/run"
    found = re.fullmatch(r'pip install -e "\.\[(\w+)\]"', command)
    assert found, command
    extra = found[1]
    wanted = [r for r in map(Requirement, requires("numpy-mlp-trainer") or [])
              if r.marker is not None and r.marker.evaluate({"extra": extra})]
    assert {r.name for r in wanted} >= {"hydra-ray-launcher", "psycopg2-binary"}, wanted
    for requirement in wanted:
        try:
            installed = version(requirement.name)
        except PackageNotFoundError:
            _missing(f"{requirement.name} is not installed: pip install -e \".[{extra}]\"")
        assert requirement.specifier.contains(installed, prereleases=True), \
            (requirement, installed)
