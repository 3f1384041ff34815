"""README.md's sweep commands run as written (read from README.md by ``readme_commands``): the
ready-made sweeps, an ad hoc search space, registering and serving the best model, and watching
the runs with optuna-dashboard and the MLflow UI, whose servers must start and answer on
loopback. Only sizes (``n_trials``) and ports are substituted."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import optuna
import pytest
from readme_commands import commands, free_port, readme_block, run_shell, serving

from sweeps.study import count_trials

pytestmark = pytest.mark.slow
optuna.logging.set_verbosity(optuna.logging.WARNING)

N_TRIALS = 2  # one per worker: sweep=digits runs 2 at a time
FEWER_TRIALS = {"sweep=digits ": f"sweep=digits hydra.sweeper.n_trials={N_TRIALS} "}


def studies(cwd: Path) -> dict[str, optuna.Study]:
    storage = f"sqlite:///{cwd}/mlruns/optuna.db"
    return {name: optuna.load_study(study_name=name, storage=storage)
            for name in optuna.get_all_study_names(storage)}


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as answer:
        return json.loads(answer.read())


def without_comment(command: str) -> str:
    return command.split("  #", 1)[0].strip()


@pytest.fixture(scope="module")
def ready_made(tmp_path_factory) -> Path:
    """A start directory where the README's two ready-made sweeps ran (2 trials each)."""
    cwd = tmp_path_factory.mktemp("ready-made")
    for command in commands("sweeps-ready-made", {
            **FEWER_TRIALS,
            "sweep=diabetes ": f"sweep=diabetes hydra.sweeper.n_trials={N_TRIALS} "}):
        done = run_shell(command, cwd)
        assert done.returncode == 0, f"{command}:\n{done.stdout[-3000:]}"
    return cwd


def test_the_ready_made_sweeps(ready_made):
    found = studies(ready_made)
    assert sorted(name.split("-")[0] for name in found) == ["diabetes", "digits"]
    for study in found.values():
        assert count_trials(study.get_trials(), N_TRIALS).finished == N_TRIALS
    [diabetes] = [s for name, s in found.items() if name.startswith("diabetes")]
    assert diabetes.direction == optuna.study.StudyDirection.MAXIMIZE  # val_r2


def test_an_ad_hoc_search_space(tmp_path):
    [command] = commands("sweep-ad-hoc", {"hydra.sweeper.n_trials=30": "hydra.sweeper.n_trials=4"})
    done = run_shell(command, tmp_path)
    assert done.returncode == 0, done.stdout[-3000:]
    [study] = studies(tmp_path).values()
    trials = study.get_trials()
    assert count_trials(trials, 4).finished == 4
    assert all(set(t.params) == {"optimizer.lr", "batch_size", "model.hidden"} for t in trials)


def test_register_the_best_model_and_serve_it(ready_made):
    # the registering command on the study the ready-made sweep ran (complete: it registers
    # its best trial's model as the champion), then MLflow's REST server on the champion and
    # the README's request, answered as the README says
    [register] = commands("register-model", FEWER_TRIALS)
    done = run_shell(register, ready_made)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "registered as 'digits-mlp' version 1: models:/digits-mlp/1" in done.stdout
    assert "models:/digits-mlp@champion is version 1" in done.stdout
    port = free_port()
    serve, *requests = commands("serve-model", {"-p 5001": f"-p {port}",
                                                "127.0.0.1:5001": f"127.0.0.1:{port}"})
    expected = readme_block("serve-model").strip().splitlines()[-1].removeprefix("# ")
    with serving(serve, ready_made, f"http://127.0.0.1:{port}/ping"):
        for request in requests:  # the request's body written, then sent with curl
            answer = run_shell(request, ready_made, timeout=120)
            assert answer.returncode == 0, f"{request}:\n{answer.stdout}"
    assert json.loads(answer.stdout.strip().splitlines()[-1]) == json.loads(expected)


def test_optuna_dashboard_serves_the_studies(ready_made):
    port = free_port()
    [command] = commands("optuna-dashboard", {
        "optuna-dashboard sqlite": f"optuna-dashboard --port {port} sqlite",
        "http://127.0.0.1:8080": f"http://127.0.0.1:{port}"})
    url = command.rsplit("then open ", 1)[1].strip()  # the address the README says to open
    with serving(command, ready_made, url):
        summaries = get_json(f"{url}/api/studies")["study_summaries"]
    assert sorted(s["study_name"] for s in summaries) == sorted(studies(ready_made))


def test_the_mlflow_ui_serves_the_sweeps_runs(ready_made):
    # the two sections show the same command; it starts and answers where the README says
    [watch] = commands("mlflow-ui-sweep")
    [explore] = commands("mlflow-ui")
    assert without_comment(watch) == without_comment(explore)
    port = free_port()
    [command] = commands("mlflow-ui-sweep", {  # one worker: the UI needs no more here
        "mlflow ui ": f"mlflow ui --workers 1 --port {port} ",
        "http://127.0.0.1:5000": f"http://127.0.0.1:{port}"})
    url = command.rsplit("then open ", 1)[1].strip()
    with serving(command, ready_made, f"{url}/health", timeout=600):
        with urllib.request.urlopen(url, timeout=30) as page:
            assert b"MLflow" in page.read()
        experiment = get_json(f"{url}/ajax-api/2.0/mlflow/experiments/get-by-name"
                              "?experiment_name=trainer")["experiment"]
        request = urllib.request.Request(
            f"{url}/ajax-api/2.0/mlflow/runs/search", method="POST",
            data=json.dumps({"experiment_ids": [experiment["experiment_id"]],
                             "max_results": 100}).encode(),
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as answer:
            runs = json.loads(answer.read())["runs"]
    assert len(runs) == 2 * (1 + N_TRIALS)  # each sweep's parent run and its trials
