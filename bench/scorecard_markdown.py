"""Print a warehouse's scorecard as Markdown tables (used for docs/paper-results.md).

    python bench/scorecard_markdown.py --warehouse /path/to/warehouse
"""
from __future__ import annotations

import argparse

from store.paths import open_warehouse
from store.sandbox import query

SHORT = {"holds": "holds", "contradicted": "**contra**", "inconclusive": "incl.", "1 seed": "1 seed"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--warehouse", required=True)
    wh = open_warehouse(parser.parse_args().warehouse)
    rows = query(wh, "SELECT * FROM scorecard").to_pylist()
    groups = sorted({r["group_name"] for r in rows})
    claims = sorted({(r["claim"], r["statement"]) for r in rows}, key=lambda c: (int("".join(ch for ch in c[0].split("-")[0] if ch.isdigit())), c[0]))
    cells = {(r["claim"], r["group_name"]): r for r in rows}
    short = {g: g.replace("fashion-mnist-300x100-", "") for g in groups}
    print("| claim | " + " | ".join(short[g] for g in groups) + " |")
    print("|---|" + "---|" * len(groups))
    for claim, _ in claims:
        line = []
        for g in groups:
            r = cells.get((claim, g))
            line.append("" if r is None else f"{SHORT[r['verdict']]} {r['effect']:+.3f}")
        print(f"| {claim} | " + " | ".join(line) + " |")
    print()
    print("| claim | statement | holds | contradicted | inconclusive |")
    print("|---|---|---|---|---|")
    for claim, statement in claims:
        verdicts = [cells[(claim, g)]["verdict"] for g in groups if (claim, g) in cells]
        print(f"| {claim} | {statement} | {verdicts.count('holds')} | {verdicts.count('contradicted')} | "
              f"{verdicts.count('inconclusive')} |")


if __name__ == "__main__":
    main()
