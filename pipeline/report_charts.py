"""The report's charts (Altair): pure functions from the small tables of ``store.report_data`` to charts.

Page assembly and writing (HTML, PNG) are in ``pipeline.report``; the pair section is ``pipeline.report_pairs``.
"""
from __future__ import annotations

import altair as alt
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.criteria import CRITERIA
from pipeline.report_pairs import pairs_chart

CRITERIA_ORDER = list(CRITERIA)  # facet and row order: information measures, pair aggregates, then baseline criteria
ORDERINGS = ["low_first", "random", "high_first"]
ORDERING_SCALE = alt.Scale(domain=ORDERINGS, range=["#2563eb", "#9ca3af", "#dc2626"])
PANEL = {"width": 170, "height": 120}
CELL_FONT = 11  # px, the summary heatmap's cell text

X_FRAC = alt.X("frac_ablated:Q", title="fraction of neurons ablated", scale=alt.Scale(domain=[0, 1]))
Y_ERROR = alt.Y("error_mean:Q", title="test error (%)", axis=alt.Axis(format=".0%"))
CURVE_TOOLTIP = [
    alt.Tooltip("measure:N"), alt.Tooltip("bits:Q"), alt.Tooltip("ordering:N"), alt.Tooltip("strategy:N"),
    alt.Tooltip("frac_ablated:Q", title="fraction ablated", format=".3f"),
    alt.Tooltip("error_mean:Q", title="test error (mean)", format=".2%"),
    alt.Tooltip("error_min:Q", title="min", format=".2%"), alt.Tooltip("error_max:Q", title="max", format=".2%"),
    alt.Tooltip("error_sd:Q", title="sd", format=".2%"), alt.Tooltip("n_curves:Q", title="curves averaged"),
]


def _rows(table: pa.Table, **equal) -> list[dict]:
    """The table's rows (as dicts) whose columns equal the given values (a tuple: any of them; None matches NULL)."""
    for column, values in equal.items():
        values = values if isinstance(values, tuple) else (values,)
        keep = pc.is_in(table[column], value_set=pa.array(values, table[column].type), skip_nulls=False)
        table = table.filter(keep)
    return table.to_pylist()


def _default_bits(tables: dict[str, pa.Table]) -> int | None:
    """The smallest quantizer resolution present (the paper's default is 1 bit)."""
    bits = [b for b in tables["measure_hist"].column("bits").to_pylist() if b is not None]
    return min(bits) if bits else None


def _bits_text(bits: int | None) -> str:
    return "—" if bits is None else f"{bits} bit{'s' if bits != 1 else ''}"


def _curve_layers(field: str = "ordering", scale: alt.Scale = ORDERING_SCALE, title: str = "ordering",
                  band: bool = True, dash: alt.StrokeDash | None = None) -> list[alt.Chart]:
    """A mean line per curve coloured by ``field`` (click the legend to highlight) over an optional min-max band."""
    pick = alt.selection_point(fields=[field], bind="legend")
    line = alt.Chart().mark_line(strokeWidth=1.6).encode(
        x=X_FRAC, y=Y_ERROR, tooltip=CURVE_TOOLTIP,
        color=alt.Color(f"{field}:N", scale=scale, title=title,
                        legend=alt.Legend(symbolType="stroke", symbolStrokeWidth=2.5, symbolOpacity=1)),
        opacity=alt.condition(pick, alt.value(1.0), alt.value(0.12)),
    ).add_params(pick)
    if dash is not None:
        line = line.encode(strokeDash=dash)
    if not band:
        return [line]
    area = alt.Chart().mark_area(fillOpacity=0.18).encode(  # fillOpacity: the legend keeps solid strokes
        x=X_FRAC, y=alt.Y("error_min:Q", axis=alt.Axis(format=".0%")), y2="error_max:Q",
        color=alt.Color(f"{field}:N", scale=scale, title=title),
    )
    return [area, line]


def _by_measure() -> dict:
    """Facet arguments: one panel per measure, three per row."""
    return {"facet": alt.Facet("measure:N", sort=CRITERIA_ORDER, title=None), "columns": 3}


def _per_measure(rows: list[dict], panel, columns: int = 4, params: list | None = None) -> alt.ConcatChart:
    """``panel(measure, its rows)`` for every measure of ``rows``, ``columns`` to a line: the page's width does
    not grow with the number of criteria (a column facet per measure was ~2,000 px wide)."""
    rank = {m: i for i, m in enumerate(CRITERIA_ORDER)}
    measures = sorted({r["measure"] for r in rows}, key=lambda m: (rank.get(m, len(rank)), m)) or [""]
    charts = [panel(m, [r for r in rows if r["measure"] == m]) for m in measures]
    return alt.ConcatChart(concat=charts, columns=columns, **({"params": params} if params else {}))


def _wrapped_facet(rows: list[dict], field: str, label: str = "", order: list | None = None, per_line: int = 4):
    """(rows with a ``panel`` key, facet arguments): one panel per (measure, ``field`` value) titled
    'measure · <label><value>', wrapped so that a line holds whole measures and at most about ``per_line`` panels
    (a row per ``field`` value and a column per measure was ~2,000 px wide)."""
    rank = {m: i for i, m in enumerate(CRITERIA_ORDER)}
    values = sorted({r[field] for r in rows}, key=lambda v: order.index(v) if order and v in order else str(v))
    panels = [{**r, "panel": f"{r['measure']} · {label}{r[field]}"} for r in rows]
    keys = sorted({(rank.get(r["measure"], len(rank)), r["measure"], values.index(r[field]), r["panel"]) for r in panels})
    columns = max(1, len(values)) * max(1, per_line // max(1, len(values)))
    return panels, {"facet": alt.Facet("panel:N", sort=[k[-1] for k in keys], title=None), "columns": columns}


def _row_header(field: str, sort: list | None = None, prefix: str = "") -> alt.Row:
    label = f"'{prefix}' + datum.value" if prefix else "datum.value"
    return alt.Row(f"{field}:{'O' if prefix else 'N'}", sort=sort, title=None,
                   header=alt.Header(labelExpr=label, labelAngle=0))


def distributions_chart(tables: dict[str, pa.Table]) -> alt.TopLevelMixin:
    """Fig. 1: per-layer histograms of every measure; a selector picks the quantizer bits."""
    rows = tables["measure_hist"].to_pylist()
    bits_options = sorted({r["bits"] for r in rows if r["bits"] is not None}) or [None]
    bits = alt.param(name="bits", value=bits_options[0],
                     bind=alt.binding_select(options=bits_options, name="quantizer bits "))
    base = alt.Chart().transform_filter("datum.bits == bits || datum.bits === null")

    def panel(measure: str, rows: list[dict]):
        bars = base.mark_bar(color="#4b5563", opacity=0.85).encode(
            x=alt.X("bin_start:Q", bin="binned", title=measure),
            x2="bin_end:Q",
            y=alt.Y("share:Q", title="neurons (%)", axis=alt.Axis(format=".0%")),
            tooltip=[alt.Tooltip("measure:N"), alt.Tooltip("layer:O"), alt.Tooltip("bits:Q"),
                     alt.Tooltip("bin_start:Q", title="from", format=".3f"), alt.Tooltip("bin_end:Q", title="to", format=".3f"),
                     alt.Tooltip("n_neurons:Q", title="neurons (all runs)"),
                     alt.Tooltip("share:Q", title="share of layer", format=".1%")],
        )
        mean = base.mark_rule(color="#dc2626", strokeWidth=1.5).encode(
            x="layer_mean:Q", tooltip=[alt.Tooltip("layer_mean:Q", title="layer mean", format=".3f"),
                                       alt.Tooltip("layer_median:Q", title="layer median", format=".3f")],
        )
        return alt.layer(bars, mean, data=alt.Data(values=rows)).properties(width=150, height=90).facet(
            row=_row_header("layer", prefix="layer "))

    return _per_measure(rows, panel, params=[bits.param]).properties(title=alt.Title(
        "Measure distributions per layer",
        subtitle="share of each layer's neurons per bin; x: the measure's value in bits (class_selectivity: Morcos "
                 "index); red rule: layer mean"))


def network_chart(tables: dict[str, pa.Table], bits: int | None, strategy: str = "zero") -> alt.TopLevelMixin:
    """Fig. 2: whole-network cumulative ablation, one panel per measure."""
    curves = _rows(tables["curves"], scope="network", strategy=strategy, bits=(bits, None))
    return alt.layer(*_curve_layers(), data=alt.Data(values=curves)).properties(**PANEL).facet(
        **_by_measure()).properties(
        title=alt.Title(f"Whole-network cumulative ablation (to {strategy}; measures at {_bits_text(bits)})",
                        subtitle="mean over seeds (random: seeds × repeats), band min–max; "
                                 f"measures at {_bits_text(bits)}"))


def composition_chart(tables: dict[str, pa.Table], bits: int | None) -> alt.TopLevelMixin:
    """Fig. 2 (Simpson's paradox): the layers the neurons of the network-wide ablation order come from."""
    rows = _rows(tables["layer_composition"], bits=(bits, None))

    def panel(measure: str, rows: list[dict]):
        return alt.Chart(alt.Data(values=rows)).mark_area().encode(
            x=X_FRAC,
            y=alt.Y("share:Q", stack="zero", title="ablated neurons (%)", axis=alt.Axis(format=".0%")),
            color=alt.Color("layer:O", title="from layer", scale=alt.Scale(scheme="viridis")),
            order=alt.Order("layer:O"),
            tooltip=[alt.Tooltip("measure:N"), alt.Tooltip("ordering:N"), alt.Tooltip("layer:O"),
                     alt.Tooltip("frac_ablated:Q", title="fraction ablated", format=".3f"),
                     alt.Tooltip("share:Q", title="share from layer", format=".1%"),
                     alt.Tooltip("n_from_layer:Q", title="neurons from layer", format=".1f")],
        ).properties(width=140, height=90).facet(row=_row_header("ordering", ["low_first", "high_first"])).properties(
            title=measure)

    return _per_measure(rows, panel, columns=3).properties(title=alt.Title(
        f"Layer composition of the network-wide ablation order (measures at {_bits_text(bits)})",
        subtitle=f"share of the ablated neurons that come from each hidden layer; measures at {_bits_text(bits)}"))


def layer_chart(tables: dict[str, pa.Table], bits: int | None, strategy: str = "zero") -> alt.TopLevelMixin:
    """Figs. 3-4: cumulative ablation within each layer, one panel per layer and measure."""
    curves, facet = _wrapped_facet(_rows(tables["curves"], scope="layer", strategy=strategy, bits=(bits, None)),
                                   "layer", "layer ")
    return alt.layer(*_curve_layers(), data=alt.Data(values=curves)).properties(width=140, height=100).facet(
        **facet).properties(
        title=alt.Title(f"Layer-wise cumulative ablation (to {strategy}; measures at {_bits_text(bits)})",
                        subtitle=f"x: fraction of the layer's neurons; measures at {_bits_text(bits)}; "
                                 "band min–max over seeds"))


def bits_chart(tables: dict[str, pa.Table], strategy: str = "zero") -> alt.TopLevelMixin:
    """Figs. 5-7: the whole-network curves of each measure at quantizer resolutions 1, 2, 3 bits."""
    rows = _rows(tables["curves"], scope="network", strategy=strategy)
    data = []
    for r in rows:
        if r["measure"] == "class_selectivity":
            continue  # does not depend on the quantizer
        label = "random" if r["ordering"] == "random" else _bits_text(r["bits"])
        panels = ["low_first", "high_first"] if r["ordering"] == "random" else [r["ordering"]]
        data += [{**r, "ordering_panel": p, "resolution": label} for p in panels]
    labels = sorted({r["resolution"] for r in data} - {"random"}) + ["random"]
    colors = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a"][: len(labels) - 1] + ["#9ca3af"]  # distinct hues (Dark2)
    scale = alt.Scale(domain=labels, range=colors)
    dashes = [[1, 0], [6, 3], [2, 2], [8, 2, 2, 2]][: len(labels) - 1] + [[1, 0]]
    dash = alt.StrokeDash("resolution:N", scale=alt.Scale(domain=labels, range=dashes), title="quantizer")
    data, facet = _wrapped_facet(data, "ordering_panel", order=["low_first", "high_first"])
    return alt.layer(*_curve_layers("resolution", scale, "quantizer", band=False, dash=dash), data=alt.Data(values=data)).properties(
        width=150, height=110).facet(**facet).properties(title=alt.Title(f"Quantizer resolution: whole-network ablation (to {strategy}; every bits value)",
                                 subtitle="panels: measure · ordering (low_first: least informative first); grey: random"))


def strategy_chart(tables: dict[str, pa.Table], bits: int | None) -> alt.TopLevelMixin:
    """Fig. 11: ablating to zero vs to the training-set mean, whole network."""
    rows = _rows(tables["curves"], scope="network", bits=(bits, None))
    dash = alt.StrokeDash("strategy:N", title="ablate to", scale=alt.Scale(domain=["zero", "mean"], range=[[1, 0], [5, 3]]))
    return alt.layer(*_curve_layers(band=False, dash=dash), data=alt.Data(values=rows)).properties(
        **PANEL).facet(**_by_measure()).properties(
        title=alt.Title(f"Ablation to zero vs to the training-set mean (whole network; measures at {_bits_text(bits)})",
                        subtitle=f"solid: zero, dashed: mean; measures at {_bits_text(bits)}"))


def _row_label(r: dict) -> str:
    return r["measure"] if r["bits"] is None else f"{r['measure']} · {_bits_text(r['bits'])}"


def summary_chart(tables: dict[str, pa.Table], strategy: str = "zero") -> alt.TopLevelMixin:
    """The summary table: effect sizes (AUC differences with their 95 % intervals over seeds) and Spearman
    correlations, per scope."""
    options = sorted(set(tables["auc"].column("strategy").to_pylist()) | {strategy}, key=lambda s: s != "zero")
    strategy = alt.param(name="strategy", value=strategy, bind=alt.binding_select(options=options, name="ablate to "))
    auc = []
    for r in tables["auc"].to_pylist():
        if None in (r["auc_low_first"], r["auc_random"], r["auc_high_first"]):
            continue
        base = {**r, "row": _row_label(r)}
        auc.append({**base, "test": "random − low_first", "diff": r["low_effect"], "half": r["low_effect_half"]})
        auc.append({**base, "test": "high_first − random", "diff": r["high_effect"], "half": r["high_effect_half"]})
    rank = {m: i for i, m in enumerate(CRITERIA_ORDER)}
    rows = sorted({(rank.get(r["measure"], len(CRITERIA_ORDER)), r["bits"] or 0, r["row"]) for r in auc})
    row_order = [r[2] for r in rows]
    scopes = sorted({r["scope_label"] for r in auc}, key=lambda s: (s == "network", s))
    x = alt.X("scope_label:N", sort=scopes, title=None, axis=alt.Axis(orient="top", labelAngle=0))
    limit = max([abs(r["diff"]) for r in auc] + [1e-6])

    def heat(data, value, text, title, domain, tooltip, row_labels=False):  # the row labels once, on the first panel
        y = alt.Y("row:N", sort=row_order, scale=alt.Scale(domain=row_order), title=None,  # rows line up across panels
                  axis=alt.Axis() if row_labels else None)
        base = alt.Chart(alt.Data(values=data)).transform_filter("datum.strategy == strategy").encode(x=x, y=y)
        cells = base.mark_rect(stroke="white").encode(
            color=alt.Color(f"{value}:Q", scale=alt.Scale(scheme="redblue", domain=domain), title=None,
                            legend=alt.Legend(format="+.2f")),
            tooltip=tooltip)
        dark = f"abs(datum.{value}) > {0.6 * domain[1]}"
        labels = base.mark_text(fontSize=CELL_FONT).encode(
            text=f"{text}:N", color=alt.condition(dark, alt.value("white"), alt.value("#111827")))
        width = max([62] + [round(CELL_FONT * 0.62 * len(r[text])) + 12 for r in data])  # the longest label fits its cell
        return alt.layer(cells, labels).properties(width=width * len(scopes), height=18 * len(row_order), title=title)

    auc_tooltip = [alt.Tooltip("row:N", title="measure"), alt.Tooltip("scope_label:N", title="scope"),
                   alt.Tooltip("strategy:N"), alt.Tooltip("auc_low_first:Q", title="AUC low_first", format=".4f"),
                   alt.Tooltip("auc_random:Q", title="AUC random", format=".4f"),
                   alt.Tooltip("auc_high_first:Q", title="AUC high_first", format=".4f"),
                   alt.Tooltip("half:Q", title="95% interval ±", format=".4f"), alt.Tooltip("n_runs:Q", title="runs")]
    panels = []
    for test, caption in [("random − low_first", "low_first beats random? AUC(random) − AUC(low_first)"),
                          ("high_first − random", "random beats high_first? AUC(high_first) − AUC(random)")]:
        data = [{**r, "label": effect_label(r["diff"], r["half"], seeds=False)} for r in auc if r["test"] == test]
        panels.append(heat(data, "diff", "label", caption, [-limit, limit], auc_tooltip, row_labels=not panels))
    corr = [{**r, "row": _row_label(r), "label": "n/a" if r["spearman"] is None else f"{r['spearman']:+.2f}"}
            for r in tables["rank_correlation"].to_pylist()]
    corr = [r for r in corr if r["row"] in row_order]
    corr_tooltip = [alt.Tooltip("row:N", title="measure"), alt.Tooltip("scope_label:N", title="scope"),
                    alt.Tooltip("strategy:N"), alt.Tooltip("spearman:Q", title="Spearman rho (mean)", format="+.3f"),
                    alt.Tooltip("spearman_min:Q", title="min over runs", format="+.3f"),
                    alt.Tooltip("spearman_max:Q", title="max over runs", format="+.3f"),
                    alt.Tooltip("n_neurons:Q", title="neurons per run"), alt.Tooltip("n_runs:Q", title="runs")]
    panels.append(heat(corr, "spearman", "label", "Spearman ρ(measure, ablation importance)", [-1, 1], corr_tooltip))
    panels[0] = panels[0].add_params(strategy)
    return alt.hconcat(*panels).resolve_scale(color="independent").properties(
        title=alt.Title("Summary: area under the ablation curves (test error, fraction ablated in [0, 1])",
                        subtitle="cells: mean difference over seeds ± the half-width of its 95 % t-interval "
                                 "(1 seed: no interval); lower AUC = better; ablation strategy from the selector "
                                 "(the PNG shows zero)"))


def effect_label(mean: float, half: float | None, seeds: bool = True) -> str:
    """An effect size with its interval, e.g. '+0.012 ± 0.004', or '+0.012 (1 seed)' without one (``seeds=False``:
    '+0.012', where the chart's subtitle says it)."""
    if half is not None:
        return f"{mean:+.3f} ± {half:.3f}"
    return f"{mean:+.3f} (1 seed)" if seeds else f"{mean:+.3f}"


def pruning_chart(tables: dict[str, pa.Table]) -> alt.TopLevelMixin:
    """Test error of the physically pruned networks against their parameter count, per criterion;
    one panel per number of fine-tuning epochs; information measures solid, baselines dashed."""
    rows = tables["pruning"].to_pylist()
    pick = alt.selection_point(fields=["criterion"], bind="legend")
    x = alt.X("n_params:Q", title="parameters of the pruned network", scale=alt.Scale(type="log"))
    tooltip = [alt.Tooltip("criterion:N"), alt.Tooltip("kind:N"), alt.Tooltip("keep:Q", title="kept fraction"),
               alt.Tooltip("n_params:Q", format=",.0f"), alt.Tooltip("error_mean:Q", title="test error (mean)", format=".2%"),
               alt.Tooltip("error_min:Q", title="min", format=".2%"), alt.Tooltip("error_max:Q", title="max", format=".2%"),
               alt.Tooltip("n_runs:Q", title="seeds")]
    color = alt.Color("criterion:N", title="criterion", legend=alt.Legend(symbolType="stroke", columns=2))
    dash = alt.StrokeDash("kind:N", title="kind", scale=alt.Scale(domain=["information", "baseline", "random"],
                                                                  range=[[1, 0], [5, 3], [1, 2]]))
    band = alt.Chart().mark_area(fillOpacity=0.08).encode(x=x, y=alt.Y("error_min:Q", axis=alt.Axis(format=".0%")),
                                                          y2="error_max:Q", color=color)
    line = alt.Chart().mark_line(point=True, strokeWidth=1.6).encode(
        x=x, y=Y_ERROR, color=color, strokeDash=dash, tooltip=tooltip,
        opacity=alt.condition(pick, alt.value(1.0), alt.value(0.12))).add_params(pick)
    return alt.layer(band, line, data=alt.Data(values=rows)).properties(width=320, height=220).facet(
        column=alt.Column("finetune_epochs:O", title="fine-tuning epochs after pruning")).properties(
        title=alt.Title("Pruning: test error vs parameters by criterion",
                        subtitle="network scope; band: min-max over seeds; click a legend entry to highlight it"))


def layer_rows() -> alt.Row:
    """One facet row per hidden layer, labelled 'layer L'."""
    return alt.Row("layer:O", header=alt.Header(labelExpr="'layer ' + datum.value", labelAngle=0), title=None)


def layer_stats_chart(tables: dict[str, pa.Table]) -> alt.TopLevelMixin:
    """Bars per hidden layer: the share of neurons with a constant 1-bit code and (ReLU) of dead neurons."""
    rows = [{"layer": r["layer"], "kind": kind, "share": r[column], "n_neurons": r["n_neurons"],
             "module": r.get("module_path") or ""}
            for r in tables["layer_stats"].to_pylist()
            for kind, column in (("constant 1-bit code", "constant_frac"), ("dead (ReLU)", "dead_frac"))
            if r[column] is not None]
    return alt.Chart(alt.Data(values=rows)).mark_bar().encode(
        x=alt.X("share:Q", title="neurons (%)", axis=alt.Axis(format=".0%"), scale=alt.Scale(domain=[0, 1])),
        y=alt.Y("kind:N", title=None),
        row=layer_rows(),
        color=alt.Color("kind:N", legend=None),
        tooltip=[alt.Tooltip("layer:O"), alt.Tooltip("module:N"), alt.Tooltip("kind:N"),
                 alt.Tooltip("share:Q", format=".1%"), alt.Tooltip("n_neurons:Q", title="units in layer", format=".0f")],
    ).properties(width=360, title="Neurons that do nothing on the validation split")


def significance_chart(tables: dict[str, pa.Table]) -> alt.TopLevelMixin | None:
    """Per layer and bits: the share of significant units, and the mean I(T;Y) per estimator; None without estimates."""
    rows = tables["significance"].to_pylist() if "significance" in tables else []
    if not rows:
        return None
    share = alt.Chart(alt.Data(values=[r for r in rows if r["estimator"] == "plugin"])).mark_bar().encode(
        x=alt.X("significant_frac:Q", title="units with I(T;Y) > 0 at FDR 5 %", axis=alt.Axis(format=".0%"),
                scale=alt.Scale(domain=[0, 1])),
        y=alt.Y("bits:O", title="bits"),
        row=layer_rows(),
        tooltip=[alt.Tooltip("layer:O"), alt.Tooltip("bits:O"), alt.Tooltip("significant_frac:Q", format=".1%"),
                 alt.Tooltip("small_sample_frac:Q", title="small-sample units", format=".1%"),
                 alt.Tooltip("n_runs:Q", title="runs")],
    ).properties(width=200, title="Units whose information a test vouches for")
    base = alt.Chart(alt.Data(values=rows)).encode(
        y=alt.Y("estimator:N", title=None, sort=["plugin", "miller_madow", "panzeri_treves", "shuffle"]),
        color=alt.Color("estimator:N", legend=None))
    means = alt.layer(
        base.mark_rule().encode(x=alt.X("mean_mi_low:Q", title="mean I(T;Y) of the layer (bits)"), x2="mean_mi_high:Q"),
        base.mark_point(filled=True).encode(
            x="mean_mi:Q",
            tooltip=[alt.Tooltip("layer:O"), alt.Tooltip("bits:O"), alt.Tooltip("estimator:N"),
                     alt.Tooltip("mean_mi:Q", format=".4f"), alt.Tooltip("mean_mi_low:Q", format=".4f"),
                     alt.Tooltip("mean_mi_high:Q", format=".4f")]),
    ).properties(width=170, height=60).facet(
        row=layer_rows(),
        column=alt.Column("bits:O", header=alt.Header(labelExpr="datum.value + ' bit(s)'"), title=None),
    ).resolve_scale(x="independent").properties(title="Mean I(T;Y) per estimator")
    return alt.hconcat(share, means)


def build_charts(tables: dict[str, pa.Table]) -> dict[str, alt.TopLevelMixin]:
    """Every chart of the report, by name (the sections of ``pipeline.report.CHARTS``): measures at the smallest bits
    (the paper's default 1 bit), curves for ablation to zero (else the strategy that was run)."""
    bits = _default_bits(tables)
    strategies = set(tables["curves"].column("strategy").to_pylist())
    strategy = "zero" if "zero" in strategies or not strategies else sorted(strategies)[0]
    charts = {
        "layer_stats": layer_stats_chart(tables),
        "distributions": distributions_chart(tables),
        **({"significance": chart} if (chart := significance_chart(tables)) is not None else {}),
        "network_ablation": network_chart(tables, bits, strategy),
        "layer_composition": composition_chart(tables, bits),
        "layer_ablation": layer_chart(tables, bits, strategy),
        "quantizer_bits": bits_chart(tables, strategy),
        "zero_vs_mean": strategy_chart(tables, bits),
        **({"pairs": pairs} if (pairs := pairs_chart(tables)) is not None else {}),
        "summary": summary_chart(tables, strategy),
    }
    if "pruning" in tables and tables["pruning"].num_rows:
        charts["pruning"] = pruning_chart(tables)
    return charts
