"""A warehouse's life: its format version and in-place upgrade, crash leftovers, removing a run, gc.

``warehouse.json`` records the format version. Version 1 had no integrity records: opening it records the size
and checksum of every Parquet file that still reads and every checkpoint that matches its run_id. Version 2 had
none of activation stores' metadata: opening it records each store's ``zarr.json`` checksums when they pass
``legacy_problems``. Version 3 had no compacted segments (store.segments): its per-run files are version 4's tail, so
upgrading only records the version (a neuroninfo that cannot read segments then refuses the warehouse instead of
missing runs). A warehouse that already has records of a kind never gets that kind recorded in bulk again
(a lost ``warehouse.json`` does not make forged files trusted): a file without a record stays one, reported.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import socket
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.errors import NeuronInfoError
from store.atomic import TMP_SUFFIX, write_bytes
from store.integrity import MANIFEST_SUFFIX, manifest_path, read_record, record, sha256_hex
from store.paths import (Warehouse, age_of, exists, filesystem, join, list_dirs, list_files, open_warehouse, read_bytes,
                         remove_tree)
from store.tables import DATA_FILE, EMPTY_PARTITION
from store.zarr_metadata import legacy_problems, record_metadata

FORMAT_FILE = "warehouse.json"
FORMAT_VERSION = 4
STALE_AFTER_S = 24 * 3600  # a temporary from another host (or an unknown writer) is stale after this long
_OWNER = re.compile(r"\.(?P<host>[^.]+)-(?P<pid>\d+)-[0-9a-f]{8}(\.old)?\.tmp(\.wal)?$")  # .wal: DuckDB's beside a catalog


def prepare(path=None, create: bool = True) -> Warehouse:
    """Open the warehouse for a verb or flow: upgrade an older format, remove crash leftovers."""
    wh = open_warehouse(path, create=create)
    upgrade(wh)
    if wh.local:
        remove_stale_temporaries(wh)
    return wh


def format_version(wh: Warehouse) -> int:
    try:
        return int(json.loads(read_bytes(join(wh.root, FORMAT_FILE)))["format_version"])
    except FileNotFoundError:
        return 1
    except (ValueError, KeyError, TypeError):
        raise NeuronInfoError(f"{join(wh.root, FORMAT_FILE)} is unreadable; restore it or write {{\"format_version\": {FORMAT_VERSION}}}") from None


def upgrade(wh: Warehouse) -> list[str]:
    """Bring the warehouse to FORMAT_VERSION in place; return what was recorded (empty when current)."""
    version = format_version(wh)
    if version > FORMAT_VERSION:
        raise NeuronInfoError(f"warehouse {wh.root} has format {version}, newer than this neuroninfo ({FORMAT_VERSION}); upgrade neuroninfo")
    if version == FORMAT_VERSION:
        return []
    recorded = []
    if version < 2 and not _any_record(wh.tables) and not _any_record(wh.checkpoints):
        recorded += _record_files(wh)
    if version < 3 and not _any_record(join(wh.root, "activations"), depth=1):
        recorded += _record_store_metadata(wh)
    write_bytes(join(wh.root, FORMAT_FILE), json.dumps({"format_version": FORMAT_VERSION}).encode())
    return recorded


def _any_record(folder, depth: int | None = None) -> bool:
    """Does any integrity record exist under ``folder`` (``depth`` 1: in it)? The zero-row schema files' records
    (which every view build writes) do not count."""
    fs, path = filesystem(folder)
    try:
        names = fs.find(path, maxdepth=depth)
    except FileNotFoundError:
        return False
    return any(n.endswith(MANIFEST_SUFFIX) and f"run_id={EMPTY_PARTITION}" not in n for n in names)


def _record_store_metadata(wh: Warehouse) -> list[str]:
    """Record the metadata of every activation store whose ``zarr.json`` files pass ``legacy_problems``."""
    recorded = []
    folder = join(wh.root, "activations")
    for name in list_dirs(folder):
        store = join(folder, name)
        if name.endswith(".zarr") and not name.startswith(".") and not legacy_problems(store):
            record_metadata(store)
            recorded.append(str(store))
    return recorded


def _record_files(wh: Warehouse) -> list[str]:
    """Record every Parquet file that reads and every checkpoint whose bytes match its run_id (format 1)."""
    recorded = []
    for table in list_dirs(wh.tables):
        for part in list_dirs(join(wh.tables, table)):
            path = join(wh.tables, table, part, DATA_FILE)
            if exists(path) and read_record(path) is None:
                data = read_bytes(path)
                try:  # record only what reads; damage stays unrecorded, for verify to report
                    pq.read_table(pa.BufferReader(data))
                except Exception:
                    continue
                record(path, data)
                recorded.append(str(path))
    for name in list_files(wh.checkpoints):
        if name.endswith(".safetensors"):
            path = join(wh.checkpoints, name)
            data = read_bytes(path)
            if read_record(path) is None and sha256_hex(data)[:16] == name[: -len(".safetensors")]:
                record(path, data)
                recorded.append(str(path))
    return recorded


def _temporaries(wh: Warehouse) -> list[Path]:
    """Temporary files and folders (``.<name>...tmp``) where writers make them."""
    root = Path(wh.root)
    folders = [root, root / "checkpoints", root / "activations", root / "reports", root / "inbox"]
    folders += [p for t in (root / "tables").glob("*") for p in [t, *t.glob("run_id=*"), t / "_segments"]]
    return [p for folder in folders if folder.is_dir() for p in folder.iterdir()
            if p.name.startswith(".") and p.name.endswith((TMP_SUFFIX, TMP_SUFFIX + ".wal"))]


def _is_stale(path: Path, max_age_s: float) -> bool:
    owner = _OWNER.search(path.name)
    if owner and owner["host"] == socket.gethostname():
        try:
            os.kill(int(owner["pid"]), 0)
        except ProcessLookupError:
            return True  # its writer is gone
        except PermissionError:
            return False
        return False
    try:
        return time.time() - path.lstat().st_mtime > max_age_s
    except FileNotFoundError:
        return False


def remove_stale_temporaries(wh: Warehouse, max_age_s: float = STALE_AFTER_S) -> list[str]:
    """Delete temporaries whose writer died (same host) or that are older than ``max_age_s``; return them."""
    removed = []
    for path in _temporaries(wh):
        if _is_stale(path, max_age_s):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed.append(str(path))
    return removed


def remove_run(wh: Warehouse, run_id: str) -> list[str]:
    """Delete a run and everything derived from it; return what was removed.

    The ``runs`` partition goes first: views show a run's rows only while it is whole, so the run
    leaves every view at once; then the compacted segments holding the run are rewritten without it (one
    commit), then the rest follows (a crash midway leaves rows no view shows, which ``verify`` reports
    and ``rm`` finishes)."""
    from store.catalog import refresh_catalog
    from store.compaction import rewrite_without
    from store.segments import SEGMENTS, read_index
    from store.verify import stored_tables

    partitions = [join(wh.tables, t, f"run_id={run_id}") for t in ["runs"] + [t for t in stored_tables(wh) if t != "runs"]]
    targets = partitions + [wh.activations(run_id), manifest_path(wh.activations(run_id)), wh.checkpoint(run_id),
                            manifest_path(wh.checkpoint(run_id))]
    present = [t for t in targets if exists(t)]
    compacted = run_id in read_index(wh).runs()
    if not present and not compacted:
        raise NeuronInfoError(f"unknown run_id {run_id!r}: nothing in {wh.root}; list runs with: neuroninfo sql \"SELECT run_id, name FROM runs\"")
    removed = []
    if present and present[0] == partitions[0]:  # the runs row first
        remove_tree(present[0])
        removed.append(str(present.pop(0)))
    if compacted and rewrite_without(wh, run_id):
        removed.append(f"its rows in the compacted segments of {join(wh.tables, '*', SEGMENTS)}")
    for target in present:
        remove_tree(target)
        removed.append(str(target))
    refresh_catalog(wh)
    return removed


def gc(wh: Warehouse, older_than_s: float) -> list[str]:
    """Remove crash leftovers, rejected inbox files, retired compacted segments and abandoned scratch (``.work/``)
    older than ``older_than_s``; return what was removed."""
    from store.compaction import expire

    removed = remove_stale_temporaries(wh, older_than_s) if wh.local else []
    removed += expire(wh, older_than_s)
    removed += remove_old_scratch(wh, older_than_s)
    batches = [d for d in list_dirs(wh.inbox) if d not in ("rejected", "done") and not d.startswith(".")]
    for rejected in [join(wh.inbox, "rejected"), *(join(wh.inbox, b, "rejected") for b in batches)]:
        for path in _entries(rejected, wh.local):
            age = time.time() - Path(path).lstat().st_mtime if wh.local else float("inf")  # a link's own age
            if age > older_than_s:
                Path(path).unlink() if wh.local and Path(path).is_symlink() else remove_tree(path)
                removed.append(str(path))
    return removed


def remove_old_scratch(wh: Warehouse, older_than_s: float) -> list[str]:
    """Remove the scratch folders under ``.work/`` (the blocks of pairs computed as tasks) whose newest file is
    older than ``older_than_s``: a driver killed before it removed its own. A folder still being written stays."""
    work, removed = join(wh.root, ".work"), []
    for name in list_dirs(work):
        folder = join(work, name)
        if min((age_of(join(folder, f)) for f in list_files(folder)), default=float("inf")) > older_than_s:  # empty: old
            remove_tree(folder)
            removed.append(str(folder))
    return removed


def _entries(folder, local: bool) -> list:
    """The entries of a folder; locally every one, symbolic links (even dangling ones) included."""
    if not local:
        return [join(folder, name) for name in list_files(folder)]
    try:
        return [Path(folder) / name for name in sorted(os.listdir(folder))]
    except (FileNotFoundError, NotADirectoryError):
        return []
