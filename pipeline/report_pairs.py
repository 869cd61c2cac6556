"""The report's pair section: red_min heatmaps of each layer's most informative neurons, ordered by
clustering, and the per-layer distributions of redundancy and synergy (docs/measures-pairs.md)."""
from __future__ import annotations

import altair as alt
import numpy as np
import pyarrow as pa

from pipeline.seriation import cluster_order

PAIR_SCALE = alt.Scale(domain=["red_min", "synergy_min"], range=["#2563eb", "#dc2626"])


def heatmap_order(rows: list[dict]) -> list[int]:
    """The layer's neurons in the leaf order of average-linkage clustering on red_min."""
    neurons = sorted({r["neuron_a"] for r in rows})
    index = {n: k for k, n in enumerate(neurons)}
    similarity = np.zeros((len(neurons), len(neurons)))
    for r in rows:
        similarity[index[r["neuron_a"]], index[r["neuron_b"]]] = r["red_min"]
    return [neurons[k] for k in cluster_order(similarity)]


def heatmap(rows: list[dict], layer: int, domain: list[float]) -> alt.Chart:
    order = heatmap_order(rows)
    axis = alt.Axis(labels=len(order) <= 20, ticks=False, title=None)
    return alt.Chart(alt.Data(values=rows)).mark_rect().encode(
        x=alt.X("neuron_b:O", sort=order, axis=axis),
        y=alt.Y("neuron_a:O", sort=order, axis=axis),
        color=alt.Color("red_min:Q", scale=alt.Scale(scheme="blues", domain=domain, clamp=True), title="red_min (bits)"),
        tooltip=[alt.Tooltip("neuron_a:O", title="neuron"), alt.Tooltip("neuron_b:O", title="partner"),
                 alt.Tooltip("red_min:Q", format=".4f")],
    ).properties(width=240, height=240, title=f"layer {layer}: top {len(order)} by I(T;Y)")


def histograms(rows: list[dict]) -> alt.FacetChart:
    bits = min(r["bits"] for r in rows)
    data = [r for r in rows if r["bits"] == bits]
    return alt.Chart(alt.Data(values=data)).mark_bar(opacity=0.6).encode(
        x=alt.X("bin_start:Q", bin="binned", title=f"bits ({bits}-bit codes)"),
        x2="bin_end:Q",
        y=alt.Y("share:Q", stack=None, title="pairs (%)", axis=alt.Axis(format=".0%")),
        color=alt.Color("measure:N", scale=PAIR_SCALE, title="pair measure"),
        tooltip=[alt.Tooltip("measure:N"), alt.Tooltip("layer:O"), alt.Tooltip("bin_start:Q", title="from", format=".3f"),
                 alt.Tooltip("bin_end:Q", title="to", format=".3f"), alt.Tooltip("n_pairs:Q", title="pairs (all runs)"),
                 alt.Tooltip("share:Q", title="share of layer", format=".1%")],
    ).properties(width=240, height=110).facet(
        column=alt.Column("layer:O", header=alt.Header(labelExpr="'layer ' + datum.value"), title=None))


def pairs_chart(tables: dict[str, pa.Table]) -> alt.TopLevelMixin | None:
    """Heatmaps (one per layer, own order) above the redundancy/synergy histograms; None without pairs."""
    cells = tables["pair_heatmap"].to_pylist()
    if not cells:
        return None
    off_diagonal = [r["red_min"] for r in cells if r["neuron_a"] != r["neuron_b"]] or [1.0]
    domain = [0.0, max(max(off_diagonal), 1e-9)]
    layers = sorted({r["layer"] for r in cells})
    maps = alt.hconcat(*[heatmap([r for r in cells if r["layer"] == l], l, domain) for l in layers])
    first = cells[0]
    title = alt.Title("Redundancy and synergy between neurons",
                      subtitle=f"heatmaps: red_min of run {first['run_id']} at {first['bits']} bit(s), neurons ordered by "
                               "clustering (diagonal: I(T;Y), colour capped at the largest pair); histograms: all runs")
    hist = tables["pair_hist"].to_pylist()
    body = alt.vconcat(maps, histograms(hist)) if hist else maps
    return body.resolve_scale(color="independent").properties(title=title)
