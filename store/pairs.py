"""The pair measures' tables: neuron_pairs and neuron_redundancy of a run (computed by pipeline.pairs)."""
from __future__ import annotations

import pyarrow as pa

from store.paths import Warehouse
from store.schemas import SCHEMAS
from store.tables import merge_partition, write_partition


def conform(table: str, parts: list[pa.Table]) -> pa.Table:
    """``parts`` concatenated in ``table``'s contract schema."""
    schema = SCHEMAS[table]
    return pa.concat_tables([t.select(schema.names).cast(schema) for t in parts])


def write_pairs(wh: Warehouse, run_id: str, tables: dict[str, pa.Table], keep_stored: bool = True,
                keep_stored_aggregates: bool = False, params: dict | None = None) -> None:
    """Write the run's neuron_pairs and neuron_redundancy partitions. With ``keep_stored`` the stored rows stay
    beside the new ones (merged by each table's key: a pair computed again is replaced by its same values);
    ``keep_stored_aggregates`` keeps the stored neuron_redundancy rows of these ``bits`` (aggregates over a
    wider set of pairs) instead of the new ones (the new ones cover one bits value). ``params`` (what made every bits value, for verify --repair)
    is recorded with both. neuron_redundancy is written last (it marks the bits as done)."""
    for name in ("neuron_pairs", "neuron_redundancy"):
        new = tables[name]
        if name == "neuron_redundancy" and keep_stored and keep_stored_aggregates:
            new = new.slice(0, 0)
        if keep_stored:
            merge_partition(wh, name, run_id, conform(name, [new]), params)
        else:
            write_partition(wh, name, run_id, conform(name, [new]), params)
