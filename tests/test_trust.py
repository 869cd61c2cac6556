"""The warehouse as an adversary would try it: hostile SQL, damaged files, held locks, a crafted inbox,
crash leftovers, bad arguments. Each case asserts the outcome: refused or contained, one clear line,
nothing lost, other runs unaffected. Cases are data: a new one is one line in a table below."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import duckdb
import pytest
import torch
from safetensors.torch import save as save_safetensors

from flows.cli import main
from flows.stages import train_run
from pipeline.errors import NeuronInfoError
from store.catalog import refresh_catalog
from store.checkpoints import load_run
from store.integrity import sha256_hex
from store.lifecycle import FORMAT_VERSION, prepare, remove_stale_temporaries
from store.partitions import problems
from store.paths import open_warehouse
from store.sandbox import query

CLI = [sys.executable, "-m", "flows.cli"]
TABLES = ("runs", "quantizers", "counts", "neuron_stats", "specific_info", "ablation_curves")


def rows_of(wh, table, run_id):
    """A table's rows of one run, sorted, as comparable tuples."""
    data = query(wh, f"SELECT * EXCLUDE (run_id) FROM {table} WHERE run_id = '{run_id}'").to_pylist()
    return sorted((tuple(sorted(r.items())) for r in data), key=repr)


def assert_rows_close(a, b):
    assert len(a) == len(b)
    for ra, rb in zip(a, b):
        for (ka, va), (kb, vb) in zip(ra, rb):
            assert ka == kb
            if isinstance(va, float):
                assert va == pytest.approx(vb, abs=1e-12, nan_ok=True), ka
            else:
                assert va == vb, ka


def run_cli(*args, timeout=300, env=None):
    out = subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout, env=env)
    return out.returncode, out.stdout, out.stderr


# ----------------------------------------------------------------------------- a read-only SQL surface

REFUSED = [  # (query, a word of the expected message); {part} is a run's Parquet file, {catalog} the catalog
    ("EXPLAIN ANALYZE COPY (SELECT 'forged' AS name) TO '{part}' (FORMAT parquet)", "EXPLAIN ANALYZE"),
    ("EXPLAIN (ANALYZE) SELECT 1", "EXPLAIN ANALYZE"),
    ("/* é */ EXPLAIN ANALYZE SELECT 1", "EXPLAIN ANALYZE"),  # a non-ASCII character shifts the tokenizer's byte offsets
    ("EXPLAIN /* é */ ANALYZE COPY (SELECT 'forged' AS name) TO '{part}' (FORMAT parquet)", "EXPLAIN ANALYZE"),
    ("EXPLAIN ANALYZE SET threads = 1", "EXPLAIN ANALYZE"),
    ("COPY (SELECT 1) TO '{part}' (FORMAT parquet)", "COPY"),
    ("SELECT 1; COPY (SELECT 1) TO '{catalog}'", "COPY"),
    ("PRAGMA import_database('/tmp')", "PRAGMA"),
    ("INSTALL httpfs", "an INSTALL or LOAD statement"),  # was named LOAD alone
    ("LOAD httpfs", "LOAD"),
    ("SET threads = 1", "SET"),
    ("CREATE TABLE t AS SELECT 1", "CREATE"),
    ("ATTACH '/tmp/neuroninfo-attack.duckdb'", "an ATTACH statement"),  # was "a ATTACH"
    ("PIVOT (SELECT 1 AS a, 2 AS b) ON a USING sum(b)", "IN ("),  # without IN it creates an enum type first
    ("SELECT * FROM read_csv('/etc/passwd')", "Permission"),
    ("SELECT * FROM read_text('/etc/hostname')", "Permission"),
    ("SELECT * FROM glob('/etc/*')", "Permission"),
    ("SELECT * FROM read_csv('https://example.com/x.csv')", "Permission"),
    ("SELECT * FROM read_parquet('{catalog}')", "Permission"),
    ("SELECT * FROM query('INSTALL httpfs')", "SELECT"),
    ("", "no SQL"),
]
ALLOWED = ["SELECT count(*) FROM runs", "FROM runs", "VALUES (1)", "DESCRIBE runs", "SHOW TABLES",
           "SUMMARIZE neuron_stats", "EXPLAIN SELECT * FROM neuron_stats", "WITH a AS (SELECT 1 AS x) SELECT * FROM a",
           "SELECT * FROM warehouse_problems", "PIVOT (SELECT 1 AS a, 2 AS b) ON a IN (1) USING sum(b)",
           "UNPIVOT (SELECT 1 AS a, 2 AS b) ON a, b INTO NAME k VALUE v"]


@pytest.mark.parametrize("sql, word", REFUSED)
def test_sql_refuses(warehouse, sql, word):
    wh, run_ids = warehouse
    part = wh.root / "tables" / "runs" / f"run_id={run_ids[0]}" / "data.parquet"
    before = {p: sha256_hex(p.read_bytes()) for p in (part, wh.catalog)}
    with pytest.raises(NeuronInfoError) as refused:
        query(wh, sql.format(part=part, catalog=wh.catalog))
    assert word.lower() in str(refused.value).lower() and "\n" not in str(refused.value)
    assert {p: sha256_hex(p.read_bytes()) for p in before} == before  # nothing written


@pytest.mark.parametrize("sql", ALLOWED)
def test_sql_allows_queries(warehouse, sql):
    query(warehouse[0], sql)


def test_sql_verb_refusal_is_one_line_exit_2(warehouse):
    wh, run_ids = warehouse
    code, out, err = run_cli("sql", "INSTALL httpfs", "--warehouse", str(wh.root))
    assert code == 2 and len(err.strip().splitlines()) == 1 and "read-only" in err


def test_sql_timeout_interrupts_the_query(warehouse):
    with pytest.raises(NeuronInfoError, match="timeout"):
        query(warehouse[0], "SELECT sum(a.range * b.range) FROM range(1000000000) a, range(1000) b", timeout=1)


def test_sql_ctrl_c_exits_130(warehouse):
    wh, _ = warehouse
    # SIGINT as a terminal delivers it: a test run started in the background (`make test &`) hands its children
    # SIGINT ignored, and Python then never turns it into KeyboardInterrupt
    proc = subprocess.Popen([*CLI, "sql", "SELECT sum(a.range * b.range) FROM range(1000000000) a, range(1000) b",
                             "--warehouse", str(wh.root)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    time.sleep(6)  # past start-up, inside the query (it runs for hours)
    assert proc.poll() is None
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and err.strip().splitlines() == ["neuroninfo sql: interrupted"]


# ----------------------------------------------------------------------------- damage: found, contained, repaired

def zarr_chunk(wh, run_id):
    return wh.root / "activations" / f"{run_id}.zarr" / "val" / "layer1" / "raw" / "c.0.0"


def truncate(path: Path):
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])


def flip_a_bit(path: Path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x10
    path.write_bytes(bytes(data))


def part(table):
    return lambda wh, run_id: wh.root / "tables" / table / f"run_id={run_id}" / "data.parquet"


DAMAGE = [  # (name, file of the run, how, what verify names, derivable)
    ("zarr chunk deleted", zarr_chunk, Path.unlink, "is missing", True),
    ("zarr chunk truncated", zarr_chunk, truncate, "chunk 0/0", True),
    ("zarr chunk bit flipped", zarr_chunk, flip_a_bit, "checksum", True),
    ("neuron_stats truncated", part("neuron_stats"), truncate, "neuron_stats", True),
    ("counts bit flipped", part("counts"), flip_a_bit, "checksum", True),
    ("ablation_curves deleted", part("ablation_curves"), Path.unlink, "file is missing", True),
    ("runs truncated", part("runs"), truncate, "runs", True),
    ("quantizers deleted", part("quantizers"), Path.unlink, "quantizers", True),
    ("checkpoint truncated", lambda wh, r: wh.checkpoint(r), truncate, "does not match its run_id", False),
]


@pytest.mark.parametrize("name, where, damage, named, derivable", DAMAGE, ids=[d[0] for d in DAMAGE])
def test_damage_is_found_contained_and_repaired(warehouse, name, where, damage, named, derivable, run_verb):
    wh, (damaged, healthy) = warehouse
    before = {t: rows_of(wh, t, damaged) for t in TABLES}
    other = {t: rows_of(wh, t, healthy) for t in TABLES}
    damage(where(wh, damaged))

    # contained: the other run and unrelated queries are untouched
    assert query(wh, "SELECT 1 AS one").to_pylist() == [{"one": 1}]
    assert {t: rows_of(wh, t, healthy) for t in TABLES} == other
    train_run(wh, replace(load_run(wh, healthy).spec, seed=7), progress=False)  # an unrelated run still trains
    if "tables" in str(where(wh, damaged)) and damage is not flip_a_bit:  # the cheap check (size, magic bytes) leaves
        # a damaged partition out of the views, by name; a flipped bit inside is for verify (full checksum)
        assert any(p.run_id == damaged for p in problems(wh))
        assert query(wh, f"SELECT count(*) AS n FROM warehouse_problems WHERE run_id = '{damaged}'").to_pylist()[0]["n"] >= 1

    code, out, err = run_verb("verify", damaged, "--warehouse", str(wh.root))
    assert code == 3 and named in out, out + err
    assert all(line.startswith(f"run {damaged}") for line in out.splitlines()[:-1])

    code, out, err = run_verb("verify", "--repair", damaged, "--warehouse", str(wh.root))
    if not derivable:
        assert code == 3 and "cannot be recomputed" in out
        return
    assert code == 0, out + err
    for table in TABLES:
        assert_rows_close(rows_of(wh, table, damaged), before[table])
    assert run_verb("verify", "--warehouse", str(wh.root))[0] == 0  # checksums re-recorded


def test_a_stage_on_a_damaged_store_fails_with_one_line_naming_the_chunk(warehouse):
    wh, (run_id, _) = warehouse
    zarr_chunk(wh, run_id).unlink()
    code, out, err = run_cli("measure", run_id, "--warehouse", str(wh.root))
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "val/layer1/raw chunk 0/0 is missing" in err


def test_legacy_warehouse_is_upgraded_not_flagged(warehouse):
    wh, run_ids = warehouse
    for record in wh.root.rglob("*.manifest.json"):
        record.unlink()
    (wh.root / "warehouse.json").unlink()
    prepare(wh.root)
    assert json.loads((wh.root / "warehouse.json").read_text()) == {"format_version": FORMAT_VERSION}
    assert run_cli("verify", "--warehouse", str(wh.root))[0] == 0


# ----------------------------------------------------------------------------- the catalog file

def test_a_reader_holding_the_catalog_never_blocks_a_writer(warehouse):
    wh, (run_id, _) = warehouse
    refresh_catalog(wh)
    holder = subprocess.Popen([sys.executable, "-c", (
        "import duckdb, sys, time; con = duckdb.connect(sys.argv[1], read_only=True);"
        "print(con.sql('SELECT count(*) FROM runs').fetchall()[0][0], flush=True); time.sleep(600)"), str(wh.catalog)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "2"
        code, out, err = run_cli("measure", run_id, "--warehouse", str(wh.root))
        assert code == 0 and "locked" not in err
    finally:
        holder.kill()


def test_a_corrupt_catalog_is_recreated(warehouse):
    wh, _ = warehouse
    wh.catalog.write_bytes(b"not a database" * 100)
    assert run_cli("sql", "SELECT 1", "--warehouse", str(wh.root))[0] == 0
    con = duckdb.connect(str(wh.catalog), read_only=True)
    assert con.sql("SELECT count(*) FROM runs").fetchall() == [(2,)]
    con.close()


def test_a_moved_warehouse_keeps_working(warehouse, tmp_path):
    wh, _ = warehouse
    moved = tmp_path / "moved"
    shutil.move(wh.root, moved)
    code, out, err = run_cli("sql", "SELECT count(*) AS n FROM runs", "--warehouse", str(moved), "--format", "csv")
    assert code == 0 and out.split()[-1] == "2", err
    con = duckdb.connect(str(moved / "catalog.duckdb"), read_only=True)  # a user's own session
    assert con.sql("SELECT count(*) FROM neuron_stats").fetchall()[0][0] > 0
    con.close()


# ----------------------------------------------------------------------------- lifecycle

def test_rm_removes_a_run_and_everything_derived(warehouse):
    wh, (gone, kept) = warehouse
    code, out, err = run_cli("rm", gone, "--warehouse", str(wh.root))
    assert code == 0, err
    for table in TABLES:
        assert rows_of(wh, table, gone) == []
        assert rows_of(wh, table, kept) != []
    assert not wh.checkpoint(gone).exists() and not (wh.root / "activations" / f"{gone}.zarr").exists()
    assert problems(wh) == []


def test_crash_leftovers_are_removed_by_the_next_run(warehouse):
    wh, (run_id, _) = warehouse
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    host, dead_pid = socket.gethostname(), int(dead.stdout)
    stale_file = wh.root / "tables" / "runs" / f"run_id={run_id}" / f".data.parquet.{host}-{dead_pid}-0123abcd.tmp"
    stale_dir = wh.root / "activations" / f".{run_id}.zarr.{host}-{dead_pid}-0123abcd.tmp"
    live = wh.root / "checkpoints" / f".x.safetensors.{host}-{os.getpid()}-0123abcd.tmp"  # a writer still at work
    stale_file.write_bytes(b"half")
    stale_dir.mkdir()
    live.write_bytes(b"in progress")
    removed = remove_stale_temporaries(wh)
    assert sorted(removed) == sorted([str(stale_file), str(stale_dir)])
    assert live.exists()


def test_gc_removes_old_rejected_files_and_says_so(warehouse):
    wh, _ = warehouse
    rejected = wh.inbox / "rejected"
    rejected.mkdir(parents=True)
    old, new = rejected / "old.safetensors", rejected / "new.safetensors"
    old.write_bytes(b"x")
    new.write_bytes(b"y")
    os.utime(old, (time.time() - 3 * 3600, time.time() - 3 * 3600))
    code, out, err = run_cli("gc", "--older-than", "2", "--warehouse", str(wh.root))
    assert code == 0 and str(old) in out and "1 item(s) removed" in out
    assert not old.exists() and new.exists()


# ----------------------------------------------------------------------------- arguments: one line, exit 2

ARGUMENTS = [  # (argv with {wh} the warehouse, {run} a run_id, {file} a plain file, {missing} no warehouse, {garbage} a
    # garbage .npz, message word)
    (["sql", "SELECT 1", "--warehouse", "{file}"], "is a file"),
    (["train", "--dataset", "synthetic", "--warehouse", "{file}"], "is a file"),
    (["sql", "SELECT 1", "--warehouse", "nosuchprotocol://bucket/x"], "cannot open warehouse"),
    (["sql", "SELECT 1", "--warehouse", "{missing}"], "no warehouse"),
    (["report", "--warehouse", "{missing}"], "no warehouse"),
    (["verify", "--warehouse", "{missing}"], "no warehouse"),
    (["capture", "{run}", "--splits", "val,../x", "--warehouse", "{wh}"], "unknown split"),
    (["capture", "{run}", "--bits", ",,,", "--warehouse", "{wh}"], "at least one integer"),
    (["capture", "{run}", "--bits", "1,x", "--warehouse", "{wh}"], "comma-separated integers"),
    (["capture", "{run}", "--bits", "9", "--warehouse", "{wh}"], "bits"),
    (["ablate", "{run}", "--strategy", ",", "--warehouse", "{wh}"], "at least one"),
    (["pairs", "{run}", "--workers", "0", "--warehouse", "{wh}"], "--workers"),
    (["sql", "SELECT 1", "--timeout", "-3", "--warehouse", "{wh}"], "positive"),
    (["gc", "--older-than", "soon", "--warehouse", "{wh}"], "positive"),
    (["rm", "0123456789abcdef", "--warehouse", "{wh}"], "unknown run_id"),
    (["verify", "0123456789abcdef", "--warehouse", "{wh}"], "unknown run_id"),
    (["measure", "not-a-run", "--warehouse", "{wh}"], "not a run_id"),
    (["ablate", "{run}", "--random-repeats", "1000000000", "--warehouse", "{wh}"], "random_repeats"),  # ran unbounded
    (["ablate", "{run}", "--random-repeats", "-1", "--warehouse", "{wh}"], "random_repeats"),
    (["train", "--dataset", "synthetic-4", "--hidden", "1000000000", "--warehouse", "{wh}"], "parameters"),  # rc 1
    (["train", "--dataset", "npz:{file}", "--warehouse", "{wh}"], "cannot be read as .npz"),
    (["train", "--dataset", "npz:{garbage}", "--warehouse", "{wh}"], "cannot be read as .npz"),  # rc 1, a traceback
    (["sql", "SELECT 1", "--storage-options", "{{not json", "--warehouse", "{wh}"], "JSON object"),  # ignored, rc 0
    (["sql", "SELECT 1", "--storage-options", "[1]", "--warehouse", "{wh}"], "JSON object"),
]


@pytest.mark.parametrize("argv, word", ARGUMENTS, ids=[" ".join(a[:2]) + f" #{i}" for i, (a, _) in enumerate(ARGUMENTS)])
def test_bad_arguments_are_one_line_and_exit_2(warehouse, tmp_path, capsys, argv, word):
    wh, (run_id, _) = warehouse
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    missing = tmp_path / "no" / "warehouse"
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"PK\x03\x04" + b"garbage" * 10)  # a zip's magic, then nothing of a zip
    argv = [a.format(wh=wh.root, run=run_id, file=plain, missing=missing, garbage=garbage) for a in argv]
    try:
        code = main(argv)
    except SystemExit as e:  # argparse
        code = e.code
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and word in err, err
    assert not missing.exists()  # read verbs never create a warehouse


def test_duplicate_bits_are_deduplicated(warehouse, capsys):
    wh, (run_id, _) = warehouse
    assert main(["capture", run_id, "--bits", "1,1,2", "--warehouse", str(wh.root)]) == 0
    rows = query(wh, f"SELECT layer, bits, count(*) AS n FROM quantizers WHERE run_id = '{run_id}' GROUP BY ALL").to_pylist()
    assert {r["n"] for r in rows} == {1} and sorted({r["bits"] for r in rows}) == [1, 2]


# ----------------------------------------------------------------------------- an inbox that never stops

def crafted(spec: dict, tensors: dict | None = None) -> bytes:
    """A safetensors file whose spec claims ``spec`` (tensors small or given)."""
    tensors = tensors or {"linear.0.weight": torch.zeros(2, 2)}
    return save_safetensors(tensors, metadata={"spec": json.dumps(spec)})


def test_inbox_rejects_each_bad_file_alone_and_analyses_the_rest(warehouse, tiny_spec, tmp_path, prefect_server):
    wh, (known, _) = warehouse
    inbox = wh.inbox
    other = open_warehouse(tmp_path / "other")
    fresh = train_run(other, replace(tiny_spec, seed=5), progress=False)
    trained_spec = replace(tiny_spec, input_mean=(0.5,), input_std=(0.3,))  # a checkpoint's spec has its input stats
    spec = json.loads(trained_spec.to_json())
    shutil.copy(other.checkpoint(fresh), inbox / "fresh.safetensors")
    (inbox / "fresh.json").write_text("{}")  # its sidecar travels with it
    shutil.copy(wh.checkpoint(known), inbox / "again.safetensors")  # a duplicate of a complete run
    (inbox / "huge.safetensors").write_bytes(crafted(spec | {"hidden_sizes": [10**9]}))
    (inbox / "abc.safetensors").write_bytes(crafted(spec | {"hidden_sizes": ["abc"]}))
    (inbox / "seed.safetensors").write_bytes(crafted(spec | {"seed": 2**70}))
    model = load_run(other, fresh)
    tensors = {k: v * 1e30 if "weight" in k else v for k, v in model.checkpoint_tensors().items()}  # finite, overflows
    (inbox / "overflow.safetensors").write_bytes(save_safetensors(tensors, metadata={"spec": trained_spec.to_json()}))
    (inbox / "pickle.pt").write_bytes(b"\x80\x04\x95" + b"\x00" * 40)
    (inbox / "rejected").write_bytes(b"a file squatting on a reserved name")
    (inbox / "link.safetensors").symlink_to(other.checkpoint(fresh))

    code, out, err = run_cli("reanalyze", "--warehouse", str(wh.root), "--steps", "4", "--random-repeats", "1", timeout=600,
                             env=dict(os.environ, **prefect_server))
    assert code == 3, out + err
    assert "1 analysed, 7 rejected" in out
    done = sorted(p.name for p in (inbox / "done").iterdir())
    assert done == sorted(["again.safetensors", "again.safetensors.note.txt", "fresh.safetensors", "fresh.json"])
    assert f"duplicate of run {known}" in (inbox / "done" / "again.safetensors.note.txt").read_text()
    reasons = {p.name[: -len(".reason.txt")]: p.read_text() for p in (inbox / "rejected").glob("*.reason.txt")}
    assert set(reasons) >= {"huge.safetensors", "abc.safetensors", "seed.safetensors", "overflow.safetensors",
                            "pickle.pt", "link.safetensors"}
    assert "does not match its spec" in reasons["huge.safetensors"] and "seed" in reasons["seed.safetensors"]
    assert "symbolic link" in reasons["link.safetensors"] and "pickle" in reasons["pickle.pt"]
    assert [p.name for p in inbox.iterdir() if p.is_file()] == []  # every file left the inbox
    assert rows_of(wh, "ablation_curves", fresh)  # the valid file was analysed completely
    overflow_run = [r for r in query(wh, "SELECT run_id FROM runs").to_pylist() if r["run_id"] not in (known, fresh)]
    assert len(overflow_run) == 1  # only the base's second run: the overflowing file left nothing behind


# ----------------------------------------------------------------------------- no orphaned Prefect server

def servers_owned_by(pid: int) -> list[int]:
    """Processes started with NEURONINFO_SERVER_OWNER=<pid> (the CLI's private Prefect server)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and f"NEURONINFO_SERVER_OWNER={pid}".encode() in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            pass
    return found


@pytest.mark.skipif(sys.platform != "linux", reason="the kernel's parent-death signal is Linux's")
def test_the_cli_prefect_server_never_outlives_the_cli(tmp_path):
    env = dict(os.environ, PREFECT_HOME=str(tmp_path / "prefect_home"))
    env.pop("PREFECT_API_URL", None)
    cli = subprocess.Popen([*CLI, "reanalyze", "--warehouse", str(tmp_path / "wh")], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not servers_owned_by(cli.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    server = servers_owned_by(cli.pid)
    assert server, "the CLI started no private server"
    cli.kill()  # SIGKILL: no cleanup code of the CLI runs
    cli.wait()
    deadline = time.monotonic() + 60
    while any(map(running, server)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(map(running, server))


def running(pid: int) -> bool:
    """Is the process there and not a zombie?"""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False
