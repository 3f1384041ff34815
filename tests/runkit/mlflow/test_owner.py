"""Run owners: every run records its process; a later command ends the runs whose process is
gone (this host) or whose heartbeat stopped (another host), and leaves every other run alone."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid

import pytest
from mlflow import MlflowClient

from runkit.mlflow import get_client, get_or_create_experiment
from runkit.mlflow.owner import STALE_AFTER, abandoned_reason, end_abandoned_runs, owner_tags
from runkit.mlflow.tags import (
    FAILURE_REASON_TAG,
    OWNER_HOST_TAG,
    OWNER_PID_TAG,
    OWNER_STARTED_TAG,
    RUN_HEARTBEAT_TAG,
)
from runkit.process import process_alive, process_start_time

HOST = socket.gethostname()


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_owner_tags_name_this_process() -> None:
    # host, pid and (on Linux) the start time that tells this process from a later one
    tags = owner_tags()
    assert tags[OWNER_HOST_TAG] == HOST and tags[OWNER_PID_TAG] == str(os.getpid())
    assert abs(float(tags[RUN_HEARTBEAT_TAG]) - time.time()) < 5
    if sys.platform.startswith("linux"):
        assert tags[OWNER_STARTED_TAG] == process_start_time(os.getpid())


def test_a_process_is_alive_only_while_it_is_the_same_process() -> None:
    # a dead pid is gone; a live pid with another start time is a later process that reused it
    assert process_alive(os.getpid(), process_start_time(os.getpid()))
    assert not process_alive(_dead_pid(), None)
    if sys.platform.startswith("linux"):
        assert not process_alive(os.getpid(), "12.34")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_process_that_exited_but_was_not_reaped_is_dead() -> None:
    # a killed sweep whose parent has not waited for it yet (a zombie) no longer runs anything
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with open(f"/proc/{child.pid}/stat") as stat:
            if stat.read().rpartition(")")[2].split()[0] == "Z":
                break
        time.sleep(0.05)
    try:
        assert not process_alive(child.pid, None)
    finally:
        child.wait()


def test_abandoned_runs_are_judged_by_pid_here_and_by_heartbeat_elsewhere() -> None:
    now = time.time()
    mine = {OWNER_HOST_TAG: HOST, OWNER_PID_TAG: str(os.getpid()),
            OWNER_STARTED_TAG: process_start_time(os.getpid()) or "", RUN_HEARTBEAT_TAG: "0"}
    assert abandoned_reason({**mine, OWNER_STARTED_TAG: process_start_time(os.getpid())},
                            now=now) is None  # alive, however old its heartbeat
    dead = {**mine, OWNER_PID_TAG: str(_dead_pid())}
    assert "ended without ending the run" in abandoned_reason(dead, now=now)
    far = {OWNER_HOST_TAG: "elsewhere", OWNER_PID_TAG: "7"}
    assert abandoned_reason({**far, RUN_HEARTBEAT_TAG: f"{now - 10:.0f}"}, now=now) is None
    old = abandoned_reason({**far, RUN_HEARTBEAT_TAG: f"{now - STALE_AFTER - 60:.0f}"}, now=now)
    assert old is not None and "no heartbeat" in old and "elsewhere" in old
    assert abandoned_reason({"mlflow.user": "someone"}, now=now) is None  # not ours


@pytest.fixture
def store(tmp_path) -> tuple[MlflowClient, str]:
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    return get_client(uri), get_or_create_experiment(uri, f"owner-{uuid.uuid4().hex[:6]}")


def test_runs_of_a_dead_process_end_killed_and_others_stay(store) -> None:
    # a run whose process died ends KILLED with the reason; a live one and a foreign one stay
    client, experiment_id = store
    dead_pid = str(_dead_pid())
    dead = client.create_run(experiment_id, tags={
        OWNER_HOST_TAG: HOST, OWNER_PID_TAG: dead_pid}).info.run_id
    alive = client.create_run(experiment_id, tags=owner_tags()).info.run_id
    foreign = client.create_run(experiment_id).info.run_id
    assert end_abandoned_runs(client) == [dead]
    run = client.get_run(dead)
    assert run.info.status == "KILLED"
    assert dead_pid in run.data.tags[FAILURE_REASON_TAG]
    assert client.get_run(alive).info.status == "RUNNING"
    assert client.get_run(foreign).info.status == "RUNNING"
