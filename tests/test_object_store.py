"""A warehouse given as an fsspec URL (object storage) gives the same results as one on a local path.

``file://`` URLs take the object-store code path (one PUT per file, Zarr through FsspecStore, DuckDB
reading through the registered fsspec filesystem) on a real directory; ``memory://`` is fsspec's
in-memory filesystem, which like S3 has no real directories and no rename.
"""
import json
import uuid
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from flows import inbox_stage, pages, stages
from pipeline.errors import NeuronInfoError
from pipeline.spec import NetworkSpec
from store import activations as act
from store.inbox import pending_files
from store.paths import exists, join, list_files, open_warehouse, read_bytes, remove_tree
from store.sandbox import query

SPEC = NetworkSpec(dataset="synthetic-4", input_dim=64, n_classes=4, hidden_sizes=(16, 8),
                   regularizer="dropout", dropout=0.1, epochs=2, n_val=1000)
RESULTS = {  # what the views hold, in a fixed order (created_at differs between warehouses)
    "runs": "SELECT * EXCLUDE (created_at) FROM runs ORDER BY run_id",
    "quantizers": "SELECT * FROM quantizers ORDER BY ALL",
    "counts": "SELECT * FROM counts ORDER BY ALL",
    "neuron_stats": "SELECT * FROM neuron_stats ORDER BY run_id, layer, neuron, bits",
    "specific_info": "SELECT * FROM specific_info ORDER BY run_id, layer, neuron, bits, class",
    "ablation_curves": "SELECT * FROM ablation_curves ORDER BY ALL",
}


def run_stages(wh):
    """Every stage on SPEC; returns (run_id, report pages)."""
    run_id = stages.train_run(wh, SPEC, progress=False)
    assert stages.capture_run(wh, run_id, bits=(1, 2)) == run_id
    assert stages.measure_run(wh, run_id) == run_id
    assert stages.ablate_run(wh, run_id, random_repeats=2, steps=8) == run_id
    return run_id, pages.report_runs(wh, [run_id])


def results(wh) -> dict[str, pa.Table]:
    return {name: query(wh, sql) for name, sql in RESULTS.items()}


def assert_same_tables(a: pa.Table, b: pa.Table, atol: float = 1e-12) -> None:
    assert a.schema == b.schema and a.num_rows == b.num_rows
    for name in a.column_names:
        if pa.types.is_floating(a.schema.field(name).type):
            np.testing.assert_allclose(np.array(a[name].to_pylist(), float), np.array(b[name].to_pylist(), float),
                                       rtol=0, atol=atol, err_msg=name)
        else:
            assert a[name].to_pylist() == b[name].to_pylist(), name


def relative_files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    """(warehouse, run_id, pages) of the reference run in a plain local-path warehouse."""
    wh = open_warehouse(tmp_path_factory.mktemp("local_wh"))
    return (wh, *run_stages(wh))


@pytest.fixture(scope="module", params=["file", "memory"])
def remote(request, tmp_path_factory):
    """(warehouse, run_id, pages) of the same run in a warehouse given as a file:// or memory:// URL."""
    if request.param == "file":
        url = tmp_path_factory.mktemp("file_wh").as_uri()
    else:
        url = f"memory://neuroninfo-test-{uuid.uuid4().hex[:8]}"
    wh = open_warehouse(url)
    yield (wh, *run_stages(wh))
    if request.param == "memory":
        remove_tree(wh.root)


def test_url_warehouse_gives_the_local_results(local, remote):
    local_wh, local_id, _ = local
    wh, run_id, _ = remote
    assert isinstance(wh.root, str) and not wh.local and str(wh.root).split("://")[0] in ("file", "memory")
    assert run_id == local_id  # the same checkpoint bytes
    expected, got = results(local_wh), results(wh)
    assert got["neuron_stats"].num_rows == (16 + 8) * 2 and got["ablation_curves"].num_rows > 0
    for name in RESULTS:
        assert_same_tables(got[name], expected[name])
    store, local_store = act.open_activations(wh, run_id), act.open_activations(local_wh, run_id)
    assert store.bits == [1, 2] and store.splits == ["val", "test"]
    for layer in store.layers:
        np.testing.assert_array_equal(store.raw("test", layer), local_store.raw("test", layer))
        np.testing.assert_array_equal(store.codes("val", layer, 2), local_store.codes("val", layer, 2))
    assert read_bytes(wh.checkpoint(run_id)) == read_bytes(local_wh.checkpoint(run_id))


def test_url_warehouse_layout_reports_and_cli(local, remote, capsys, monkeypatch):
    local_wh, _, local_pages = local
    wh, run_id, pages = remote
    assert [p.split("/")[-1] for p in map(str, pages)] == [p.name for p in local_pages]
    page = read_bytes(pages[0]).decode()
    assert page.lstrip().lower().startswith("<!doctype html") and SPEC.group in page
    assert sorted(list_files(wh.reports)) == sorted(p.name for p in local_wh.reports.iterdir())  # page + PNGs
    assert not exists(wh.catalog)  # views over a URL need the filesystem registered: no catalog file
    with pytest.raises(NeuronInfoError, match="no complete activation store"):
        act.open_activations(wh, "0123456789abcdef")

    # the CLI and $NEURONINFO_WAREHOUSE take the URL as they take a directory
    from flows.cli import main

    assert main(["sql", "SELECT count(*) AS n FROM neuron_stats", "--warehouse", str(wh.root), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == [{"n": 48}]
    monkeypatch.setenv("NEURONINFO_WAREHOUSE", str(wh.root) + "/")
    assert open_warehouse() == wh

    if str(wh.root).startswith("file://"):  # the same on-disk layout: a plain path reads the same warehouse
        folder = Path(str(wh.root)[len("file://"):])
        local_only = {"catalog.duckdb", ".catalog.lock", "warehouse.json"}  # the catalog file is for local warehouses
        assert relative_files(folder) - {"warehouse.json"} == relative_files(local_wh.root) - local_only
        plain = open_warehouse(folder)
        for name, table in results(plain).items():
            assert_same_tables(table, results(wh)[name])


def test_inbox_and_capture_on_memory_warehouse(local, monkeypatch):
    """The reanalysis inbox (analyse + reject), adding bits in place, and a failed rebuild, on memory://."""
    local_wh, run_id, _ = local
    wh = open_warehouse(f"memory://neuroninfo-inbox-{uuid.uuid4().hex[:8]}")
    try:
        wh.fs.pipe_file(join(wh.inbox, "good.safetensors"), read_bytes(local_wh.checkpoint(run_id)))  # a user's upload
        wh.fs.pipe_file(join(wh.inbox, "corrupt.safetensors"), b"\x00garbage" * 100)
        wh.fs.pipe_file(join(wh.inbox, ".hidden"), b"skipped")
        pending = pending_files(wh.inbox)
        assert [f.path for f in pending] == [join(wh.inbox, "corrupt.safetensors"), join(wh.inbox, "good.safetensors")]
        outcomes = [inbox_stage.analyse_inbox_file(wh, f, bits=(1,), random_repeats=1, steps=2) for f in pending]
        assert [(o.status, o.run_id) for o in outcomes] == [("rejected", None), ("analysed", run_id)]
        rejected = join(wh.inbox, "rejected")
        assert list_files(rejected) == ["corrupt.safetensors", "corrupt.safetensors.reason.txt"]
        assert "not a safetensors checkpoint" in read_bytes(join(rejected, "corrupt.safetensors.reason.txt")).decode()
        assert pending_files(wh.inbox) == [] and list_files(join(wh.inbox, "done")) == ["good.safetensors"]
        assert query(wh, "SELECT run_id FROM runs").to_pylist() == [{"run_id": run_id}]
        assert read_bytes(wh.checkpoint(run_id)) == read_bytes(local_wh.checkpoint(run_id))
        assert stages.import_checkpoint(wh, join(wh.inbox, "done", "good.safetensors")) == run_id  # idempotent
        assert query(wh, "SELECT count(*) AS n FROM runs").to_pylist() == [{"n": 1}]

        # a complete store gains codes for new bits in place, equal to the local run's
        stages.capture_run(wh, run_id, bits=(1,))
        stages.capture_run(wh, run_id, bits=(2,))
        store, local_store = act.open_activations(wh, run_id), act.open_activations(local_wh, run_id)
        assert store.bits == [1, 2]
        for layer in store.layers:
            np.testing.assert_array_equal(store.codes("test", layer, 2), local_store.codes("test", layer, 2))
            np.testing.assert_array_equal(store.thresholds(layer, 2), local_store.thresholds(layer, 2))

        # a rebuild deletes the old store first (no rename on object stores); a failed one leaves nothing
        def crash(*args, **kwargs):
            raise RuntimeError("injected crash")

        monkeypatch.setattr(act, "write_train_mean", crash)
        with pytest.raises(RuntimeError, match="injected crash"):
            stages.capture_run(wh, run_id, bits=(1,), method="quantile")
        assert not exists(wh.activations(run_id))
        with pytest.raises(NeuronInfoError, match="no complete activation store"):
            act.open_activations(wh, run_id)
        monkeypatch.undo()
        stages.capture_run(wh, run_id, bits=(1,), method="quantile")
        assert act.open_activations(wh, run_id).method == "quantile"
    finally:
        remove_tree(wh.root)
