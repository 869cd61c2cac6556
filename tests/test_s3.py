"""Scale-out on the S3 protocol: a local S3-compatible server (moto's server mode, 127.0.0.1 only)
holds a warehouse that the CLI, the flows and a reader use at once; its results equal a local
warehouse's; a server that stops mid-run and comes back is ridden out by retries, one that stays down
is one clear line, and a rerun completes with nothing duplicated."""
import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

pytest.importorskip("moto.server", reason="the S3 tests need the test extra (moto[server], s3fs)")
pytest.importorskip("s3fs")

from moto.server import ThreadedMotoServer  # noqa: E402

from flows import pages, stages  # noqa: E402
from store.sandbox import query  # noqa: E402
from store.paths import open_warehouse  # noqa: E402

pytestmark = pytest.mark.slow
BUCKET = "neuroninfo-tests"
CLI = [sys.executable, "-m", "flows.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class S3Server:
    """moto's S3 server in a thread of this process: stopping and starting it keeps the buckets."""

    def __init__(self):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = None

    def start(self):
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()

    def stop(self):
        self.server.stop()


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """A running S3 server with one bucket; the environment points fsspec (and subprocesses) at it."""
    server = S3Server()
    server.start()
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
           "FSSPEC_S3_ENDPOINT_URL": server.url, "AWS_ENDPOINT_URL": server.url}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    import boto3

    boto3.client("s3", endpoint_url=server.url).create_bucket(Bucket=BUCKET)
    yield server
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    server.stop()


def analysed(wh, spec):
    run_id = stages.train_run(wh, spec, progress=False)
    stages.capture_run(wh, run_id, bits=(1, 2))
    stages.measure_run(wh, run_id)
    stages.ablate_run(wh, run_id, random_repeats=2, steps=6)
    return run_id


def rows(wh, sql):
    return query(wh, sql).to_pylist()


def test_an_s3_warehouse_gives_the_local_results(s3, tmp_path, tiny_spec):
    local = open_warehouse(tmp_path / "local")
    remote = open_warehouse(f"s3://{BUCKET}/same")
    run_id = analysed(local, tiny_spec)
    assert analysed(remote, tiny_spec) == run_id  # same weights, same id
    stats = "SELECT * EXCLUDE (run_id) FROM neuron_stats ORDER BY layer, neuron, bits"
    for a, b in zip(rows(local, stats), rows(remote, stats)):
        assert a.keys() == b.keys()
        for key in a:
            assert a[key] == pytest.approx(b[key], abs=1e-12) if isinstance(a[key], float) else a[key] == b[key]
    curves = "SELECT * EXCLUDE (run_id) FROM ablation_curves ORDER BY ALL"
    assert rows(local, curves) == rows(remote, curves)
    made = pages.report_runs(remote, [run_id])
    assert remote.fs.exists(str(made[0]).split("://", 1)[1])
    code = subprocess.run([*CLI, "verify", "--warehouse", str(remote.root)], capture_output=True, text=True, timeout=300)
    assert code.returncode == 0 and "0 problem(s) found" in code.stdout, code.stdout + code.stderr
    # damage on S3 is found and contained like on disk
    part = f"{BUCKET}/same/tables/neuron_stats/run_id={run_id}/data.parquet"
    remote.fs.pipe_file(part, remote.fs.cat_file(part)[:100])
    assert rows(remote, "SELECT count(*) AS n FROM neuron_stats") == [{"n": 0}]
    assert rows(remote, "SELECT kind FROM warehouse_problems") == [{"kind": "neuron_stats"}]
    repaired = subprocess.run([*CLI, "verify", "--repair", "--warehouse", str(remote.root)], capture_output=True, text=True,
                              timeout=600)
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert len(rows(remote, "SELECT * FROM neuron_stats")) == len(rows(local, "SELECT * FROM neuron_stats"))


KEYS = {"runs": "run_id", "neuron_stats": "run_id, layer, neuron, bits", "quantizers": "run_id, layer, bits",
        "ablation_curves": "run_id, scope, layer, measure, bits, estimator, ordering, strategy, repeat, n_ablated"}


def test_many_writers_a_compactor_and_a_reader_on_s3(s3, tmp_path, tiny_spec, prefect_server):
    """Two whole train-and-measure flows (one on a Dask cluster: `dask scheduler` + two `dask worker` processes,
    one torch thread each; one on the thread runner) and a scheduled inbox reanalysis (one good checkpoint, one
    junk file) write one S3 warehouse at once, while a compaction loops in this process (moving files as soon as
    they are written) and a reader loops on SQL: every read sees whole runs with no duplicate key, nothing is
    lost, the warehouse verifies clean, and the Dask run equals the same stages called here into a local
    warehouse (its pairs, whose blocks the pairs task handed to the cluster, bit for bit)."""
    from dataclasses import replace

    from flows.grid import grid_specs
    from store.compaction import Policy, compact
    from store.segments import read_index

    remote = open_warehouse(f"s3://{BUCKET}/busy")
    source = open_warehouse(tmp_path / "source")
    inbox_run = stages.train_run(source, replace(tiny_spec, seed=9), progress=False)
    remote.fs.pipe_file(f"{BUCKET}/busy/inbox/net.safetensors", source.checkpoint(inbox_run).read_bytes())
    remote.fs.pipe_file(f"{BUCKET}/busy/inbox/junk.safetensors", b"\x00junk" * 50)  # rejected alone
    env = dict(os.environ, NEURONINFO_THREADS="1", **prefect_server)
    dask, port = [os.path.join(os.path.dirname(sys.executable), "dask")], free_port()  # the venv's dask command
    cluster = [subprocess.Popen([*dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    cluster += [subprocess.Popen([*dask, "worker", f"tcp://127.0.0.1:{port}", "--nthreads", "1", "--no-dashboard",
                                  "--host", "127.0.0.1"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                for _ in range(2)]
    grid = ["--preset", "synthetic", "--dataset", "synthetic-4", "--hidden", "16,8", "--epochs", "1", "--bits", "1",
            "--random-repeats", "1", "--steps", "4", "--warehouse", str(remote.root)]
    try:
        writers = [subprocess.Popen([*CLI, "train-and-measure", *grid, "--seeds", "0", "--task-runner", "dask",
                                     "--dask-address", f"tcp://127.0.0.1:{port}"], env=env, text=True,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE),
                   subprocess.Popen([*CLI, "train-and-measure", *grid, "--seeds", "1"], env=env, text=True,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE),
                   subprocess.Popen([*CLI, "reanalyze", "--warehouse", str(remote.root), "--steps", "4", "--random-repeats", "1"],
                                    env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)]
        reads, compactions = [], 0
        counts = "SELECT run_id, count(*) AS n FROM neuron_stats GROUP BY run_id"
        duplicates = " UNION ALL ".join(f"SELECT '{t}' AS t, count(*) - count(DISTINCT ({k})) AS extra FROM {t}"
                                        for t, k in KEYS.items())
        while any(w.poll() is None for w in writers):
            if not remote.fs.exists(f"{BUCKET}/busy/tables/runs"):  # no writer has registered a run yet
                time.sleep(1)
                continue
            compact(remote, replace(Policy(), settle_s=0.0), force=True)  # beside the writers' processes
            compactions += 1
            reads.append(rows(remote, counts))
            assert all(r["extra"] == 0 for r in rows(remote, duplicates))  # no duplicate row at any moment
            time.sleep(2)  # a schedule's pace: the writers keep the cores
        outcomes = [w.communicate() for w in writers]
        from distributed import Client

        with Client(f"tcp://127.0.0.1:{port}", timeout="30s") as client:  # the Dask flow's pairs ran as tasks there
            block_tasks = client.run_on_scheduler(lambda dask_scheduler: sum(
                str(t.key).startswith("pair_block_task") for t in dask_scheduler.transition_log))
    finally:
        for process in cluster:
            process.terminate()
        for process in cluster:
            process.wait(60)
    assert [w.returncode for w in writers] == [0, 0, 3], [out[-3000:] + err[-3000:] for out, err in outcomes]
    assert "1 analysed, 1 rejected" in outcomes[2][0]
    assert block_tasks > 0
    assert sorted(remote.fs.ls(f"{BUCKET}/busy/inbox/done", detail=False)) == [f"{BUCKET}/busy/inbox/done/net.safetensors"]
    final = [r["run_id"] for r in rows(remote, "SELECT run_id FROM runs ORDER BY run_id")]
    assert len(final) == 3 and inbox_run in final
    whole = {r: (24 + 12) * 3 if r == inbox_run else 16 + 8 for r in final}  # neurons x bits
    for seen in reads:  # a run shows all its neuron_stats or none: never a part, never lost once whole
        assert all(r["n"] == whole[r["run_id"]] for r in seen), seen
    assert {r["run_id"]: r["n"] for r in rows(remote, counts)} == whole
    assert rows(remote, "SELECT count(DISTINCT run_id) AS n FROM ablation_curves") == [{"n": 3}]
    assert compactions >= 2 and read_index(remote).version >= 1
    done = subprocess.run([*CLI, "compact", "--all", "--settle", "0", "--grace", "0", "--warehouse", str(remote.root)],
                          capture_output=True, text=True)
    verified = subprocess.run([*CLI, "verify", "--warehouse", str(remote.root)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and verified.returncode == 0 and "0 problem(s) found" in verified.stdout, verified.stdout
    assert all(r["extra"] == 0 for r in rows(remote, duplicates))
    assert not [p for p in remote.fs.find(f"{BUCKET}/busy/tables") if "/run_id=" in p and "__empty__" not in p]

    local = open_warehouse(tmp_path / "local")  # the Dask flow's run, made by the same stages in this process
    (spec,) = grid_specs("synthetic", "synthetic-4", [16, 8], ["relu"], ["dropout"], [0], 1, None, [1], ["zero", "mean"],
                         None, "standardized", "mlp", None)
    run_id = stages.train_run(local, spec, progress=False)
    stages.capture_run(local, run_id, (1,))
    stages.measure_run(local, run_id)
    stages.pairs_run(local, run_id, 1)
    stages.ablate_run(local, run_id, ("zero", "mean"), 1, 4)
    assert run_id in final
    curves = f"SELECT * EXCLUDE (test_error), round(test_error, 12) AS e FROM ablation_curves WHERE run_id = '{run_id}' ORDER BY ALL"
    assert rows(remote, curves) == rows(local, curves)
    pairs = f"SELECT * FROM neuron_pairs WHERE run_id = '{run_id}' ORDER BY layer_i, neuron_i, layer_j, neuron_j"
    assert rows(remote, pairs) == rows(local, pairs)  # bit for bit, though its blocks ran as tasks on the Dask workers
    stats = f"SELECT * FROM neuron_stats WHERE run_id = '{run_id}' ORDER BY layer, neuron, bits"
    for a, b in zip(rows(remote, stats), rows(local, stats), strict=True):
        for key in a:
            assert a[key] == pytest.approx(b[key], abs=1e-12) if isinstance(a[key], float) else a[key] == b[key]


def test_a_server_that_stops_mid_run_is_ridden_out_and_a_dead_one_is_one_line(s3, tiny_spec):
    from dataclasses import replace

    remote = open_warehouse(f"s3://{BUCKET}/outage")
    run_id = stages.train_run(remote, replace(tiny_spec, seed=6), progress=False)
    stages.capture_run(remote, run_id, bits=(1, 2))
    stages.measure_run(remote, run_id)
    s3.stop()  # down before the stage's first request, so the outage certainly falls inside the run
    worker = subprocess.Popen([*CLI, "ablate", run_id, "--steps", "4", "--random-repeats", "1", "--warehouse", str(remote.root)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(4)
    assert worker.poll() is None  # still waiting on the endpoint
    s3.start()  # transient: botocore's standard retries (exponential backoff) carry the stage through
    out, err = worker.communicate(timeout=600)
    assert worker.returncode == 0 and out.strip().splitlines()[-1] == run_id, err
    curves = rows(remote, f"SELECT count(*) AS n, count(DISTINCT (scope, layer, measure, bits, ordering, strategy, repeat, n_ablated)) AS keys "
                          f"FROM ablation_curves WHERE run_id = '{run_id}'")[0]
    assert curves["n"] == curves["keys"] > 0  # nothing duplicated

    s3.stop()  # permanent: one clear line, exit 2
    try:
        env = dict(os.environ, NEURONINFO_STORAGE_OPTIONS='{"config_kwargs": {"retries": {"max_attempts": 2, "mode": "standard"}}}')
        dead = subprocess.run([*CLI, "sql", "SELECT 1", "--warehouse", str(remote.root)], env=env, capture_output=True,
                              text=True, timeout=300)
    finally:
        s3.start()
    assert dead.returncode == 2 and len(dead.stderr.strip().splitlines()) == 1, dead.stderr
    assert "cannot open warehouse" in dead.stderr
    rerun = subprocess.run([*CLI, "ablate", run_id, "--steps", "4", "--random-repeats", "1", "--warehouse", str(remote.root)],
                           capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0
    again = rows(remote, f"SELECT count(*) AS n FROM ablation_curves WHERE run_id = '{run_id}'")[0]["n"]
    assert again == curves["n"]
    assert np.isfinite(rows(remote, "SELECT max(test_error) AS e FROM ablation_curves")[0]["e"])
