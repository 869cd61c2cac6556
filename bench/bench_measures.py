"""Benchmark: counts and all measures in DuckDB SQL (pipeline.measures) against numpy in the same process.

    python bench/bench_measures.py [--quick]

Default: 10,000 validation samples x 4,000 neurons, 10 classes, 1-bit and 3-bit codes of skewed
ReLU-like outputs. Prints medians of 3 repeats (wall and process CPU time) and SQL / numpy ratios.
The numpy reference: bincount counts; entropy, MI, specific info, one-vs-rest MI and the 511
subsets (one matmul) from the counts; class means by matmul.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

from pipeline.measures import LayerInputs, connect, count_codes, measure_layers


def make_layer(n: int, m: int, k: int, seed: int = 0):
    """Labels, raw ReLU outputs with class signal and heavy tails, 1-bit and 3-bit uniform codes."""
    rng = np.random.default_rng(seed)
    labels = rng.choice(k, size=n, p=np.r_[np.full(k - 1, 0.95 / (k - 1)), 0.05]).astype(np.uint8)
    bias = rng.normal(-0.3, 0.7, m).astype(np.float32)
    signal = (rng.normal(0, 1, (k, m)) * (rng.random(m) < 0.3)).astype(np.float32)
    raw = np.maximum(0, bias + signal[labels] + rng.standard_exponential((n, m), dtype=np.float32) - 1)
    raw[:, : m // 200] = 0  # dead neurons
    top = np.where(raw.max(0) > 0, raw.max(0), 1)
    codes = {1: (raw > 0).astype(np.uint8), 3: np.minimum(np.ceil(raw / top * 7), 7).astype(np.uint8)}
    return labels, LayerInputs(layer=1, codes=codes, raw=raw, mean_train=raw.mean(0))


# ------------------------------------------------------------------------- numpy reference

def np_counts(codes, labels, n_bins, k):
    """(M, B, K) counts: one bincount per class."""
    offsets = np.arange(codes.shape[1], dtype=np.int32) * n_bins
    out = np.stack([np.bincount((codes[labels == y] + offsets).ravel(), minlength=codes.shape[1] * n_bins)
                    for y in range(k)], -1)
    return out.reshape(codes.shape[1], n_bins, k)


def g(x):
    x = np.asarray(x, np.float64)
    return x * np.log2(np.where(x > 0, x, 1))


def np_measures(cnt):
    """Every count-based measure of neuron_stats (+ specific info) from (M, B, K) counts."""
    m, _, k = cnt.shape
    n_y = cnt[0].sum(0)
    n = n_y.sum()
    n_t = cnt.sum(2)
    g_n, g_t = g(n), g(n_t).sum(1)
    out = {"entropy": (g_n - g_t) / n, "mutual_info": (g(cnt).sum((1, 2)) + g_n - g_t - g(n_y).sum()) / n}
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(cnt > 0, cnt * n / (n_y * n_t[:, :, None]), 1)
        spec = (cnt * np.log2(ratio)).sum(1) / np.where(n_y > 0, n_y, 1)
    spec = np.where(n_y > 0, spec, -np.inf)
    out.update(kl_selectivity=spec.max(1), kl_class=spec.argmax(1), specific_info=spec)
    one_vs_rest = (g(cnt).sum(1) + g(n_t[:, :, None] - cnt).sum(1) - g_t[:, None] - g(n_y) - g(n - n_y) + g_n) / n
    out.update(labeled_mi=one_vs_rest.max(1), labeled_mi_class=one_vs_rest.argmax(1))
    masks = np.arange(1, 1 << (k - 1))
    member = ((masks[None, :] >> np.arange(k)[:, None]) & 1).astype(np.float64)
    n_ts = (cnt.reshape(-1, k) @ member).reshape(m, -1, len(masks))
    n_s = n_y @ member
    js = (g(n_ts).sum(1) + g(n_t[:, :, None] - n_ts).sum(1) - g_t[:, None] - g(n_s) - g(n - n_s) + g_n) / n
    top2 = -np.partition(-js, 1, axis=1)[:, :2]
    out.update(js_subset_separation=js.max(1), js_subset=masks[js.argmax(1)], js_unique=top2[:, 0] - top2[:, 1] > 1e-12)
    return out


def np_class_selectivity(raw, labels, k):
    present = np.flatnonzero(np.bincount(labels, minlength=k))
    onehot = (labels[None, :] == present[:, None]).astype(np.float32)
    means = (onehot @ raw) / onehot.sum(1, keepdims=True)
    top = means.max(0)
    rest = (means.sum(0) - top) / max(len(present) - 1, 1)
    return np.where(top + rest == 0, 0, (top - rest) / np.where(top + rest == 0, 1, top + rest))


def np_all(labels, inputs, k):
    out = {b: np_measures(np_counts(c, labels, 1 << b, k)) for b, c in inputs.codes.items()}
    return out, np_class_selectivity(inputs.raw, labels, k)


# ------------------------------------------------------------------------- timing

def timed(fn, repeats):
    """(median wall seconds, median process CPU seconds, last result)."""
    walls, cpus = [], []
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        result = fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return statistics.median(walls), statistics.median(cpus), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 samples x 500 neurons")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    n, m, k = (2000, 500, 10) if args.quick else (10_000, 4000, 10)
    labels, inputs = make_layer(n, m, k)
    con = connect()
    print(f"{n} samples x {m} neurons, {k} classes, bits {sorted(inputs.codes)}; "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")

    def sql_counts():
        return {b: count_codes(con, c, labels, b) for b, c in inputs.codes.items()}

    def numpy_counts():
        return {b: np_counts(c, labels, 1 << b, k) for b, c in inputs.codes.items()}

    rows = [
        ("counts", timed(sql_counts, args.repeats), timed(numpy_counts, args.repeats)),
        ("all measures", timed(lambda: measure_layers(labels, k, [inputs]), args.repeats),
         timed(lambda: np_all(labels, inputs, k), args.repeats)),
    ]
    print(f"{'':14s}{'SQL wall':>10s}{'numpy wall':>12s}{'ratio':>7s}{'SQL cpu':>10s}{'numpy cpu':>11s}{'ratio':>7s}")
    for name, (sw, sc, _), (nw, nc, _) in rows:
        print(f"{name:14s}{sw:9.3f}s{nw:11.3f}s{sw / nw:6.2f}x{sc:9.3f}s{nc:10.3f}s{sc / nc:6.2f}x")

    stats = {key: np.asarray(v) for key, v in rows[1][1][2]["neuron_stats"].to_pydict().items()}
    reference, selectivity = rows[1][2][2]
    worst, masks = 0.0, []
    for b, ref in reference.items():
        mine = {key: v[stats["bits"] == b] for key, v in stats.items()}
        for key in ("entropy", "mutual_info", "kl_selectivity", "labeled_mi", "js_subset_separation"):
            worst = max(worst, float(np.abs(mine[key] - ref[key]).max()))
        masks.append(np.mean((mine["js_subset"] == ref["js_subset"])[ref["js_unique"]]))
    print(f"largest |SQL - numpy|: {worst:.1e} bits (count-based measures), "
          f"{np.abs(stats['class_selectivity'][stats['bits'] == 1] - selectivity).max():.1e} "
          f"(class selectivity; numpy in float32); js_subset agrees on {min(masks):.2%} of the unique maxima")


if __name__ == "__main__":
    main()
