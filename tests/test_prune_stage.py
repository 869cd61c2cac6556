"""Baselines, prune and prune-sweep on a warehouse: registered pruned runs, the cache, pruning_curves."""

import contextlib
import io
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pytest

from flows import pages, stages
from flows.pruning import prune_run, prune_sweep_run
from flows.rankings import rankings
from pipeline import criteria
from pipeline.errors import NeuronInfoError
from store.checkpoints import load_run
from store.sandbox import query


@pytest.fixture(scope="module")
def measured(trained_run):
    """The shared synthetic run, measured, with baselines and information-measure ablation curves."""
    wh, run_id = trained_run
    stages.measure_run(wh, run_id)
    with contextlib.redirect_stderr(io.StringIO()) as said:
        stages.baselines_run(wh, run_id)
    BASELINES_SAID.append(said.getvalue())
    stages.ablate_run(wh, run_id, ("mean",), random_repeats=0, measures=("mutual_info",))
    return wh, run_id


BASELINES_SAID, SWEEP_SAID = [], []  # what baselines_run and prune_sweep_run told the user


def rows(wh, sql):
    return query(wh, sql).to_pylist()


def test_neuron_baselines_view(measured):
    wh, run_id = measured
    table = rows(wh, f"SELECT * FROM neuron_baselines WHERE run_id = '{run_id}' ORDER BY layer, neuron")
    assert len(table) == 24 + 12
    model = load_run(wh, run_id)
    w = model.linear[0].weight.detach().double().numpy()
    np.testing.assert_allclose([r["weight_l1_in"] for r in table[:24]], np.abs(w).sum(1), rtol=1e-6)
    assert all(r["taylor"] >= 0 and r["act_var"] >= 0 for r in table)
    assert f"baselines {run_id}: the pruning criteria of its 36 hidden neurons written to neuron_baselines" in BASELINES_SAID[0]


def test_baseline_rankings_exclude_ablation_damage(measured):
    wh, run_id = measured
    names = {o.measure for o in rankings(wh, run_id, criteria.names("baseline"))}
    assert {"weight_l1_in", "taylor", "act_var"} <= names
    with pytest.raises(NeuronInfoError, match="not a criterion"):
        rankings(wh, run_id, ("ablation_damage",))


def test_pruned_run_is_registered_and_matches_the_ablation_curve(measured, capsys):
    wh, run_id = measured
    new_id, notes = prune_run(wh, run_id, "mutual_info", 0.5, bits=1, scope="network", strategy="mean")
    assert notes == []
    run = rows(wh, f"SELECT * FROM runs WHERE run_id = '{new_id}'")[0]
    parent_error = rows(wh, f"SELECT test_error FROM runs WHERE run_id = '{run_id}'")[0]["test_error"]
    assert (f"prune: run {run_id} pruned by mutual_info@1b/network/mean/ft0: new run {new_id} (18 of 36 hidden neurons "
            f"kept), test error {parent_error:.2%} -> {run['test_error']:.2%}") in capsys.readouterr().err
    assert run["origin"] == "pruned" and run["parent_run_id"] == run_id
    assert run["pruned_by"] == "mutual_info@1b/network/mean/ft0"
    assert sum(run["hidden_sizes"]) == 18 and run["kept_fraction"] == 0.5
    widths = [64, *run["hidden_sizes"], 4]
    assert run["n_params"] == sum(a * b + b for a, b in zip(widths[:-1], widths[1:]))
    curve = rows(wh, f"SELECT test_error FROM ablation_curves WHERE run_id = '{run_id}' AND scope = 'network' "
                     "AND measure = 'mutual_info' AND bits = 1 AND ordering = 'low_first' AND strategy = 'mean' AND n_ablated = 18")
    assert run["test_error"] == pytest.approx(curve[0]["test_error"], abs=1e-6)
    # a pruned network is never what training its spec returns, and is in no trained group
    spec = load_run(wh, new_id).spec
    assert stages.run_id_for_spec(wh, spec) is None
    parent = rows(wh, f"SELECT group_name FROM runs WHERE run_id = '{run_id}'")[0]["group_name"]
    assert new_id not in [r["run_id"] for r in rows(wh, f"SELECT run_id FROM runs WHERE group_name = '{parent}'")]
    # it can be analysed like any run
    stages.capture_run(wh, new_id, bits=(1,))
    stages.measure_run(wh, new_id)
    assert rows(wh, f"SELECT count(*) AS n FROM neuron_stats WHERE run_id = '{new_id}'")[0]["n"] == 18


def test_prune_cli_says_when_a_layer_minimum_binds(measured):
    wh, run_id = measured
    out = subprocess.run([sys.executable, "-m", "flows.cli", "prune", run_id, "--measure", "taylor", "--keep", "0.01",
                          "--scope", "layer", "--strategy", "zero", "--finetune-epochs", "1", "--warehouse", str(wh.root)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "layer 1 keeps 1 of 24 neurons" in out.stderr and "layer 2 keeps 1 of 12 neurons" in out.stderr
    new_id = out.stdout.strip().splitlines()[-1]
    run = rows(wh, f"SELECT hidden_sizes, pruned_by FROM runs WHERE run_id = '{new_id}'")[0]
    assert run == {"hidden_sizes": [1, 1], "pruned_by": "taylor/layer/zero/ft1"}
    bad = subprocess.run([sys.executable, "-m", "flows.cli", "prune", run_id, "--measure", "ablation_damage", "--keep", "0.5",
                          "--warehouse", str(wh.root)], capture_output=True, text=True)
    assert bad.returncode == 2 and "not a criterion" in bad.stderr


@pytest.fixture(scope="module")
def swept(measured):
    wh, run_id = measured
    with contextlib.redirect_stderr(io.StringIO()) as said:
        prune_sweep_run(wh, run_id, ("mutual_info", "weight_l1_in", "random"), keeps=(0.5, 0.25), finetune_epochs=(0, 1))
    SWEEP_SAID.append(said.getvalue())
    return wh, run_id


def test_prune_sweep_writes_pruning_curves(swept):
    wh, run_id = swept
    prune_run(wh, run_id, "mutual_info", 0.5, bits=1, scope="network", strategy="mean")  # registered: same network
    table = rows(wh, f"SELECT * FROM pruning_curves WHERE run_id = '{run_id}' ORDER BY measure, keep, finetune_epochs")
    assert len(table) == 3 * 2 * 2
    assert f"prune-sweep {run_id}: 12 pruned networks (3 criteria x 2 kept fractions x 2 fine-tunings) written" in SWEEP_SAID[0]
    mi = [r for r in table if r["measure"] == "mutual_info" and r["keep"] == 0.5 and r["finetune_epochs"] == 0][0]
    pruned = rows(wh, f"SELECT test_error FROM runs WHERE pruned_by = 'mutual_info@1b/network/mean/ft0' AND parent_run_id = '{run_id}'")
    assert mi["test_error"] == pytest.approx(pruned[0]["test_error"], abs=1e-9) and mi["bits"] == 1
    assert {r["bits"] for r in table if r["measure"] != "mutual_info"} == {None}
    assert all(r["n_params"] < 64 * 24 + 24 + 24 * 12 + 12 + 12 * 4 + 4 for r in table)


def test_old_runs_partitions_still_read(tmp_path):
    """A runs partition written before origin/n_params existed reads as 'trained', n_params from the sizes."""
    import pyarrow.parquet as pq

    from store.lifecycle import prepare
    from store.paths import open_warehouse
    from store.schemas import SCHEMAS

    wh = open_warehouse(tmp_path / "old")
    old = pa.schema([f for f in SCHEMAS["runs"] if f.name not in ("origin", "parent_run_id", "pruned_by", "kept_fraction", "n_params")])
    row = {f.name: None for f in old} | {"name": "old", "hidden_sizes": [5, 3], "input_dim": 8, "n_classes": 2,
                                         "regularizer": "dropout_bn", "spec": "{}"}
    for part in ("__empty__", "0123456789abcdef"):  # an old warehouse: even its schema file lacks the columns
        path = wh.partition("runs", part)
        path.mkdir(parents=True)
        pq.write_table(pa.Table.from_pylist([] if part == "__empty__" else [row], schema=old), path / "data.parquet")
    wh = prepare(wh.root)  # as every verb opens it: a format-1 warehouse (no integrity records) gets them
    got = rows(wh, "SELECT origin, parent_run_id, kept_fraction, n_params FROM runs")
    assert got == [{"origin": "trained", "parent_run_id": None, "kept_fraction": None,
                    "n_params": (8 * 5 + 5) + (5 * 3 + 3) + (3 * 2 + 2) + 2 * (5 + 3)}]


def average_ranks(v):
    v = np.asarray(v, dtype=float)
    order = np.argsort(v, kind="stable")
    ranks = np.empty(len(v))
    ranks[order] = np.arange(1, len(v) + 1)
    for value in np.unique(v):  # ties share the mean of their positions
        ranks[v == value] = ranks[v == value].mean()
    return ranks


def test_criterion_damage_is_spearman(measured):
    """Every layer and the network, baselines and information measures: the Spearman correlation of the
    source column with the single-neuron damage (independent average ranks); class_selectivity once."""
    wh, run_id = measured
    damage = rows(wh, f"SELECT layer, neuron, ablation_damage, ablation_damage_mean, taylor FROM neuron_baselines WHERE run_id = '{run_id}' ORDER BY layer, neuron")
    stats = {(r["layer"], r["neuron"], r["bits"]): r for r in rows(wh, f"SELECT * FROM neuron_stats WHERE run_id = '{run_id}'")}
    got = rows(wh, f"SELECT * FROM criterion_damage WHERE run_id = '{run_id}'")
    cases = {("taylor", None): lambda r: r["taylor"],
             ("mutual_info", 1): lambda r: stats[(r["layer"], r["neuron"], 1)]["mutual_info"],
             ("mutual_info", 3): lambda r: stats[(r["layer"], r["neuron"], 3)]["mutual_info"],
             ("class_selectivity", None): lambda r: stats[(r["layer"], r["neuron"], 1)]["class_selectivity"]}
    for (measure, bits), value in cases.items():
        for layer in (1, 2, None):
            keep = [r for r in damage if layer is None or r["layer"] == layer]
            x = average_ranks([value(r) for r in keep])
            match = [g for g in got if (g["measure"], g["bits"], g["layer"]) == (measure, bits, layer)]
            assert len(match) == 1, (measure, bits, layer)
            for column, target in (("spearman_damage", "ablation_damage"), ("spearman_damage_mean", "ablation_damage_mean")):
                expected = np.corrcoef(x, average_ranks([r[target] for r in keep]))[0, 1]
                assert match[0][column] == pytest.approx(expected, abs=1e-9), (measure, bits, layer, column)


def test_pruning_summary_averages_seeds(swept, tiny_spec):
    """Two seeds of one group with different errors: the mean, min and max over them."""
    from dataclasses import replace

    wh, run_id = swept
    other = stages.train_run(wh, replace(tiny_spec, seed=1), progress=False)
    stages.capture_run(wh, other, bits=(1,))
    stages.measure_run(wh, other)
    prune_sweep_run(wh, other, ("random",), keeps=(0.5,), finetune_epochs=(0,))
    errors = [rows(wh, f"SELECT test_error FROM pruning_curves WHERE run_id = '{r}' AND measure = 'random' AND keep = 0.5 "
                       "AND finetune_epochs = 0 AND scope = 'network'")[0]["test_error"] for r in (run_id, other)]
    assert errors[0] != errors[1]  # else the test could not tell a mean from a min or max
    got = rows(wh, "SELECT n_runs, error_mean, error_min, error_max FROM pruning_summary WHERE measure = 'random' AND keep = 0.5 "
                   "AND finetune_epochs = 0 AND scope = 'network'")
    assert got == [{"n_runs": 2, "error_mean": pytest.approx(np.mean(errors), abs=1e-12), "error_min": min(errors),
                    "error_max": max(errors)}]


def test_report_has_a_pruning_section(swept):
    wh, run_id = swept
    page = pages.write_report_of(wh, [run_id], "pruned-report").read_text()
    assert 'id="chart-pruning"' in page and "Pruning by criterion" in page
    assert (wh.reports / "pruned-report-pruning.png").exists()


def test_a_second_sweep_adds_rows(swept):
    wh, run_id = swept
    before = rows(wh, f"SELECT count(*) AS n FROM pruning_curves WHERE run_id = '{run_id}'")[0]["n"]
    prune_sweep_run(wh, run_id, ("random",), keeps=(0.5,), scope="layer", strategy="zero", finetune_epochs=(0,))
    prune_sweep_run(wh, run_id, ("random",), keeps=(0.5,), scope="layer", strategy="zero", finetune_epochs=(0,))  # same key: replaced
    got = rows(wh, f"SELECT scope, count(*) AS n FROM pruning_curves WHERE run_id = '{run_id}' GROUP BY scope ORDER BY scope")
    assert got == [{"scope": "layer", "n": 1}, {"scope": "network", "n": before}]


def test_contract_data_tests_pass_on_baselines_and_pruning(swept):
    from store.contract import run_data_tests
    from store.views import memory_connection

    wh, _ = swept
    con = memory_connection(wh)
    try:
        assert run_data_tests(con, ["runs", "neuron_baselines", "pruning_curves"]) == []
    finally:
        con.close()
