"""The report page: its sections (heading, text, chart), the numbers table, and writing it.

The page carries the Vega/Vega-Lite/vega-embed bundle inline (the same bundle Altair's
``save(..., inline=True)`` embeds, from vl-convert), so it renders offline; each chart gets its own
vega-embed container and a PNG beside the page (``<stem>-<chart>.png``). The charts themselves are
``pipeline.report_charts``. No DuckDB, no Prefect here.
"""
from __future__ import annotations

import functools
import html
import json
from dataclasses import dataclass
from pathlib import Path

import altair as alt
import pyarrow as pa
import vl_convert

from pipeline.report_charts import build_charts, effect_label

# chart name -> (heading, explanation), in the page's order
CHARTS = {
    "layer_stats": ("Neurons that do nothing",
                    "Per layer, the share of units whose 1-bit code is constant on the validation split "
                    "(always or never above the threshold) and, for ReLU neurons, the share never above 0 (dead), "
                    "averaged over the runs (view layer_stats; hover a bar for the module the layer's units are "
                    "read from). Many dead first-layer neurons point to a training problem, e.g. unstandardized "
                    "inputs; for conv channels and transformer neurons (per-unit bins) a constant code means the "
                    "unit's values tie on most images."),
    "distributions": ("Measure distributions per layer (Fig. 1)",
                      "Histograms of each information measure over the neurons of each hidden layer, pooled over "
                      "the runs. Entropy, mutual information and the selectivities are in bits; class_selectivity is "
                      "the Morcos et al. index. Pick the quantizer resolution with the selector."),
    "significance": ("Information a test vouches for",
                     "Left: per layer and quantizer resolution, the share of units whose I(T;Y) differs from 0 at a "
                     "false discovery rate of 5 % (G-test, or a permutation test where the sample is too small for the "
                     "bins; Benjamini-Hochberg over the layer's units; view layer_significance). Right: the layer's mean "
                     "I(T;Y) under each estimator (plug-in, Miller-Madow, Panzeri-Treves, shuffle-corrected; "
                     "docs/measures.md), bars from the lowest to the highest run. Where the bars differ, the plug-in "
                     "bias is as large as the differences the other charts read. Shown when `neuroninfo estimate` has run."),
    "network_ablation": ("Whole-network cumulative ablation (Fig. 2)",
                         "Test error as the neurons of all hidden layers, ranked together by a measure, are ablated "
                         "cumulatively: least informative first (low_first), most informative first (high_first), "
                         "and random orderings. Click a legend entry to highlight it."),
    "layer_composition": ("Which layers the network-wide order ablates (Fig. 2)",
                          "The hidden layer each ablated neuron of the network-wide order comes from. A measure can look "
                          "predictive over the whole network only because its values differ between layers "
                          "(Simpson's paradox): compare with the layer-wise curves below."),
    "layer_ablation": ("Layer-wise cumulative ablation (Figs. 3-4)",
                       "The same, one hidden layer at a time; x is the fraction of that layer's neurons."),
    "quantizer_bits": ("Quantizer resolution (Figs. 5-7)",
                       "Whole-network curves of each quantized measure computed at 1, 2 and 3 bits."),
    "zero_vs_mean": ("Ablation to zero vs to the mean (Fig. 11)",
                     "Whole-network curves when an ablated neuron outputs 0 or its training-set mean."),
    "pairs": ("Redundancy and synergy between neurons (pairs)",
              "Left: red_min (Williams-Beer I_min redundancy, bits) between the 40 neurons of each layer with the highest "
              "I(T;Y), ordered by average-linkage clustering so blocks of redundant neurons show. Below: how red_min "
              "and synergy_min are distributed over all pairs of each layer. I_min over-states redundancy between "
              "neurons that say equally much about the same classes (docs/measures-pairs.md). The orderings by "
              "unique_min, max_red_min, mean_synergy_min and max_synergy_min appear in the ablation charts above. "
              "Shown when `neuroninfo pairs` has run."),
    "summary": ("Summary",
                "Area under each ablation curve (AUC: mean test error over the fraction ablated, in [0, 1]; lower is "
                "better), averaged over seeds and random repeats. Left: does ablating the least informative neurons "
                "first hurt less than random? Middle: does random hurt less than ablating the most informative first? "
                "Right: Spearman correlation between a neuron's measure and its ablation importance — the mean "
                "increase in test error in the step of a random ablation order that removes it (a Monte-Carlo "
                "Shapley estimate), within each layer (layer-wise random orderings) and over the whole network."),
    "pruning": ("Pruning by criterion",
                "Each run physically pruned (neuroninfo prune-sweep) by every criterion — information measures and the "
                "usual baselines (weight magnitude, Torch-Pruning's group magnitude, Taylor, Captum conductance, "
                "activation statistics) and random — at kept fractions 0.9 to 0.1, without and with fine-tuning. "
                "Lower is better at the same parameter count. Shown only when a sweep exists."),
}


def summary_table(tables: dict[str, pa.Table]) -> str:
    """The summary numbers as an HTML table (AUCs, effect sizes with intervals, Spearman) for the page."""
    key = ("scope_label", "measure", "bits", "strategy")
    rho = {tuple(r[k] for k in key): r["spearman"] for r in tables["rank_correlation"].to_pylist()}
    head = ["scope", "measure", "bits", "ablate to", "AUC low_first", "AUC random", "AUC high_first",
            "AUC(random) − AUC(low_first)", "AUC(high_first) − AUC(random)", "Spearman ρ", "runs"]

    def cell(v):
        if isinstance(v, float):
            return f"{v:.4f}"
        return "" if v is None else str(v)

    rows = []
    for r in tables["auc"].to_pylist():
        effects = [None if r[k] is None else effect_label(r[k], r[f"{k}_half"]) for k in ("low_effect", "high_effect")]
        values = [r["scope_label"], r["measure"], r["bits"], r["strategy"], r["auc_low_first"], r["auc_random"],
                  r["auc_high_first"], *effects, rho.get(tuple(r[k] for k in key)), r["n_runs"]]
        rows.append("<tr>" + "".join(f"<td>{html.escape(cell(v))}</td>" for v in values) + "</tr>")
    header = "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>"
    body = "\n".join([header, *rows])
    return f'<details><summary>All numbers (table)</summary>\n<table class="numbers">\n{body}\n</table></details>'


def _caption(runs: pa.Table, notes: pa.Table | None = None) -> str:
    notes = "".join(f" Note: {n}." for n in (notes.column("note").to_pylist() if notes is not None else []))
    return _runs_caption(runs) + notes


def _runs_caption(runs: pa.Table) -> str:
    rows = runs.to_pylist()
    if not rows:
        return ""
    first = rows[0]
    arch = first.get("arch") or "mlp"
    sizes = "-".join(str(h) for h in first["hidden_sizes"])
    shape = f"hidden layers {sizes}" if arch == "mlp" else f"{arch}" + (f" {sizes}" if sizes else "")
    seeds = ", ".join(f"{'seed ' + str(r['seed']) if r['seed'] is not None else 'imported, seed not stated'} "
                      f"({r['run_id']}, test error {r['test_error']:.2%})" for r in rows)
    return (f"{first['dataset']}, {shape}, {first['activation']}, {first['regularizer']}; "
            f"{len(rows)} run{'s' if len(rows) != 1 else ''}: {seeds}.")


PAGE = """<!DOCTYPE html>
<html>
<head>
<meta charset="UTF-8">
<title>{title}</title>
<style>
  body {{ font-family: system-ui, sans-serif; margin: 24px 32px; color: #1f2937; background: #fff; }}
  h1 {{ font-size: 22px; margin-bottom: 4px; }}
  h2 {{ font-size: 17px; margin: 32px 0 4px; border-top: 1px solid #e5e7eb; padding-top: 16px; }}
  p {{ max-width: 70em; line-height: 1.4; margin: 4px 0 12px; }}
  .caption {{ color: #4b5563; }}
  table.numbers {{ border-collapse: collapse; font-size: 13px; margin-top: 8px; }}
  table.numbers td, table.numbers th {{ border: 1px solid #e5e7eb; padding: 2px 8px; text-align: right; }}
  table.numbers th {{ background: #f3f4f6; }}
</style>
<script type="text/javascript">
// vega-embed bundle with Vega-Lite {vl_version} (inline, from vl-convert: works offline)
{bundle}
</script>
</head>
<body>
<h1>{title}</h1>
<p class="caption">{caption}</p>
{sections}
<script type="text/javascript">
const specs = {specs};
const options = {{"renderer": "svg", "actions": {{"export": true, "source": false, "compiled": false, "editor": false}}}};
for (const [id, spec] of Object.entries(specs)) {{
  vegaEmbed("#" + id, spec, options).catch(err => {{
    document.getElementById(id).textContent = "chart failed to render: " + err;
  }});
}}
</script>
</body>
</html>
"""


@functools.lru_cache(maxsize=1)
def _bundle() -> tuple[str, str]:  # ~2 s to build, the same for every page of a process
    major, minor = alt.SCHEMA_VERSION.lstrip("v").split(".")[:2]
    version = f"v{major}_{minor}"
    return version, vl_convert.javascript_bundle(vl_version=version)


@dataclass(frozen=True)
class Section:
    """One part of a page: a heading, a paragraph, an optional chart (also written as a PNG) and HTML after it."""
    name: str  # the chart's container id and PNG suffix
    heading: str
    text: str
    chart: alt.TopLevelMixin | None = None
    after: str = ""


def write_page(out_html: Path, title: str, caption: str, sections: list[Section], png: bool = True) -> Path:
    """Write a self-contained HTML page of these sections (charts render offline; each has a PNG/SVG export
    menu) and, with ``png``, one PNG per chart beside it (without: older PNGs of the page are removed, so none
    is stale). The files are written in place: a caller that needs whole-or-absent files writes them into a
    temporary folder and publishes them (``flows.stages.publish_page``)."""
    out_html = Path(out_html)
    out_html.parent.mkdir(parents=True, exist_ok=True)
    if not png:
        for name in page_files(out_html.name)[1:]:
            out_html.with_name(name).unlink(missing_ok=True)
    specs, parts = {}, []
    for s in sections:
        parts.append(f"<h2>{html.escape(s.heading)}</h2>\n<p>{html.escape(s.text)}</p>")
        if s.chart is not None:
            # not validated against the Vega-Lite schema here (~0.5 s a chart): tests/test_report.py does that
            specs[f"chart-{s.name}"] = spec = s.chart.to_dict(validate=False)
            parts.append(f'<div id="chart-{s.name}"></div>')
            if png:
                out_html.with_name(png_name(out_html.name, s.name)).write_bytes(vl_convert.vegalite_to_png(spec, scale=2))
        if s.after:
            parts.append(s.after)
    version, bundle = _bundle() if specs else ("none", "// no charts on this page")
    page = PAGE.format(
        title=html.escape(title), caption=html.escape(caption), sections="\n".join(parts),
        vl_version=version, bundle=bundle, specs=json.dumps(specs).replace("</", "<\\/"),
    )
    out_html.write_bytes(page.encode("utf-8"))
    return out_html


def png_name(page: str, chart: str) -> str:
    """Name of the PNG of ``chart`` beside the page called ``page``: ``<stem>-<chart>.png``."""
    return f"{Path(page).stem}-{chart}.png"


def page_files(page: str) -> list[str]:
    """Names of the files a page called ``page`` may have: itself, then a PNG per chart beside it."""
    return [page, *(png_name(page, name) for name in CHARTS)]


def write_report(tables: dict[str, pa.Table], out_html: Path, title: str, png: bool = True) -> Path:
    """Write the report over these tables: every chart of ``build_charts``, the numbers under the summary."""
    sections = [Section(name, *CHARTS[name], chart=chart, after=summary_table(tables) if name == "summary" else "")
                for name, chart in build_charts(tables).items()]
    return write_page(out_html, title, _caption(tables["runs"], tables.get("notes")), sections, png)
