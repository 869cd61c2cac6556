"""Reports: the report_* SQL models against independent numpy computations, the files, and a headless browser."""
import html
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from pipeline.errors import NeuronInfoError
from store.paths import open_warehouse
from store.views import memory_connection

CHROMIUM = Path("/usr/bin/chromium")
CHART_NAMES = ["layer_stats", "distributions", "significance", "network_ablation", "layer_composition", "layer_ablation", "quantizer_bits",
               "zero_vs_mean", "summary"]


@pytest.fixture(scope="session")
def group(tmp_path_factory, analysed_seeds):
    """(warehouse, [run_id seed 0, run_id seed 1]): a group of two fully analysed synthetic-4 runs."""
    wh = open_warehouse(tmp_path_factory.mktemp("report_warehouse"))
    return wh, analysed_seeds(wh, bits=(1, 2, 3), random_repeats=2)


@pytest.fixture(scope="session")
def tables(group):
    from store.report_data import report_tables

    wh, run_ids = group
    return report_tables(wh, run_ids)


@pytest.fixture(scope="session")
def report(group):
    """The page the flows write (flows.stages.report_runs): one per group."""
    from flows.pages import report_runs as render_runs

    wh, run_ids = group
    return render_runs(wh, run_ids)


def raw(wh, sql):
    """Rows of a query against the public views, as a dict of numpy arrays."""
    con = memory_connection(wh)
    try:
        data = con.sql(sql).to_arrow_table().to_pydict()
    finally:
        con.close()
    return {k: np.array(v, dtype=object if any(x is None for x in v) else None) for k, v in data.items()}


def rows_by(table, *key):
    return {tuple(r[k] for k in key): r for r in table.to_pylist()}


# ------------------------------------------------------------------------------------------
# groups and bad input


def test_runs_of_group_orders_by_seed(group, tiny_spec):
    from store.report_data import runs_of_group

    wh, run_ids = group
    assert runs_of_group(wh, tiny_spec.group) == run_ids


def test_unknown_group_and_runs_are_one_line_errors(group, tiny_spec):
    from store.report_data import report_tables, runs_of_group

    wh, run_ids = group
    with pytest.raises(NeuronInfoError, match=f"no runs in group 'nope'; known groups: {tiny_spec.group}") as e:
        runs_of_group(wh, "nope")
    assert "\n" not in str(e.value)
    with pytest.raises(NeuronInfoError, match="unknown run 0000000000000000"):
        report_tables(wh, [run_ids[0], "0000000000000000"])
    with pytest.raises(NeuronInfoError, match="no runs to report on"):
        report_tables(wh, [])


def test_run_without_curves_says_which_stage_to_run(tmp_path, trained_run):
    import shutil

    from store.lifecycle import prepare
    from store.report_data import report_tables

    source, run_id = trained_run  # other tests may have measured or ablated it: work on a copy without curves
    shutil.copytree(source.root, tmp_path / "wh")
    shutil.rmtree(tmp_path / "wh" / "tables" / "ablation_curves" / f"run_id={run_id}", ignore_errors=True)
    wh = prepare(tmp_path / "wh")
    with pytest.raises(NeuronInfoError, match=f"run {run_id} has no .* yet; run: neuroninfo (measure|ablate) {run_id}$"):
        report_tables(wh, [run_id])


# ------------------------------------------------------------------------------------------
# the numbers


def test_auc_summary_matches_numpy_trapezoid(group, tables):
    """AUC by trapezoid over frac_ablated from the raw rows; repeats then runs averaged; the two comparisons."""
    wh, run_ids = group
    a = raw(wh, "SELECT * FROM ablation_curves "
                "ORDER BY run_id, scope, layer, measure, bits, ordering, strategy, repeat, n_ablated")
    curve_key = ["run_id", "scope", "layer", "measure", "bits", "ordering", "strategy", "repeat"]
    keys = list(zip(*(a[k] for k in curve_key)))
    per_curve = {}
    for key in dict.fromkeys(keys):
        rows = np.array([k == key for k in keys])
        f, e = a["frac_ablated"][rows].astype(float), a["test_error"][rows].astype(float)
        per_curve[key] = np.trapezoid(e, f) / (f.max() - f.min())
    per_run = {}
    for (run, scope, layer, measure, bits, ordering, strategy, _), v in per_curve.items():
        per_run.setdefault((run, scope, layer, measure, bits, ordering, strategy), []).append(v)
    mean = {}
    for (run, *rest), v in per_run.items():
        mean.setdefault(tuple(rest), []).append(np.mean(v))
    mean = {k: np.mean(v) for k, v in mean.items()}

    got = rows_by(tables["auc"], "scope", "layer", "measure", "bits", "strategy")
    assert set(got) == {(scope, layer, m, b, s) for (scope, layer, m, b, _, s) in mean if m != "random"}
    assert len({k[2:4] for k in got}) == 5 * 3 + 1  # five quantized measures x 3 bits, class_selectivity
    for (scope, layer, m, b, s), r in got.items():
        low, high = mean[(scope, layer, m, b, "low_first", s)], mean[(scope, layer, m, b, "high_first", s)]
        rnd = mean[(scope, layer, "random", None, "random", s)]
        assert r["auc_low_first"] == pytest.approx(low, abs=1e-12)
        assert r["auc_high_first"] == pytest.approx(high, abs=1e-12)
        assert r["auc_random"] == pytest.approx(rnd, abs=1e-12)
        assert r["low_beats_random"] == (low < rnd) and r["random_beats_high"] == (rnd < high)
        assert r["n_runs"] == len(run_ids)
        assert r["scope_label"] == ("network" if scope == "network" else f"layer {layer}")
        assert 0 <= low <= 1 and 0 <= high <= 1


def average_ranks(x):
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x))
    ranks[order] = np.arange(1, len(x) + 1)
    for v in np.unique(x):
        tie = x == v
        ranks[tie] = ranks[tie].mean()
    return ranks


def test_rank_correlation_matches_numpy(group, tables, tiny_spec):
    """Importance = mean over random repeats of the error step that ablates the neuron; Spearman per run, then mean."""
    wh, run_ids = group
    sizes = list(tiny_spec.hidden_sizes)
    stats = raw(wh, "SELECT * FROM neuron_stats ORDER BY run_id, bits, layer, neuron")
    curves = raw(wh, "SELECT * FROM ablation_curves WHERE ordering = 'random' "
                     "ORDER BY run_id, scope, layer, strategy, repeat, n_ablated")
    rho = {}
    for run in run_ids:
        for strategy in ("zero", "mean"):
            scopes = [("layer", l, [(l, j) for j in range(m)]) for l, m in enumerate(sizes, start=1)]
            scopes.append(("network", None, [(l, j) for l, m in enumerate(sizes, start=1) for j in range(m)]))
            for scope, layer, neurons in scopes:
                importance = np.zeros(len(neurons))
                for r in (0, 1):  # pipeline.ablation.random_orderings: default_rng(repeat).permutation
                    perm = np.random.default_rng(r).permutation(len(neurons))
                    sel = ((curves["run_id"] == run) & (curves["scope"] == scope) & (curves["strategy"] == strategy)
                           & (curves["repeat"] == r) & np.array([x == layer for x in curves["layer"]]))
                    k, e = curves["n_ablated"][sel].astype(int), curves["test_error"][sel].astype(float)
                    step = np.diff(e) / np.diff(k)
                    for position, i in enumerate(perm):
                        importance[i] += step[np.searchsorted(k, position, side="right") - 1] / 2
                importance = np.round(importance, 12)
                for measure in ("entropy", "mutual_info", "class_selectivity"):
                    for bits in ((1, 2, 3) if measure != "class_selectivity" else (None,)):
                        b = 1 if bits is None else bits
                        rows = (stats["run_id"] == run) & (stats["bits"] == b)
                        value = dict(zip(zip(stats["layer"][rows], stats["neuron"][rows]), stats[measure][rows]))
                        x = np.array([value[n] for n in neurons], dtype=float)
                        if np.ptp(x) == 0 or np.ptp(importance) == 0:
                            continue
                        c = np.corrcoef(average_ranks(x), average_ranks(importance))[0, 1]
                        rho.setdefault((scope, layer, measure, bits, strategy), []).append(c)
    got = rows_by(tables["rank_correlation"], "scope", "layer", "measure", "bits", "strategy")
    assert rho, "no defined correlation to compare"
    for key, values in rho.items():
        assert got[key]["spearman"] == pytest.approx(np.mean(values), abs=1e-9), key
        assert got[key]["spearman_min"] == pytest.approx(min(values), abs=1e-9)
        assert got[key]["n_runs"] == len(values)


def test_layer_composition_follows_the_network_ranking(group, tables):
    """Shares equal those of the network orderings the ablation itself used (flows.rankings.rankings)."""
    from flows.rankings import available, rankings

    wh, run_ids = group
    shares = {}
    for run in run_ids:
        for o in rankings(wh, run, tuple(available(wh, run))):
            if o.scope != "network":
                continue
            n = len(o.neurons)
            for k in range(1, n + 1):
                for layer in (1, 2):
                    share = np.mean(o.neurons[:k, 0] == layer)
                    shares.setdefault((o.measure, o.bits, o.ordering, layer, round(k / n, 9)), []).append(share)
    got = {(r["measure"], r["bits"], r["ordering"], r["layer"], round(r["frac_ablated"], 9)): r
           for r in tables["layer_composition"].to_pylist()}
    assert set(got) == set(shares)  # 36 neurons < 50 steps: every k is kept
    for key, values in shares.items():
        assert got[key]["share"] == pytest.approx(np.mean(values), abs=1e-12), key


def test_curves_are_seed_averages_on_a_downsampled_grid(group, tables, tiny_spec):
    wh, run_ids = group
    a = raw(wh, "SELECT * FROM ablation_curves WHERE scope = 'network' AND measure = 'mutual_info' AND bits = 2 "
                "AND ordering = 'high_first' AND strategy = 'mean' ORDER BY run_id, n_ablated")
    errors = np.stack([a["test_error"][a["run_id"] == r].astype(float) for r in run_ids])
    rows = [r for r in tables["curves"].to_pylist() if (r["scope"], r["measure"], r["bits"], r["ordering"], r["strategy"])
            == ("network", "mutual_info", 2, "high_first", "mean")]
    assert len(rows) == sum(tiny_spec.hidden_sizes) + 1
    np.testing.assert_allclose([r["error_mean"] for r in rows], errors.mean(0), atol=1e-12)
    np.testing.assert_allclose([r["error_max"] for r in rows], errors.max(0), atol=1e-12)
    np.testing.assert_allclose([r["error_sd"] for r in rows], errors.std(0, ddof=1), atol=1e-12)
    curves = tables["curves"].to_pylist()
    random = [r for r in curves if r["ordering"] == "random"]
    assert {r["n_curves"] for r in random} == {4} and {r["measure"] for r in random} == {
        "entropy", "mutual_info", "kl_selectivity", "labeled_mi", "js_subset_separation", "class_selectivity"}
    assert all(r["error_min"] <= r["error_mean"] <= r["error_max"] for r in curves)


def test_curves_downsample_big_grids_to_50_steps(group):
    """A 1000-neuron fake network curve keeps 51 points, with both ends."""
    import pyarrow as pa

    from store.sql_files import sql_text

    wh, run_ids = group
    n = 1000
    con = memory_connection(wh)
    try:
        con.register("selected_runs", pa.table({"run_id": ["x"]}))
        same = {"run_id": "x", "scope": "network", "measure": "entropy", "bits": 1, "estimator": "plugin", "ordering": "low_first",
                "strategy": "zero", "repeat": 0}
        fake = pa.table({**{k: [v] * (n + 1) for k, v in same.items()}, "layer": pa.nulls(n + 1, pa.int32()),
                         "n_ablated": list(range(n + 1)), "frac_ablated": [k / n for k in range(n + 1)],
                         "test_error": [k / n / 2 for k in range(n + 1)]})
        con.register("ablation_curves_fake", fake)
        sql = sql_text("report_curves", steps=50, layer_steps=50)
        sql = sql.replace("FROM ablation_curves AS a", "FROM ablation_curves_fake AS a")
        out = con.sql(sql).to_arrow_table().to_pydict()
    finally:
        con.close()
    np.testing.assert_allclose(out["frac_ablated"], np.arange(51) / 50)
    np.testing.assert_allclose(out["error_mean"], np.arange(51) / 100)


def test_measure_histograms_cover_every_neuron(group, tables, tiny_spec):
    wh, run_ids = group
    hist = tables["measure_hist"].to_pylist()
    totals = {}
    for r in hist:
        totals.setdefault((r["measure"], r["bits"], r["layer"]), [0, 0.0])
        totals[(r["measure"], r["bits"], r["layer"])][0] += r["n_neurons"]
        totals[(r["measure"], r["bits"], r["layer"])][1] += r["share"]
        assert r["bin_start"] < r["bin_end"] and 0 <= r["bin"] < 20
    assert len(totals) == (5 * 3 + 1) * 2
    for (measure, bits, layer), (n, share) in totals.items():
        assert n == len(run_ids) * tiny_spec.hidden_sizes[layer - 1]
        assert share == pytest.approx(1.0)


# ------------------------------------------------------------------------------------------
# the page and the pictures


def inline_datasets(spec):
    """Every list of data rows inside a Vega-Lite spec."""
    if isinstance(spec, dict):
        for key, value in spec.items():
            if key in ("values", "datasets") and isinstance(value, list):
                yield value
            elif key == "datasets" and isinstance(value, dict):
                yield from value.values()
            else:
                yield from inline_datasets(value)
    elif isinstance(spec, list):
        for item in spec:
            yield from inline_datasets(item)


def test_charts_send_only_aggregates(tables):
    from pipeline.report import build_charts

    charts = build_charts(tables)
    assert list(charts) == CHART_NAMES
    for name, chart in charts.items():
        sizes = [len(rows) for rows in inline_datasets(chart.to_dict())]
        assert sizes and all(0 < n < 5000 for n in sizes), (name, sizes)


def test_report_is_self_contained_with_a_png_per_chart(report, tiny_spec):
    assert [p.name for p in report] == [f"{tiny_spec.group}.html"]
    report = report[0]
    text = report.read_text()
    assert not re.search(r"<script[^>]+src=", text, re.I)
    assert not re.search(r"<link[^>]+href=[\"']?(https?:)?//", text, re.I)
    assert "vegaEmbed" in text and f"<h1>{tiny_spec.group}</h1>" in text
    for name in CHART_NAMES:
        assert f'id="chart-{name}"' in text
        png = report.with_name(f"{report.stem}-{name}.png")
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    assert "<details><summary>All numbers (table)</summary>" in text


def test_partial_inputs_still_render(tables, tmp_path):
    """Only ablation to the mean, no random orderings, one quantizer resolution: every chart is still written."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from pipeline.report import build_charts, write_report

    def keep(table, **equal):
        for column, value in equal.items():
            table = table.filter(pc.or_kleene(pc.equal(table[column], value), pc.is_null(table[column])))
        return table

    t = dict(tables)
    t["curves"] = keep(t["curves"], strategy="mean", ordering="low_first", bits=2)
    t["measure_hist"] = keep(t["measure_hist"], bits=2)
    t["layer_composition"] = keep(t["layer_composition"], bits=2)
    auc = keep(t["auc"], strategy="mean")
    t["auc"] = auc.set_column(auc.schema.get_field_index("auc_random"), "auc_random", pa.nulls(auc.num_rows, pa.float64()))
    t["rank_correlation"] = t["rank_correlation"].slice(0, 0)
    assert "(to mean; measures at " in str(build_charts(t)["network_ablation"].to_dict()["title"])  # titles name strategy and bits
    page = write_report(t, tmp_path / "partial.html", "partial")
    assert all((tmp_path / f"partial-{name}.png").stat().st_size > 1000 for name in CHART_NAMES)
    assert page.stat().st_size > 100_000



def test_a_crash_while_writing_a_page_leaves_the_old_page(tmp_path, monkeypatch):
    """flows.pages.publish_page: a page half written when the writer fails (disk full), or a failure while
    storing it, leaves the old page and PNG as they were and nothing else in reports/ (no temporary file
    that gc would not recognise)."""
    import altair as alt

    import store.atomic
    from flows.pages import publish_page
    from pipeline.report import Section, write_page

    wh = open_warehouse(tmp_path / "warehouse")
    chart = alt.Chart(alt.Data(values=[{"x": 1, "y": 2}])).mark_point().encode(x="x:Q", y="y:Q")

    def page(title):
        return lambda out: write_page(out, title, "caption", [Section("summary", "heading", "text", chart=chart)])

    publish_page(wh, "page.html", page("old"))
    before = {p.name: p.read_bytes() for p in wh.reports.iterdir()}
    assert sorted(before) == ["page-summary.png", "page.html"] and b"<h1>old</h1>" in before["page.html"]

    def disk_full(out):
        page("new")(out)
        out.write_bytes(out.read_bytes()[:100])
        raise OSError("No space left on device")

    with pytest.raises(OSError, match="No space left"):
        publish_page(wh, "page.html", disk_full)
    assert {p.name: p.read_bytes() for p in wh.reports.iterdir()} == before

    def failing_rename(built, final):
        raise OSError("rename failed")

    monkeypatch.setattr(store.atomic, "publish", failing_rename)
    with pytest.raises(OSError, match="rename failed"):
        publish_page(wh, "page.html", page("new"))
    assert {p.name: p.read_bytes() for p in wh.reports.iterdir()} == before


def chromium(*args, tmp_path):
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("CI must install Debian's chromium (see .ci/run): the browser test cannot run")
        pytest.skip("needs Debian's chromium at /usr/bin/chromium (apt-get install chromium; CI installs it)")
    cmd = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--no-first-run", "--disable-component-update", "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
           "--virtual-time-budget=10000", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180)


def test_every_chart_renders_in_headless_chromium(report, tmp_path):
    dom = chromium("--dump-dom", report[0].as_uri(), tmp_path=tmp_path).stdout
    starts = [(m.start(), m.group(1)) for m in re.finditer(r'<div[^>]*id="chart-([a-z_]+)"', dom)]
    assert [name for _, name in starts] == CHART_NAMES, dom[:2000]
    ends = [s for s, _ in starts[1:]] + [len(dom)]
    for (start, name), end in zip(starts, ends):
        container = dom[start:end]
        assert "vega-embed" in container[:300], name  # vega-embed took over the container
        assert ">chart failed to render" not in container, html.unescape(container[:500])
        svg = re.search(r'<svg[^>]*class="marks"[^>]*width="([\d.]+)"[^>]*height="([\d.]+)"', container)
        assert svg and float(svg.group(1)) > 100 and float(svg.group(2)) > 100, name
        assert container.count("<path") > 20, name  # marks were drawn


def test_screenshot_is_not_blank(report, tmp_path):
    """Rendered from a copy of the (self-contained) page in this test's own folder: the shared report's
    folder is left as the flows wrote it."""
    from PIL import Image

    shared = sorted(p.name for p in report[0].parent.iterdir())
    page = tmp_path / report[0].name
    shutil.copy(report[0], page)
    shot = tmp_path / "shot.png"  # kept in the test's folder for a look
    chromium(f"--screenshot={shot}", "--window-size=1400,2200", page.as_uri(), tmp_path=tmp_path)
    with Image.open(shot) as image:
        colors = image.convert("RGB").getcolors(maxcolors=1 << 24)
    assert len(colors) > 200  # text, lines, bands and axes; a blank or failed page has a handful
    assert sorted(p.name for p in report[0].parent.iterdir()) == shared


MEASURE_LAYOUT = """<script>
function measure() {  // once every chart has drawn: each chart's box, and heatmap texts wider than their cell
  const divs = [...document.querySelectorAll('div[id^="chart-"]')];
  if (divs.some(d => !d.querySelector('svg')) && (window.tries = (window.tries || 0) + 1) < 40) return setTimeout(measure, 200);
  const out = {page: document.documentElement.clientWidth, charts: {}, overflow: []};
  for (const div of divs) {
    const svg = div.querySelector('svg'), box = svg.getBoundingClientRect();
    out.charts[div.id.slice(6)] = [box.left, box.right];
    const cells = [...svg.querySelectorAll('g.mark-rect path')].map(c => c.getBoundingClientRect());
    for (const text of svg.querySelectorAll('g.mark-text text')) {
      const b = text.getBoundingClientRect(), x = (b.left + b.right) / 2, y = (b.top + b.bottom) / 2;
      const cell = cells.find(c => c.left <= x && x <= c.right && c.top <= y && y <= c.bottom);
      if (cell && (b.left < cell.left - 0.5 || b.right > cell.right + 0.5)) out.overflow.push([div.id, text.textContent]);
    }
  }
  const pre = document.createElement('pre'); pre.id = 'measured'; pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
}
window.addEventListener('load', () => setTimeout(measure, 200));
</script>"""


def with_every_criterion(tables: dict) -> dict:
    """The report's tables as a run with every registered criterion would have them: each measure's rows
    copied under the names of the criteria the runs lack (the page's width must not grow with their number)."""
    import pyarrow as pa

    from pipeline.criteria import CRITERIA

    out = {}
    for name, table in tables.items():
        if "measure" not in table.column_names or not table.num_rows:
            out[name] = table
            continue
        have = set(table.column("measure").to_pylist())
        first = table.filter(pa.compute.equal(table["measure"], sorted(have)[0]))
        copies = [first.set_column(first.column_names.index("measure"), "measure", pa.array([c] * first.num_rows))
                  for c in CRITERIA if c not in have and c != "random"]
        out[name] = pa.concat_tables([table, *copies])
    return out


def test_report_reads_at_laptop_width_in_chromium(tables, tmp_path):
    """At 1,400 px, with every criterion: no chart (its legends included: they are inside its SVG) reaches
    past the page, and every summary cell's text fits its cell. Measured by the browser in a copy of the page
    with a script added."""
    import json

    from pipeline.report import write_report

    built = write_report(with_every_criterion(tables), tmp_path / "every-criterion.html", "every criterion", png=False)
    head, _, tail = built.read_text().rpartition("</body>")
    page = tmp_path / "measured.html"
    page.write_text(head + MEASURE_LAYOUT + "</body>" + tail)
    dom = chromium("--dump-dom", "--window-size=1400,2200", page.as_uri(), tmp_path=tmp_path).stdout
    found = re.search(r'<pre id="measured">(.*?)</pre>', dom, flags=re.S)
    assert found, dom[-2000:]
    layout = json.loads(html.unescape(found.group(1)))
    assert sorted(layout["charts"]) == sorted(CHART_NAMES)
    wide = {name: round(right) for name, (left, right) in layout["charts"].items() if right > layout["page"]}
    assert not wide, f"charts past the {layout['page']} px page: {wide}"
    assert layout["overflow"] == []


def test_histogram_axes_name_their_measure(tables):
    from pipeline.report_charts import distributions_chart

    spec = distributions_chart(tables).to_dict()
    titles = [chart["spec"]["layer"][0]["encoding"]["x"]["title"] for chart in spec["concat"]]
    assert titles == sorted(set(tables["measure_hist"].column("measure").to_pylist()), key=titles.index)
    assert len(titles) > 3 and "value" not in titles


def test_layer_stats_match_the_stored_validation_outputs(tables, group):
    """constant_frac / dead_frac recomputed from the raw validation outputs in Zarr (1-bit threshold 0 for ReLU)."""
    import numpy as np

    from store import activations as act

    wh, run_ids = group
    rows = {r["layer"]: r for r in tables["layer_stats"].to_pylist()}
    for layer, row in rows.items():
        dead, constant = [], []
        for run_id in run_ids:
            raw = act.open_activations(wh, run_id).raw("val", layer)
            above = raw > 0
            dead.append(np.mean(~above.any(axis=0)))
            constant.append(np.mean(~above.any(axis=0) | above.all(axis=0)))
        assert row["dead_frac"] == pytest.approx(np.mean(dead))
        assert row["constant_frac"] == pytest.approx(np.mean(constant))


def test_significance_averages_the_layers_over_runs(tables, group):
    """The report's significance rows are layer_significance's values averaged over the runs, per layer and bits."""
    wh, run_ids = group
    stored = raw(wh, "SELECT layer, bits, significant_frac, mean_mi_plugin, mean_mi_shuffle FROM layer_significance "
                     f"WHERE run_id IN ('{run_ids[0]}', '{run_ids[1]}')")
    got = rows_by(tables["significance"], "layer", "bits", "estimator")
    assert len(got) == 6 * 4  # 2 layers x 3 bits x 4 estimators
    for layer in (1, 2):
        for bits in (1, 2, 3):
            pick = (stored["layer"] == layer) & (stored["bits"] == bits)
            assert pick.sum() == 2
            plugin, shuffle = got[layer, bits, "plugin"], got[layer, bits, "shuffle"]
            assert plugin["significant_frac"] == pytest.approx(stored["significant_frac"][pick].astype(float).mean())
            assert plugin["mean_mi"] == pytest.approx(stored["mean_mi_plugin"][pick].astype(float).mean())
            assert shuffle["mean_mi"] == pytest.approx(stored["mean_mi_shuffle"][pick].astype(float).mean())
            assert plugin["mean_mi_low"] == pytest.approx(stored["mean_mi_plugin"][pick].astype(float).min())
