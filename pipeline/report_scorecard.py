"""The scorecard page: claims x configurations, each cell coloured by its verdict (docs/scorecard.md).

A table on a report page without charts: a cell shows the effect and its 95 % interval and links to the
report chart the statistic rests on.
"""
from __future__ import annotations

import html
from pathlib import Path
from typing import Callable

from pipeline.report import Section, write_page

VERDICT_COLOURS = {"holds": "#bbf7d0", "contradicted": "#fecaca", "inconclusive": "#fef08a", "1 seed": "#e5e7eb"}
EXPLANATION = ("Each cell: the mean of the claim's statistic over the configuration's seeds (> 0 is the claimed "
               "direction), its 95 % t-interval, the verdict and the number of seeds; click a cell for the chart it "
               "rests on. Holds: the interval excludes 0 on the claimed side; contradicted: on the other side; "
               "otherwise inconclusive. Below the verdict, the verdicts corrected for multiplicity over every cell "
               "with 2+ seeds: Holm (family-wise error 5 %) and Benjamini-Hochberg (false discovery rate 5 %). "
               "For statistics of ablation curves, the same over the early part of the curves (the points with a "
               "fraction ablated up to 0.5, or $NEURONINFO_EARLY_FRACTION), corrected over the early cells. "
               "Definitions: docs/scorecard.md; the numbers: the views scorecard, scorecard_summary and "
               "claim_statistics.")
SUMMARY = ("Per claim, its verdicts counted over the configurations: as tested cell by cell, after Holm's correction "
           "and after Benjamini-Hochberg's (the view scorecard_summary).")
PROVENANCE = ("What made the runs these verdicts rest on (runs.provenance): the project's commit, torch's version, "
              "the intra-op threads of training and the CPU kernels torch used. A checkpoint's bytes repeat when "
              "these do (docs/scaling.md, 'Same bytes: training').")


def scorecard_table(rows: list[dict], link: Callable[[str, str], str]) -> str:
    """Rows of the ``scorecard`` view as an HTML table, claims down, groups across; ``link(page, chart)``
    is the href of a cell's chart."""
    early = {(r["claim"], r["group_name"]): r for r in rows if r["curve_part"] == "early"}
    rows = [r for r in rows if r["curve_part"] == "whole"]
    claims = list(dict.fromkeys((r["claim"], r["statement"]) for r in sorted(rows, key=lambda r: _claim_key(r["claim"]))))
    groups = sorted({r["group_name"] for r in rows})
    cells = {(r["claim"], r["group_name"]): r for r in rows}
    head = "<tr><th>claim</th>" + "".join(f"<th>{html.escape(g)}</th>" for g in groups) + "</tr>"
    body = []
    for claim, statement in claims:
        tds = [f'<td style="text-align:left; max-width:28em"><b>{html.escape(claim)}</b> {html.escape(statement)}</td>']
        tds += [_cell(cells[(claim, g)], link, early.get((claim, g))) if (claim, g) in cells else "<td></td>"
                for g in groups]
        body.append("<tr>" + "".join(tds) + "</tr>")
    legend = " ".join(f'<span style="background:{c}; padding:2px 8px">{v}</span>' for v, c in VERDICT_COLOURS.items())
    return f"<p>{legend}</p>\n" + '<table class="numbers">\n' + "\n".join([head, *body]) + "\n</table>"


def _cell(r: dict, link: Callable[[str, str], str], early: dict | None = None) -> str:
    interval = "" if r["ci_low"] is None else f"<br>[{r['ci_low']:+.4f}, {r['ci_high']:+.4f}]"
    corrected = "" if r["p_value"] is None else (f"<br><small>Holm: {html.escape(r['verdict_holm'])}, "
                                                 f"BH: {html.escape(r['verdict_bh'])}</small>")
    text = f"{r['effect']:+.4f}{interval}<br>{html.escape(r['verdict'])} (n={r['n_seeds']}){corrected}"
    if early is not None:
        text += (f"<br><small>early curve: {early['effect']:+.4f}, {html.escape(early['verdict'])}"
                 f"{'' if early['p_value'] is None else ' (Holm: ' + html.escape(early['verdict_holm']) + ')'}</small>")
    href = html.escape(link(r["page"], r["chart"]), quote=True)
    colour = VERDICT_COLOURS.get(r["verdict"], "#ffffff")
    return f'<td style="background:{colour}"><a href="{href}" style="color:inherit">{text}</a></td>'


def _claim_key(claim: str) -> tuple:
    number = "".join(c for c in claim.split("-")[0] if c.isdigit())
    return int(number or 0), claim


def plain_table(rows: list[dict]) -> str:
    """Rows (dicts with the same keys) as an HTML table, a column per key."""
    if not rows:
        return "<p>(none)</p>"
    head = "<tr>" + "".join(f"<th>{html.escape(str(k))}</th>" for k in rows[0]) + "</tr>"
    body = ["<tr>" + "".join(f"<td>{html.escape('' if v is None else str(v))}</td>" for v in r.values()) + "</tr>"
            for r in rows]
    return '<table class="numbers">\n' + "\n".join([head, *body]) + "\n</table>"


def write_scorecard(rows: list[dict], out_html: Path, link: Callable[[str, str], str], summary: list[dict] = (),
                    provenance: list[dict] = ()) -> Path:
    """Write the scorecard page (the cells, the per-claim ``summary``, the runs' ``provenance``); return its path."""
    summary = sorted(summary, key=lambda r: _claim_key(r["claim"]))
    sections = [Section("scorecard", "Verdicts", EXPLANATION, after=scorecard_table(rows, link)),
                Section("summary", "Per claim", SUMMARY, after=plain_table(summary)),
                Section("provenance", "Provenance", PROVENANCE, after=plain_table(list(provenance)))]
    groups = len({r["group_name"] for r in rows})
    return write_page(out_html, "Claims scorecard", f"{len(rows)} claim x configuration cells over {groups} groups.", sections)
