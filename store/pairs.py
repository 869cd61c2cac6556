"""Redundancy and synergy between pairs of neurons (docs/measures-pairs.md), computed by DuckDB.

Python lays the codes out (``store.measures.pack_codes`` over the selected neurons, numbered 0..U-1
across layers as "units") and runs the SQL models: the single-neuron models of store.measures
(``measures_cells``, ``measures_entropy``, ``measures_specific_info``) and ``pairs_packed`` once, then
per block of pairs ``pairs_counts`` (AND + bit_count of bit sets) -> ``pairs_measures``, and
``pairs_redundancy`` over all blocks. A block holds at most CELLS_PER_BLOCK joint cells, so memory
stays bounded whatever the layer width.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from store.measures import TIE, connect, in_batches, pack_codes, with_columns
from store.paths import Warehouse
from store.sandbox import query
from store.schemas import SCHEMAS
from store.sql_files import sql_text
from store.tables import has_partition, write_partition

UNIT_MODELS = ("measures_cells", "measures_entropy", "measures_specific_info")
CELLS_PER_BLOCK = 4_000_000  # joint cells n(ti, tj, y) per block of pairs


@dataclass(frozen=True)
class LayerCodes:
    layer: int  # 1-based hidden layer
    codes: np.ndarray  # (N, M) uint8 validation codes of the selected neurons
    neurons: np.ndarray  # (M,) their indices within the layer, ascending


def pair_blocks(unit_layers: np.ndarray, across_layers: bool, max_pairs: int) -> list[tuple[int, int]]:
    """Ranges [lo, hi) of first units whose pairs (with every later unit of the same layer, or of any
    layer) number at most ``max_pairs`` per range (a single unit may exceed it)."""
    n_units = len(unit_layers)
    if across_layers:
        later = n_units - 1 - np.arange(n_units)
    else:
        ends = np.searchsorted(unit_layers, unit_layers, side="right")
        later = ends - 1 - np.arange(n_units)
    blocks, lo, size = [], 0, 0
    for unit, n in enumerate(later):
        if size and size + n > max_pairs:
            blocks.append((lo, unit))
            lo, size = unit, 0
        size += int(n)
    if n_units:
        blocks.append((lo, n_units))
    return [(a, b) for a, b in blocks if later[a:b].sum() > 0]


def pair_tables(labels: np.ndarray, n_classes: int, layers: list[LayerCodes], bits: int,
                across_layers: bool = False) -> dict[str, pa.Table]:
    """{"neuron_pairs", "neuron_redundancy"} (no run_id) of every pair within each layer (and, with
    ``across_layers``, of different layers) among the given neurons, at one quantizer ``bits``."""
    labels = np.asarray(labels)
    if len(labels) and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"labels must lie in 0..{n_classes - 1}")
    layers = sorted(layers, key=lambda l: l.layer)
    codes = np.concatenate([l.codes for l in layers], axis=1) if layers else np.zeros((len(labels), 0), np.uint8)
    unit_layers = np.concatenate([np.full(len(l.neurons), l.layer, np.int32) for l in layers] or [np.zeros(0, np.int32)])
    units = pa.table({
        "unit": np.arange(len(unit_layers), dtype=np.int32),
        "layer": unit_layers,
        "neuron": np.concatenate([np.asarray(l.neurons, np.int32) for l in layers] or [np.zeros(0, np.int32)]),
    })
    con = connect()
    try:
        packed = pack_codes(codes, labels, bits)
        con.register("packed_codes", packed)
        con.register("packed_bitsets", as_bitsets(packed))
        con.register("units", units)
        con.register("labels", pa.table({"label": labels.astype(np.int32)}))
        con.register("counts", with_columns(con.sql(sql_text("counts")).to_arrow_table(), bits=bits))
        for model in UNIT_MODELS:
            con.execute(f"CREATE OR REPLACE TEMP TABLE {model} AS\n" + sql_text(model, n_classes=n_classes, layer=0, tie=TIE))
        con.execute("CREATE OR REPLACE TEMP TABLE pairs_packed AS\n" + sql_text("pairs_packed"))
        max_pairs = max(1, CELLS_PER_BLOCK // ((1 << bits) ** 2 * n_classes))
        parts = []
        for lo, hi in pair_blocks(unit_layers, across_layers, max_pairs):
            block = dict(unit_lo=lo, unit_hi=hi, across_layers=str(across_layers).lower())
            con.execute("CREATE OR REPLACE TEMP TABLE pairs_counts AS\n" + sql_text("pairs_counts", **block))
            parts.append(con.sql(sql_text("pairs_measures", bits=bits)).to_arrow_table())
        pairs = conform("neuron_pairs", parts)
        con.register("pairs_rows", in_batches(pairs))
        redundancy = conform("neuron_redundancy", [con.sql(sql_text("pairs_redundancy", tie=TIE)).to_arrow_table()])
    finally:
        con.close()
    return {"neuron_pairs": pairs, "neuron_redundancy": redundancy}


def as_bitsets(packed: pa.Table) -> pa.Table:
    """``packed`` with each row's ``words`` list as one BLOB of the same bytes (zero-copy), for DuckDB's BIT type."""
    words = packed.column("words").combine_chunks()
    offsets = pa.py_buffer((np.asarray(words.offsets) * 8).astype(np.int64))
    blobs = pa.LargeBinaryArray.from_buffers(pa.large_binary(), len(words), [None, offsets, words.values.buffers()[1]])
    return in_batches(packed.set_column(packed.schema.get_field_index("words"), "words", blobs))


def conform(table: str, parts: list[pa.Table]) -> pa.Table:
    schema = SCHEMAS[table]
    if not parts:
        return schema.empty_table()
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
