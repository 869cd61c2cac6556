"""The warehouse as an adversary would try it, second pass (issue 30): the files a warehouse trusts besides its
data (Zarr metadata, integrity records, warehouse.json), the connection handed to users, what a dropped file may
make the inbox read, and values that would allocate without bound. The fixtures and helpers are test_trust's."""
import json
import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from safetensors.torch import save as save_safetensors

from flows.inbox_stage import analyse_inbox_file
from flows.stages import train_run
from store.checkpoints import load_run
from store.imports import read_import
from store.inbox import InboxFile
from store.integrity import sha256_hex
from store.lifecycle import prepare
from store.partitions import problems as problems_of
from store.report_data import report_tables
from store.paths import open_warehouse
from store.sandbox import query
from test_trust import assert_rows_close, rows_of

# ----------------------------------------------------------------------------- Zarr metadata under checksum


def garbage(path):
    path.write_bytes(b"{ not json at all")


def huge_shape(path):
    meta = json.loads(path.read_bytes())
    meta["shape"] = [10**12, meta["shape"][1]]
    path.write_text(json.dumps(meta))


def deleted(path):
    path.unlink()


ZARR_DAMAGE = [  # (run index, array or group of the store, how): each kind of zarr.json, spread over both runs
    (0, "val/layer1/raw", garbage),  # an array's metadata: JSONDecodeError in verify, which stopped there
    (0, "val", deleted),  # a group's metadata
    (0, "", garbage),  # the root group's metadata (its attributes say the store is complete)
    (1, "val/layer2/raw", huge_shape),  # 10^12 rows: verify, repair and measure tried to allocate 87 TiB
    (1, "val/layer1/codes_b1", deleted),  # verify said "0 problem(s) found", measure then failed with KeyError
    (1, "train_mean/layer1", garbage),
    (1, "val/labels", deleted),
]


def zarr_json(wh, run_id, node):
    return wh.activations(run_id).joinpath(*[p for p in node.split("/") if p], "zarr.json")


def test_verify_names_every_damaged_zarr_json_of_every_run_and_exits_3(warehouse, capsys, run_verb):
    wh, run_ids = warehouse
    damaged = []
    for index, node, damage in ZARR_DAMAGE:
        path = zarr_json(wh, run_ids[index], node)
        damage(path)
        damaged.append(str(path))
    code, out, err = run_verb("verify", "--warehouse", str(wh.root))
    assert code == 3, out + err
    for path in damaged:
        assert path in out, (path, out)
    assert out.splitlines()[-1].startswith(f"{len(damaged)} problem(s) found")


def test_a_stage_on_damaged_metadata_fails_with_one_line_naming_the_file(warehouse, capsys, run_verb):
    wh, (run_id, other) = warehouse
    for node, damage in [("val/layer2/raw", huge_shape), ("val/layer1/codes_b1", deleted)]:
        path = zarr_json(wh, run_id, node)
        saved = path.read_bytes()
        damage(path)
        code, out, err = run_verb("measure", run_id, "--warehouse", str(wh.root))
        assert code == 2 and len(err.strip().splitlines()) == 1 and str(path) in err, err
        path.write_bytes(saved)
    assert run_verb("measure", other, "--warehouse", str(wh.root))[0] == 0  # the other run is untouched


def test_damaged_metadata_is_repaired_to_equal_rows(warehouse, capsys, run_verb):
    wh, (run_id, _) = warehouse
    before = rows_of(wh, "neuron_stats", run_id)
    huge_shape(zarr_json(wh, run_id, "val/layer1/raw"))
    deleted(zarr_json(wh, run_id, "val/layer2/codes_b2"))
    code, out, err = run_verb("verify", "--repair", run_id, "--warehouse", str(wh.root))
    assert code == 0, out + err
    assert_rows_close(rows_of(wh, "neuron_stats", run_id), before)
    assert run_verb("verify", "--warehouse", str(wh.root))[0] == 0


def test_a_legacy_store_with_a_shape_beyond_its_chunks_is_not_recorded(warehouse, capsys, run_verb):
    wh, (run_id, other) = warehouse
    for record in (wh.root / "activations").glob("*.manifest.json"):
        record.unlink()
    (wh.root / "warehouse.json").write_text(json.dumps({"format_version": 2}))
    huge_shape(zarr_json(wh, run_id, "val/layer1/raw"))
    prepare(wh.root)  # the upgrade records the metadata of the other store only
    code, out, err = run_verb("verify", "--warehouse", str(wh.root))
    assert code == 3 and f"run {run_id}: activations: its metadata has no integrity record" in out, out
    assert f"run {other}" not in out


# ----------------------------------------------------------------------------- connections handed to users write nothing

WRITES = [  # statements a user may run on api.connect(); {part} is a run's Parquet file
    "COPY (SELECT 1 AS x) TO '{part}' (FORMAT csv, USE_TMP_FILE false)",  # the issue's: it overwrote the file
    "COPY (SELECT 1 AS x) TO '{part}' (FORMAT parquet)",
    "COPY (SELECT 1 AS x) TO 'neuroninfo-readonly://{part}' (FORMAT csv, USE_TMP_FILE false)",  # through the reader
    "COPY (SELECT 1 AS x) TO '.tmp/forged.csv'",  # DuckDB's temporary directory under the working directory
    "SELECT * FROM read_csv('.tmp/forged.csv')",
    "ATTACH '{root}/tables/forged.duckdb'",
]


@pytest.mark.parametrize("sql", WRITES)
def test_a_users_connection_writes_nothing(warehouse, sql, tmp_path, monkeypatch):
    from flows import api

    wh, (run_id, _) = warehouse
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".tmp").mkdir()
    (tmp_path / ".tmp" / "forged.csv").write_text("x\n1\n")
    part = wh.root / "tables" / "runs" / f"run_id={run_id}" / "data.parquet"
    files = sorted(p for p in wh.root.rglob("*") if p.is_file())
    before = {p: sha256_hex(p.read_bytes()) for p in files}
    con = api.connect(wh.root)
    with pytest.raises(Exception):  # noqa: B017 - DuckDB's permission error, or the read-only filesystem's
        con.execute(sql.format(part=part, root=wh.root))
    con.close()
    assert sorted(p for p in wh.root.rglob("*") if p.is_file()) == files
    assert {p: sha256_hex(p.read_bytes()) for p in files} == before
    assert sorted(p.name for p in (tmp_path / ".tmp").iterdir()) == ["forged.csv"]


def test_the_read_only_reader_gives_the_bytes_of_a_file_scanned_by_many_threads(tmp_path):
    """DuckDB scans the row groups of one Parquet file from several threads through one handle, as seek then
    read: the reader must give each thread its bytes (the first version gave another thread's: 15 of 20 scans
    of this file failed with 'Invalid data' or a ZSTD error, and a real pairs table failed in CI)."""
    import duckdb
    import fsspec

    from store.readonly_fs import PROTOCOL, ReadOnlyFileSystem

    rng = np.random.default_rng(0)
    values, classes = rng.random(1_000_000), rng.integers(0, 1000, 1_000_000)
    pq.write_table(pa.table({"value": values, "cls": classes}), tmp_path / "many.parquet", row_group_size=25_000)
    con = duckdb.connect(config={"threads": 4})
    con.register_filesystem(ReadOnlyFileSystem(fsspec.filesystem("file")))
    for _ in range(10):
        [(total, class_total, rows)] = con.sql(
            f"SELECT sum(value), sum(cls), count(*) FROM '{PROTOCOL}://{tmp_path}/many.parquet'").fetchall()
        assert rows == 1_000_000 and class_total == int(classes.sum())
        assert total == pytest.approx(float(values.sum()), rel=1e-12)
    con.close()


def test_a_users_connection_still_reads_every_view(warehouse):
    from flows import api

    wh, run_ids = warehouse
    con = api.connect(wh.root)
    assert con.sql("SELECT count(DISTINCT run_id) FROM neuron_stats").fetchall() == [(2,)]
    con.close()


# ----------------------------------------------------------------------------- the inbox reads only what it is given

def npz_checkpoint(wh, run_id, dataset) -> bytes:
    """A run's checkpoint, its spec naming ``dataset`` (the public form: the spec travels in the file)."""
    model = load_run(wh, run_id)
    spec = json.loads(model.spec.to_json()) | {"dataset": dataset}
    return save_safetensors(model.checkpoint_tensors(), metadata={"spec": json.dumps(spec)})


def test_the_inbox_reads_npz_datasets_only_from_the_data_folder(warehouse, tmp_path):
    wh, (run_id, _) = warehouse
    private, data_folder = tmp_path / "private", tmp_path / "data"
    private.mkdir()
    data_folder.mkdir()
    rng = np.random.default_rng(0)
    arrays = {"x_train": rng.random((200, 64), dtype=np.float32), "y_train": np.arange(200) % 4,
              "x_test": rng.random((40, 64), dtype=np.float32), "y_test": np.arange(40) % 4}
    np.savez(private / "secret.npz", **arrays)
    np.savez(data_folder / "shared.npz", **arrays)
    names = {"exists": f"npz:{private / 'secret.npz'}", "missing": f"npz:{private / 'nothing.npz'}",
             "climbs": f"npz:{data_folder}/../private/secret.npz"}
    reasons = {}
    for key, dataset in names.items():
        path = wh.inbox / f"{key}.safetensors"
        path.write_bytes(npz_checkpoint(wh, run_id, dataset))
        outcome = analyse_inbox_file(wh, InboxFile(path), data_dir=data_folder, random_repeats=1, steps=4)
        assert outcome.status == "rejected", outcome
        reasons[key] = outcome.reason.replace(dataset, "<dataset>")
    assert len(set(reasons.values())) == 1 and "data folder" in reasons["exists"], reasons  # says nothing of existence
    assert query(wh, "SELECT count(*) AS n FROM runs").to_pylist() == [{"n": 2}]  # nothing of the private file landed
    inside = wh.inbox / "inside.safetensors"
    inside.write_bytes(npz_checkpoint(wh, run_id, f"npz:{data_folder / 'shared.npz'}"))
    assert read_import(inside, untrusted=True, data_dir=data_folder).model.spec.dataset.endswith("shared.npz")


# ----------------------------------------------------------------------------- unrecorded files are reported, never blessed

def forge_run(wh, run_id, forged="f0f0f0f0f0f0f0f0"):
    """Copy a run's runs and neuron_stats partitions to a new run_id, mutual_info set to 99 (no integrity record)."""
    for table in ("runs", "neuron_stats"):
        data = pq.read_table(wh.partition(table, run_id) / "data.parquet")
        if table == "neuron_stats":
            data = data.set_column(data.schema.get_field_index("mutual_info"), "mutual_info",
                                   pa.array([99.0] * data.num_rows))
        wh.partition(table, forged).mkdir(parents=True)
        pq.write_table(data, wh.partition(table, forged) / "data.parquet")
    return forged


def test_an_unrecorded_partition_is_reported_and_never_blessed(warehouse, capsys, run_verb):
    wh, (run_id, _) = warehouse
    forged = forge_run(wh, run_id)
    code, out, err = run_verb("sql", "SELECT max(mutual_info) AS m FROM neuron_stats", "--warehouse", str(wh.root),
                              "--format", "csv")
    assert code == 0 and float(out.split()[-1]) < 99 and "warning" in err and forged in err, out + err
    found = query(wh, f"SELECT table_name FROM (SELECT kind AS table_name, problem FROM warehouse_problems WHERE run_id = '{forged}')").to_pylist()
    assert sorted(r["table_name"] for r in found) == ["neuron_stats", "runs"]
    (wh.root / "warehouse.json").unlink()  # the next read verb must not take the warehouse for a format-1 one
    assert run_verb("sql", "SELECT 1", "--warehouse", str(wh.root))[0] == 0
    assert not list(wh.root.glob(f"tables/*/run_id={forged}/*.manifest.json"))
    assert query(wh, f"SELECT count(*) AS n FROM runs WHERE run_id = '{forged}'").to_pylist() == [{"n": 0}]


# ----------------------------------------------------------------------------- copies of one checkpoint in one batch

def test_copies_of_one_checkpoint_are_analysed_once(warehouse, tiny_spec, tmp_path, monkeypatch):
    import flows.inbox_stage as inbox_stage

    wh, _ = warehouse
    other = open_warehouse(tmp_path / "other")
    fresh = train_run(other, replace(tiny_spec, seed=6), progress=False)
    analyses, real = [], inbox_stage.analyse_run

    def slow_analysis(*args, **kwargs):  # widens the window in which a sibling could start the same run
        analyses.append(args[1])
        time.sleep(0.5)
        return real(*args, **kwargs)

    monkeypatch.setattr(inbox_stage, "analyse_run", slow_analysis)
    copies = [wh.inbox / f"copy{i}.safetensors" for i in range(4)]
    for copy in copies:
        shutil.copy(other.checkpoint(fresh), copy)
    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(lambda p: analyse_inbox_file(wh, InboxFile(p), random_repeats=1, steps=4), copies))
    assert sorted(o.status for o in outcomes) == ["analysed", "duplicate", "duplicate", "duplicate"], outcomes
    assert analyses == [fresh]
    notes = sorted((wh.inbox / "done").glob("*.note.txt"))
    assert len(notes) == 3 and all(f"duplicate of run {fresh}" in n.read_text() for n in notes)
    assert query(wh, f"SELECT count(*) AS n FROM ablation_curves WHERE run_id = '{fresh}'").to_pylist()[0]["n"] > 0


def test_a_held_catalog_lock_is_waited_for_with_a_message(warehouse, capsys):
    import fcntl
    import threading

    from store.catalog import refresh_catalog

    wh, _ = warehouse
    with open(wh.root / ".catalog.lock", "a+") as held:  # another holder (flock is per open file)
        fcntl.flock(held, fcntl.LOCK_EX)
        writer = threading.Thread(target=refresh_catalog, args=(wh,))
        writer.start()
        deadline = time.monotonic() + 30
        while "waiting for the catalog lock" not in capsys.readouterr().err and time.monotonic() < deadline:
            time.sleep(0.05)
        assert time.monotonic() < deadline and writer.is_alive()
        fcntl.flock(held, fcntl.LOCK_UN)
    writer.join(60)
    assert not writer.is_alive()


# ----------------------------------------------------------------------------- bounds before allocation

@pytest.mark.parametrize("label", [1000, 10**9])
def test_npz_labels_beyond_the_classes_bound_are_one_line(warehouse, tmp_path, capsys, label, run_verb):
    wh, _ = warehouse
    y = np.arange(100) % 4
    y[0] = label  # 1000: taken for 1001 classes; 10**9: a 32 GB allocation
    path = tmp_path / "labels.npz"
    np.savez(path, x_train=np.zeros((100, 64), np.float32), y_train=y, x_test=np.zeros((10, 64), np.float32),
             y_test=np.arange(10) % 4)
    code, out, err = run_verb("train", "--dataset", f"npz:{path}", "--warehouse", str(wh.root))
    assert code == 2 and len(err.strip().splitlines()) == 1 and "relabel the classes" in err, err


# ----------------------------------------------------------------------------- damage inside a page stays with its run

def test_a_damaged_page_of_one_run_never_breaks_another_runs_report(warehouse):
    wh, (damaged, healthy) = warehouse
    for table in ("neuron_stats", "ablation_curves"):  # a bit inside the data pages: magic bytes and size still pass
        path = wh.partition(table, damaged) / "data.parquet"
        data = bytearray(path.read_bytes())
        for at in range(64, len(data) // 2, 97):
            data[at] ^= 0x5A
        path.write_bytes(bytes(data))
    assert not [p for p in problems_of(wh) if p.run_id == damaged]  # the cheap check cannot see it
    tables = report_tables(wh, [healthy])  # what `report --run` charts (without drawing the PNGs: 30 s here)
    assert tables["runs"].column("run_id").to_pylist() == [healthy]


def test_gc_removes_every_kind_of_leftover(warehouse, capsys, run_verb):
    import socket

    wh, _ = warehouse
    old = time.time() - 3 * 3600
    wal = wh.root / f".catalog.duckdb.{socket.gethostname()}-999999-0123abcd.tmp.wal"  # a dead writer's DuckDB WAL
    link = wh.inbox / "rejected" / "link.safetensors"  # a rejected symbolic link, dangling
    batch = wh.inbox / "batch" / "rejected" / "net.safetensors"  # a batch folder's own rejected/
    scratch = wh.root / ".work" / "pairs-0123456789abcdef-1-dead" / "00000.parquet"  # a killed pairs driver's blocks
    busy = wh.root / ".work" / "pairs-0123456789abcdef-1-busy" / "00001.parquet"  # one still writing: a new file
    for path in (link, batch, scratch, busy):
        path.parent.mkdir(parents=True, exist_ok=True)
    wal.write_bytes(b"wal")
    link.symlink_to(wh.root / "nothing-here")
    for path in (batch, scratch, busy, busy.with_name("00000.parquet")):
        path.write_bytes(b"x")
    for path in (wal, batch, scratch, busy.with_name("00000.parquet")):
        os.utime(path, (old, old))
    os.utime(link, (old, old), follow_symlinks=False)
    code, out, err = run_verb("gc", "--older-than", "2", "--warehouse", str(wh.root))
    assert code == 0 and str(link) in out and str(batch) in out and str(scratch.parent) in out, out + err  # the WAL goes as the verb opens the warehouse
    assert not any(os.path.lexists(p) for p in (wal, link, batch, scratch.parent))
    assert busy.exists() and busy.with_name("00000.parquet").exists()
