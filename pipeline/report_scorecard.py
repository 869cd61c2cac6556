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
               "otherwise inconclusive. Definitions: docs/scorecard.md; the numbers: the views scorecard and "
               "claim_statistics.")


def scorecard_table(rows: list[dict], link: Callable[[str, str], str]) -> str:
    """Rows of the ``scorecard`` view as an HTML table, claims down, groups across; ``link(page, chart)``
    is the href of a cell's chart."""
    claims = list(dict.fromkeys((r["claim"], r["statement"]) for r in sorted(rows, key=lambda r: _claim_key(r["claim"]))))
    groups = sorted({r["group_name"] for r in rows})
    cells = {(r["claim"], r["group_name"]): r for r in rows}
    head = "<tr><th>claim</th>" + "".join(f"<th>{html.escape(g)}</th>" for g in groups) + "</tr>"
    body = []
    for claim, statement in claims:
        tds = [f'<td style="text-align:left; max-width:28em"><b>{html.escape(claim)}</b> {html.escape(statement)}</td>']
        tds += [_cell(cells[(claim, g)], link) if (claim, g) in cells else "<td></td>" for g in groups]
        body.append("<tr>" + "".join(tds) + "</tr>")
    legend = " ".join(f'<span style="background:{c}; padding:2px 8px">{v}</span>' for v, c in VERDICT_COLOURS.items())
    return f"<p>{legend}</p>\n" + '<table class="numbers">\n' + "\n".join([head, *body]) + "\n</table>"


def _cell(r: dict, link: Callable[[str, str], str]) -> str:
    interval = "" if r["ci_low"] is None else f"<br>[{r['ci_low']:+.4f}, {r['ci_high']:+.4f}]"
    text = f"{r['effect']:+.4f}{interval}<br>{html.escape(r['verdict'])} (n={r['n_seeds']})"
    href = html.escape(link(r["page"], r["chart"]), quote=True)
    colour = VERDICT_COLOURS.get(r["verdict"], "#ffffff")
    return f'<td style="background:{colour}"><a href="{href}" style="color:inherit">{text}</a></td>'


def _claim_key(claim: str) -> tuple:
    number = "".join(c for c in claim.split("-")[0] if c.isdigit())
    return int(number or 0), claim


def write_scorecard(rows: list[dict], out_html: Path, link: Callable[[str, str], str]) -> Path:
    """Write the scorecard page; return its path."""
    section = Section("scorecard", "Verdicts", EXPLANATION, after=scorecard_table(rows, link))
    groups = len({r["group_name"] for r in rows})
    return write_page(out_html, "Claims scorecard", f"{len(rows)} claim x configuration cells over {groups} groups.", [section])
