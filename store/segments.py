"""Compacted segments: many runs' partitions of one table in one Parquet file, and the index that lists them.

A stage writes one small file per run and table (the tail, ``tables/<table>/run_id=<id>/data.parquet``);
compaction (store.compaction) moves settled tail partitions into segments, so what a query lists, checks and
binds stays about the same size however many runs the warehouse holds:

    tables/<table>/_segments/L<level>-<version>-<random>.parquet   many runs' rows, `run_id` a column, sorted by it
    tables/_index/<version>.json                                   the commit: every table's segments

The reading rules (store.partitions follows them, and so do ``read_partition`` and ``verify``):
- a run's tail partition, when there is one, replaces its rows in every segment of that table (it is newer);
- among segments, the newest (the highest ``seq``, the index version that committed it) holding a run wins.

Index versions are created, never overwritten: version n+1 is written exclusively (a hard link locally, a
conditional PUT on S3), so two compactions (or a compaction and an ``rm``) never both commit on the same base;
the one that loses plans again. Segment files are immutable and uniquely named; the ones an index no longer
lists are ``retired`` and deleted after a grace period, so a reader that read the previous index finishes.
"""
from __future__ import annotations

import json
import os
import re
import time
import uuid
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.errors import NeuronInfoError
from store.atomic import parquet_bytes, temporary_sibling, write_bytes
from store.integrity import manifest_path, record, schema_id, sha256_hex
from store.paths import Location, Warehouse, filesystem, join, list_files, read_bytes

INDEX = "_index"
SEGMENTS = "_segments"
ROW_GROUP_ROWS = 65_536  # a point query reads one row group of a run's rows, found by run_id statistics
_VERSION_FILE = re.compile(r"^(\d{12})\.json$")


class IndexConflict(Exception):
    """Another writer committed the index version this one meant to write: plan again from the new index."""


@dataclass(frozen=True)
class Segment:
    """One compacted file of one table, as the index lists it."""

    table: str
    file: str  # relative to tables/
    size: int
    sha256: str
    level: int  # 1: made from tail partitions; n + 1: merged from segments of level n
    seq: int  # the index version that committed it: among segments holding a run, the highest wins
    runs: tuple[str, ...]  # sorted
    schema: str = ""  # store.integrity.schema_id of its file: segments of one schema are read without opening each to bind

    def location(self, wh: Warehouse) -> Location:
        return join(wh.tables, *self.file.split("/"))

    def as_json(self) -> dict:
        return {"table": self.table, "file": self.file, "size": self.size, "sha256": self.sha256, "level": self.level,
                "seq": self.seq, "runs": ",".join(self.runs),
                "schema": self.schema}


@dataclass(frozen=True)
class Index:
    """One committed version of the index: the segments readers use, the retired segment files and the moved tail
    files (with when: both stay for readers of the previous version until the grace period ends)."""

    version: int = 0
    segments: tuple[Segment, ...] = ()
    retired: tuple[tuple[str, float], ...] = ()
    moved: tuple[tuple[str, str, str, float], ...] = ()  # (table, run_id, which write, when): tail files a segment now holds
    _holders: dict = field(default_factory=dict, compare=False, repr=False)

    def of(self, table: str) -> list[Segment]:
        """The table's segments, newest first."""
        return sorted((s for s in self.segments if s.table == table), key=lambda s: -s.seq)

    def holder(self, table: str, run_id: str) -> Segment | None:
        """The newest segment of ``table`` holding rows of ``run_id`` (None: none does)."""
        if table not in self._holders:
            found: dict[str, Segment] = {}
            for segment in self.of(table):
                for run in segment.runs:
                    found.setdefault(run, segment)
            self._holders[table] = found
        return self._holders[table].get(run_id)

    def runs(self) -> set[str]:
        return {r for s in self.segments for r in s.runs}


def index_folder(wh: Warehouse) -> Location:
    return join(wh.tables, INDEX)


def index_versions(wh: Warehouse) -> list[int]:
    """The committed index versions present, ascending."""
    return sorted(int(m[1]) for name in list_files(index_folder(wh)) if (m := _VERSION_FILE.match(name)))


def version_file(wh: Warehouse, version: int) -> Location:
    return join(index_folder(wh), f"{version:012d}.json")


def read_index(wh: Warehouse) -> Index:
    """The latest committed index (an empty one before the first compaction)."""
    for attempt in range(5):
        versions = index_versions(wh)
        if not versions:
            return Index()
        try:
            return _parse_index(str(version_file(wh, versions[-1])), read_bytes(version_file(wh, versions[-1])))
        except FileNotFoundError:  # pruned between the listing and the read: list again
            continue
    raise NeuronInfoError(f"the index in {index_folder(wh)} keeps changing under this reader; try again")


@lru_cache(maxsize=8)
def _parse_index(name: str, raw: bytes) -> Index:
    try:
        doc = json.loads(raw)
        segments = tuple(Segment(s["table"], s["file"], int(s["size"]), s["sha256"], int(s["level"]), int(s["seq"]),
                                 tuple(r for r in s["runs"].split(",") if r), s.get("schema", "")) for s in doc["segments"])
        return Index(int(doc["version"]), segments, tuple((f, float(t)) for f, t in doc.get("retired", [])),
                     tuple((t, r, s, float(at)) for t, r, s, at in doc.get("moved", [])))
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise NeuronInfoError(f"the warehouse index {name} is unreadable ({type(e).__name__}); restore it from a backup, "
                              "or delete it to fall back to the previous version") from None


def commit(wh: Warehouse, base: Index, segments: list[Segment], retired: list[tuple[str, float]],
           moved: list[tuple[str, str, str, float]] = ()) -> Index:
    """Write index version ``base.version + 1`` listing ``segments`` (IndexConflict when another writer got there first)."""
    new = Index(base.version + 1, tuple(segments), tuple(retired), tuple(moved))
    doc = {"version": new.version, "committed_at": time.time(), "segments": [s.as_json() for s in segments],
           "retired": [list(r) for r in retired], "moved": [list(m) for m in moved]}
    try:
        write_exclusive(version_file(wh, new.version), json.dumps(doc, sort_keys=True).encode())
    except FileExistsError:
        raise IndexConflict(f"index version {new.version} was committed by another writer") from None
    return new


def write_exclusive(loc: Location, data: bytes) -> None:
    """Create ``loc`` holding ``data`` in one step, or raise FileExistsError when it exists: a local hard link of a
    whole temporary file (atomic, refuses to replace), a conditional PUT (``If-None-Match``) on object stores."""
    from fsspec.implementations.local import LocalFileSystem

    fs, path = filesystem(loc)
    if not isinstance(fs, LocalFileSystem):
        fs.pipe_file(path, data, mode="create")
        return
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_sibling(final)
    try:
        tmp.write_bytes(data)
        os.link(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)


# ----------------------------------------------------------------------------- segment files

def segment_schema(schema: pa.Schema) -> pa.Schema:
    """A stored table's schema with ``run_id`` first (a tail file has it in its path, a segment as a column)."""
    return pa.schema([pa.field("run_id", pa.string()), *schema])


def write_segment(wh: Warehouse, table: str, level: int, seq: int, parts: dict[str, pa.Table],
                  records: dict[str, dict], schema: pa.Schema) -> Segment:
    """Write the runs' rows ``parts`` (each as stored, in its order) as one segment, runs in sorted order; its
    record keeps each run's own record (checksum of the tail file it came from, parameters, time)."""
    runs = sorted(parts)
    pieces = [_conformed(parts[r], schema).add_column(0, "run_id", pa.array([r] * parts[r].num_rows, pa.string()))
              for r in runs]
    rows = pa.concat_tables(pieces) if pieces else segment_schema(schema).empty_table()
    name = f"{table}/{SEGMENTS}/L{level}-{seq:012d}-{uuid.uuid4().hex[:8]}.parquet"
    loc = join(wh.tables, *name.split("/"))
    data = parquet_bytes(rows, compression="zstd", row_group_size=ROW_GROUP_ROWS)
    write_bytes(loc, data)
    record(loc, data, {"table": table, "runs": {r: records[r] for r in runs}}, schema_id(rows.schema))
    return Segment(table, name, len(data), sha256_hex(data), level, seq, tuple(runs), schema_id(rows.schema))


def _conformed(rows: pa.Table, schema: pa.Schema) -> pa.Table:
    """``rows`` with exactly ``schema``'s columns: a column an older partition lacks is null, one it has extra is dropped."""
    columns = [rows.column(f.name).cast(f.type) if f.name in rows.column_names else pa.nulls(rows.num_rows, f.type)
               for f in schema]
    return pa.table(columns, schema=schema)


def segment_bytes(wh: Warehouse, segment: Segment) -> bytes:
    """The segment's bytes, checked against the index (a one-line error naming the fix when they differ)."""
    loc = segment.location(wh)
    try:
        data = read_bytes(loc)
    except FileNotFoundError:
        data = None
    problem = segment_problem(segment, data)
    if problem:
        raise NeuronInfoError(f"{loc}: {problem} (the compacted rows of {len(segment.runs)} runs of {segment.table}); "
                              "run: neuroninfo verify --repair")
    return data


def segment_problem(segment: Segment, data: bytes | None) -> str | None:
    """Why a segment's bytes ``data`` (None: missing) fail their check against the index, or None."""
    if data is None:
        return "file is missing"
    if len(data) != segment.size:
        return f"size {len(data)} bytes, recorded {segment.size}"
    if sha256_hex(data) != segment.sha256:
        return "checksum differs from the index's (the file was changed or damaged)"
    return None


def segment_rows(wh: Warehouse, segment: Segment, run_ids: list[str] | None = None, data: bytes | None = None) -> pa.Table:
    """The rows of ``run_ids`` (default every run) in the segment, with their run_id column, in stored order."""
    return pq.read_table(pa.BufferReader(data if data is not None else segment_bytes(wh, segment)),
                         filters=None if run_ids is None else [("run_id", "in", list(run_ids))])


def segment_records(wh: Warehouse, segment: Segment) -> dict[str, dict]:
    """Each run's own record as the segment keeps it: ``sha256`` of the tail file it came from, ``params``."""
    try:
        entry = json.loads(read_bytes(manifest_path(segment.location(wh))))
        return entry["params"]["runs"]
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return {}
