"""Which partition files the views read: those that pass the cheap integrity check (store.integrity).

A damaged file hides its own run, which ``warehouse_problems`` names, and never breaks other runs. A
run's rows in any table show only while its ``runs`` partition is whole, so deleting that one file
(``neuroninfo rm``) removes the run from every view at once.
"""
from __future__ import annotations

from pathlib import Path

from store.integrity import MANIFEST_SUFFIX, Problem, cheap_parquet_problem, file_sizes, parse_record
from store.paths import Warehouse, filesystem, join
from store.schemas import SCHEMAS
from store.tables import DATA_FILE, EMPTY_PARTITION


def scan_tables(wh: Warehouse, tables: list[str]) -> tuple[dict[str, list[str]], list[Problem]]:
    """The partition files of each table that pass the cheap check, and the problems of the others.

    One recursive listing of ``tables/`` plus each partition's small integrity record. A run's files
    of any table are kept only while its ``runs`` partition passes.
    """
    sizes = file_sizes(wh.tables)
    records = _records(wh, [name for name in sizes if name.endswith(DATA_FILE + MANIFEST_SUFFIX)
                            and name.split("/", 1)[0] in tables])
    good: dict[str, dict[str, str]] = {t: {} for t in tables}
    problems: list[Problem] = []
    for table in tables:
        partitions = {name.split("/")[1] for name in sizes if name.startswith(f"{table}/run_id=") and name.count("/") == 2}
        for part in sorted(partitions):
            run_id = part[len("run_id="):]
            name = f"{table}/{part}/{DATA_FILE}"
            entry = parse_record(records.get(name + MANIFEST_SUFFIX))
            if name not in sizes and name + MANIFEST_SUFFIX not in sizes:
                continue  # a partition folder with neither file: nothing was ever published there
            problem = cheap_parquet_problem(join(wh.tables, *name.split("/")), sizes.get(name), entry)
            if problem:
                problems.append(Problem(None if run_id == EMPTY_PARTITION else run_id, table, str(join(wh.tables, *name.split("/"))),
                                        problem, "run: neuroninfo verify --repair"))
            else:
                good[table][run_id] = str(join(wh.tables, *name.split("/")))
    whole_runs = set(good.get("runs", {}))
    files: dict[str, list[str]] = {}
    for table in tables:
        kept = []
        for run_id, path in sorted(good[table].items()):
            if run_id == EMPTY_PARTITION or table == "runs" or run_id in whole_runs:
                kept.append(path)
            elif not any(p.run_id == run_id and p.kind == "runs" for p in problems):
                problems.append(Problem(run_id, table, path, "rows of a run that has no `runs` row (a removal or registration was interrupted)",
                                        f"run: neuroninfo rm {run_id} (or verify --repair to register its checkpoint)"))
        files[table] = kept
    return files, problems


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
