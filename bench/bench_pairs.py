"""Benchmark: every pair measure of whole layers in DuckDB SQL (pipeline.pairs) against numpy and dit.

    python bench/bench_pairs.py [--quick] [--cases 1,2,3]   (--cases 3 alone: its peak RSS is its own)

Codes are realistic synthetic ones: thresholded outputs of a random ReLU network (He-scaled weights,
negative biases) applied to class-structured inputs (10 class prototypes + noise), 10,000 samples.
Cases (the goals of issue 17):
  1. 784-300-100 at 1 bit, all 44,850 + 4,950 within-layer pairs, measures + aggregates + Parquet write:
     goal < 2 s; ratio to a careful numpy reference (per-class co-occurrence counts as matrix products of
     one-hot codes, every measure vectorised over pairs) and to dit's PID per pair (goal >= 10,000x).
  2. 3 bits, the top 100 neurons of each layer by I(T;Y): goal < 5 s.
  3. the cifar10 preset's layers 1024-512-512-512 at 1 bit (~916,000 pairs): goal < 60 s, memory bounded.
Prints wall time (median of repeats), process CPU time, peak RSS and the load average.
"""
from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time

import numpy as np

from bench_measures import timed  # this directory (scripts run as python bench/<name>.py)
from pipeline.pairs import LayerCodes, pair_tables
from store.paths import open_warehouse
from store.tables import write_partition

K = 10


def make_outputs(n: int, sizes: list[int], input_dim: int = 784, seed: int = 0):
    """Labels and ReLU outputs of each hidden layer of a random network on class-structured inputs."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, K, n)
    prototypes = rng.normal(0, 1, (K, input_dim)).astype(np.float32)
    x = prototypes[labels] + rng.normal(0, 1.5, (n, input_dim)).astype(np.float32)
    outputs = []
    for m in sizes:
        w = rng.normal(0, np.sqrt(2 / x.shape[1]), (x.shape[1], m)).astype(np.float32)
        h = x @ w
        cut = (rng.uniform(0.3, 0.8, m) * (n - 1)).astype(int)  # 20-70 % of samples active
        x = np.maximum(h - np.sort(h, axis=0)[cut, np.arange(m)], 0)
        outputs.append(x)
    return labels, outputs


def quantize(h: np.ndarray, bits: int) -> np.ndarray:
    """The uniform ReLU quantizer per layer (docs/measures.md, "Quantizers"): bin 0 is T <= 0, 2^b - 1 equal bins on (0, max]."""
    if bits == 1:
        return (h > 0).astype(np.uint8)
    edges = np.linspace(0, h.max(), (1 << bits))[:-1]
    return np.digitize(h, edges, right=True).astype(np.uint8)


# ------------------------------------------------------------------------- numpy reference

def g(x):
    x = np.asarray(x, np.float64)
    return x * np.log2(np.where(x > 0, x, 1))


def np_pairs(codes: np.ndarray, labels: np.ndarray, bits: int) -> dict[str, np.ndarray]:
    """Every pair measure of one layer (pairs i < j, row-major), from one-hot co-occurrence matrices."""
    n, m = codes.shape
    b = 1 << bits
    onehot = np.zeros((n, m * b), np.float32)
    onehot[np.arange(n)[:, None], np.arange(m) * b + codes] = 1
    joint = np.stack([onehot[labels == y].T @ onehot[labels == y] for y in range(K)], -1)  # (mb, mb, K), exact in float32 below 2^24
    joint = joint.reshape(m, b, m, b, K).transpose(0, 2, 1, 3, 4)
    i, j = np.triu_indices(m, 1)
    cells = joint[i, j].astype(np.float64)  # (P, b, b, K)
    single = np.stack([joint[k, k].diagonal(0, 0, 1).T for k in range(m)]).astype(np.float64)  # (m, b, K): n(t, y)
    n_y = single[0].sum(0)
    n_t = single.sum(2)
    g_n, g_y = g(n), g(n_y).sum()
    mi = (g(single).sum((1, 2)) + g_n - g(n_t).sum(1) - g_y) / n
    entropy = (g_n - g(n_t).sum(1)) / n
    with np.errstate(divide="ignore", invalid="ignore"):
        spec = np.where(single > 0, single / n_y * np.log2(single * n / (n_t[:, :, None] * n_y)), 0).sum(1)
    g_tt = g(cells.sum(3)).sum((1, 2))
    joint_mi = (g_n - g_y - g_tt + g(cells).sum((1, 2, 3))) / n
    pair_mi = entropy[i] + entropy[j] - (g_n - g_tt) / n
    red_min = (n_y / n * np.minimum(spec[i], spec[j])).sum(1)
    red_mmi = np.minimum(mi[i], mi[j])
    return {"joint_mi": joint_mi, "pair_mi": pair_mi, "red_min": red_min, "red_mmi": red_mmi,
            "synergy_min": joint_mi - mi[i] - mi[j] + red_min, "co_info": mi[i] + mi[j] - joint_mi}


def np_aggregates(pairs: dict[str, np.ndarray], m: int, mi: np.ndarray) -> np.ndarray:
    red = np.full((m, m), -np.inf)
    i, j = np.triu_indices(m, 1)
    red[i, j] = red[j, i] = pairs["red_min"]
    return mi - red.max(1)


def dit_seconds_per_pair(codes, labels, bits, pairs, repeats):
    """Wall seconds per pair for dit's I_min and I_mmi PIDs from the pair's joint distribution."""
    import dit
    from dit.pid import PID_MMI, PID_WB

    start = time.perf_counter()
    for i, j in pairs[:repeats]:
        outcomes, counts = np.unique(np.stack([codes[:, i], codes[:, j], labels], 1), axis=0, return_counts=True)
        d = dit.Distribution([tuple(int(v) for v in o) for o in outcomes], list(counts / len(labels)))
        PID_WB(d, [[0], [1]], [2])
        PID_MMI(d, [[0], [1]], [2])
    return (time.perf_counter() - start) / repeats


def sql_and_write(wh, labels, layers, bits):
    tables = pair_tables(labels, K, layers, bits)
    for name, table in tables.items():
        write_partition(wh, name, "0000000000000000", table)
    return tables


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="one repeat, fewer dit pairs")
    parser.add_argument("--cases", default="1,2,3", help="comma-separated cases to run (see the docstring)")
    args = parser.parse_args()
    cases = {int(c) for c in args.cases.split(",")}
    repeats = 1 if args.quick else 3
    print(f"load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} cores")
    wh = open_warehouse(tempfile.mkdtemp(prefix="bench_pairs_"))

    if cases & {1, 2}:
        fashion_cases(wh, cases, repeats, args.quick)
    if 3 in cases:
        cifar_case(wh)
    print(f"\nload average {os.getloadavg()[0]:.2f}")


def fashion_cases(wh, cases, repeats, quick):
    labels, outputs = make_outputs(10_000, [300, 100])
    if 1 in cases:
        case_1(wh, labels, outputs, repeats, quick)
    if 2 in cases:
        case_2(labels, outputs, repeats)


def case_1(wh, labels, outputs, repeats, quick):
    codes = [quantize(h, 1) for h in outputs]
    layers = [LayerCodes(l + 1, c, np.arange(c.shape[1])) for l, c in enumerate(codes)]
    sql_and_write(wh, labels, layers, 1)  # warm-up
    wall, cpu, tables = timed(lambda: sql_and_write(wh, labels, layers, 1), repeats)
    n_pairs = tables["neuron_pairs"].num_rows
    print(f"\n1. 784-300-100, 1 bit, {n_pairs:,} pairs + {tables['neuron_redundancy'].num_rows} neurons, written")
    print(f"   DuckDB SQL: {wall:.3f} s wall ({cpu:.2f} s CPU)  goal < 2 s")
    np_wall, np_cpu, reference = timed(lambda: [np_pairs(c, labels, 1) for c in codes], repeats)
    print(f"   numpy reference: {np_wall:.3f} s wall ({np_cpu:.2f} s CPU); SQL / numpy = {wall / np_wall:.2f}x")
    rows = tables["neuron_pairs"].to_pydict()
    worst = max(np.abs(np.asarray(rows[k]) - np.concatenate([r[k] for r in reference])).max()
                for k in reference[0])
    redundancy = tables["neuron_redundancy"].to_pydict()
    unique_np = np.concatenate([np_aggregates(r, c.shape[1], np_mi(c, labels, 1)) for r, c in zip(reference, codes)])
    worst = max(worst, np.abs(np.asarray(redundancy["unique_min"]) - unique_np).max())
    print(f"   agreement with numpy: max |difference| {worst:.1e} bits")
    sample = [(i, j) for i, j in zip(*np.triu_indices(300, 1))][::997]
    per_pair = dit_seconds_per_pair(codes[0], labels, 1, sample, 5 if quick else 20)
    print(f"   dit PID_WB + PID_MMI: {per_pair * 1000:.0f} ms per pair -> {per_pair * n_pairs:,.0f} s for all pairs; "
          f"SQL is {per_pair * n_pairs / wall:,.0f}x faster (goal >= 10,000x)")


def case_2(labels, outputs, repeats):
    codes3 = [quantize(h, 3) for h in outputs]
    top = []
    for l, c in enumerate(codes3):
        mi = np_mi(c, labels, 3)
        keep = np.sort(np.lexsort((np.arange(len(mi)), -mi))[:100])
        top.append(LayerCodes(l + 1, c[:, keep], keep))
    wall3, cpu3, tables3 = timed(lambda: pair_tables(labels, K, top, 3), repeats)
    print(f"\n2. 3 bits, top 100 per layer: {tables3['neuron_pairs'].num_rows:,} pairs in {wall3:.3f} s wall "
          f"({cpu3:.2f} s CPU)  goal < 5 s")
    ref3 = [np_pairs(t.codes, labels, 3) for t in top]
    worst3 = max(np.abs(np.asarray(tables3["neuron_pairs"].column(k).to_numpy()) - np.concatenate([r[k] for r in ref3])).max()
                 for k in ref3[0])
    print(f"   agreement with numpy: max |difference| {worst3:.1e} bits")


def cifar_case(wh):
    labels, outputs = make_outputs(10_000, [1024, 512, 512, 512], input_dim=3072, seed=1)
    layers = [LayerCodes(l + 1, quantize(h, 1), np.arange(h.shape[1])) for l, h in enumerate(outputs)]
    del outputs
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    wall, cpu, tables = timed(lambda: sql_and_write(wh, labels, layers, 1), 1)
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\n3. 1024-512-512-512, 1 bit: {tables['neuron_pairs'].num_rows:,} pairs in {wall:.1f} s wall "
          f"({cpu:.1f} s CPU), written  goal < 60 s")
    print(f"   peak RSS {rss_before:,.0f} MB before, {rss_after:,.0f} MB after (inputs and codes included)")


def np_mi(codes, labels, bits):
    cnt = np.stack([np.bincount((codes[labels == y] + np.arange(codes.shape[1]) * (1 << bits)).ravel(),
                                minlength=codes.shape[1] << bits) for y in range(K)], -1).reshape(codes.shape[1], 1 << bits, K)
    n, n_y, n_t = cnt.sum((1, 2))[0], cnt[0].sum(0), cnt.sum(2)
    return (g(cnt).sum((1, 2)) + g(n) - g(n_t).sum(1) - g(n_y).sum()) / n


if __name__ == "__main__":
    main()
