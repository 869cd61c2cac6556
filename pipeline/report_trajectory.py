"""The trajectory page of one training configuration: its seeds' checkpoints over the epochs.

Rows are `trajectory_layers` rows (one per training, epoch, layer, bits) with the training's seed; charts are
Altair: the information plane (mean per-unit I(T;Y) against H(T), each layer a path through the epochs), the
measures over training with a band over the seeds, the ablation gap over training, and the test error.
"""
from __future__ import annotations

from pathlib import Path

import altair as alt

from pipeline.report import Section, write_page

MEASURES = ("mutual_info", "entropy", "kl_selectivity", "labeled_mi", "js_subset_separation")

SECTIONS = {
    "plane": ("Information plane",
              "Mean per-unit I(T;Y) against mean per-unit H(T) of each hidden layer, one point per kept epoch (colour: "
              "epoch, log scale; 0 is the network as initialised), a path per layer and seed, at each quantizer "
              "resolution. A compression phase would show as H(T) falling late in training while I(T;Y) holds. Per-unit "
              "means, not the layer's joint code, which saturates at log2 N whatever the network does."),
    "measures": ("Measures over training",
                 "The median over a layer's units of each information measure at each kept epoch, 1-bit codes: the "
                 "mean over seeds, the band from the lowest to the highest seed."),
    "ablation_gap": ("When the ordering appears",
                     "Layer-wise ablation to zero by I(T;Y) at 1 bit, at the epochs analysed in full: how much less the "
                     "least informative neurons hurt than random ones (AUC(random) - AUC(low first)) and how much more the "
                     "most informative ones hurt (AUC(high first) - AUC(random)), in test error averaged over the curve; "
                     "mean over seeds with the band from the lowest to the highest. Above 0: the study's ordering holds."),
    "error": ("Test error", "The test error of each kept checkpoint, per seed."),
}


def _epoch_axis(title: str = "epoch") -> alt.X:
    return alt.X("epoch_plot:Q", title=f"{title} (log scale from 0)", scale=alt.Scale(type="symlog"))


def plane_chart(rows: list[dict]) -> alt.Chart:
    """I(T;Y) against H(T) per layer, coloured by epoch, faceted by bits."""
    data = alt.Data(values=[{k: r[k] for k in ("seed", "epoch", "layer", "bits", "mean_entropy", "mean_mutual_info")}
                            | {"path": f"layer {r['layer']}, seed {r['seed']}"} for r in rows])
    base = alt.Chart(data).encode(
        x=alt.X("mean_entropy:Q", title="mean H(T) per unit (bits)"),
        y=alt.Y("mean_mutual_info:Q", title="mean I(T;Y) per unit (bits)"),
        detail="path:N", order="epoch:Q")
    lines = base.mark_line(opacity=0.35, color="gray")
    points = base.mark_point(filled=True, size=60).encode(
        color=alt.Color("epoch:Q", scale=alt.Scale(type="symlog", scheme="viridis")),
        shape=alt.Shape("layer:N"), tooltip=["layer:N", "seed:N", "epoch:Q", "mean_entropy:Q", "mean_mutual_info:Q"])
    return (lines + points).properties(width=260, height=220).facet(column=alt.Column("bits:O", title="bits")).resolve_scale(
        x="independent", y="independent")


def band_chart(values: list[dict], y_title: str, facet: str) -> alt.Chart:
    """Mean over seeds and a min-max band, against the epoch, a colour per layer, faceted by ``facet``."""
    base = alt.Chart(alt.Data(values=values)).encode(x=_epoch_axis(), color=alt.Color("layer:N"))
    band = base.mark_area(opacity=0.2).encode(y=alt.Y("low:Q", title=y_title), y2="high:Q")
    line = base.mark_line(point=True).encode(y="mean:Q", tooltip=["layer:N", "epoch:Q", "mean:Q", "low:Q", "high:Q", "seeds:Q"])
    return (band + line).properties(width=200, height=160).facet(facet=alt.Facet(f"{facet}:N", title=None), columns=3).resolve_scale(
        y="independent")


def over_seeds(rows: list[dict], values_of) -> list[dict]:
    """Mean, lowest and highest value over the seeds, per (facet, layer, epoch); ``values_of(row)`` gives a row's
    (facet, value) pairs (a None value is left out)."""
    groups: dict[tuple, list[float]] = {}
    for r in rows:
        for facet, v in values_of(r):
            if v is not None:
                groups.setdefault((facet, r["layer"], r["epoch"]), []).append(v)
    return [{"facet": facet, "layer": layer, "epoch": epoch, "epoch_plot": epoch, "mean": sum(vs) / len(vs),
             "low": min(vs), "high": max(vs), "seeds": len(vs)} for (facet, layer, epoch), vs in sorted(groups.items())]


def measures_chart(rows: list[dict]) -> alt.Chart:
    one_bit = [r for r in rows if r["bits"] == 1]
    values = over_seeds(one_bit, lambda r: [(m, r[f"median_{m}"]) for m in MEASURES])
    return band_chart(values, "median over the layer's units (bits)", "facet")


def ablation_gap_chart(rows: list[dict]) -> alt.Chart | None:
    one_bit = [r for r in rows if r["bits"] == 1 and r["auc_random"] is not None and r["auc_low_first"] is not None]
    if not one_bit:
        return None
    values = over_seeds(one_bit, lambda r: [
        ("random - low first", r["auc_random"] - r["auc_low_first"]),
        ("high first - random", None if r["auc_high_first"] is None else r["auc_high_first"] - r["auc_random"])])
    return band_chart(values, "AUC difference (test error)", "facet")


def error_chart(points: list[dict]) -> alt.Chart:
    data = alt.Data(values=[{"seed": p["seed"], "epoch_plot": p["epoch"], "test_error": p["test_error"]} for p in points])
    return alt.Chart(data).mark_line(point=True).encode(
        x=_epoch_axis(), y=alt.Y("test_error:Q", title="test error"), color=alt.Color("seed:N"),
        tooltip=["seed:N", "epoch_plot:Q", "test_error:Q"]).properties(width=300, height=180)


def write_trajectory_page(group: str, points: list[dict], rows: list[dict], out_html: Path, png: bool = True) -> Path:
    """The page of training configuration ``group``: ``points`` are its `trajectories` rows, ``rows`` its
    `trajectory_layers` rows, each with the training's seed."""
    charts = {"plane": plane_chart(rows), "measures": measures_chart(rows), "ablation_gap": ablation_gap_chart(rows),
              "error": error_chart(points)}
    sections = [Section(name, *SECTIONS[name], chart=chart) for name, chart in charts.items() if chart is not None]
    trainings = sorted({p["training_id"] for p in points})
    epochs = sorted({p["epoch"] for p in points})
    caption = (f"{len(trainings)} training(s) ({', '.join(trainings)}), checkpoints at epochs "
               f"{', '.join(map(str, epochs))}; views trajectories and trajectory_layers (docs/trajectories.md).")
    return write_page(out_html, f"Trajectory: {group}", caption, sections, png)
