"""`neuroninfo paper` end to end on a tiny synthetic grid: the paper's 8 configurations, a missing
dataset skipped with one line, the scorecard view and page, and a rerun's plan found in the warehouse."""
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from flows.paper_plan import grid_progress, paper_plan
from pipeline.errors import NeuronInfoError
from store.paths import open_warehouse
from store.sandbox import query

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def paper_run(tmp_path_factory, prefect_server):
    tmp = tmp_path_factory.mktemp("paper")
    env = {**os.environ, "NEURONINFO_OFFLINE": "1", "NEURONINFO_DATA": str(tmp / "no-data"), **prefect_server}
    argv = [sys.executable, "-m", "flows.cli", "paper", "--datasets", "synthetic,mnist", "--quick", "--warehouse", str(tmp / "wh")]
    first = subprocess.run(argv, capture_output=True, text=True, timeout=900, env=env, cwd=ROOT)
    assert first.returncode == 0, first.stderr[-3000:]
    return open_warehouse(tmp / "wh"), first, None


def test_the_grid_is_the_papers_eight_configurations_with_one_seed_when_quick(paper_run):
    wh, first, _ = paper_run
    runs = query(wh, "SELECT activation, regularizer, seed, epochs FROM runs ORDER BY ALL").to_pylist()
    assert [(r["activation"], r["regularizer"]) for r in runs] == [
        (a, r) for a in ("relu", "sigmoid") for r in ("dropout", "dropout_bn", "l2", "none")]
    assert {(r["seed"], r["epochs"]) for r in runs} == {(0, 2)}
    skipped = [line for line in first.stderr.splitlines() if "mnist skipped" in line]
    assert len(skipped) == 1 and "MNIST/raw" in skipped[0] and "torchvision" in skipped[0]
    assert "paper: 8/8 networks done" in first.stderr


def test_rerun_finds_every_network_in_the_warehouse(paper_run, monkeypatch):
    """The plan a rerun makes names the same specs, and each is found (content-addressed), not trained again."""
    from flows import stages

    wh, _, _ = paper_run
    monkeypatch.setattr(stages, "run_isolated", lambda *a, **k: pytest.fail("a network was trained again"))
    plan = paper_plan(["synthetic"], [0], quick=True)
    found = {stages.train_run(wh, spec, progress=False) for spec in plan.specs}
    assert found == {r["run_id"] for r in query(wh, "SELECT run_id FROM runs").to_pylist()} and len(found) == 8


def test_scorecard_statistic_matches_numpy_on_the_stored_curves(paper_run):
    """Claim 3 recomputed from ablation_curves: trapezoid area of the layer-1 and layer-2 random curves."""
    wh, _, _ = paper_run
    curves = query(wh, "SELECT run_id, layer, repeat, frac_ablated, test_error FROM ablation_curves WHERE scope = 'layer' "
                       "AND ordering = 'random' AND strategy = 'zero' ORDER BY run_id, layer, repeat, n_ablated").to_pylist()
    area = {}
    for key in {(c["run_id"], c["layer"], c["repeat"]) for c in curves}:
        points = [c for c in curves if (c["run_id"], c["layer"], c["repeat"]) == key]
        f, e = np.array([p["frac_ablated"] for p in points]), np.array([p["test_error"] for p in points])
        area[key] = np.sum(np.diff(f) * (e[1:] + e[:-1]) / 2) / (f[-1] - f[0])
    stats = query(wh, "SELECT run_id, statistic FROM claim_statistics WHERE claim = '3' AND curve_part = 'whole'").to_pylist()
    assert len(stats) == 8
    for row in stats:
        mean_area = {layer: np.mean([a for (r, l, _), a in area.items() if r == row["run_id"] and l == layer]) for layer in (1, 2)}
        assert row["statistic"] == pytest.approx(mean_area[1] - mean_area[2], abs=1e-9)
    verdicts = query(wh, "SELECT DISTINCT verdict FROM scorecard").to_pylist()
    assert verdicts == [{"verdict": "1 seed"}]


def test_scorecard_page_links_every_cell_to_an_existing_chart(paper_run):
    wh, first, _ = paper_run
    page = Path(wh.reports) / "scorecard.html"
    text = page.read_text()
    links = set(re.findall(r'href="([^"#]+)#(chart-[a-z_]+)"', text))
    assert len(links) >= 8
    for target, anchor in links:
        report = Path(wh.reports) / target
        assert report.exists(), target
        assert f'id="{anchor}"' in report.read_text(), (target, anchor)
    assert "scorecard, whole curves: " in first.stdout and "on 1 seed" in first.stdout


def test_plan_errors_and_progress_line(tmp_path):
    with pytest.raises(NeuronInfoError, match="unknown dataset"):
        paper_plan(["imagenet"], [0])
    with pytest.raises(NeuronInfoError, match="at least one dataset and one seed"):
        paper_plan(["synthetic"], [])
    assert grid_progress(6, 24, 600) == "paper: 6/24 networks done, 10.0 min so far, ETA 30.0 min"
