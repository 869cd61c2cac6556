"""Redundancy and synergy between pairs of neurons (docs/measures-pairs.md), computed by DuckDB: arrays in,
Arrow tables out (store.pairs writes them).

Python lays the codes out (``pipeline.measures.pack_codes`` over the selected neurons, numbered 0..U-1
across layers as "units") and runs the SQL models: the single-neuron models of pipeline.measures
(``measures_cells``, ``measures_entropy``, ``measures_specific_info``) and ``pairs_packed`` once, then
per block of pairs ``pairs_counts`` (AND + bit_count of bit sets) -> ``pairs_measures``, and
``pairs_redundancy`` over all blocks. A block holds at most CELLS_PER_BLOCK joint cells, so memory
stays bounded whatever the layer width (one block per thread at a time); blocks are independent, so
``pair_rows`` of disjoint lists of blocks can run in different threads or processes (flows.stages.pairs_run
with an executor) and be concatenated. Every query of ``pair_rows`` runs on one DuckDB thread, so the rows are
bit-identical however the blocks are spread.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa

from pipeline.cores import available_cores
from pipeline.measures import TIE, in_batches, pack_codes, with_columns
from pipeline.progress import Progress
from pipeline.sql_files import sql_text

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
                across_layers: bool = False, workers: int | None = None,
                progress: Progress | None = None) -> dict[str, pa.Table]:
    """{"neuron_pairs", "neuron_redundancy"} (no run_id) of every pair within each layer (and, with
    ``across_layers``, of different layers) among the given neurons, at one quantizer ``bits`` (columns typed
    as DuckDB makes them; store.pairs casts them to the contracts). ``workers``: threads (default the available
    cores; memory is about one block per thread); ``progress``: advanced once per block of ``pair_ranges``."""
    ranges = pair_ranges(layers, n_classes, bits, across_layers)
    pairs = pair_rows(labels, n_classes, layers, bits, across_layers, ranges, workers or available_cores(), progress)
    return {"neuron_pairs": pairs, "neuron_redundancy": redundancy_of(pairs)}


def pair_ranges(layers: list[LayerCodes], n_classes: int, bits: int, across_layers: bool = False) -> list[tuple[int, int]]:
    """The blocks of pairs, as ranges [lo, hi) of first units (numbered across the layers in layer order), each
    of at most CELLS_PER_BLOCK joint cells: the unit of work of ``pair_rows`` (threads, or tasks)."""
    max_pairs = max(1, CELLS_PER_BLOCK // ((1 << bits) ** 2 * n_classes))
    return pair_blocks(_unit_layers(layers), across_layers, max_pairs)


def pair_rows(labels: np.ndarray, n_classes: int, layers: list[LayerCodes], bits: int, across_layers: bool,
              ranges: list[tuple[int, int]], workers: int = 1, progress: Progress | None = None) -> pa.Table:
    """The neuron_pairs rows of the pairs in these blocks (``pair_ranges``), in block order. Every query runs on
    one DuckDB thread (a multi-threaded sum adds in a varying order), so a block's rows are the same bits
    whichever process computes it, and beside whichever other blocks; ``workers`` threads compute blocks side
    by side, each on its own cursor. ``progress`` advances once per block."""
    labels = np.asarray(labels)
    if len(labels) and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"labels must lie in 0..{n_classes - 1}")
    codes, _, units = _units(layers, len(labels))
    con = _single_threaded()
    try:
        packed = pack_codes(codes, labels, bits)
        con.register("packed_codes", packed)
        con.register("packed_bitsets", as_bitsets(packed))
        con.register("labels", pa.table({"label": labels.astype(np.int32)}))
        con.register("units_arrow", units)
        con.register("counts", with_columns(con.sql(sql_text("counts")).to_arrow_table(), bits=bits))
        con.execute("CREATE TABLE units AS SELECT * FROM units_arrow")
        for model in UNIT_MODELS:  # tables of the in-memory database, which every cursor sees
            con.execute(f"CREATE TABLE {model} AS\n" + sql_text(model, n_classes=n_classes, layer=0, tie=TIE))
        con.execute("CREATE TABLE pairs_packed AS\n" + sql_text("pairs_packed"))
        if not ranges:  # no pairs: the columns, no rows
            return _block_rows(con, 0, 0, bits, across_layers)
        pool = ThreadPoolExecutor(max(1, min(workers, len(ranges))))
        try:
            futures = [pool.submit(_block_rows, con, lo, hi, bits, across_layers, progress) for lo, hi in ranges]
            return pa.concat_tables([future.result() for future in futures])
        finally:
            pool.shutdown(cancel_futures=True)  # a failed block (or Ctrl-C) stops the blocks not yet started
    finally:
        con.close()


def _block_rows(con: duckdb.DuckDBPyConnection, lo: int, hi: int, bits: int, across_layers: bool,
                progress: Progress | None = None) -> pa.Table:
    """The neuron_pairs rows of the pairs whose first unit is in [lo, hi), on a cursor of their own (its temp
    table pairs_counts is its own)."""
    cursor = con.cursor()
    try:
        cursor.execute("CREATE TEMP TABLE pairs_counts AS\n" + sql_text(
            "pairs_counts", unit_lo=lo, unit_hi=hi, across_layers=str(across_layers).lower()))
        rows = cursor.sql(sql_text("pairs_measures", bits=bits)).to_arrow_table()
    finally:
        cursor.close()
    if progress is not None:
        progress.advance()
    return rows


def redundancy_of(pairs: pa.Table) -> pa.Table:
    """neuron_redundancy (no run_id) from every neuron_pairs row of one bits value (``pair_rows`` of all blocks),
    on one DuckDB thread: the same bits from the same rows."""
    con = _single_threaded()
    try:
        con.register("pairs_rows", in_batches(pairs))
        return con.sql(sql_text("pairs_redundancy", tie=TIE)).to_arrow_table()
    finally:
        con.close()


def _single_threaded() -> duckdb.DuckDBPyConnection:
    """A private in-memory connection whose queries run on one thread (sums add in one order)."""
    con = duckdb.connect()
    con.execute("SET threads = 1")
    return con


def _units(layers: list[LayerCodes], n_samples: int = 0) -> tuple[np.ndarray, np.ndarray, pa.Table]:
    """The selected neurons' codes side by side (N, U), each unit's layer, and the units table (unit, layer, neuron)."""
    layers = sorted(layers, key=lambda l: l.layer)
    codes = np.concatenate([l.codes for l in layers], axis=1) if layers else np.zeros((n_samples, 0), np.uint8)
    unit_layers = _unit_layers(layers)
    units = pa.table({
        "unit": np.arange(len(unit_layers), dtype=np.int32),
        "layer": unit_layers,
        "neuron": np.concatenate([np.asarray(l.neurons, np.int32) for l in layers] or [np.zeros(0, np.int32)]),
    })
    return codes, unit_layers, units


def _unit_layers(layers: list[LayerCodes]) -> np.ndarray:
    """Each selected neuron's layer, units numbered in layer order."""
    layers = sorted(layers, key=lambda l: l.layer)
    return np.concatenate([np.full(len(l.neurons), l.layer, np.int32) for l in layers] or [np.zeros(0, np.int32)])


def as_bitsets(packed: pa.Table) -> pa.Table:
    """``packed`` with each row's ``words`` list as one BLOB of the same bytes (zero-copy), for DuckDB's BIT type."""
    words = packed.column("words").combine_chunks()
    offsets = pa.py_buffer((np.asarray(words.offsets) * 8).astype(np.int64))
    blobs = pa.LargeBinaryArray.from_buffers(pa.large_binary(), len(words), [None, offsets, words.values.buffers()[1]])
    return in_batches(packed.set_column(packed.schema.get_field_index("words"), "words", blobs))
