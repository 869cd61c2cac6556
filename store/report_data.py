"""The data behind a report: runs the ``sql/report_*.sql`` models and returns small Arrow tables.

Everything is aggregated in DuckDB (over neurons, seeds and random repeats; curves downsampled to
``STEPS`` + 1 points), so no table a chart draws holds raw per-neuron-per-k rows.
"""
from __future__ import annotations

import pyarrow as pa

from pipeline.errors import NeuronInfoError
from store.paths import Warehouse
from store.sql_files import sql_text
from store.views import memory_connection

STEPS = 50  # points per downsampled curve (plus k = 0)
MAX_CHART_ROWS = 4500  # Altair refuses data over 5,000 rows: the layer-wise chart draws 18 curves per layer
BINS = 20  # histogram bins per measure

# table name -> model; report_measure_values (a temp view the models read) is created first
MODELS = {
    "runs": "report_runs",
    "layer_stats": "report_layer_stats",
    "significance": "report_significance",  # empty without measure_estimates
    "measure_hist": "report_measure_hist",
    "curves": "report_curves",
    "layer_composition": "report_layer_composition",
    "auc": "report_auc",
    "rank_correlation": "report_rank_correlation",
    "pair_heatmap": "report_pair_heatmap",  # empty without neuron_pairs
    "pair_hist": "report_pair_hist",
    "pruning": "report_pruning",
    "notes": "report_notes",  # what the page must say about how its curves were made
}
HEATMAP_TOP = 40  # most informative neurons per layer in the red_min heatmap


def runs_of_group(wh: Warehouse, group_name: str) -> list[str]:
    """The run_ids of a group (runs that differ only by seed), ordered by seed."""
    con = memory_connection(wh)
    try:
        rows = con.execute("SELECT run_id FROM runs WHERE group_name = ? ORDER BY seed, run_id", [group_name]).fetchall()
        if not rows:
            known = [r[0] for r in con.execute("SELECT DISTINCT group_name FROM runs ORDER BY 1").fetchall()]
    finally:
        con.close()
    if not rows:
        hint = f"known groups: {', '.join(known)}" if known else "the warehouse has no runs yet"
        raise NeuronInfoError(f"no runs in group {group_name!r}; {hint}")
    return [r[0] for r in rows]


def groups_of_runs(wh: Warehouse, run_ids: list[str]) -> dict[str, list[str]]:
    """These runs by group name (groups in order of first appearance, runs by seed); unknown runs are an error."""
    con = memory_connection(wh, runs=run_ids)
    try:
        con.register("selected_runs", pa.table({"run_id": pa.array(list(dict.fromkeys(run_ids)), pa.string())}))
        _check_complete(con, run_ids, views=("runs",))
        rows = con.sql("SELECT coalesce(group_name, name, run_id), run_id FROM runs JOIN selected_runs USING (run_id) "
                       "ORDER BY seed, run_id").fetchall()
    finally:
        con.close()
    groups = {}
    for group, run_id in rows:
        groups.setdefault(group, []).append(run_id)
    return dict(sorted(groups.items(), key=lambda g: min(run_ids.index(r) for r in g[1])))


def report_tables(wh: Warehouse, run_ids: list[str]) -> dict[str, pa.Table]:
    """Every table the report charts need, for these runs (curves averaged over them).

    Keys: runs, measure_hist, curves, layer_composition, auc, rank_correlation, pair_heatmap, pair_hist, pruning
    (see the models' column comments in ``sql/report_*.sql``).
    """
    run_ids = list(dict.fromkeys(run_ids))
    if not run_ids:
        raise NeuronInfoError("no runs to report on; pass --run RUN_ID or --group NAME")
    con = memory_connection(wh, runs=run_ids)  # another run's damaged file never breaks these runs' page
    try:
        con.execute("SET enable_progress_bar = false")
        con.register("selected_runs", pa.table({"run_id": pa.array(run_ids, pa.string())}))
        _check_complete(con, run_ids)
        con.execute("CREATE OR REPLACE TEMP VIEW report_measure_values AS\n" + sql_text("report_measure_values"))
        params = {"steps": STEPS, "layer_steps": _layer_steps(con), "bins": BINS, "top": HEATMAP_TOP}
        return {name: con.sql(sql_text(model, **params)).to_arrow_table() for name, model in MODELS.items()}
    finally:
        con.close()


def _layer_steps(con) -> int:
    """Points per layer curve: STEPS, fewer for deep networks (layers x 10 measures x 3 orderings curves in one
    chart: the 6 of neuron_stats and the 4 pair aggregates of neuron_redundancy)."""
    layers = con.sql("SELECT max(len(hidden_sizes)) FROM runs JOIN selected_runs USING (run_id)").fetchall()[0][0] or 1
    return max(10, min(STEPS, MAX_CHART_ROWS // (30 * layers) - 1))


def _check_complete(con, run_ids: list[str], views=("runs", "neuron_stats", "ablation_curves")) -> None:
    """Every run must exist and have measures and ablation curves."""
    checks = [
        ("runs", "unknown run {}; list runs with: neuroninfo sql \"SELECT run_id, name FROM runs\""),
        ("neuron_stats", "run {0} has no measures yet; run: neuroninfo measure {0}"),
        ("ablation_curves", "run {0} has no ablation curves yet; run: neuroninfo ablate {0}"),
    ]
    for view, message in checks:
        if view not in views:
            continue
        have = {r[0] for r in con.sql(f"SELECT DISTINCT run_id FROM {view} JOIN selected_runs USING (run_id)").fetchall()}
        missing = [r for r in run_ids if r not in have]
        if missing:
            raise NeuronInfoError(message.format(missing[0]))
