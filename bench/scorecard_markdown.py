"""Print a warehouse's scorecard as Markdown tables (used for docs/paper-results.md).

    python bench/scorecard_markdown.py --warehouse /path/to/warehouse
"""
from __future__ import annotations

import argparse

from store.paths import open_warehouse
from store.sandbox import query

SHORT = {"holds": "holds", "contradicted": "contra", "inconclusive": "incl.", "1 seed": "1 seed"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--warehouse", required=True)
    wh = open_warehouse(parser.parse_args().warehouse)
    rows = query(wh, "SELECT * FROM scorecard").to_pylist()
    groups = sorted({r["group_name"] for r in rows})
    claims = sorted({(r["claim"], r["statement"]) for r in rows}, key=lambda c: (int("".join(ch for ch in c[0].split("-")[0] if ch.isdigit())), c[0]))
    cells = {(r["curve_part"], r["claim"], r["group_name"]): r for r in rows}
    short = {g: g.replace("fashion-mnist-300x100-", "") for g in groups}
    print("Each cell: the whole-curve verdict and effect, then (for curve statistics) the early-curve verdict;")
    print("a verdict that Holm's correction keeps is in bold.\n")
    print("| claim | " + " | ".join(short[g] for g in groups) + " |")
    print("|---|" + "---|" * len(groups))
    for claim, _ in claims:
        line = []
        for g in groups:
            whole, early = cells.get(("whole", claim, g)), cells.get(("early", claim, g))
            text = "" if whole is None else f"{verdict(whole)} {whole['effect']:+.3f}"
            line.append(text + ("" if early is None else f" / early {verdict(early)} {early['effect']:+.3f}"))
        print(f"| {claim} | " + " | ".join(line) + " |")
    print()
    summary = query(wh, "SELECT * FROM scorecard_summary").to_pylist()
    print("| claim | curve part | holds | contradicted | inconclusive | holds (Holm) | contradicted (Holm) | holds (BH) | contradicted (BH) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in sorted(summary, key=lambda r: (int("".join(ch for ch in r["claim"].split("-")[0] if ch.isdigit())), r["claim"], r["curve_part"] != "whole")):
        print(f"| {r['claim']} | {r['curve_part']} | {r['holds']} | {r['contradicted']} | {r['inconclusive']} | "
              f"{r['holds_holm']} | {r['contradicted_holm']} | {r['holds_bh']} | {r['contradicted_bh']} |")


def verdict(row: dict) -> str:
    """The short verdict, in bold when Holm's correction keeps it."""
    text = SHORT[row["verdict"]]
    return f"**{text.strip('*')}**" if row["verdict_holm"] in ("holds", "contradicted") else text


if __name__ == "__main__":
    main()
