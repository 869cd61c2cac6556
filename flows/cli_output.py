"""What the CLI prints after a flow: the runs made, their reports, the scorecard's verdicts, tables."""
from __future__ import annotations

import os
import sys


def print_verdicts(wh) -> None:
    """How many claim x configuration cells hold, are contradicted, inconclusive, or rest on one seed."""
    from store.sandbox import query

    rows = query(wh, "SELECT curve_part, sum(holds) AS holds, sum(contradicted) AS contradicted, sum(inconclusive) AS "
                     "inconclusive, sum(one_seed) AS one_seed, sum(holds_holm) AS holds_holm, sum(contradicted_holm) AS "
                     "contradicted_holm FROM scorecard_summary GROUP BY curve_part ORDER BY curve_part DESC").to_pylist()
    for r in rows:
        seeds = f", {r['one_seed']} on 1 seed" if r["one_seed"] else ""
        print(f"scorecard, {r['curve_part']} curves: {r['holds']} holds, {r['contradicted']} contradicted, "
              f"{r['inconclusive']} inconclusive{seeds}; after Holm's correction {r['holds_holm']} holds, "
              f"{r['contradicted_holm']} contradicted")
    print(f"scorecard page: {wh.reports}/scorecard.html; table: neuroninfo sql \"SELECT * FROM scorecard\"")


def print_summary(wh, run_ids: list[str]) -> None:
    """What was made, where, and commands that run as printed, about these runs only."""
    import shlex

    from flows.pages import summary

    rows = summary(wh, run_ids)
    print(f"\ndone: {len(rows)} run(s) in {wh.root}")
    for r in rows:
        medians = ", ".join(f"{m:.3f}" for m in r["median_mi_by_layer"] or [])
        print(f"  {r['name']}  run {r['run_id']}  test error {r['test_error']:.1%}  median I(T;Y) by layer (1 bit): {medians}")
    for page in dict.fromkeys(r["report"] for r in rows):
        print(f"report: {page}")
    me = shlex.quote(sys.argv[0]) if sys.argv[0].endswith("neuroninfo") else f"{shlex.quote(sys.executable)} -m flows.cli"
    where = "" if str(wh.root) == os.path.abspath(os.environ.get("NEURONINFO_WAREHOUSE") or "warehouse") else f" --warehouse {shlex.quote(str(wh.root))}"
    ids = ", ".join(f"'{r}'" for r in run_ids)
    print("try:")
    print(f"  {me} sql \"SELECT layer, neuron, round(mutual_info, 3) AS mi, kl_class FROM neuron_stats WHERE run_id IN ({ids}) AND bits = 1 ORDER BY mutual_info DESC LIMIT 10\"{where}")
    print(f"  {me} sql \"SELECT measure, ordering, round(avg(test_error), 3) AS mean_error FROM ablation_curves WHERE run_id IN ({ids}) AND scope = 'network' AND strategy = 'zero' GROUP BY ALL ORDER BY ALL\"{where}")


def format_table(names: list[str], rows: list[dict]) -> str:
    """A plain aligned text table."""
    def cell(v):
        return f"{v:.6g}" if isinstance(v, float) else ("NULL" if v is None else str(v))

    cells = [[cell(r[n]) for n in names] for r in rows]
    widths = [max([len(n)] + [len(c[i]) for c in cells]) for i, n in enumerate(names)]
    lines = ["  ".join(n.ljust(w) for n, w in zip(names, widths)), "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in cells]
    lines.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(lines)
