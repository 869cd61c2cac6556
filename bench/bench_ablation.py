"""Benchmark: the cumulative ablation engine against a naive full forward pass per k.

    python bench/bench_ablation.py [--quick] [--cifar-samples N]

The work is what ``neuroninfo ablate`` does for one run at full resolution: 6 measures (random
permutations stand in for the SQL rankings), each low_first and high_first (reversed), plus R=5
random orderings, x 2 strategies x (every hidden layer + the network scope). The reference is the
naive way (a full forward pass per k with the first k neuron outputs overwritten), timed in the same
process on a strided subset of the same curves and extrapolated to the whole work per k evaluated.
The engine runs in groups of orderings with the naive points timed in between, so that load from
other processes falls on both alike; its errors are checked against the reference on that subset.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.ablation import Ordering, ablation_curves, k_grid, random_orderings  # noqa: E402
from pipeline.model import MLP  # noqa: E402
from pipeline.spec import NetworkSpec  # noqa: E402

MEASURES = ("entropy", "mutual_info", "kl_selectivity", "js_subset_separation", "labeled_mi", "class_selectivity")


def make_model(input_dim, hidden, seed=0):
    spec = NetworkSpec(dataset="bench", input_dim=input_dim, n_classes=10, hidden_sizes=hidden,
                       activation="relu", regularizer="dropout", dropout=0.2)
    torch.manual_seed(seed)
    model = MLP(spec).eval()
    with torch.no_grad():
        for lin in model.linear:
            lin.weight.mul_(2.0)
    return model


def measure_orderings(sizes, measures, seed=0):
    """Stand-in rankings: a random permutation per measure and scope, low_first and reversed high_first."""
    rng = np.random.default_rng(1000 + seed)
    flat = np.concatenate([np.stack([np.full(m, l), np.arange(m)], 1) for l, m in enumerate(sizes, start=1)])
    out = []
    for measure in measures:
        scopes = [("layer", l, flat[flat[:, 0] == l]) for l in range(1, len(sizes) + 1)] + [("network", None, flat)]
        for scope, layer, rows in scopes:
            low = rows[rng.permutation(len(rows))].astype(np.int64)
            out.append(Ordering(scope, layer, measure, 1, "low_first", 0, low))
            out.append(Ordering(scope, layer, measure, 1, "high_first", 0, low[::-1].copy()))
    return out


@torch.no_grad()
def naive_errors(model, x, y, rows, ks, means):
    """The reference: one full forward pass per k, the first k neuron outputs overwritten."""
    out = []
    for k in ks:
        gone = rows[:k]
        h = x
        for i in range(model.n_hidden):
            h = model.block(i, h)
            sel = torch.from_numpy(gone[gone[:, 0] == i + 1, 1])
            if len(sel):
                h[:, sel] = 0.0 if means is None else means[i][sel]
        out.append(int((model.head(h).argmax(1) != y).sum()) / len(y))
    return np.array(out)


def run(name, input_dim, hidden, n_samples, measures, repeats, steps, naive_points, note, groups=8):
    model = make_model(input_dim, hidden)
    g = torch.Generator().manual_seed(1)
    x = torch.rand(n_samples, input_dim, generator=g)
    y = torch.randint(0, 10, (n_samples,), generator=g)
    means_np = [np.random.default_rng(2 + l).uniform(0, 1, m).astype(np.float32) for l, m in enumerate(hidden)]
    means_t = [torch.from_numpy(m) for m in means_np]
    orderings = measure_orderings(hidden, measures) + random_orderings(hidden, repeats)
    strategies = ("zero", "mean")
    n_evals = len(strategies) * sum(len(k_grid(len(o.neurons), steps)) for o in orderings)

    # the naive subset: one ordering per scope, both strategies, strided k
    subset = {}
    for o in orderings:
        subset.setdefault((o.scope, o.layer), o)
    points = []
    for o in subset.values():
        grid = k_grid(len(o.neurons), steps)
        for s in strategies:
            points += [(o, s, int(k)) for k in grid[np.linspace(0, len(grid) - 1, naive_points).round().astype(int)]]
    points = [points[i] for i in np.random.default_rng(0).permutation(len(points))]

    # engine and naive interleaved (engine in groups of orderings, naive points in between), so
    # that load from other processes falls on both alike
    groups = min(groups, len(orderings))
    engine_s, naive_s, naive = 0.0, 0.0, {}
    naive_errors(model, x, y, orderings[0].neurons, [0], None)  # warm-up
    tables = []
    for gi in range(groups + 1):
        for o, s, k in points[gi * len(points) // (groups + 1) : (gi + 1) * len(points) // (groups + 1)]:
            t0 = time.perf_counter()
            naive[(id(o), s, k)] = naive_errors(model, x, y, o.neurons, [k], None if s == "zero" else means_t)[0]
            naive_s += time.perf_counter() - t0
        if gi < groups:
            part = orderings[gi * len(orderings) // groups : (gi + 1) * len(orderings) // groups]
            t0 = time.perf_counter()
            tables.append(ablation_curves(model, x, y, part, strategies, means_np, steps=steps))
            engine_s += time.perf_counter() - t0
    table = pa.concat_tables(tables)
    assert table.num_rows == n_evals

    rows = table.to_pydict()
    mine = {}
    for i in range(table.num_rows):
        key = (rows["scope"][i], rows["layer"][i], rows["measure"][i], rows["ordering"][i], rows["strategy"][i],
               rows["repeat"][i], rows["n_ablated"][i])
        mine[key] = rows["test_error"][i]
    max_diff = max(abs(mine[(o.scope, o.layer, o.measure, o.ordering, s, o.repeat, k)] - e)
                   for (oid, s, k), e in naive.items() for o in orderings if id(o) == oid)
    naive_per_k = naive_s / len(points)
    naive_total = naive_per_k * n_evals
    return dict(name=name, note=note, samples=n_samples, curves=len(orderings) * len(strategies),
                evals=n_evals, engine_s=engine_s, naive_per_k_ms=naive_per_k * 1e3, naive_points=len(points),
                naive_s=naive_total, ratio=naive_total / engine_s, max_diff_samples=round(max_diff * n_samples))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small smoke version")
    ap.add_argument("--cifar-samples", type=int, default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(os.cpu_count() or 1)
    if args.quick:
        jobs = [
            ("mnist 784-300-100-10", 784, (300, 100), 1000, MEASURES[:1], 1, None, 4,
             "quick: 1 measure + R=1, 1,000 samples"),
            ("cifar10 3072-1024-512-512-512-10", 3072, (1024, 512, 512, 512), args.cifar_samples or 200,
             MEASURES[:1], 0, 16, 3, "quick: 1 measure, steps=16 grid"),
        ]
    else:
        cs = args.cifar_samples or 1000
        jobs = [
            ("mnist 784-300-100-10", 784, (300, 100), 10_000, MEASURES, 5, None, 8,
             "full work: 6 measures x 2 orders + R=5"),
            ("cifar10 3072-1024-512-512-512-10", 3072, (1024, 512, 512, 512), cs, MEASURES[:1], 0, None, 6,
             f"1 measure x 2 orders, no random, {cs:,} samples"),
        ]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f} (other processes slow both sides down)")
    results = []
    for job in jobs:
        r = run(*job)
        results.append(r)
        print(f"  {r['name']}: engine {r['engine_s']:.1f} s, naive {r['naive_per_k_ms']:.1f} ms per k", flush=True)
    head = (f"{'net':34s} {'samples':>7s} {'curves':>6s} {'k evals':>8s} {'engine s':>9s} {'naive s (extrap.)':>18s} "
            f"{'ratio':>7s} {'naive pts':>9s} {'max diff':>8s}  work")
    print()
    print(head)
    print("-" * len(head))
    for r in results:
        print(f"{r['name']:34s} {r['samples']:>7,d} {r['curves']:>6d} {r['evals']:>8,d} {r['engine_s']:>9.1f} "
              f"{r['naive_s']:>18.0f} {r['ratio']:>6.1f}x {r['naive_points']:>9d} "
              f"{r['max_diff_samples']:>8d}  {r['note']}")
    print(f"\nload average at the end {os.getloadavg()[0]:.2f}. ratio = naive seconds per k evaluated x k evals "
          "/ engine seconds (wall clock; the engine ran in groups of orderings, the naive points in between).")
    print("max diff: largest disagreement with the naive reference on its subset, in test samples "
          "(float32 rounding ties only)")


if __name__ == "__main__":
    main()
