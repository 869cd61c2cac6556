"""The registries: criteria declared once (pipeline/criteria.py) and stages declared once (flows/stage_registry.py).

Each test is a case that went wrong while a rule was written in several places: prune-sweep on a run without
pairs, repair of neuron_baselines and pruning_curves, criterion_damage's rows, the pruning chart's labels,
results replaced by a rerun with other parameters, a stale dependent nobody noticed. References are computed
here in numpy/scipy from the source views, not by the code under test.
"""
from dataclasses import replace

import numpy as np
import pytest
from scipy.stats import rankdata

from flows import pages, stages
from flows.pruning import prune_sweep_run
from flows.rankings import rankings
from flows.repair import repair_run
from flows.stage_registry import STAGES, stage_of, stale_results
from pipeline import criteria
from store.sandbox import query
from store.contract import contracts
from store.paths import open_warehouse
from store.report_data import report_tables
from store.tables import partition_file
from store.verify import verify_run


@pytest.fixture(scope="module")
def run(tmp_path_factory, tiny_spec):
    """A trained, captured (1 and 2 bits) and measured run; no pairs, no baselines yet."""
    wh = open_warehouse(tmp_path_factory.mktemp("registry"))
    run_id = stages.train_run(wh, tiny_spec, progress=False)
    stages.capture_run(wh, run_id, bits=(1, 2))
    stages.measure_run(wh, run_id)
    return wh, run_id


def rows(wh, sql):
    return query(wh, sql).to_pylist()


def test_prune_sweep_on_a_measured_run_without_pairs(run, capsys):
    wh, run_id = run
    prune_sweep_run(wh, run_id, keeps=(0.5,), finetune_epochs=(0,))
    note = capsys.readouterr().err
    assert f"neuroninfo pairs {run_id}" in note and f"neuroninfo baselines {run_id}" in note and "unique_min" in note
    swept = {r["measure"] for r in rows(wh, f"SELECT DISTINCT measure FROM pruning_curves WHERE run_id = '{run_id}'")}
    assert swept == {"entropy", "mutual_info", "kl_selectivity", "labeled_mi", "js_subset_separation",
                     "class_selectivity", "random"}


def test_every_stored_table_is_made_by_one_stage():
    stored = {view for view, c in contracts().items() if c.stored}
    outputs = [t for s in STAGES.values() for t in s.outputs if t != "activations"]
    assert sorted(outputs) == sorted(stored)  # each exactly once: a new table cannot be left out of repair
    assert stage_of("neuron_baselines").verb == "baselines" and stage_of("pruning_curves").verb == "prune-sweep"


def damage(path) -> None:
    data = bytearray(path.read_bytes())
    for i in range(len(data) // 3, len(data) // 3 + 64):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def test_repair_restores_baselines_and_pruning_curves(run):
    wh, run_id = run
    stages.baselines_run(wh, run_id)
    prune_sweep_run(wh, run_id, ("mutual_info", "taylor", "random"), keeps=(0.5, 0.25), finetune_epochs=(0, 1))
    prune_sweep_run(wh, run_id, ("random",), keeps=(0.5,), scope="layer", strategy="zero", finetune_epochs=(0,))
    select = {"neuron_baselines": "SELECT * FROM neuron_baselines WHERE run_id = '{}' ORDER BY layer, neuron",
              "pruning_curves": "SELECT * FROM pruning_curves WHERE run_id = '{}' ORDER BY ALL"}
    before = {t: rows(wh, q.format(run_id)) for t, q in select.items()}
    for table in select:
        damage(partition_file(wh, table, run_id))
    problems = verify_run(wh, run_id)
    assert {p.kind for p in problems} == set(select)
    lines = repair_run(wh, run_id, problems)
    assert not [line for line in lines if line.startswith("still damaged")], lines
    assert verify_run(wh, run_id) == []
    for table, q in select.items():
        assert rows(wh, q.format(run_id)) == before[table], table  # the original values, both sweeps


def test_criterion_damage_rows_and_values(run):
    """One class_selectivity row per (run, layer) and per network; the pair aggregates present; every value the
    Spearman correlation of the source view's column with the damage (scipy's average ranks)."""
    wh, run_id = run
    stages.pairs_run(wh, run_id, bits=1)
    got = rows(wh, f"SELECT * FROM criterion_damage WHERE run_id = '{run_id}'")
    selectivity = [(r["scope"], r["layer"], r["bits"]) for r in got if r["measure"] == "class_selectivity"]
    assert sorted(selectivity, key=str) == sorted([("layer", 1, None), ("layer", 2, None), ("network", None, None)], key=str)
    assert {r["measure"] for r in got} >= set(criteria.names("pair_aggregate"))
    damage_rows = rows(wh, f"SELECT layer, neuron, ablation_damage FROM neuron_baselines WHERE run_id = '{run_id}' ORDER BY layer, neuron")
    sources = {"unique_min": f"SELECT layer, neuron, unique_min AS v FROM neuron_redundancy WHERE run_id = '{run_id}' AND bits = 1",
               "class_selectivity": f"SELECT layer, neuron, class_selectivity AS v FROM neuron_stats WHERE run_id = '{run_id}' AND bits = 1",
               "mutual_info": f"SELECT layer, neuron, mutual_info AS v FROM neuron_stats WHERE run_id = '{run_id}' AND bits = 2",
               "taylor": f"SELECT layer, neuron, taylor AS v FROM neuron_baselines WHERE run_id = '{run_id}'"}
    for measure, sql in sources.items():
        values = {(r["layer"], r["neuron"]): r["v"] for r in rows(wh, sql)}
        bits = {"unique_min": 1, "mutual_info": 2}.get(measure)
        for layer in (1, 2, None):
            keep = [r for r in damage_rows if layer is None or r["layer"] == layer]
            x = rankdata([values[(r["layer"], r["neuron"])] for r in keep])
            y = rankdata([r["ablation_damage"] for r in keep])
            expected = np.corrcoef(x, y)[0, 1]
            match = [r for r in got if r["measure"] == measure and r["bits"] == bits and r["layer"] == layer
                     and r["scope"] == ("network" if layer is None else "layer")]
            assert len(match) == 1 and match[0]["spearman_damage"] == pytest.approx(expected, abs=1e-9), (measure, layer)


def test_pruning_chart_labels_pair_aggregates_as_information(run):
    wh, run_id = run
    prune_sweep_run(wh, run_id, ("unique_min", "taylor", "random"), keeps=(0.5,), finetune_epochs=(0,))
    stages.ablate_run(wh, run_id, ("zero",), 1, 4, measures=("mutual_info",))  # the report needs curves
    kinds = {r["measure"]: r["kind"] for r in report_tables(wh, [run_id])["pruning"].to_pylist()}
    assert kinds["unique_min"] == "information"
    assert kinds["mutual_info"] == "information" and kinds["taylor"] == "baseline" and kinds["random"] == "random"


def curve_rows(wh, run_id):
    return rows(wh, f"SELECT scope, layer, measure, bits, ordering, strategy, repeat, n_ablated, test_error FROM ablation_curves "
                    f"WHERE run_id = '{run_id}' ORDER BY ALL")


def test_a_rerun_with_other_parameters_keeps_every_k_and_all_pairs(run):
    """The README walkthrough after `make run`: ablate --steps and pairs --top leave the every-k curves and all
    pairs in place, read by default, and nothing is stale."""
    wh, run_id = run
    stages.ablate_run(wh, run_id, ("zero", "mean"), 2, None, force=True, replace=True)  # as make run: every k, all criteria
    every_k = curve_rows(wh, run_id)
    pairs = rows(wh, f"SELECT count(*) AS n FROM neuron_pairs WHERE run_id = '{run_id}' AND bits = 1")[0]["n"]
    assert pairs == 24 * 23 // 2 + 12 * 11 // 2
    stages.ablate_run(wh, run_id, ("zero",), 1, 4, force=True)  # neuroninfo ablate RUN --steps 4 --strategies zero
    stages.pairs_run(wh, run_id, 1, top_n=5, force=True)  # neuroninfo pairs RUN --top 5
    assert curve_rows(wh, run_id) == every_k  # every k of every curve, values unchanged
    layer = rows(wh, f"SELECT count(*) AS n FROM ablation_curves WHERE run_id = '{run_id}' AND scope = 'layer' AND layer = 1 "
                     "AND measure = 'mutual_info' AND bits = 1 AND ordering = 'low_first' AND strategy = 'zero'")
    assert layer[0]["n"] == 25
    assert rows(wh, f"SELECT count(*) AS n FROM neuron_pairs WHERE run_id = '{run_id}' AND bits = 1")[0]["n"] == pairs
    partners = rows(wh, f"SELECT DISTINCT layer, n_partners FROM neuron_redundancy WHERE run_id = '{run_id}' AND bits = 1 ORDER BY layer")
    assert partners == [{"layer": 1, "n_partners": 23}, {"layer": 2, "n_partners": 11}]
    assert stale_results(wh, run_id) == []


def test_a_changed_input_makes_its_dependents_stale(run, run_verb):
    wh, run_id = run
    stages.capture_run(wh, run_id, bits=(1, 2), method="quantile")  # new quantizers: measures, pairs, curves now stale
    stale = "\n".join(stale_results(wh, run_id))
    assert f"neuroninfo measure {run_id}" in stale and f"neuroninfo pairs {run_id}" in stale
    stages.measure_run(wh, run_id)
    stale = "\n".join(stale_results(wh, run_id))
    assert f"neuroninfo measure {run_id}" not in stale and f"neuroninfo ablate {run_id}" in stale
    assert f"neuroninfo prune-sweep {run_id}" in stale  # its sweeps ranked by the old neuron_stats
    code, out, _ = run_verb("verify", "--data-tests", run_id, "--warehouse", str(wh.root))
    assert code == 3 and f"stale: run {run_id}: ablation_curves, ablation_orderings were made from neuron_stats before it changed" in out


def test_curves_recorded_by_an_older_version_are_repaired(run, tiny_spec):
    """Older warehouses recorded one ablate call's parameters flat, with every criterion name whether the run had
    it or not (pair aggregates without pairs): repair replays what the run has and gives the same curves."""
    from store.integrity import record

    wh, _ = run
    run_id = stages.train_run(wh, replace(tiny_spec, seed=2), progress=False)
    stages.capture_run(wh, run_id, bits=(1,))
    stages.measure_run(wh, run_id)
    stages.ablate_run(wh, run_id, ("zero",), 0, 4, measures=("mutual_info", "entropy"))
    before = curve_rows(wh, run_id)
    path = partition_file(wh, "ablation_curves", run_id)
    legacy = {"strategies": ["zero"], "random_repeats": 0, "steps": 4, "neuron_stats": stages.fingerprint(wh, run_id, "neuron_stats"),
              "measures": ["mutual_info", "entropy", "unique_min", "max_red_min"]}
    record(path, path.read_bytes(), legacy)
    damage(path)
    lines = repair_run(wh, run_id, verify_run(wh, run_id))
    assert not [line for line in lines if line.startswith("still damaged")], lines
    assert curve_rows(wh, run_id) == before


def test_a_group_mixing_k_grids_says_so(run, tiny_spec):
    wh, run_id = run
    other = stages.train_run(wh, replace(tiny_spec, seed=1), progress=False)
    stages.capture_run(wh, other, bits=(1,))
    stages.measure_run(wh, other)
    stages.ablate_run(wh, other, ("zero",), 1, 4, measures=("mutual_info",))
    notes = report_tables(wh, [run_id, other])["notes"].column("note").to_pylist()
    assert len(notes) == 1 and "different k-grids" in notes[0]
    assert report_tables(wh, [other])["notes"].num_rows == 0


def test_a_toy_criterion_through_the_registry_alone(run):
    """Declared once, it is ranked, ablated, swept, repaired and reported; no other file knows it."""
    wh, run_id = run
    toy = criteria.register(criteria.Criterion("toy_negative_entropy", "information", "neuron_stats", per_bits=True,
                                               expression="-entropy", meaning="minus H(T): a test's toy"))
    try:
        stats = rows(wh, f"SELECT layer, neuron, entropy FROM neuron_stats WHERE run_id = '{run_id}' AND bits = 1 ORDER BY layer, neuron")
        value = np.round(-np.array([r["entropy"] for r in stats]), 12)
        layer, neuron = np.array([r["layer"] for r in stats]), np.array([r["neuron"] for r in stats])
        expected = np.lexsort((neuron, layer, value))  # low first, ties by (layer, neuron)
        network = [o for o in rankings(wh, run_id, (toy.name,)) if o.scope == "network" and o.ordering == "low_first" and o.bits == 1]
        assert network[0].neurons.tolist() == np.stack([layer[expected], neuron[expected]], 1).tolist()
        stages.ablate_run(wh, run_id, ("zero",), 1, 4, measures=(toy.name, "mutual_info"), force=True)
        curves = rows(wh, f"SELECT * FROM ablation_curves WHERE run_id = '{run_id}' AND measure = '{toy.name}' ORDER BY ALL")
        assert {r["bits"] for r in curves} == {1, 2} and {r["scope"] for r in curves} == {"layer", "network"}
        prune_sweep_run(wh, run_id, (toy.name,), keeps=(0.5,), finetune_epochs=(0,))
        swept = rows(wh, f"SELECT bits, test_error FROM pruning_curves WHERE run_id = '{run_id}' AND measure = '{toy.name}'")
        assert [r["bits"] for r in swept] == [1]
        damage(partition_file(wh, "ablation_curves", run_id))
        repair_run(wh, run_id, verify_run(wh, run_id))
        assert rows(wh, f"SELECT * FROM ablation_curves WHERE run_id = '{run_id}' AND measure = '{toy.name}' ORDER BY ALL") == curves
        assert rows(wh, f"SELECT kind, family, meaning FROM criteria WHERE measure = '{toy.name}'") == [
            {"kind": "information", "family": "information", "meaning": "minus H(T): a test's toy"}]
        page = pages.write_report_of(wh, [run_id], "toy", png=False).read_text()
        assert toy.name in page
    finally:
        criteria.unregister(toy.name)
