"""Prefect orchestration end to end: a real server, served deployments, the inbox, crashes, Dask."""
import json
import logging
import re
import os
import signal
import subprocess
import sys
import time

import pytest

from store.checkpoints import load_run, save_checkpoint
from store.paths import open_warehouse
from store.sandbox import query

pytestmark = pytest.mark.slow

TINY = {"preset": "synthetic", "dataset": "synthetic-4", "hidden_sizes": [16, 8], "epochs": 2, "n_val": 1000,
        "activations": ["relu"], "regularizers": ["dropout"], "seeds": [0, 1], "bits": [1, 2],
        "random_repeats": 2, "steps": 8}


@pytest.fixture(scope="session")
def served(tmp_path_factory, prefect_env, prefect_server):
    """The session's Prefect server (conftest) and `neuroninfo serve` against it."""
    from flows.serve_local import stop

    os.environ["PREFECT_HOME"] = prefect_env["PREFECT_HOME"]
    env = dict(prefect_env, **prefect_server)
    warehouse = tmp_path_factory.mktemp("served_warehouse")
    said = warehouse.parent / "serve.out"  # a file, not a pipe: served runs log at INFO and a full pipe would block
    serving = subprocess.Popen([sys.executable, "-m", "flows.cli", "serve", "--warehouse", str(warehouse)],
                               env=env, stdout=said.open("w"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        listed = subprocess.run([sys.executable, "-m", "prefect", "deployment", "ls"], env=dict(env, COLUMNS="250"),
                                capture_output=True, text=True)
        if "train-and-measure/default" in listed.stdout and "reanalyze-checkpoints/scheduled" in listed.stdout:
            break
        time.sleep(1)
    else:
        stop(serving)
        pytest.fail("deployments were not registered within 90 s")
    yield env, open_warehouse(warehouse)
    stop(serving)
    output = said.read_text()
    assert serving.returncode == 0 and "never awaited" not in output, output[-3000:]  # a clean stop on SIGTERM


def run_logs(env, run) -> list[dict]:
    """The log lines the Prefect API holds for the flow run that ``run`` (a `prefect deployment run` result) started."""
    import urllib.request

    flow_run_id = re.search(r"UUID: ([0-9a-f-]{36})", run.stdout).group(1)
    body = json.dumps({"logs": {"flow_run_id": {"any_": [flow_run_id]}}}).encode()
    request = urllib.request.Request(env["PREFECT_API_URL"] + "/logs/filter", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def run_deployment(env, name, params):
    run = subprocess.run([sys.executable, "-m", "prefect", "deployment", "run", name, "--params", json.dumps(params),
                          "--watch", "--watch-timeout", "600"], env=env, capture_output=True, text=True, timeout=700)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "Completed" in run.stdout + run.stderr, run.stdout[-3000:]
    return run


def table_rows(wh, sql):
    return query(wh, sql).to_pylist()


def test_served_train_and_measure(served):
    """The grid, each network also kept after its first epoch (measured, not ablated: full_epochs is empty)."""
    env, wh = served
    run = run_deployment(env, "train-and-measure/default", {**TINY, "checkpoint_epochs": [1], "full_epochs": []})
    points = table_rows(wh, "SELECT seed, epoch, measured, ablated FROM trajectories ORDER BY seed, epoch")
    assert [tuple(p.values()) for p in points] == [(0, 1, True, False), (0, 2, True, True), (1, 1, True, False), (1, 2, True, True)]
    runs = table_rows(wh, "SELECT run_id, seed FROM runs WHERE arch = 'mlp' AND epochs = 2 ORDER BY seed")
    logged = [(line["level"], line["message"]) for line in run_logs(env, run)]  # what the Prefect UI shows
    for said in (f"capture {runs[0]['run_id']}: ", "time by stage (task time, summed): train ", "report: "):
        assert any(level == logging.INFO and said in message for level, message in logged), (said, logged)
    assert [r["seed"] for r in runs] == [0, 1]
    ids = [r["run_id"] for r in runs]
    stats = table_rows(wh, "SELECT run_id, count(*) AS n FROM neuron_stats JOIN runs USING (run_id) WHERE arch = 'mlp' "
                           "AND epochs = 2 GROUP BY run_id ORDER BY run_id")
    assert {r["run_id"]: r["n"] for r in stats} == {i: (16 + 8) * 2 for i in ids}
    curves = table_rows(wh, "SELECT DISTINCT run_id, scope, strategy FROM ablation_curves JOIN runs USING (run_id) "
                            "WHERE arch = 'mlp' AND epochs = 2")
    assert {(r["run_id"], r["scope"], r["strategy"]) for r in curves} == {(i, s, t) for i in ids for s in ("layer", "network") for t in ("zero", "mean")}


def test_served_train_and_measure_takes_an_architecture(served):
    """The served deployment takes --arch's parameters: a small cnn, its conv channels and dense neurons as units,
    measured, ablated by hooks in both scopes, reported."""
    env, wh = served
    cnn = {**TINY, "hidden_sizes": None, "arch": "cnn", "seeds": [0], "epochs": 1, "bits": [1], "random_repeats": 1,
           "steps": 4}
    run = run_deployment(env, "train-and-measure/default", cnn)
    [run_id] = [r["run_id"] for r in table_rows(wh, "SELECT run_id FROM runs WHERE arch = 'cnn'")]
    layers = table_rows(wh, f"SELECT module_path, unit_kind, units FROM layers WHERE run_id = '{run_id}' ORDER BY layer")
    assert layers == [{"module_path": p, "unit_kind": k, "units": u} for p, k, u in
                      (("0.1", "channel", 8), ("0.4", "channel", 16), ("0.7", "channel", 32), ("1.2", "neuron", 32))]
    curves = table_rows(wh, f"SELECT DISTINCT scope, strategy FROM ablation_curves WHERE run_id = '{run_id}'")
    assert {(r["scope"], r["strategy"]) for r in curves} == {(s, t) for s in ("layer", "network") for t in ("zero", "mean")}
    assert any("report: " in line["message"] for line in run_logs(env, run))


def test_served_prune_sweep(served):
    """prune-sweep/default computes the baselines and writes pruning_curves for a measured run."""
    env, wh = served
    if not table_rows(wh, "SELECT run_id FROM neuron_stats LIMIT 1"):
        run_deployment(env, "train-and-measure/default", TINY)
    run_id = table_rows(wh, "SELECT run_id FROM runs WHERE origin = 'trained' AND arch = 'mlp' AND epochs = 2 ORDER BY seed LIMIT 1")[0]["run_id"]
    run = run_deployment(env, "prune-sweep/default", {"run_ids": [run_id], "keeps": [0.5], "finetune_epochs": [0]})
    assert any(f"baselines {run_id}: " in line["message"] for line in run_logs(env, run))
    assert table_rows(wh, f"SELECT count(*) AS n FROM neuron_baselines WHERE run_id = '{run_id}'") == [{"n": 16 + 8}]
    measures = {r["measure"] for r in table_rows(wh, f"SELECT measure FROM pruning_curves WHERE run_id = '{run_id}'")}
    assert {"mutual_info", "taylor", "weight_l1_in", "random"} <= measures and "ablation_damage" not in measures


def test_served_reanalysis_of_the_inbox(served, trained_run):
    env, wh = served
    src_wh, run_id = trained_run
    model = load_run(src_wh, run_id)
    other = open_warehouse(wh.root.parent / "other_source")
    from dataclasses import replace
    from pipeline.model import MLP
    import torch
    torch.manual_seed(5)
    second = MLP(replace(model.spec, seed=7))
    second_id = save_checkpoint(other, second)
    (wh.inbox / "first.safetensors").write_bytes(src_wh.checkpoint(run_id).read_bytes())
    (wh.inbox / "second.safetensors").write_bytes(other.checkpoint(second_id).read_bytes())
    (wh.inbox / "corrupt.safetensors").write_bytes(b"\x00garbage" * 100)
    params = {"random_repeats": 2, "steps": 8, "bits": [1, 2]}
    run_deployment(env, "reanalyze-checkpoints/scheduled", params)
    found = {r["run_id"] for r in table_rows(wh, f"SELECT run_id FROM neuron_stats WHERE run_id IN ('{run_id}', '{second_id}')")}
    assert found == {run_id, second_id}
    assert len(table_rows(wh, f"SELECT DISTINCT run_id FROM ablation_curves WHERE run_id IN ('{run_id}', '{second_id}')")) == 2
    rejected = wh.inbox / "rejected"
    assert (rejected / "corrupt.safetensors").exists() and not (wh.inbox / "corrupt.safetensors").exists()
    assert "not a safetensors checkpoint" in (rejected / "corrupt.safetensors.reason.txt").read_text()

    before = {t: table_rows(wh, f"SELECT count(*) AS n FROM {t}")[0]["n"] for t in ("runs", "neuron_stats", "ablation_curves", "counts")}
    run_deployment(env, "reanalyze-checkpoints/scheduled", params)
    after = {t: table_rows(wh, f"SELECT count(*) AS n FROM {t}")[0]["n"] for t in before}
    assert after == before


def test_served_reanalysis_links_a_training_elsewhere(served):
    """docs/examples/train_elsewhere.py, a plain PyTorch loop, drops a checkpoint and its sidecar per epoch into
    the served warehouse's inbox; one run of the scheduled deployment analyses them into one trajectory, in full
    at the epochs asked for only."""
    env, wh = served
    example = [sys.executable, "docs/examples/train_elsewhere.py", "--inbox", str(wh.inbox), "--training", "elsewhere-job",
               "--dataset", "synthetic-4", "--hidden", "16,8", "--epochs", "3", "--n-val", "1000"]
    subprocess.run(example, check=True, cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))), env=env,
                   capture_output=True, timeout=300)
    run_deployment(env, "reanalyze-checkpoints/scheduled", {"bits": [1], "full_epochs": [3], "random_repeats": 1, "steps": 4})
    points = table_rows(wh, "SELECT epoch, step, measured, ablated FROM trajectories WHERE training_id = 'elsewhere-job' ORDER BY epoch")
    assert [(p["epoch"], p["measured"], p["ablated"]) for p in points] == [(0, True, False), (1, True, False),
                                                                           (2, True, False), (3, True, True)]
    assert [p["step"] for p in points] == [0, 40, 80, 120]  # 5,000 training samples in batches of 128
    assert (wh.reports / "trajectory-elsewhere-job.html").exists()  # its page, written as the epochs arrived


def no_duplicates(wh):
    keys = {
        "runs": "run_id",
        "neuron_stats": "run_id, layer, neuron, bits",
        "counts": "run_id, split, layer, bits, neuron, bin, class",
        "ablation_curves": "run_id, scope, layer, measure, bits, estimator, ordering, strategy, repeat, n_ablated",
    }
    for view, key in keys.items():
        dupes = table_rows(wh, f"SELECT {key}, count(*) AS c FROM {view} GROUP BY ALL HAVING count(*) > 1 LIMIT 1")
        assert dupes == [], (view, dupes)


def cli_flow(wh, env, *extra):
    return [sys.executable, "-m", "flows.cli", "train-and-measure", "--warehouse", str(wh.root), "--preset", "synthetic",
            "--dataset", "synthetic-4", "--hidden", "16,8", "--epochs", "2", "--n-val", "1000", "--bits", "1,2",
            "--random-repeats", "2", "--steps", "8", *extra]


def test_sigkill_mid_run_then_rerun_completes(tmp_path, served):
    prefect_env, _ = served  # the shared server: the CLI does not start its own (the kill does not reach it)
    wh = open_warehouse(tmp_path / "wh")
    command = cli_flow(wh, prefect_env, "--seeds", "0,1,2", "--workers", "1")
    process = subprocess.Popen(command, env=prefect_env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    curves = wh.root / "tables" / "ablation_curves"
    deadline = time.monotonic() + 300
    while not [p for p in curves.glob("run_id=*/*.parquet") if p.parent.name != "run_id=__empty__"]:
        assert process.poll() is None, f"the flow exited ({process.returncode}) before any run was ablated"
        assert time.monotonic() < deadline, "no run was ablated within 300 s"
        time.sleep(0.05)
    # mid-run: one network is ablated, the others are not; the flow has not finished
    assert process.poll() is None, "the flow finished before the kill"
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    partial = table_rows(wh, "SELECT count(DISTINCT run_id) AS n FROM ablation_curves")[0]["n"]
    assert 1 <= partial < 3
    no_duplicates(wh)
    rerun = subprocess.run(command, env=prefect_env, capture_output=True, text=True, timeout=900)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert table_rows(wh, "SELECT count(*) AS n FROM runs")[0]["n"] == 3
    assert table_rows(wh, "SELECT count(DISTINCT run_id) AS n FROM ablation_curves")[0]["n"] == 3
    assert table_rows(wh, "SELECT count(DISTINCT run_id) AS n FROM neuron_stats")[0]["n"] == 3
    no_duplicates(wh)


def test_a_local_dask_cluster_has_one_torch_thread_per_worker_process():
    """--task-runner dask without an address: a local cluster of worker processes (the results equal threads':
    test_s3 runs the grid on a real two-worker cluster), each told how many share the machine's cores."""
    from prefect_dask import DaskTaskRunner

    from flows.train_and_measure import task_runner_for

    runner = task_runner_for("dask", None, 3)
    assert isinstance(runner, DaskTaskRunner)
    assert runner.cluster_kwargs == {"n_workers": 3, "threads_per_worker": 1, "processes": True,
                                     "env": {"NEURONINFO_WORKERS": "3"}}
    assert task_runner_for("dask", "tcp://10.0.0.5:8786").address == "tcp://10.0.0.5:8786"


def test_a_deployment_run_with_a_mistake_fails_with_its_one_line(served):
    """A user's mistake in a deployment's parameters: the flow run fails at once (no retries) with the
    project's one-line message as its state message."""
    env, _ = served
    run = subprocess.run([sys.executable, "-m", "prefect", "deployment", "run", "train-and-measure/default", "--params",
                          json.dumps({"dataset": "nosuch"}), "--watch", "--watch-timeout", "300"],
                         env=env, capture_output=True, text=True, timeout=400)
    assert run.returncode != 0 and "Failed" in run.stdout + run.stderr
    flow_run_id = re.search(r"UUID: ([0-9a-f-]{36})", run.stdout).group(1)
    inspected = subprocess.run([sys.executable, "-m", "prefect", "flow-run", "inspect", flow_run_id, "--output", "json"],
                               env=dict(env, COLUMNS="400"), capture_output=True, text=True, timeout=120)
    message = json.loads(inspected.stdout)["state"]["message"]
    assert "unknown dataset 'nosuch'" in message and "\n" not in message.strip()
    assert "task-run" not in run.stdout  # validated before any task: nothing trained, nothing retried
