"""The scorecard page: claims x configurations, each cell coloured by its verdict (docs/scorecard.md).

Plain HTML (no charts): a cell shows the effect and its 95 % interval and links to the report chart
the statistic rests on.
"""
from __future__ import annotations

import html
from pathlib import Path
from typing import Callable

from pipeline.report import write_atomically

VERDICT_COLOURS = {"holds": "#bbf7d0", "contradicted": "#fecaca", "inconclusive": "#fef08a", "1 seed": "#e5e7eb"}

PAGE = """<!DOCTYPE html>
<html>
<head>
<meta charset="UTF-8">
<title>{title}</title>
<style>
  body {{ font-family: system-ui, sans-serif; margin: 24px 32px; color: #1f2937; }}
  table {{ border-collapse: collapse; font-size: 13px; }}
  td, th {{ border: 1px solid #d1d5db; padding: 4px 8px; vertical-align: top; }}
  th {{ background: #f3f4f6; }}
  td.claim {{ max-width: 28em; }}
  td a {{ color: inherit; text-decoration: none; display: block; }}
  .legend span {{ padding: 2px 8px; margin-right: 8px; }}
</style>
</head>
<body>
<h1>{title}</h1>
<p>Each cell: the mean of the claim's statistic over the configuration's seeds (&gt; 0 is the claimed
direction), its 95 % t-interval, the verdict and the number of seeds; click a cell for the chart it rests
on. Holds: the interval excludes 0 on the claimed side; contradicted: on the other side; otherwise
inconclusive. Definitions: docs/scorecard.md.</p>
<p class="legend">{legend}</p>
{table}
</body>
</html>
"""


def scorecard_html(rows: list[dict], link: Callable[[str, str], str], title: str = "Claims scorecard") -> str:
    """The page for rows of the ``scorecard`` view; ``link(page, chart)`` is the href of a cell's chart."""
    claims = list(dict.fromkeys((r["claim"], r["statement"]) for r in sorted(rows, key=lambda r: _claim_key(r["claim"]))))
    groups = sorted({r["group_name"] for r in rows})
    cells = {(r["claim"], r["group_name"]): r for r in rows}
    head = "<tr><th>claim</th>" + "".join(f"<th>{html.escape(g)}</th>" for g in groups) + "</tr>"
    body = []
    for claim, statement in claims:
        tds = [f'<td class="claim"><b>{html.escape(claim)}</b> {html.escape(statement)}</td>']
        for group in groups:
            r = cells.get((claim, group))
            tds.append(_cell(r, link) if r else "<td></td>")
        body.append("<tr>" + "".join(tds) + "</tr>")
    legend = "".join(f'<span style="background:{c}">{v}</span>' for v, c in VERDICT_COLOURS.items())
    table = "<table>\n" + "\n".join([head, *body]) + "\n</table>"
    return PAGE.format(title=html.escape(title), legend=legend, table=table)


def _cell(r: dict, link: Callable[[str, str], str]) -> str:
    interval = "" if r["ci_low"] is None else f"<br>[{r['ci_low']:+.4f}, {r['ci_high']:+.4f}]"
    text = f"{r['effect']:+.4f}{interval}<br>{html.escape(r['verdict'])} (n={r['n_seeds']})"
    href = html.escape(link(r["page"], r["chart"]), quote=True)
    colour = VERDICT_COLOURS.get(r["verdict"], "#ffffff")
    return f'<td style="background:{colour}"><a href="{href}">{text}</a></td>'


def _claim_key(claim: str) -> tuple:
    number = "".join(c for c in claim if c.isdigit())
    return int(number or 0), claim


def write_scorecard(rows: list[dict], out_html: Path, link: Callable[[str, str], str]) -> Path:
    """Write the scorecard page atomically; return its path."""
    out_html = Path(out_html)
    out_html.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(out_html, scorecard_html(rows, link).encode("utf-8"))
    return out_html
