"""The pair measures' tables: neuron_pairs and neuron_redundancy of a run (computed by pipeline.pairs)."""
from __future__ import annotations

import pyarrow as pa

from store.catalog import query
from store.paths import Warehouse
from store.schemas import SCHEMAS
from store.tables import has_partition, write_partition


def conform(table: str, parts: list[pa.Table]) -> pa.Table:
    """``parts`` concatenated in ``table``'s contract schema."""
    schema = SCHEMAS[table]
    return pa.concat_tables([t.select(schema.names).cast(schema) for t in parts])


def write_pairs(wh: Warehouse, run_id: str, tables: dict[str, pa.Table], bits: int, keep_other_bits: bool = True,
                params: dict | None = None) -> None:
    """Write the run's neuron_pairs and neuron_redundancy partitions: these ``bits`` rows replace the stored
    ones; rows of other bits stay if ``keep_other_bits``. ``params`` (what made every bits value, for
    verify --repair) is recorded with both. neuron_redundancy is written last (it marks the bits as done)."""
    for name in ("neuron_pairs", "neuron_redundancy"):
        kept = [query(wh, f"SELECT * FROM {name} WHERE run_id = '{run_id}' AND bits <> {int(bits)}")] \
            if keep_other_bits and has_partition(wh, name, run_id) else []
        write_partition(wh, name, run_id, conform(name, kept + [tables[name]]), params)
