"""Full checks of a warehouse, run by run: every file against its integrity record, every Zarr chunk
against its checksum. What ``neuroninfo verify`` prints; ``flows.repair`` recomputes what is derivable."""
from __future__ import annotations

from functools import lru_cache

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.errors import NeuronInfoError
from store.activations import open_activations
from store.integrity import REPAIR, Problem, deep_problem, manifest_path, read_record, sha256_hex
from store.paths import Warehouse, exists, join, list_dirs, list_files, read_bytes
from store.segments import Segment, read_index, segment_problem
from store.tables import DATA_FILE, EMPTY_PARTITION, has_partition
from store.zarr_metadata import metadata_problems

NOT_DERIVABLE = "not derivable: restore it from a backup, or remove the run with neuroninfo rm {run_id}"


def run_ids(wh: Warehouse) -> list[str]:
    """Every run with any file in the warehouse: checkpoints, table partitions, activation stores."""
    found = {n.split(".")[0] for n in list_files(wh.checkpoints) if ".safetensors" in n}
    for table in stored_tables(wh):
        found |= {p[len("run_id="):] for p in list_dirs(join(wh.tables, table)) if p.startswith("run_id=")}
    found |= read_index(wh).runs()
    found |= {n[: -len(".zarr")] for n in list_dirs(join(wh.root, "activations")) if n.endswith(".zarr")}
    return sorted(found - {EMPTY_PARTITION})


def check_checkpoint(wh: Warehouse, run_id: str) -> list[Problem]:
    path = wh.checkpoint(run_id)
    if not exists(path):
        if has_partition(wh, "runs", run_id):
            return [Problem(run_id, "checkpoint", str(path), "file is missing", NOT_DERIVABLE.format(run_id=run_id))]
        return []
    data = read_bytes(path)
    if sha256_hex(data)[:16] != run_id:
        return [Problem(run_id, "checkpoint", str(path), "content does not match its run_id (truncated or changed)",
                        NOT_DERIVABLE.format(run_id=run_id))]
    if read_record(path) is None:
        return [Problem(run_id, "checkpoint", str(path), "no integrity record", REPAIR + " (re-records it)")]
    return []


def stored_tables(wh: Warehouse) -> list[str]:
    """The table folders under ``tables/`` (not the index's)."""
    return [t for t in list_dirs(wh.tables) if not t.startswith("_")]


def check_partition(wh: Warehouse, table: str, run_id: str) -> list[Problem]:
    path = join(wh.partition(table, run_id), DATA_FILE)
    if not exists(path) and not exists(manifest_path(path)):
        segment = read_index(wh).holder(table, run_id)
        return [] if segment is None else check_segment(wh, segment, run_id)
    try:
        data = read_bytes(path)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        data = None
    problem = deep_problem(path, data)
    if problem is None:
        try:
            pq.read_table(pa.BufferReader(data))
        except Exception as e:  # recorded as written, yet unreadable: a writer bug, still recomputable
            problem = f"does not read as Parquet ({type(e).__name__})"
    return [Problem(run_id, table, str(path), problem, REPAIR)] if problem else []


def check_segment(wh: Warehouse, segment: Segment, run_id: str) -> list[Problem]:
    """The segment holding the run's rows against the index's checksum (once per segment and verify)."""
    problem = _segment_problem(wh, segment)
    return [Problem(run_id, segment.table, str(segment.location(wh)), f"compacted segment: {problem}", REPAIR)] if problem else []


@lru_cache(maxsize=64)
def _segment_problem(wh: Warehouse, segment: Segment) -> str | None:
    try:
        data = read_bytes(segment.location(wh))
    except FileNotFoundError:
        data = None
    return segment_problem(segment, data)


def check_activations(wh: Warehouse, run_id: str) -> list[Problem]:
    """The store's metadata against its record (every damaged ``zarr.json`` by name), then every chunk."""
    path = wh.activations(run_id)
    if not exists(path):
        if has_partition(wh, "quantizers", run_id):
            return [Problem(run_id, "activations", str(path), "store is missing", REPAIR)]
        return []
    damaged = metadata_problems(path)
    if damaged:
        return [Problem(run_id, "activations", str(path), reason, REPAIR) for reason in damaged]
    try:
        store = open_activations(wh, run_id)
        for name in store.arrays():
            store.read(name)
    except NeuronInfoError as e:
        return [Problem(run_id, "activations", str(path), str(e).split("; run:")[0], REPAIR)]
    return []


def verify_run(wh: Warehouse, run_id: str) -> list[Problem]:
    """Every problem of one run: checkpoint, each table's partition, the activation store. A check that fails in
    an unforeseen way is a problem of that file too: the other checks and runs go on."""
    checks = [("checkpoint", wh.checkpoint(run_id), lambda: check_checkpoint(wh, run_id))]
    checks += [(t, join(wh.partition(t, run_id), DATA_FILE), lambda t=t: check_partition(wh, t, run_id)) for t in stored_tables(wh)]
    checks += [("activations", wh.activations(run_id), lambda: check_activations(wh, run_id))]
    problems = []
    for kind, path, check in checks:
        try:
            problems += check()
        except Exception as e:  # noqa: BLE001 - any failure of a check is that file's problem, never the end of verify
            problems.append(Problem(run_id, kind, str(path), f"cannot be checked ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else 'no message'})", REPAIR))
    return problems


def verify(wh: Warehouse, selected: list[str] | None = None) -> list[Problem]:
    """Problems of the selected runs (default: every run), plus the schema files of empty tables."""
    ids = selected or run_ids(wh)
    known = set(run_ids(wh))
    unknown = [r for r in ids if r not in known]
    if unknown:
        raise NeuronInfoError(f"unknown run_id {unknown[0]!r}; list runs with: neuroninfo sql \"SELECT run_id, name FROM runs\"")
    _segment_problem.cache_clear()
    problems = [p for run_id in ids for p in verify_run(wh, run_id)]
    if not selected:
        problems += [p for table in stored_tables(wh) for p in check_partition(wh, table, EMPTY_PARTITION)]
    return problems
