"""The rows of ``measure_estimates`` for one run: every measure under every estimator, with an interval,
a p-value (mutual_info) and a small-sample flag (docs/measures.md, "Estimators").

Inputs are the run's stored tables (counts, neuron_stats, specific_info): the plug-in rows copy
neuron_stats, Miller-Madow runs in DuckDB SQL (sql/estimates_miller_madow.sql), Panzeri-Treves, the
shuffle estimator, intervals and permutations run in numpy (pipeline/estimators.py), each random draw from
a generator seeded by (run_id, layer, bits, purpose) so repairs and reruns give the same bytes.
"""
from __future__ import annotations

import hashlib

import duckdb
import numpy as np
import pyarrow as pa

from pipeline import estimators as est
from pipeline.measures import TIE
from pipeline.options import EstimateSpec
from pipeline.sql_files import sql_text

PURPOSE = {"shuffle": 1, "bootstrap": 2, "permutation": 3}
CHUNK = 64  # rows (neuron, bits) resampled at once: bounds the bootstrap's memory
ROUND = 50  # permutations drawn per round of a permutation test
PERMUTED_ROWS = 512  # tables permuted at once (512 x 50 tables of 8 x 10 cells: 16 MB)
STOP_AFTER = 20  # a permutation test stops once this many permuted values reach the observed one


def generator(run_id: str, layer: int, bits: int, purpose: str) -> np.random.Generator:
    """The generator of one run, layer, bits and purpose (the same draws on every machine and rerun)."""
    key = int.from_bytes(hashlib.sha256(run_id.encode()).digest()[:8], "little")
    return np.random.default_rng([key, layer, bits, PURPOSE[purpose]])


def dense_tables(counts: pa.Table, n_classes: int) -> dict[tuple[int, int], np.ndarray]:
    """{(layer, bits): n(t, y) as an array (neurons, 2^bits, classes)} from a run's counts rows."""
    columns = {k: counts.column(k).to_numpy() for k in ("layer", "bits", "neuron", "bin", "class", "n")}
    out = {}
    for layer, bits in sorted(set(zip(columns["layer"].tolist(), columns["bits"].tolist()))):
        rows = (columns["layer"] == layer) & (columns["bits"] == bits)
        neurons = columns["neuron"][rows]
        tables = np.zeros((int(neurons.max()) + 1, 1 << bits, n_classes), np.int64)
        tables[neurons, columns["bin"][rows], columns["class"][rows]] = columns["n"][rows]
        out[layer, bits] = tables
    return out


def by_layer(table: pa.Table, columns) -> dict[tuple[int, int], dict[str, np.ndarray]]:
    """{(layer, bits): {column: values in neuron order}} of a table keyed by layer, bits and neuron."""
    cols = {k: table.column(k).to_numpy(zero_copy_only=False) for k in ("layer", "bits", "neuron", *columns)}
    out = {}
    for layer, bits in sorted(set(zip(cols["layer"].tolist(), cols["bits"].tolist()))):
        rows = np.flatnonzero((cols["layer"] == layer) & (cols["bits"] == bits))
        rows = rows[np.argsort(cols["neuron"][rows])]
        out[layer, bits] = {k: cols[k][rows] for k in columns}
    return out


def miller_madow(counts: pa.Table, neuron_stats: pa.Table, specific_info: pa.Table, n_classes: int) -> dict:
    """{(layer, bits): {measure: Miller-Madow values in neuron order}} from sql/estimates_miller_madow.sql."""
    con = duckdb.connect()
    try:
        con.register("estimate_counts", counts)
        con.register("estimate_stats", neuron_stats)
        con.register("estimate_specific", specific_info)
        rows = con.sql(sql_text("estimates_miller_madow", n_classes=n_classes)).to_arrow_table()
    finally:
        con.close()
    return by_layer(rows, est.MEASURES)


def layer_estimates(run_id: str, layer: int, bits: int, tables: np.ndarray, plugin: dict[str, np.ndarray],
                    mm: dict[str, np.ndarray], spec: EstimateSpec) -> dict[str, dict[str, np.ndarray]]:
    """{"values": {estimator: {measure: values}}, "intervals": {(estimator, measure): (low, high)}, "p_value",
    "small_sample"} of one layer and bits (its neurons' tables, stored plug-in values, SQL Miller-Madow values)."""
    subsets = plugin["js_subset"]
    rows, n_bins, n_classes = tables.shape
    values = {"plugin": {m: plugin[m] for m in est.MEASURES}, "miller_madow": mm,
              "panzeri_treves": est.measures(tables, subsets, est.relevant_bins)}

    draws = spec.shuffles
    null = est.measures(est.shuffled(tables, draws, generator(run_id, layer, bits, "shuffle")).reshape(-1, n_bins, n_classes),
                        np.repeat(subsets, draws))
    null = {m: v.reshape(rows, draws) for m, v in null.items()}
    values["shuffle"] = {m: plugin[m] - null[m].mean(1) for m in est.LABEL_MEASURES}

    from scipy import stats  # lazy: 0.2 s to import, and most CLI verbs never need it

    z = stats.norm.ppf(0.5 + spec.level / 2)
    se = est.standard_errors(tables, subsets, plugin)
    intervals = {}
    if spec.intervals == "analytic":
        for name, by_measure in values.items():
            for m, v in by_measure.items():
                width = z * (np.sqrt(se[m] ** 2 + null[m].var(1, ddof=1) / draws) if name == "shuffle" else se[m])
                intervals[name, m] = (v - width, v + width)
    else:
        intervals = bootstrap_intervals(run_id, layer, bits, tables, subsets, values, spec)

    p_value, small = est.independence_test(tables, plugin["mutual_info"])
    if small.any():  # too few samples per cell for the chi-squared law: a permutation p-value instead
        p_value = p_value.copy()
        p_value[small] = permutation_p_values(tables[small], plugin["mutual_info"][small],
                                              spec.permutations, generator(run_id, layer, bits, "permutation"))
    return {"values": values, "intervals": intervals, "p_value": p_value, "small_sample": small}


def permutation_p_values(tables, mutual_info, permutations: int, rng: np.random.Generator,
                         stop_after: int | None = STOP_AFTER) -> np.ndarray:
    """Permutation p-values of I(T;Y) per table, permutations drawn ROUND at a time: (1 + #{permuted I >=
    observed}) / (1 + permutations), or, once a table has ``stop_after`` exceedances, stopped there with
    p = exceedances / permutations drawn (Besag & Clifford 1991: a clearly large p needs few permutations)."""
    exceed = np.zeros(len(tables))
    drawn = np.zeros(len(tables))
    stopped = np.zeros(len(tables), bool)
    for start in range(0, permutations, ROUND):
        active = np.flatnonzero(~stopped)
        if not len(active):
            break
        count = min(ROUND, permutations - start)
        for first in range(0, len(active), PERMUTED_ROWS):
            rows = active[first:first + PERMUTED_ROWS]
            null = est.information(est.shuffled(tables[rows], count, rng).reshape(-1, *tables.shape[1:]).astype(np.float64))
            exceed[rows] += (null.reshape(len(rows), count) >= mutual_info[rows, None] - TIE).sum(1)
            drawn[rows] += count
        if stop_after is not None:
            stopped |= exceed >= stop_after
    return np.where(stopped, exceed / np.maximum(drawn, 1), (1 + exceed) / (1 + drawn))


def bootstrap_intervals(run_id, layer, bits, tables, subsets, values, spec: EstimateSpec) -> dict:
    """Basic bootstrap intervals [2v - q_hi, 2v - q_lo] from ``spec.resamples`` multinomial resamples of each
    table; the shuffle estimator's is the plug-in's shifted by its correction (not reshuffled per resample)."""
    rng = generator(run_id, layer, bits, "bootstrap")
    lo_q, hi_q = 0.5 - spec.level / 2, 0.5 + spec.level / 2
    quantiles = {name: {m: np.empty((len(tables), 2)) for m in est.MEASURES} for name in est.COUNTED}
    for start in range(0, len(tables), CHUNK):
        part = tables[start:start + CHUNK]
        resampled = est.resampled(part, spec.resamples, rng).reshape(-1, *part.shape[1:])
        chunk_subsets = np.repeat(subsets[start:start + CHUNK], spec.resamples)
        for name, counted in est.COUNTED.items():
            for m, v in est.measures(resampled, chunk_subsets, counted).items():
                q = np.quantile(v.reshape(len(part), spec.resamples), [lo_q, hi_q], axis=1).T
                quantiles[name][m][start:start + CHUNK] = q
    out = {}
    for name, by_measure in values.items():
        source = "plugin" if name == "shuffle" else name
        for m, v in by_measure.items():
            q = quantiles[source][m]
            shift = v - values[source][m]
            reference = values[source][m]
            out[name, m] = (2 * reference - q[:, 1] + shift, 2 * reference - q[:, 0] + shift)
    return out


def run_estimates(run_id: str, counts: pa.Table, neuron_stats: pa.Table, specific_info: pa.Table, n_classes: int,
                  spec: EstimateSpec = EstimateSpec()) -> pa.Table:
    """Every (layer, neuron, bits, measure, estimator) row of a run's measure_estimates (no run_id column)."""
    if counts.num_rows == 0:
        return pa.table({k: pa.array([], type=t) for k, t in SCHEMA.items()})
    tables = dense_tables(counts, n_classes)
    mm = miller_madow(counts, neuron_stats, specific_info, n_classes)
    plugins = by_layer(neuron_stats, (*est.MEASURES, "js_subset"))
    columns: dict[str, list] = {k: [] for k in SCHEMA}
    for (layer, bits), table in tables.items():
        n = len(table)
        plugin = plugins.get((layer, bits), {"js_subset": ()})
        if len(plugin["js_subset"]) != n:
            raise ValueError(f"layer {layer}, bits {bits}: neuron_stats has {len(plugin['js_subset'])} neurons, counts {n}")
        mm_values = mm[layer, bits]
        found = layer_estimates(run_id, layer, bits, table, plugin, mm_values, spec)
        for estimator in est.ESTIMATORS:
            for measure, value in found["values"][estimator].items():
                low, high = found["intervals"][estimator, measure]
                columns["layer"].append(np.full(n, layer, np.int32))
                columns["neuron"].append(np.arange(n, dtype=np.int32))
                columns["bits"].append(np.full(n, bits, np.int32))
                columns["measure"].append(np.full(n, measure, object))
                columns["estimator"].append(np.full(n, estimator, object))
                columns["value"].append(np.asarray(value, np.float64))
                columns["ci_low"].append(np.asarray(low, np.float64))
                columns["ci_high"].append(np.asarray(high, np.float64))
                columns["interval"].append(np.full(n, spec.intervals, object))
                columns["p_value"].append(found["p_value"] if measure == "mutual_info" else np.full(n, np.nan))
                columns["small_sample"].append(found["small_sample"])
    table = pa.table({k: np.concatenate(v) for k, v in columns.items()})
    p = table.column("p_value").to_numpy(zero_copy_only=False)
    return table.set_column(table.schema.get_field_index("p_value"), "p_value",
                            pa.array(p, pa.float64(), mask=np.isnan(p)))


SCHEMA = {"layer": pa.int32(), "neuron": pa.int32(), "bits": pa.int32(), "measure": pa.string(),
          "estimator": pa.string(), "value": pa.float64(), "ci_low": pa.float64(), "ci_high": pa.float64(),
          "interval": pa.string(), "p_value": pa.float64(), "small_sample": pa.bool_()}
