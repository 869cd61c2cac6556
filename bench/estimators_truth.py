"""Ground truth for the estimators (docs/measures.md, "How good are they"): channels with known MI.

    python bench/estimators_truth.py [--replicates 300] [--write-docs]

A class-conditional discrete channel p(t | y) = (1 - s) / bins + s [t = y mod bins] over 10 equiprobable
classes, s solved (bisection) so that I(T;Y), computed exactly from the channel, is 0, 0.25 or 1 bit; bins
2, 8, 16; N 200, 1,000, 10,000 samples (class sizes multinomial). For each configuration, ``--replicates``
tables are drawn (seed 0) and every estimator's mean error (bias), spread (standard deviation) and the
coverage of its analytic 95 % interval are printed, over the tables whose small-sample flag is off (the share
flagged is printed too); then the uniformity of p-values under independence (Kolmogorov-Smirnov): the G-test's
where the flag is off, the permutation test's where it is on.
"""
from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
from scipy import stats

from pipeline import estimators as est
from pipeline.estimates import permutation_p_values

DOC = Path(__file__).resolve().parent.parent / "docs" / "measures.md"
BEGIN, END = "<!-- estimators-truth:begin -->", "<!-- estimators-truth:end -->"
CLASSES, BINS, TARGETS, SIZES = 10, (2, 8, 16), (0.0, 0.25, 1.0), (200, 1000, 10000)
SHUFFLES, Z = 20, est.Z95


def channel(n_bins: int, strength: float) -> np.ndarray:
    own = np.zeros((CLASSES, n_bins))
    own[np.arange(CLASSES), np.arange(CLASSES) % n_bins] = 1
    return (1 - strength) / n_bins + strength * own


def exact_info(p_t_given_y: np.ndarray) -> float:
    joint = p_t_given_y / CLASSES
    p_t = joint.sum(0)
    ratio = np.where(joint > 0, joint / np.maximum(p_t / CLASSES, 1e-300), 1.0)
    return float((joint * np.log2(ratio)).sum())


def solve(n_bins: int, target: float) -> float:
    """The strength s whose channel carries ``target`` bits (the information grows with s)."""
    lo, hi = 0.0, 1.0
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if exact_info(channel(n_bins, mid)) < target else (lo, mid)
    return hi


def draw(p_t_given_y: np.ndarray, n: int, reps: int, rng: np.random.Generator) -> np.ndarray:
    per_class = rng.multinomial(n, np.full(CLASSES, 1 / CLASSES), size=reps)
    tables = np.zeros((reps, p_t_given_y.shape[1], CLASSES), np.int64)
    for y in range(CLASSES):
        tables[:, :, y] = rng.multinomial(per_class[:, y], p_t_given_y[y])
    return tables


def estimates(tables: np.ndarray, rng: np.random.Generator) -> tuple[dict, dict]:
    """MI under every estimator, and its analytic interval's half-width (the shuffle's with its Monte Carlo error)."""
    subsets = np.ones(len(tables), np.int64)
    values = {name: est.measures(tables, subsets, counted)["mutual_info"] for name, counted in est.COUNTED.items()}
    null = est.information(est.shuffled(tables, SHUFFLES, rng).reshape(-1, *tables.shape[1:]).astype(float))
    null = null.reshape(len(tables), SHUFFLES)
    values["shuffle"] = values["plugin"] - null.mean(1)
    se = est.standard_errors(tables, subsets, {"entropy": est.entropy(tables.sum(-1)), "mutual_info": values["plugin"],
                                               "kl_selectivity": np.zeros(len(tables)), "labeled_mi": np.zeros(len(tables)),
                                               "js_subset_separation": np.zeros(len(tables))})["mutual_info"]
    half = {name: Z * se for name in values}
    half["shuffle"] = Z * np.sqrt(se ** 2 + null.var(1, ddof=1) / SHUFFLES)
    return values, half


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--replicates", type=int, default=300)
    parser.add_argument("--write-docs", action="store_true", help="rewrite docs/measures.md between its markers")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    started = time.perf_counter()
    names = list(est.ESTIMATORS)
    lines = ["| bins | true MI | N | flagged | " + " | ".join(f"{n} bias ± sd (cover)" for n in names) + " |",
             "|---:|---:|---:|---:|" + "---|" * len(names)]
    uniform = []
    for n_bins in BINS:
        for target in TARGETS:
            p = channel(n_bins, solve(n_bins, target))
            truth = exact_info(p)
            for n in SIZES:
                tables = draw(p, n, args.replicates, rng)
                values, half = estimates(tables, rng)
                p_value, small = est.independence_test(tables, values["plugin"])
                ok = ~small
                cells = []
                for name in names:
                    error = values[name][ok] - truth
                    cover = (np.abs(error) <= half[name][ok]).mean() if ok.any() else float("nan")
                    cells.append(f"{error.mean():+.4f} ± {error.std():.4f} ({cover:.0%})" if ok.any() else "flagged")
                lines.append(f"| {n_bins} | {target:g} | {n:,} | {small.mean():.0%} | " + " | ".join(cells) + " |")
                if target == 0:
                    if ok.sum() >= 20:
                        uniform.append(f"G-test, {n_bins} bins, N = {n:,}: KS p = "
                                       f"{stats.kstest(p_value[ok], 'uniform').pvalue:.3f} over {ok.sum()} tables")
                    if small.sum() >= 20:
                        flagged = tables[small][:100]
                        perm = permutation_p_values(flagged, est.information(flagged.astype(float)), 200, rng)
                        # a permutation p-value is discrete (multiples of 1/201): compare against its own grid
                        jitter = perm - rng.random(len(perm)) / 201
                        uniform.append(f"permutation (200), {n_bins} bins, N = {n:,}: KS p = "
                                       f"{stats.kstest(jitter, 'uniform').pvalue:.3f} over {len(flagged)} flagged tables")
    text = "\n".join(lines + [""] + [f"- {u}" for u in uniform])
    print(text)
    print(f"\n{args.replicates} replicates per configuration, {time.perf_counter() - started:.1f} s")
    if args.write_docs:
        doc = DOC.read_text()
        head, rest = doc.split(BEGIN)
        _, tail = rest.split(END)
        DOC.write_text(f"{head}{BEGIN}\n{text}\n{END}{tail}")


if __name__ == "__main__":
    main()
