"""Two warehouses made by the same commands, compared: checkpoints, table files and scorecard verdicts.

``neuroninfo paper --replicate`` runs the grid again into a fresh warehouse and asks, cell by cell, whether
the second run says what the first said (docs/scorecard.md, "Replication"). Runs are paired by their spec
(the same spec and seed must give the same checkpoint, hence the same run_id); a table's partitions by
run_id; scorecard cells by (curve part, claim, group).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow.parquet as pq
import pyarrow as pa

from store.paths import Warehouse, read_bytes
from store.sandbox import query
from store.schemas import SCHEMAS
from store.tables import has_partition, has_tail, partition_file, partition_record, read_partition

VERDICTS = ("verdict", "verdict_holm", "verdict_bh")
TIMESTAMPED = {"runs": ("created_at",)}  # columns that say when, not what: left out of the row comparison


@dataclass
class Replication:
    """The comparison, row by row: ``checkpoints`` (one per spec), ``files`` (one per table partition of a
    paired run), ``cells`` (one per scorecard cell)."""

    checkpoints: list[dict] = field(default_factory=list)
    files: list[dict] = field(default_factory=list)
    cells: list[dict] = field(default_factory=list)

    def summary(self) -> list[str]:
        """One line per kind of comparison: how many are identical, and the first that are not."""
        lines = []
        for what, rows, same in (("checkpoints", self.checkpoints, "identical"),
                                 ("table files, bytes", self.files, "identical_bytes"),
                                 ("table files, rows", self.files, "identical_rows"),
                                 ("scorecard cells, every verdict", self.cells, "identical_verdicts"),
                                 ("scorecard cells, effect to the last bit", self.cells, "identical_effect")):
            differing = [r for r in rows if not r[same]]
            examples = "; ".join(r["what"] for r in differing[:3])
            lines.append(f"{what}: {len(rows) - len(differing)}/{len(rows)} identical"
                         + (f" (differ: {examples}{', ...' if len(differing) > 3 else ''})" if differing else ""))
        return lines

    @property
    def identical(self) -> bool:
        return all(r["identical"] for r in self.checkpoints) and all(r["identical_verdicts"] for r in self.cells)


def compare(original: Warehouse, replica: Warehouse) -> Replication:
    """Pair the two warehouses' runs, table files and scorecard cells; say which are identical."""
    result = Replication()
    specs = "SELECT spec, name, run_id FROM runs WHERE origin = 'trained' ORDER BY name"
    first = {r["spec"]: r for r in query(original, specs).to_pylist()}
    second = {r["spec"]: r for r in query(replica, specs).to_pylist()}
    paired = []
    for spec, run in first.items():
        other = second.get(spec)
        identical = other is not None and other["run_id"] == run["run_id"]
        result.checkpoints.append({"what": run["name"], "run_id": run["run_id"],
                                   "replica_run_id": other and other["run_id"], "identical": identical})
        if identical:
            paired.append(run)
    for run in paired:
        for table in sorted(SCHEMAS):
            if not (has_partition(original, table, run["run_id"]) and has_partition(replica, table, run["run_id"])):
                continue
            if all(has_tail(wh, table, run["run_id"]) for wh in (original, replica)):
                a, b = (read_bytes(partition_file(wh, table, run["run_id"])) for wh in (original, replica))
                same_bytes, rows = a == b, [pq.read_table(pa.BufferReader(data)) for data in (a, b)]
            else:  # compacted: its file's checksum is kept, its rows are read back from the segment
                a, b = (partition_record(wh, table, run["run_id"]) or {} for wh in (original, replica))
                same_bytes = a.get("sha256") is not None and a.get("sha256") == b.get("sha256")
                rows = [read_partition(wh, table, run["run_id"]) for wh in (original, replica)]
            result.files.append({"what": f"{table} of {run['name']}", "table": table, "run_id": run["run_id"],
                                 "identical_bytes": same_bytes, "identical_rows": same_bytes or _same_rows(table, *rows)})
    cells = "SELECT curve_part, claim, group_name, effect, verdict, verdict_holm, verdict_bh FROM scorecard"
    first_cells = {(r["curve_part"], r["claim"], r["group_name"]): r for r in query(original, cells).to_pylist()}
    second_cells = {(r["curve_part"], r["claim"], r["group_name"]): r for r in query(replica, cells).to_pylist()}
    for key, cell in sorted(first_cells.items()):
        other = second_cells.get(key, {})
        result.cells.append({"what": f"{key[1]} {key[2]} ({key[0]})", "curve_part": key[0], "claim": key[1],
                             "group_name": key[2], **{v: cell[v] for v in VERDICTS},
                             **{f"replica_{v}": other.get(v) for v in VERDICTS},
                             "identical_verdicts": all(cell[v] == other.get(v) for v in VERDICTS),
                             "identical_effect": cell["effect"] == other.get("effect")})
    return result


def _same_rows(table: str, *tables: pa.Table) -> bool:
    """The two partitions hold the same rows in the same order (the timestamp columns left out)."""
    dropped = [t.drop_columns([c for c in TIMESTAMPED.get(table, ()) if c in t.column_names]) for t in tables]
    return dropped[0].equals(dropped[1])
