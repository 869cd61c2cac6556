"""Trajectories: checkpoints kept along a training, each a run of its own, linked by epoch; checkpoints of a
training elsewhere linked through the inbox (duplicates, out of order); the views over them."""
import json
from dataclasses import replace

import numpy as np
import pytest

from flows import stages
from flows.inbox_stage import analyse_inbox_file
from flows.trajectories import train_trajectory
from pipeline.errors import NeuronInfoError
from pipeline.trajectory import analysed_in_full, checkpoint_epochs, log_epochs
from store.inbox import pending_files
from store.lifecycle import remove_run
from store.paths import open_warehouse
from store.sandbox import query


def rows(wh, sql):
    return query(wh, sql).to_pylist()


@pytest.fixture(scope="module")
def trajectory(tmp_path_factory, tiny_spec):
    """A 3-epoch training of the tiny spec kept at epochs 0, 1 and 3, every checkpoint measured, the last estimated."""
    wh = open_warehouse(tmp_path_factory.mktemp("trajectory"))
    spec = replace(tiny_spec, epochs=3)
    runs = train_trajectory(wh, spec, (0, 1, 3), progress=False)
    for run_id in runs.values():
        stages.capture_run(wh, run_id, bits=(1,))
        stages.measure_run(wh, run_id, refresh=run_id == runs[3])
    stages.estimate_run(wh, runs[3])
    return wh, spec, runs


def test_epoch_grids():
    assert log_epochs(10) == (0, 1, 2, 4, 8, 10) and log_epochs(1) == (0, 1)
    assert checkpoint_epochs(6, every=2) == (0, 2, 4, 6) and checkpoint_epochs(5, (0, 1)) == (0, 1, 5)
    assert [e for e in range(10) if analysed_in_full(e)] == [0, 1, 2, 4, 8] and analysed_in_full(3, (3,))
    with pytest.raises(NeuronInfoError, match="checkpoint epoch 7 is outside this training's 0..5"):
        checkpoint_epochs(5, (0, 7))


def test_a_kept_checkpoint_is_the_run_a_shorter_training_makes(trajectory, tiny_spec, tmp_path):
    """Epoch 1 of the trajectory is byte for byte the network a 1-epoch training makes, so analysed on its own
    it gives the same rows; epoch 0 is the network as initialised (error near chance)."""
    wh, spec, runs = trajectory
    alone = open_warehouse(tmp_path / "alone")
    run_id = stages.train_run(alone, replace(spec, epochs=1), progress=False)
    assert run_id == runs[1]
    stages.capture_run(alone, run_id, bits=(1,))
    stages.measure_run(alone, run_id)
    sql = f"SELECT * EXCLUDE (run_id) FROM neuron_stats WHERE run_id = '{run_id}' ORDER BY layer, neuron, bits"
    assert rows(alone, sql) == rows(wh, sql)
    points = rows(wh, "SELECT epoch, step, run_id, test_error, is_last, measured FROM trajectories ORDER BY epoch")
    assert [p["epoch"] for p in points] == [0, 1, 3] and [p["run_id"] for p in points] == [runs[0], runs[1], runs[3]]
    assert [p["is_last"] for p in points] == [False, False, True] and all(p["measured"] for p in points)
    steps_per_epoch = points[1]["step"]
    assert steps_per_epoch > 0 and [p["step"] for p in points] == [0, steps_per_epoch, 3 * steps_per_epoch]
    assert points[0]["test_error"] > 0.6 > points[2]["test_error"]  # 4 classes: chance is 0.75
    # trained again with one more kept epoch: only that one (and the rest of the way) is trained
    more = train_trajectory(wh, spec, (0, 1, 2, 3), progress=False)
    assert {e: more[e] for e in (0, 1, 3)} == runs and len(rows(wh, "SELECT * FROM trajectory_points")) == 4


def test_trajectory_layers_summarise_each_checkpoint(trajectory):
    """Means, medians and interquartile ranges per layer, worked out here from neuron_stats' rows."""
    wh, spec, runs = trajectory
    got = rows(wh, "SELECT * FROM trajectory_layers ORDER BY epoch, layer, bits")
    assert [(r["epoch"], r["layer"]) for r in got] == [(e, l) for e in (0, 1, 3) for l in (1, 2)]
    every = rows(wh, "SELECT run_id, layer, bits, entropy, mutual_info FROM neuron_stats")
    for r in got:
        stats = [s for s in every if (s["run_id"], s["layer"], s["bits"]) == (r["run_id"], r["layer"], r["bits"])]
        mi, h = np.array([s["mutual_info"] for s in stats]), np.array([s["entropy"] for s in stats])
        assert r["n_units"] == len(stats) == spec.hidden_sizes[r["layer"] - 1]
        assert r["mean_mutual_info"] == pytest.approx(mi.mean(), abs=1e-12)
        assert r["mean_entropy"] == pytest.approx(h.mean(), abs=1e-12)
        assert r["median_mutual_info"] == pytest.approx(np.median(mi), abs=1e-12)
        assert r["iqr_mutual_info"] == pytest.approx(np.percentile(mi, 75) - np.percentile(mi, 25), abs=1e-12)
        assert (r["mean_mutual_info_miller_madow"] is not None) == (r["epoch"] == 3)  # estimated: the last only
        assert r["auc_low_first"] is None  # not ablated
    assert got[0]["mean_mutual_info"] < got[-1]["mean_mutual_info"]  # training made the layers informative


def test_inbox_links_checkpoints_of_a_training_elsewhere(trajectory, tmp_path):
    """Checkpoints with a sidecar naming the training and epoch, arriving out of order and twice: one trajectory,
    pairs and ablation at the epochs asked for only, measures always; the same weights from a second training
    are linked to both; a malformed trajectory is rejected in one line."""
    wh, spec, runs = trajectory
    inbox_wh = open_warehouse(tmp_path / "served")

    def drop(name, epoch, training="elsewhere", **extra):  # the checkpoint file, its spec inside; the sidecar says where it sits
        (inbox_wh.inbox / name).write_bytes(wh.checkpoint(runs[epoch]).read_bytes())
        said = {"trajectory": {"training": training, "epoch": epoch, "step": epoch * 10}} | extra
        (inbox_wh.inbox / (name.rsplit(".", 1)[0] + ".json")).write_text(json.dumps(said))

    def handle():
        return [analyse_inbox_file(inbox_wh, f, bits=(1,), random_repeats=1, steps=4, full_epochs=(3,))
                for f in pending_files(inbox_wh.inbox)]

    drop("a-epoch3.safetensors", 3)  # the last epoch first
    drop("b-epoch1.safetensors", 1)
    outcomes = handle()
    assert [o.status for o in outcomes] == ["analysed", "analysed"], outcomes
    drop("c-epoch1-again.safetensors", 1)  # the same file again
    drop("e-epoch1.safetensors", 1, training="second-job")  # same weights, another training
    drop("f-bad.safetensors", 0, trajectory={"training": "", "epoch": -1})
    outcomes = {o.file: o for o in handle()}
    assert outcomes["c-epoch1-again.safetensors"].status == "duplicate"
    assert outcomes["e-epoch1.safetensors"].status == "duplicate"
    assert outcomes["f-bad.safetensors"].status == "rejected"
    assert "trajectory.training must name the training" in outcomes["f-bad.safetensors"].reason
    points = rows(inbox_wh, "SELECT training_id, epoch, step, run_id, ablated FROM trajectories ORDER BY ALL")
    assert [(p["training_id"], p["epoch"], p["run_id"], p["ablated"]) for p in points] == [
        ("elsewhere", 1, runs[1], False), ("elsewhere", 3, runs[3], True), ("second-job", 1, runs[1], False)]
    # the same rows as the checkpoints analysed here: weights and data are the same
    sql = "SELECT * EXCLUDE (run_id) FROM neuron_stats WHERE run_id = '{}' ORDER BY layer, neuron, bits"
    assert rows(inbox_wh, sql.format(runs[3])) == rows(wh, sql.format(runs[3]))

    # lineage survives removing one epoch, and comes back with the file
    remove_run(inbox_wh, runs[1])
    left = rows(inbox_wh, "SELECT training_id, epoch FROM trajectories ORDER BY ALL")
    assert left == [{"training_id": "elsewhere", "epoch": 3}]
    drop("g-epoch1-back.safetensors", 1)
    assert [o.status for o in handle()] == ["analysed"]
    assert len(rows(inbox_wh, "SELECT * FROM trajectories WHERE training_id = 'elsewhere'")) == 2


def test_checkpoints_on_the_way_stay_out_of_the_scorecard(trajectory):
    """Only a training's last epoch is a configuration of the scorecard (once it has curves)."""
    wh, spec, runs = trajectory
    for epoch in (1, 3):
        stages.ablate_run(wh, runs[epoch], ("zero",), 1, 4, measures=("mutual_info",), scopes=("layer",))
    assert [r["run_id"] for r in rows(wh, "SELECT run_id FROM scorecard_runs")] == [runs[3]]
    areas = rows(wh, "SELECT epoch, auc_low_first, auc_random FROM trajectory_layers WHERE layer = 1 ORDER BY epoch")
    assert [a["epoch"] for a in areas] == [0, 1, 3] and [a["auc_random"] is not None for a in areas] == [False, True, True]


def test_trajectory_page_renders_in_headless_chromium(trajectory, tmp_path):
    """The page of the training's configuration: every chart drawn by vega-embed in a real browser."""
    import html
    import re

    from flows.pages import trajectory_pages
    from test_report import chromium

    wh, spec, runs = trajectory
    stages.ablate_run(wh, runs[3], ("zero",), 1, 4, measures=("mutual_info",), scopes=("layer",))  # done before: skipped
    [page] = trajectory_pages(wh, png=False)
    assert page.name == f"trajectory-{spec.group}.html"
    dom = chromium("--dump-dom", page.as_uri(), tmp_path=tmp_path).stdout
    starts = [(m.start(), m.group(1)) for m in re.finditer(r'<div[^>]*id="chart-([a-z_]+)"', dom)]
    assert [name for _, name in starts] == ["plane", "measures", "ablation_gap", "error"], dom[:2000]
    for (start, name), end in zip(starts, [s for s, _ in starts[1:]] + [len(dom)]):
        container = dom[start:end]
        assert "vega-embed" in container[:300] and ">chart failed to render" not in container, html.unescape(container[:500])
        assert container.count("<path") > 5, name  # marks were drawn
