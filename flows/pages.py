"""Report pages over a warehouse: a group's page, the scorecard, the run summary the CLI prints (no Prefect here)."""
from __future__ import annotations

import re
import tempfile
from pathlib import Path

from pipeline.report import write_report
from pipeline.report_scorecard import write_scorecard
from store.atomic import write_bytes
from store.sandbox import query
from store.sql_files import sql_text
from store.paths import Location, Warehouse, join, name_of
from store.report_data import groups_of_runs, report_tables


def summary(wh: Warehouse, run_ids: list[str]) -> list[dict]:
    """Headline numbers of these runs (sql/summary_runs.sql) with the path of each one's group report."""
    if not run_ids:
        return []
    rows = query(wh, sql_text("summary_runs", run_ids=run_id_list(run_ids))).to_pylist()
    for row in rows:
        row["report"] = str(report_path(wh, row["group_name"]))
    return rows


def report_path(wh: Warehouse, name: str) -> Location:
    """Where the report page named ``name`` (a group or run name) is written."""
    return join(wh.reports, re.sub(r"[^A-Za-z0-9._-]+", "_", name) + ".html")


def report_runs(wh: Warehouse, run_ids: list[str], png: bool = True) -> list[Location]:
    """Write ``reports/<group>.html`` (+ a PNG per chart with ``png``) for each group among these runs;
    return the pages."""
    return [write_report_of(wh, ids, group, png) for group, ids in groups_of_runs(wh, run_ids).items()]


def pages_of_runs(wh: Warehouse, run_ids: list[str], png: bool = True) -> list[Location]:
    """The pages these runs appear on, written again: the group page of each run with ablation curves, and the
    trajectory page of each training configuration one of them is a checkpoint of."""
    if not run_ids:
        return []
    listed = run_id_list(run_ids)
    ablated = [r["run_id"] for r in query(wh, f"SELECT DISTINCT run_id FROM ablation_curves WHERE run_id IN {listed} "
                                              "ORDER BY ALL").to_pylist()]
    groups = [r["training_group"] for r in query(wh, f"SELECT DISTINCT training_group FROM trajectories WHERE run_id IN {listed} "
                                                     "ORDER BY ALL").to_pylist()]
    return report_runs(wh, ablated, png) + (trajectory_pages(wh, groups, png) if groups else [])


def run_id_list(run_ids: list[str]) -> str:
    """Run ids as a SQL list, ``('a', 'b')`` (run_ids are 16 hex digits)."""
    return "(" + ", ".join(f"'{r}'" for r in run_ids) + ")"


def write_report_of(wh: Warehouse, run_ids: list[str], name: str, png: bool = True) -> Location:
    """One report page over ``run_ids`` (curves averaged over them), named ``reports/<name>.html``; with
    ``png`` a PNG of every chart beside it (rendering them takes most of a page's time: the flows leave
    them to ``neuroninfo report``, and the page exports any chart as PNG or SVG from its menu)."""
    tables = report_tables(wh, run_ids)
    return publish_page(wh, name_of(report_path(wh, name)), lambda out: write_report(tables, out, title=name, png=png))


def trajectory_pages(wh: Warehouse, groups: list[str] | None = None, png: bool = True) -> list[Location]:
    """Write ``reports/trajectory-<group>.html`` for each training configuration (default: every one with a
    measured checkpoint): its seeds' information plane, measures, ablation gap and error over the epochs."""
    from pipeline.report_trajectory import write_trajectory_page
    from store.sql_files import sql_string

    found = [r["training_group"] for r in query(wh, "SELECT DISTINCT training_group FROM trajectories WHERE measured "
                                                    "ORDER BY ALL").to_pylist()]
    pages = []
    for group in found if groups is None else [g for g in found if g in groups]:
        points = query(wh, f"SELECT * FROM trajectories WHERE training_group = {sql_string(group)} ORDER BY training_id, epoch")
        rows = query(wh, f"SELECT l.*, t.seed FROM trajectory_layers AS l JOIN trajectories AS t USING (training_id, epoch) "
                         f"WHERE t.training_group = {sql_string(group)} ORDER BY ALL")
        name = name_of(report_path(wh, f"trajectory-{group}"))
        pages.append(publish_page(wh, name, lambda out: write_trajectory_page(group, points.to_pylist(), rows.to_pylist(),
                                                                              out, png)))
    return pages


def scorecard_page(wh: Warehouse) -> Location:
    """Write ``reports/scorecard.html`` from the ``scorecard`` view: every claim on every configuration."""
    rows = query(wh, "SELECT * FROM scorecard ORDER BY claim, group_name").to_pylist()
    summary = query(wh, "SELECT * FROM scorecard_summary").to_pylist()
    provenance = query(wh, sql_text("report_provenance")).to_pylist()
    link = lambda page, chart: f"{name_of(report_path(wh, page))}#chart-{chart}"  # noqa: E731
    return publish_page(wh, "scorecard.html", lambda out: write_scorecard(rows, out, link, summary, provenance))


def replication_page(wh: Warehouse, replica: Warehouse, replication) -> Location:
    """Write ``reports/replication.html``: the comparison of this warehouse with its replica, row by row."""
    from pipeline.report import Section, write_page
    from pipeline.report_scorecard import plain_table

    def table(rows, keep):
        return plain_table([{k: r[k] for k in keep} for r in rows])

    sections = [
        Section("checkpoints", "Checkpoints", "Each spec's run_id in both warehouses: the same bytes give the same id.",
                after=table(replication.checkpoints, ("what", "run_id", "replica_run_id", "identical"))),
        Section("files", "Table files", "Each table partition of a run found in both: the same bytes, or at least "
                "the same rows in the same order (timestamps left out).",
                after=table(replication.files, ("what", "identical_bytes", "identical_rows"))),
        Section("cells", "Scorecard verdicts", "Each scorecard cell: its verdicts (as tested, after Holm, after "
                "Benjamini-Hochberg) in both warehouses.",
                after=table(replication.cells, ("what", "verdict", "replica_verdict", "verdict_holm", "replica_verdict_holm",
                                                "verdict_bh", "replica_verdict_bh", "identical_verdicts", "identical_effect"))),
    ]
    caption = f"This warehouse against {replica.root}: " + "; ".join(replication.summary())
    return publish_page(wh, "replication.html", lambda out: write_page(out, "Replication", caption, sections))


def publish_page(wh: Warehouse, filename: str, write) -> Location:
    """``write(path)`` a page (and the PNGs beside it) into a local temporary folder, then store each file in
    ``reports/`` whole (``store.atomic``), the page last; the page's PNGs that this write did not make are
    removed. A crash while writing leaves the old page and no temporary file (``gc`` removes a killed one's)."""
    from pipeline.report import page_files
    from store.paths import list_files, remove_tree

    with tempfile.TemporaryDirectory() as tmp:
        write(Path(tmp) / filename)
        made = {file.name: file for file in Path(tmp).iterdir()}
        stale = set(page_files(filename)) & set(list_files(wh.reports)) - made.keys()
        for name in sorted(made, key=lambda name: (name == filename, name)):  # the page last
            write_bytes(join(wh.reports, name), made[name].read_bytes())
    for name in sorted(stale):
        remove_tree(join(wh.reports, name))
    return join(wh.reports, filename)
