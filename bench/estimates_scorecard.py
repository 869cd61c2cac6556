"""Does the scorecard change when the information measures are ranked by a bias-corrected estimator?
(docs/paper-results.md, "Corrected information")

    python bench/estimates_scorecard.py --warehouse W [--estimator miller_madow] [--ablate]

With ``--ablate`` it first ablates every run of the scorecard with the estimator's rankings of the information
measures (`ablate --estimator E --random-repeats 0`: the random curves are the plug-in ones already stored),
then prints the scorecard cells read both ways: how many verdicts (as tested, after Holm, after
Benjamini-Hochberg) change, per curve part, and every cell whose verdict changes.
"""
from __future__ import annotations

import argparse
import time

from flows.stages import ablate_run
from pipeline.criteria import estimated
from store.paths import open_warehouse
from store.sandbox import query

COLUMNS = "curve_part, claim, group_name, effect, verdict, verdict_holm, verdict_bh"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--warehouse", required=True)
    parser.add_argument("--estimator", default="miller_madow")
    parser.add_argument("--ablate", action="store_true")
    args = parser.parse_args()
    wh = open_warehouse(args.warehouse, create=False)
    if args.ablate:
        runs = query(wh, "SELECT run_id FROM scorecard_runs ORDER BY run_id").column("run_id").to_pylist()
        for i, run_id in enumerate(runs, start=1):
            started = time.perf_counter()
            ablate_run(wh, run_id, random_repeats=0, measures=estimated(args.estimator), estimator=args.estimator)
            print(f"{i}/{len(runs)} {run_id} ablated by {args.estimator} in {time.perf_counter() - started:.0f} s", flush=True)
    plugin = {(r["curve_part"], r["claim"], r["group_name"]): r
              for r in query(wh, f"SELECT {COLUMNS} FROM scorecard").to_pylist()}
    corrected = {(r["curve_part"], r["claim"], r["group_name"]): r for r in query(
        wh, f"SET VARIABLE scorecard_estimator = '{args.estimator}'; SELECT {COLUMNS} FROM scorecard").to_pylist()}
    both = sorted(plugin.keys() & corrected.keys())
    print(f"cells: {len(plugin)} plug-in, {len(corrected)} under {args.estimator}, {len(both)} in both")
    print("| curve part | cells | verdict changed | after Holm | after BH | largest effect change |")
    print("|---|---:|---:|---:|---:|---:|")
    for part in ("whole", "early"):
        keys = [k for k in both if k[0] == part]
        changed = {c: sum(plugin[k][c] != corrected[k][c] for k in keys) for c in ("verdict", "verdict_holm", "verdict_bh")}
        largest = max((abs(plugin[k]["effect"] - corrected[k]["effect"]) for k in keys), default=0.0)
        print(f"| {part} | {len(keys)} | {changed['verdict']} | {changed['verdict_holm']} | {changed['verdict_bh']} | {largest:.4f} |")
    print("\n| curve part | claim | group | effect plug-in | effect corrected | verdict | corrected | Holm | corrected | BH | corrected |")
    print("|---|---|---|---:|---:|---|---|---|---|---|---|")
    for k in both:
        p, c = plugin[k], corrected[k]
        if any(p[v] != c[v] for v in ("verdict", "verdict_holm", "verdict_bh")):
            print(f"| {k[0]} | {k[1]} | {k[2]} | {p['effect']:+.4f} | {c['effect']:+.4f} | {p['verdict']} | {c['verdict']} | "
                  f"{p['verdict_holm']} | {c['verdict_holm']} | {p['verdict_bh']} | {c['verdict_bh']} |")


if __name__ == "__main__":
    main()
