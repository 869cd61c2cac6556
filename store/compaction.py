"""Compaction: settled tail partitions become segments, small segments merge into bigger ones (store.segments).

Levels keep the number of files per table about logarithmic in the number of runs: ``min_tail`` settled tail
files of a table become one level-1 segment; ``fanout`` segments of one level merge into one of the next, up to
``max_level`` (32 x 8 x 8 = 2,048 runs a segment by default) or ``max_bytes``. Every rewrite keeps only the runs
whose newest holder is among its inputs, so an older copy never comes back. A commit is one new index version.
The tail files moved stay until ``grace_s`` has passed (a reader that listed them before the commit still finds
them; they hold the same rows as the segment, and replace them meanwhile), then a later compaction or ``gc``
deletes each while its record still has the checksum that was moved (a stage that wrote the run again keeps its
newer file, which replaces the segment's rows).

What a compaction keeps: per-run ``rm`` (store.lifecycle rewrites the segments holding the run), each run's own
record (checksum and parameters, in the segment's record), containment (a damaged segment hides the runs it
holds in that table, and ``verify --repair`` makes their partitions again as tail files), readers never blocked.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa

from pipeline.errors import NeuronInfoError
from store.integrity import MANIFEST_SUFFIX, read_record
from store.locks import machine_lock
from store.paths import Warehouse, age_of, join, list_dirs, list_files, remove_tree
from store.schemas import SCHEMAS
from store.segments import (SEGMENTS, Index, IndexConflict, Segment, commit, index_versions, read_index, segment_bytes,
                            segment_rows, segment_records, version_file, write_segment)
from store.tables import EMPTY_PARTITION, partition_file, read_tail

KEEP_VERSIONS = 8  # index versions kept after a commit (older ones are deleted; a reader that lost one lists again)


@dataclass(frozen=True)
class Policy:
    """When compaction moves and merges files."""

    min_tail: int = 32  # a table's settled tail files become a segment once there are this many
    fanout: int = 8  # this many segments of one level merge into one of the next
    max_level: int = 3  # segments of this level never merge again
    max_bytes: int = 256 * 2**20  # nor would a merge whose inputs are bigger than this
    settle_s: float = 300.0  # only tail files recorded longer ago than this move (a stage may still be writing its run)
    grace_s: float = 600.0  # a retired segment stays this long for readers of the previous index


@dataclass
class Plan:
    """One compaction's new segments, retired files and moved tail files, before its commit."""

    index: Index
    segments: list[Segment]
    retired: list[tuple[str, float]]
    moved: list[tuple[str, str, str, float]]  # (table, run_id, which write was moved, when): deleted after the grace period
    lines: list[str]


def compact(wh: Warehouse, policy: Policy = Policy(), force: bool = False) -> list[str]:
    """Move settled tail files into segments and merge segments as ``policy`` says (``force``: every settled tail
    file, however few); return one line per table changed. Commits one index version (planning again when
    another writer committed first), then deletes the moved tail files and expired retired files."""
    with _lock(wh):
        for _ in range(5):
            plan = _plan(wh, policy, force)
            if not plan.lines:
                expire(wh, policy.grace_s, plan.index)
                return []
            try:
                committed = commit(wh, plan.index, plan.segments, plan.retired, plan.moved)
            except IndexConflict:
                _discard(wh, plan)
                continue
            expire(wh, policy.grace_s, committed)
            _delete_moved(wh, [m for m in plan.index.moved if m not in plan.moved])  # past their grace period at planning
            from store.catalog import refresh_catalog

            refresh_catalog(wh)
            return plan.lines
    raise NeuronInfoError("compaction lost five commits in a row to other writers; run neuroninfo compact again")


def rewrite_without(wh: Warehouse, run_id: str) -> bool:
    """Commit the segments holding ``run_id`` rewritten without it (``neuroninfo rm``); False when none holds it."""
    with _lock(wh):
        for _ in range(5):
            index = read_index(wh)
            holding = [s for s in index.segments if run_id in s.runs]
            if not holding:
                return False
            seq, now = index.version + 1, time.time()
            segments = [s for s in index.segments if s not in holding]
            made = [_rewrite(wh, index, [s], s.level, seq, drop={run_id}) for s in holding]
            made = [s for s in made if s is not None]
            retired = [r for r in index.retired if now - r[1] < Policy.grace_s] + [(s.file, now) for s in holding]
            try:
                commit(wh, index, segments + made, retired, list(index.moved))
                return True
            except IndexConflict:
                _discard(wh, Plan(index, made, [], [], []))
    raise NeuronInfoError(f"removing {run_id} from the compacted segments lost five commits to other writers; run neuroninfo rm again")


def _lock(wh: Warehouse):
    """One compaction (or rm's rewrite) at a time on this machine; across machines the exclusive commit decides."""
    return machine_lock(wh, "compaction", "the compaction of this warehouse")


def _plan(wh: Warehouse, policy: Policy, force: bool) -> Plan:
    index = read_index(wh)
    seq, now = index.version + 1, time.time()
    plan = Plan(index, list(index.segments), [r for r in index.retired if now - r[1] < policy.grace_s],
                [m for m in index.moved if now - m[3] < policy.grace_s], [])
    whole, pending = _whole_runs(wh, index), {m[:3] for m in index.moved}
    for table in SCHEMAS:
        parts, records = _settled_tails(wh, table, whole, now - policy.settle_s, pending)
        made = []
        if parts and (len(parts) >= policy.min_tail or force):
            made.append(write_segment(wh, table, 1, seq, parts, records, SCHEMAS[table]))
            plan.moved += [(table, r, written(records[r]), now) for r in parts]
        current = [s for s in plan.segments if s.table == table] + made
        merged, retired = _merges(wh, index, current, policy, seq)
        if made or merged or retired:
            plan.segments = [s for s in plan.segments + made if s not in retired] + merged  # one made and merged now: retired
            plan.retired += [(s.file, now) for s in retired]
            plan.lines.append(f"{table}: {len(parts) if made else 0} tail files moved into a segment, "
                              f"{len(retired)} segments merged into {len(merged)}")
    return plan


def _whole_runs(wh: Warehouse, index: Index) -> set[str]:
    """Runs with a `runs` row: their tail file, or a segment holding them (only their rows of other tables move)."""
    tails = {p[len("run_id="):] for p in list_dirs(join(wh.tables, "runs")) if p.startswith("run_id=")}
    return tails | {r for s in index.of("runs") for r in s.runs}


def _settled_tails(wh: Warehouse, table: str, whole: set[str], before: float,
                   pending: set[tuple[str, str, str]]) -> tuple[dict[str, pa.Table], dict[str, dict]]:
    """The table's tail partitions recorded before ``before`` whose file matches its record, of whole runs, but not
    those moved already (``pending`` deletion: the same table, run and checksum)."""
    parts, records = {}, {}
    for part in list_dirs(join(wh.tables, table)):
        run_id = part[len("run_id="):]
        if not part.startswith("run_id=") or run_id == EMPTY_PARTITION or (table != "runs" and run_id not in whole):
            continue
        path = partition_file(wh, table, run_id)
        entry = read_record(path)
        if entry is None or _recorded_at(entry) > before or (table, run_id, written(entry)) in pending:
            continue
        try:
            parts[run_id] = read_tail(wh, table, run_id, entry)
        except (FileNotFoundError, NeuronInfoError):
            continue  # gone, or damaged: stays where verify reports it
        records[run_id] = {k: entry[k] for k in ("sha256", "params", "recorded_at") if k in entry}
    return parts, records


def written(entry: dict) -> str:
    """Which write of a tail file a record describes: its checksum and time (a file written again with the same
    bytes, as a repair does, is another write)."""
    return f"{entry.get('sha256')}@{entry.get('recorded_at')}"


def _recorded_at(entry: dict) -> float:
    try:
        return datetime.fromisoformat(entry["recorded_at"]).timestamp()
    except (KeyError, TypeError, ValueError):
        return 0.0  # an old record without a time: long settled


def _merges(wh: Warehouse, index: Index, current: list[Segment], policy: Policy, seq: int) -> tuple[list[Segment], list[Segment]]:
    """The merged segments to add and the segments they retire: per level, the oldest ``fanout`` at a time; and
    every segment that shows no run any more (each of its runs held by a newer segment) retired outright."""
    merged, retired = [], []
    newest = _newest_holders(current)
    for segment in current:
        if not any(newest.get(r) is segment for r in segment.runs):
            retired.append(segment)
    for level in range(1, policy.max_level):
        same = sorted((s for s in current if s.level == level and s not in retired), key=lambda s: s.seq)
        while len(same) >= policy.fanout:
            group, same = same[: policy.fanout], same[policy.fanout:]
            if sum(s.size for s in group) > policy.max_bytes:
                break
            try:
                made = _rewrite(wh, index, group, level + 1, seq, drop=set(), holders=newest)
            except NeuronInfoError:
                continue  # a damaged segment is never merged: verify reports it, repair makes its runs again
            retired += group
            if made is not None:
                merged.append(made)
    return merged, retired


def _newest_holders(segments: list[Segment]) -> dict[str, Segment]:
    """Each run's newest holder among these segments (of one table)."""
    found: dict[str, Segment] = {}
    for segment in sorted(segments, key=lambda s: -s.seq):
        for run in segment.runs:
            found.setdefault(run, segment)
    return found


def _rewrite(wh: Warehouse, index: Index, group: list[Segment], level: int, seq: int, drop: set[str],
             holders: dict[str, Segment] | None = None) -> Segment | None:
    """One segment of the runs whose newest holder is in ``group`` (less ``drop``), rows and records as they were;
    None when no run is left."""
    holders = holders if holders is not None else _newest_holders(index.of(group[0].table))
    parts, records = {}, {}
    for segment in group:
        keep = [r for r in segment.runs if holders.get(r) is segment and r not in drop]
        if not keep:
            continue
        rows = segment_rows(wh, segment, keep, data=segment_bytes(wh, segment))
        kept_records = segment_records(wh, segment)
        parts.update(by_run(rows))
        records.update({run: kept_records.get(run, {}) for run in keep})
    if not parts:
        return None
    table = group[0].table
    return write_segment(wh, table, level, seq, parts, records, SCHEMAS[table])


def by_run(rows: pa.Table) -> dict[str, pa.Table]:
    """A segment's rows (sorted by run_id) split into each run's rows, without the run_id column."""
    import numpy as np

    ids = np.asarray(rows["run_id"].to_pylist(), dtype=object)
    if len(ids) == 0:
        return {}
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    ends = np.r_[starts[1:], len(ids)]
    body = rows.drop_columns(["run_id"])
    return {ids[a]: body.slice(a, b - a) for a, b in zip(starts, ends)}


def _delete_moved(wh: Warehouse, moved: list[tuple[str, str, str, float]]) -> list[str]:
    """Delete these moved tail files, each only while its record still describes the write that was moved; return them."""
    removed = []
    for table, run_id, write, _ in moved:
        entry = read_record(partition_file(wh, table, run_id))
        if entry is not None and written(entry) == write:
            remove_tree(wh.partition(table, run_id))
            removed.append(str(wh.partition(table, run_id)))
    return removed


def _discard(wh: Warehouse, plan: Plan) -> None:
    """Delete the segment files of a plan that did not commit."""
    known = {s.file for s in plan.index.segments}
    for segment in plan.segments:
        if segment.file not in known:
            _remove_segment_file(wh, segment.file)


def expire(wh: Warehouse, grace_s: float, index: Index | None = None) -> list[str]:
    """Delete moved tail files and retired segment files past ``grace_s``, segment files no index lists (from a
    compaction that crashed before its commit) of that age, and index versions older than the last KEEP_VERSIONS;
    return the files removed."""
    index = index or read_index(wh)
    now = time.time()
    removed = _delete_moved(wh, [m for m in index.moved if now - m[3] >= grace_s])
    listed = {s.file for s in index.segments} | {f for f, at in index.retired if now - at < grace_s}
    for table in SCHEMAS:
        folder = join(wh.tables, table, SEGMENTS)
        for name in list_files(folder):
            file = f"{table}/{SEGMENTS}/{name.removesuffix(MANIFEST_SUFFIX)}"
            if file not in listed and age_of(join(folder, name)) >= grace_s:
                _remove_segment_file(wh, file)
                if not name.endswith(MANIFEST_SUFFIX):
                    removed.append(str(join(wh.tables, *file.split("/"))))
    for version in index_versions(wh)[:-KEEP_VERSIONS]:
        remove_tree(version_file(wh, version))
    return removed


def _remove_segment_file(wh: Warehouse, file: str) -> None:
    for name in (file, file + MANIFEST_SUFFIX):
        remove_tree(join(wh.tables, *name.split("/")))

