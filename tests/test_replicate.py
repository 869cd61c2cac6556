"""Verdicts that replicate: a checkpoint's bytes depend on its spec and seed alone, not on the thread count,
the load, the task runner or how many networks train at once."""
import hashlib
import os
import subprocess
import sys
import threading

import numpy as np
import pytest
import torch

from store.paths import open_warehouse
from store.sandbox import query

pytestmark = pytest.mark.slow

CLI = [sys.executable, "-m", "flows.cli"]
# 784 inputs and 10 classes: some matrix products sum in another order with 2 threads than with 1 (checked below)
HIDDEN = "300,100"


@pytest.fixture(scope="module")
def wide_npz(tmp_path_factory):
    """A learnable 10-class dataset of 784-pixel images: prototypes plus noise."""
    rng = np.random.default_rng(0)
    prototypes = rng.random((10, 784)).astype(np.float32)

    def split(n):
        y = rng.integers(0, 10, n)
        return np.clip(prototypes[y] + 0.3 * rng.standard_normal((n, 784)), 0, 1).astype(np.float32), y

    path = tmp_path_factory.mktemp("wide") / "wide.npz"
    (x, y), (xt, yt) = split(3000), split(500)
    np.savez(path, x_train=x, y_train=y, x_test=xt, y_test=yt)
    return path


def spec_of(path, seed=0):
    from pipeline.spec import preset_spec

    return preset_spec(f"npz:{path}", 784, 10, regularizer="dropout", seed=seed, hidden_sizes=(300, 100), epochs=1)


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def checkpoints(wh) -> dict[int, str]:
    """seed -> sha256 of the checkpoint file."""
    rows = query(wh, "SELECT run_id, seed FROM runs").to_pylist()
    return {r["seed"]: digest(wh.checkpoint(r["run_id"])) for r in rows}


def test_the_thread_count_changes_the_bytes_of_this_spec_in_one_process(wide_npz):
    """Why training has a fixed thread count: this spec trained in-process with 1 and with 2 intra-op threads
    gives other weights (so the tests below could fail)."""
    from flows.run_data import data_of
    from pipeline import train as training
    from pipeline.architectures import build
    from pipeline.threads import torch_threads

    spec = spec_of(wide_npz)
    data = data_of(spec, None)
    weights = []
    for threads in (1, 2):
        with torch_threads(threads):
            torch.manual_seed(spec.seed)
            model = training._fit(build(spec), spec, data, 1, False, torch.device("cpu"))
        weights.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert not torch.equal(*weights)


def test_the_same_spec_gives_the_same_checkpoint_whatever_the_threads_load_and_runner(wide_npz, tmp_path, prefect_server):
    """One spec trained in this process beside a busy 2-thread neighbour, and inside 2-network grids under the
    threads runner with 2 threads and the Dask process runner with 1: one checkpoint, byte for byte."""
    from flows.stages import train_run

    stop = threading.Event()

    def neighbour():  # sets torch's (process-wide) thread count to 2 and multiplies, as a capture would
        a = torch.rand(512, 512)
        while not stop.is_set():
            torch.set_num_threads(2)
            a @ a

    busy = threading.Thread(target=neighbour)
    busy.start()
    try:
        wh = open_warehouse(tmp_path / "beside")
        train_run(wh, spec_of(wide_npz), progress=False)
    finally:
        stop.set()
        busy.join()
    digests = {"in this process beside a busy neighbour": checkpoints(wh)[0]}

    grid = ["train-and-measure", "--dataset", f"npz:{wide_npz}", "--hidden", HIDDEN, "--epochs", "1", "--seeds", "0,1",
            "--bits", "1", "--steps", "2", "--random-repeats", "1", "--strategies", "zero", "--scopes", "layer"]
    seed1 = {}
    for runner, threads in (("threads", "2"), ("dask", "1")):
        wh = open_warehouse(tmp_path / runner)
        out = subprocess.run([*CLI, *grid, "--task-runner", runner, "--warehouse", str(wh.root)],
                             env=dict(os.environ, NEURONINFO_THREADS=threads, **prefect_server),
                             capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, out.stderr[-3000:]
        if runner == "threads":
            assert "| INFO" not in out.stderr, out.stderr[-3000:]  # quiet: progress lines, not Prefect's INFO log
            # the CLI trained the first network while the flow started: said so, not "train 1 s"
            assert "(1 network(s) trained before the flow started" in out.stderr, out.stderr[-3000:]
        found = checkpoints(wh)
        digests[f"grid of 2, {runner} runner, {threads} thread(s)"], seed1[runner] = found[0], found[1]
    assert len(set(digests.values())) == 1, digests
    assert seed1["threads"] == seed1["dask"] != digests["grid of 2, threads runner, 2 thread(s)"]
    train_threads = query(wh, "SELECT DISTINCT json_extract_string(provenance, '$.train_threads') AS t FROM runs").to_pylist()
    assert train_threads == [{"t": "1"}]


def test_measures_give_the_same_bytes_on_any_number_of_duckdb_threads(trained_run, tmp_path, monkeypatch):
    """neuron_stats and specific_info measured with DuckDB on 1 and on 4 threads, three times each: one file,
    byte for byte (every float sum of the measure SQL runs in a fixed order)."""
    import shutil

    from flows.stages import measure_run
    from pipeline import measures
    from store.tables import partition_file
    from store.paths import read_bytes

    source, run_id = trained_run
    wh = open_warehouse(shutil.copytree(source.root, tmp_path / "copy"))
    made = set()
    for threads in (1, 4, 1, 4, 4):
        monkeypatch.setattr(measures, "available_cores", lambda: threads)
        measure_run(wh, run_id, force=True)
        made.add(tuple(read_bytes(partition_file(wh, table, run_id)) for table in ("neuron_stats", "specific_info")))
    assert len(made) == 1


def test_a_replica_is_compared_run_by_run_file_by_file_and_cell_by_cell(analysed_seeds, tmp_path):
    """A warehouse and its copy: every checkpoint, table file and verdict identical. Then the copy's low-first
    curves of one run made 0.2 worse: its ablation_curves file differs (bytes and rows) and the scorecard cells
    that read those curves say so; a checkpoint trained otherwise is not paired. (That two real runs pair up
    identically is the test above.)"""
    import shutil
    from dataclasses import replace

    import pyarrow.compute as pc

    from flows.stages import train_run
    from store.replication import compare
    from store.tables import read_partition, write_partition

    original = open_warehouse(tmp_path / "original")
    run_ids = analysed_seeds(original, (1,), steps=4)
    replica = open_warehouse(shutil.copytree(original.root, tmp_path / "replica"))
    same = compare(original, replica)
    assert same.identical and len(same.checkpoints) == 2 and all(r["identical"] for r in same.checkpoints)
    assert same.files and all(f["identical_bytes"] or f["table"] == "runs" for f in same.files)
    assert all(f["identical_rows"] for f in same.files)
    assert same.cells and all(c["identical_verdicts"] and c["identical_effect"] for c in same.cells)

    curves = read_partition(replica, "ablation_curves", run_ids[0])
    worse = pc.if_else(pc.equal(curves["ordering"], "low_first"), pc.add(curves["test_error"], 0.2), curves["test_error"])
    write_partition(replica, "ablation_curves", run_ids[0], curves.set_column(curves.column_names.index("test_error"),
                                                                               "test_error", worse))
    changed = compare(original, replica)
    differing = [f["what"] for f in changed.files if not f["identical_rows"]]
    assert len(differing) == 1 and differing[0].startswith("ablation_curves of ")
    assert any(not c["identical_effect"] for c in changed.cells)
    assert all(c["identical_effect"] for c in changed.cells if c["claim"] in ("1a", "1b", "2a"))  # read no curve
    summary = changed.summary()
    assert summary[0] == "checkpoints: 2/2 identical" and "differ: ablation_curves of" in summary[2]

    other = open_warehouse(tmp_path / "other")
    train_run(other, replace(spec_of_tiny(original, run_ids[0]), epochs=3), progress=False)
    assert compare(original, other).checkpoints[0]["replica_run_id"] is None  # another spec: nothing to pair


def spec_of_tiny(wh, run_id):
    from store.checkpoints import load_run

    return load_run(wh, run_id).spec
