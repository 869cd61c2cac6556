"""Per-neuron information measures (docs/measures.md), computed by DuckDB one layer at a time: arrays in,
Arrow tables out (store.measures writes them).

Python only lays the arrays out as Arrow tables and runs the SQL models in a private in-memory DuckDB:
``sql/counts.sql`` counts bit-packed codes, ``sql/measures_*.sql`` compute every measure from the counts
(and, for class selectivity, from the raw outputs). No measure is computed in numpy.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import duckdb
import numpy as np
import pyarrow as pa

from pipeline.cores import available_cores
from pipeline.sql_files import sql_text

TIE = 1e-12  # measures within TIE bits of the best are tied: the smallest class / subset mask wins
MEASURE_MODELS = (  # sql/ models run per layer, in dependency order, each materialized as a temp table
    "measures_cells",
    "measures_entropy",
    "measures_specific_info",
    "measures_labeled_mi",
    "measures_js",
    "measures_class_selectivity",
    "measures_neuron_stats",
)
TABLES = ("counts", "neuron_stats", "specific_info")
ONE_THREAD = ("measures_js",)  # models run on one DuckDB thread, so that their float sums have one order
BLOCK = 512  # samples per block when transposing to neuron-major order (cache-friendly)
BATCHES = 16  # record batches per input table: DuckDB scans an Arrow table's batches in parallel
NO_BIN = 255  # code of the padding samples: matches no bin below 8 bits (masked out of bin 255 at 8 bits)


@dataclass(frozen=True)
class LayerInputs:
    layer: int  # 1-based hidden layer
    codes: dict[int, np.ndarray]  # bits -> (N, M) uint8 validation codes, bins 0..2^bits-1
    raw: np.ndarray  # (N, M) float32 raw validation outputs
    mean_train: np.ndarray  # (M,) float32 mean output on the training set


def connect() -> duckdb.DuckDBPyConnection:
    """A private in-memory connection using every available core."""
    con = duckdb.connect()
    con.execute(f"SET threads = {available_cores()}")
    return con


def group_by_class(x: np.ndarray, labels: np.ndarray, n_classes: int, pad_to: int = 1, fill=0):
    """Neuron-major copy (M, total) of ``x`` (N, M) with the samples grouped by class, each class padded
    with ``fill`` to a multiple of ``pad_to``; also each class's first column and size."""
    sizes = np.bincount(labels, minlength=n_classes)
    padded = -(-sizes // pad_to) * pad_to
    starts = np.cumsum(padded) - padded
    out = np.empty((x.shape[1], int(padded.sum())), x.dtype)
    for c in range(n_classes):
        rows = np.flatnonzero(labels == c)
        for i in range(0, len(rows), BLOCK):
            block = rows[i:i + BLOCK]
            out[:, starts[c] + i:starts[c] + i + len(block)] = x[block].T
        out[:, starts[c] + sizes[c]:starts[c] + padded[c]] = fill
    return out, starts, sizes


def pack_codes(codes: np.ndarray, labels: np.ndarray, bits: int) -> pa.Table:
    """The layout sql/counts.sql reads: one row per (neuron, bin, class) whose ``words`` are the 64-sample
    bitsets of "this sample of the class has code ``bin``" (numpy.packbits; layout only)."""
    if not 1 <= bits <= 8:
        raise ValueError(f"bits must be 1..8, got {bits}")
    if codes.size and (codes.min() < 0 or codes.max() >= 1 << bits):
        raise ValueError(f"{bits}-bit codes must lie in 0..{(1 << bits) - 1}")
    codes = codes.astype(np.uint8, copy=False)
    n_classes = int(labels.max()) + 1 if len(labels) else 1
    grouped, starts, sizes = group_by_class(codes, labels, n_classes, pad_to=64, fill=NO_BIN)
    n_neurons, n_bins, n_words = codes.shape[1], 1 << bits, grouped.shape[1] // 64
    real = np.zeros(grouped.shape[1], bool)  # False on the padding samples
    for start, size in zip(starts, sizes):
        real[start:start + size] = True

    def has_code(b: int) -> np.ndarray:
        return (grouped == b) & real if b == NO_BIN else grouped == b

    words = np.concatenate([np.packbits(has_code(b), axis=1, bitorder="little").view("<u8").ravel()
                            for b in range(n_bins)])
    offsets = np.append((np.arange(n_bins * n_neurons)[:, None] * n_words + starts // 64).ravel(), words.size)
    cells = n_bins * n_neurons * n_classes
    return in_batches(pa.table({
        "neuron": np.tile(np.repeat(np.arange(n_neurons, dtype=np.int32), n_classes), n_bins),
        "bin": np.repeat(np.arange(n_bins, dtype=np.int32), n_neurons * n_classes),
        "class": np.tile(np.arange(n_classes, dtype=np.int32), cells // n_classes),
        "words": pa.LargeListArray.from_arrays(offsets, pa.array(words, pa.uint64())),
    }))


def count_codes(con: duckdb.DuckDBPyConnection, codes: np.ndarray, labels: np.ndarray, bits: int) -> pa.Table:
    """Columns neuron, bin, class, n (n > 0 only) of (N, M) ``codes``, counted by sql/counts.sql."""
    con.register("packed_codes", pack_codes(codes, np.asarray(labels), bits))
    try:
        return con.sql(sql_text("counts")).to_arrow_table()
    finally:
        con.unregister("packed_codes")


def raw_by_class(raw: np.ndarray, labels: np.ndarray, n_classes: int) -> pa.Table:
    """The layout measures_class_selectivity reads: one row per (neuron, class) listing that class's outputs."""
    grouped, starts, _ = group_by_class(raw, labels, n_classes)
    n_neurons, n_samples = grouped.shape
    offsets = np.append((np.arange(n_neurons)[:, None] * n_samples + starts).ravel(), grouped.size)
    return in_batches(pa.table({
        "neuron": np.repeat(np.arange(n_neurons, dtype=np.int32), n_classes),
        "class": np.tile(np.arange(n_classes, dtype=np.int32), n_neurons),
        "raw": pa.LargeListArray.from_arrays(offsets, pa.array(grouped.ravel())),
    }))


def in_batches(table: pa.Table) -> pa.Table:
    """``table`` split into about BATCHES record batches (zero-copy)."""
    return pa.Table.from_batches(table.to_batches(max_chunksize=max(1, -(-table.num_rows // BATCHES))), table.schema)


def with_columns(table: pa.Table, **constants) -> pa.Table:
    """``table`` with constant columns added in front (integers as int32, like every key column)."""
    for i, (name, value) in enumerate(constants.items()):
        scalar = pa.scalar(value, pa.int32()) if isinstance(value, (int, np.integer)) else pa.scalar(value)
        table = table.add_column(i, name, pa.repeat(scalar, table.num_rows))
    return table


def measure_layer(con: duckdb.DuckDBPyConnection, labels: np.ndarray, n_classes: int, inputs: LayerInputs,
                  split: str) -> dict[str, pa.Table]:
    """counts, neuron_stats and specific_info rows of one layer."""
    counts = pa.concat_tables([
        with_columns(count_codes(con, codes, labels, bits), bits=bits) for bits, codes in sorted(inputs.codes.items())
    ])
    con.register("counts", counts)
    con.register("labels", pa.table({"label": labels.astype(np.int32)}))
    con.register("raw_by_class", raw_by_class(inputs.raw, labels, n_classes))
    con.register("train_means", pa.table({
        "neuron": np.arange(len(inputs.mean_train), dtype=np.int32),
        "mean_train": np.asarray(inputs.mean_train, np.float64),
    }))
    params = dict(n_classes=n_classes, layer=inputs.layer, tie=TIE)
    for model in MEASURE_MODELS:
        create = f"CREATE OR REPLACE TEMP TABLE {model} AS\n" + sql_text(model, **params)
        if model not in ONE_THREAD:  # its float sums carry their own ORDER BY
            con.execute(create)
            continue
        # measures_js sums thousands of subset columns per (neuron, L): on one thread its sums add the bins in
        # scan order (the same bits on any machine), instead of an ORDER BY per column
        threads = con.execute("SELECT current_setting('threads')").fetchall()[0][0]
        con.execute("SET threads = 1")
        try:
            con.execute(create)
        finally:
            con.execute(f"SET threads = {threads}")
    return {
        "counts": with_columns(counts, split=split, layer=inputs.layer),
        "neuron_stats": con.table("measures_neuron_stats").to_arrow_table(),
        "specific_info": con.table("measures_specific_info").to_arrow_table(),
    }


def measure_layers(labels: np.ndarray, n_classes: int, layers: Iterable[LayerInputs],
                   split: str = "val") -> dict[str, pa.Table]:
    """{"counts", "neuron_stats", "specific_info"} of all layers (no run_id; columns typed as DuckDB makes
    them, store.measures casts them to the contracts), one layer in memory at a time."""
    labels = np.asarray(labels)
    if len(labels) and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"labels must lie in 0..{n_classes - 1}")
    parts = {name: [] for name in TABLES}
    con = connect()
    try:
        for inputs in layers:
            for name, table in measure_layer(con, labels, n_classes, inputs, split).items():
                parts[name].append(table)
        if not parts["counts"]:  # no layers: the models over a zero-width layer give their columns, no rows
            nothing = np.zeros((len(labels), 0), np.float32)
            empty = LayerInputs(layer=0, codes={1: nothing.astype(np.uint8)}, raw=nothing, mean_train=nothing[0])
            parts = {name: [table] for name, table in measure_layer(con, labels, n_classes, empty, split).items()}
    finally:
        con.close()
    return {name: pa.concat_tables(tables) for name, tables in parts.items()}
