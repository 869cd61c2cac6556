"""Analysis: do the pair aggregates predict ablation damage better than mutual_info? (docs/measures-pairs.md)

    python bench/pairs_vs_ablation.py RUN_ID --warehouse W [--bits 1] [--data-dir D]

Needs a measured run with `pairs` at --bits (and, for the Shapley column, ablation curves). Prints per
layer Spearman's rho between each measure and two importances on the test split:
  single  -- the test-error increase when that neuron alone is ablated (zero / mean strategy);
  shapley -- the report's mean marginal increase over the random orderings (sql/report_rank_correlation.sql).
Then the layer's pair summary: mean red_min, synergy_min and co_info, and the share of pairs with co_info > 0.
"""
from __future__ import annotations

import argparse

import numpy as np

from flows.run_data import data_of
from pipeline.ablation import Ordering, ablation_curves
from store import activations as act
from store.checkpoints import load_run
from store.paths import open_warehouse
from store.sandbox import query

COMPARED_MEASURES = ("mutual_info", "kl_selectivity", "unique_min", "max_red_min", "mean_synergy_min", "max_synergy_min")


def average_ranks(x: np.ndarray) -> np.ndarray:
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x))
    ranks[order] = np.arange(len(x))
    for value in np.unique(x):
        tied = x == value
        ranks[tied] = ranks[tied].mean()
    return ranks


def spearman(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(np.corrcoef(average_ranks(a), average_ranks(b))[0, 1])


def single_neuron_damage(wh, run_id: str, data_dir, strategy: str) -> dict[tuple[int, int], float]:
    """Test error with one neuron ablated minus the unablated error, for every hidden neuron."""
    model = load_run(wh, run_id)
    store = act.open_activations(wh, run_id)
    sizes = list(model.spec.hidden_sizes)
    orderings = [Ordering("layer", l, "single", None, "low_first", 0, np.array([[l, j]], np.int64))
                 for l, m in enumerate(sizes, start=1) for j in range(m)]
    test = data_of(model.spec, data_dir).test
    means = [store.train_mean(l) for l in store.layers]
    rows = ablation_curves(model, test.x, test.y, orderings, (strategy,), means).to_pylist()
    base = {r["layer"]: r["test_error"] for r in rows if r["n_ablated"] == 0}
    damage = {}
    for o, r in zip(orderings, [r for r in rows if r["n_ablated"] == 1]):
        damage[(o.layer, int(o.neurons[0, 1]))] = r["test_error"] - base[o.layer]
    return damage


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("run_id")
    parser.add_argument("--warehouse")
    parser.add_argument("--bits", type=int, default=1)
    parser.add_argument("--data-dir")
    args = parser.parse_args()
    wh = open_warehouse(args.warehouse)
    run, bits = args.run_id, args.bits
    values = query(wh, f"""SELECT s.layer, s.neuron, s.mutual_info, s.kl_selectivity, r.unique_min, r.max_red_min,
                                  r.mean_synergy_min, r.max_synergy_min
                           FROM neuron_stats AS s JOIN neuron_redundancy AS r USING (run_id, layer, neuron, bits)
                           WHERE run_id = '{run}' AND bits = {bits} ORDER BY layer, neuron""").to_pydict()
    damage = {s: single_neuron_damage(wh, run, args.data_dir, s) for s in ("zero", "mean")}
    shapley = {}
    try:
        from store.report_data import report_tables

        for r in report_tables(wh, [run])["rank_correlation"].to_pylist():
            if r["scope"] == "layer" and r["bits"] == bits:
                shapley[(r["layer"], r["measure"], r["strategy"])] = r["spearman"]
    except Exception as e:  # no ablation curves yet: only the single-neuron columns
        print(f"(no Shapley column: {e})")
    layer = np.asarray(values["layer"])
    print(f"run {run}, {bits} bit(s): Spearman rho of each measure with ablation importance, per layer")
    print(f"{'layer':>5}  {'measure':<17}{'single zero':>12}{'single mean':>12}{'shapley zero':>13}{'shapley mean':>13}")
    for l in sorted(set(layer)):
        keep = layer == l
        neurons = np.asarray(values["neuron"])[keep]
        for m in COMPARED_MEASURES:
            x = np.asarray(values[m])[keep]
            cols = [spearman(x, [damage[s][(l, n)] for n in neurons]) for s in ("zero", "mean")]
            cols += [shapley.get((l, m, s), float("nan")) for s in ("zero", "mean")]
            print(f"{l:>5}  {m:<17}" + "".join(f"{c:>12.3f} " for c in cols))
    summary = query(wh, f"""SELECT layer_i AS layer, count(*) AS pairs, avg(red_min) AS red_min, avg(synergy_min) AS synergy_min,
                                   avg(co_info) AS co_info, avg((co_info > 0)::INTEGER) AS redundant_share,
                                   avg(mutual_info_i + mutual_info_j) / 2 AS mean_mi
                            FROM neuron_pairs WHERE run_id = '{run}' AND bits = {bits} AND layer_i = layer_j
                            GROUP BY layer_i ORDER BY layer_i""").to_pylist()
    print("\nlayer  pairs   mean I(T;Y)  mean red_min  mean synergy_min  mean co_info  share co_info > 0")
    for r in summary:
        print(f"{r['layer']:>5}  {r['pairs']:>6}  {r['mean_mi']:>11.4f}  {r['red_min']:>12.4f}  {r['synergy_min']:>16.4f}"
              f"  {r['co_info']:>12.4f}  {r['redundant_share']:>17.2f}")


if __name__ == "__main__":
    main()
