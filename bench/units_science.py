"""Analysis: is the study's layer-wise finding true of conv channels and transformer neurons? (docs/units-science.md)

    python bench/units_science.py --warehouse W [--write-docs]

W holds the grid, made by (about 2.5 h on 2 cores; content-addressed, so a rerun resumes):

    for arch in cnn vit; do
      neuroninfo train-and-measure --arch $arch --dataset fashion-mnist --activations relu \\
        --regularizers none,dropout --seeds 0,1,2 --epochs 5 --bits 1 --steps 20 \\
        --measures mutual_info,kl_selectivity,entropy --strategies zero --scopes layer --random-repeats 3 --warehouse W
    done

Prints one markdown table per architecture: for each regularizer, layer and criterion, the area under the
layer's zero-ablation curve minus the random orderings' area (test-error percentage points, mean over seeds and
95 % interval across seeds) for lowest-first and highest-first (bench/units_science.sql).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from store.paths import open_warehouse
from store.sandbox import query

HERE = Path(__file__).parent
DOC = HERE.parent / "docs" / "units-science.md"
BEGIN, END = "<!-- units-science:begin -->", "<!-- units-science:end -->"


def interval(mean: float, half: float | None) -> str:
    """A difference in percentage points with its 95 % interval, e.g. -4.5 [-6.3, -2.7]."""
    if half is None:
        return f"{100 * mean:+.1f}"
    return f"{100 * mean:+.1f} [{100 * (mean - half):+.1f}, {100 * (mean + half):+.1f}]"


def tables(rows: list[dict]) -> str:
    """Markdown: one table per architecture, a row per (regularizer, layer), a column per (criterion, ordering)."""
    out = []
    for arch in sorted({r["arch"] for r in rows}):
        mine = [r for r in rows if r["arch"] == arch]
        columns = sorted({(r["measure"], r["ordering"]) for r in mine}, key=lambda c: (c[0], c[1] != "low_first"))
        header = ["regularizer", "layer", "units"] + [f"{m} {o.replace('_first', '')}-first" for m, o in columns]
        out += [f"**{arch}** (seeds per cell: {min(r['seeds'] for r in mine)})", "",
                "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for key in sorted({(r["regularizer"], r["layer"]) for r in mine}):
            cells = {(r["measure"], r["ordering"]): r for r in mine if (r["regularizer"], r["layer"]) == key}
            first = next(iter(cells.values()))
            out.append("| " + " | ".join([key[0], str(key[1]), f"{first['units']} ({first['unit_kind']})"] +
                                         [interval(cells[c]["minus_random"], cells[c]["half_width"]) if c in cells
                                          else "" for c in columns]) + " |")
        out.append("")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", required=True)
    parser.add_argument("--write-docs", action="store_true", help=f"replace the table in {DOC.name}")
    args = parser.parse_args()
    rows = query(open_warehouse(args.warehouse), (HERE / "units_science.sql").read_text()).to_pylist()
    text = tables(rows)
    print(text)
    if args.write_docs:
        doc = DOC.read_text()
        head, rest = doc.split(BEGIN)
        DOC.write_text(head + BEGIN + "\n" + text + "\n" + END + rest.split(END)[1])


if __name__ == "__main__":
    main()
