"""Which files the views read: the tail partition files and compacted segments (store.segments) that pass the
cheap integrity check (store.integrity), and which runs each segment must leave out.

A damaged file hides its own runs, which ``warehouse_problems`` names, and never breaks other runs. A run's
rows in any table show only while its ``runs`` row is whole, so deleting that one file (``neuroninfo rm``)
removes the run from every view at once. A run's tail file replaces its rows in segments; among segments the
newest holding a run wins.

What this costs does not grow with the warehouse's history: one listing of ``tables/`` (tail files, whose
number compaction bounds, and segments), the records of the tail files, and the latest index.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from store.integrity import MANIFEST_SUFFIX, REPAIR, Problem, cheap_parquet_problem, file_sizes, parse_record, schema_id
from store.paths import Warehouse, filesystem, join
from store.schemas import SCHEMAS
from store.segments import Index, Segment, read_index
from store.tables import DATA_FILE, EMPTY_PARTITION


@dataclass
class TableFiles:
    """What a table's staging view reads."""

    tails: list[str] = field(default_factory=list)  # the zero-row file, then one run's file each (run_id from its path)
    older: list[str] = field(default_factory=list)  # tail files written under an older schema of the table
    segments: list[tuple[str, str, tuple[str, ...]]] = field(default_factory=list)  # (file, its schema_id, runs it leaves out)

    def paths(self) -> list[str]:
        return self.tails + self.older + [path for path, _, _ in self.segments]


def scan_tables(wh: Warehouse, tables: list[str]) -> tuple[dict[str, TableFiles], list[Problem]]:
    """The files of each table that pass the cheap check (and the runs each segment leaves out), and the problems of
    the others. The listing comes before the index: a compaction commits its index before it deletes the tail files
    it moved, so a run missing from the listing is in the index read after it."""
    sizes = file_sizes(wh.tables)
    index = read_index(wh)
    records = _records(wh, [name for name in sizes if name.endswith(DATA_FILE + MANIFEST_SUFFIX)
                            and name.split("/", 1)[0] in tables])
    problems: list[Problem] = []
    tails: dict[str, dict[str, tuple[str, bool]]] = {}  # table -> run -> (file, of the current schema), files that pass
    tailed: dict[str, set[str]] = {}  # table -> runs with a tail file (passing or not): segments leave them out
    for table in tables:
        tails[table], tailed[table] = {}, set()
        partitions = {name.split("/")[1] for name in sizes if name.startswith(f"{table}/run_id=") and name.count("/") == 2}
        for part in sorted(partitions):
            run_id = part[len("run_id="):]
            name = f"{table}/{part}/{DATA_FILE}"
            if name not in sizes and name + MANIFEST_SUFFIX not in sizes:
                continue  # a partition folder with neither file: nothing was ever published there
            tailed[table].add(run_id)
            path = str(join(wh.tables, *name.split("/")))
            entry = parse_record(records.get(name + MANIFEST_SUFFIX))
            problem = cheap_parquet_problem(path, sizes.get(name), entry)
            if problem:
                problems.append(Problem(None if run_id == EMPTY_PARTITION else run_id, table, path, problem, REPAIR))
            else:
                tails[table][run_id] = (path, entry.get("schema") == schema_id(SCHEMAS[table]))
    segments = {table: _segments(wh, index, table, tailed[table], sizes, problems) for table in tables}
    whole = set(tails.get("runs", {})) | {r for _, shown in segments.get("runs", []) for r in shown}
    reported = {p.run_id for p in problems if p.kind == "runs"}
    files: dict[str, TableFiles] = {}
    for table in tables:
        found = files[table] = TableFiles()
        for run_id, (path, current) in sorted(tails[table].items(), key=lambda item: item[0] != EMPTY_PARTITION):
            if run_id == EMPTY_PARTITION or table == "runs" or run_id in whole:
                (found.tails if current else found.older).append(path)
            elif run_id not in reported:
                problems.append(_orphan(run_id, table, path))
        for segment, shown in segments[table]:
            orphans = set() if table == "runs" else shown - whole
            problems += [_orphan(r, table, str(segment.location(wh))) for r in sorted(orphans - reported)]
            found.segments.append((str(segment.location(wh)), segment.schema,
                                   tuple(sorted(set(segment.runs) - (shown - orphans)))))
    return files, problems


def _segments(wh: Warehouse, index: Index, table: str, tailed: set[str], sizes: dict[str, int],
              problems: list[Problem]) -> list[tuple[Segment, set[str]]]:
    """The table's segments that pass the cheap check, each with the runs it shows (those no tail file and no newer
    segment holds); every run a damaged segment would show is a problem."""
    taken = set(tailed)
    passing = []
    for segment in index.of(table):  # newest first
        shown = set(segment.runs) - taken
        taken |= shown
        path = segment.location(wh)
        size = sizes.get(segment.file)
        if size is None:  # written after the listing began (its index was read after it): ask once
            fs, fs_path = filesystem(path)
            size = fs.size(fs_path) if fs.exists(fs_path) else None
        problem = cheap_parquet_problem(path, size, {"size": segment.size, "sha256": segment.sha256})
        if problem:
            problems += [Problem(r, table, str(path), f"compacted segment: {problem}", REPAIR) for r in sorted(shown)]
        elif shown:
            passing.append((segment, shown))
    return passing


def _orphan(run_id: str, table: str, path: str) -> Problem:
    return Problem(run_id, table, path, "rows of a run that has no `runs` row (a removal or registration was interrupted)",
                   f"run: neuroninfo rm {run_id} (or verify --repair to register its checkpoint)")


def _records(wh: Warehouse, names: list[str]) -> dict[str, bytes]:
    """The bytes of these integrity records (relative to ``tables/``); unreadable ones are left out."""
    paths = {str(join(wh.tables, *n.split("/"))): n for n in names}
    if wh.local:
        out = {}
        for path, name in paths.items():
            try:
                out[name] = Path(path).read_bytes()
            except OSError:
                pass
        return out
    fs, _ = filesystem(wh.root)
    fetched = fs.cat([filesystem(p)[1] for p in paths], on_error="omit") if paths else {}
    by_fs_path = {filesystem(p)[1]: n for p, n in paths.items()}
    return {by_fs_path[k]: v for k, v in fetched.items() if k in by_fs_path and isinstance(v, bytes)}


def problems(wh: Warehouse) -> list[Problem]:
    """The cheap-check problems of the warehouse's tables (what ``warehouse_problems`` shows)."""
    return scan_tables(wh, list(SCHEMAS))[1]
