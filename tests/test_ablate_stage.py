"""The ablate stage: rankings read back with SQL, curves written to the view equal a naive forward pass, bad input."""
from dataclasses import replace

import numpy as np
import pytest
from naive_ablation import naive_errors

from flows import run_data, stages
from flows.rankings import rankings
from pipeline.criteria import names
from flows.cli import main
from pipeline.errors import NeuronInfoError
from store import activations as act
from store.checkpoints import load_run
from store.paths import open_warehouse
from store.sandbox import query


@pytest.fixture(scope="module")
def measured(tmp_path_factory, tiny_spec):
    """A run on [0, 1] inputs: its dead ReLUs tie at 0 bits, which exercises the tie rule."""
    src = open_warehouse(tmp_path_factory.mktemp("unit_inputs"))
    run_id = stages.train_run(src, replace(tiny_spec, inputs="unit"), progress=False)
    wh = open_warehouse(tmp_path_factory.mktemp("ablate"))
    assert stages.import_checkpoint(wh, src.checkpoint(run_id)) == run_id
    stages.capture_run(wh, run_id, bits=(1, 2))
    with pytest.raises(NeuronInfoError, match=f"run {run_id} has no measures yet; run: neuroninfo measure {run_id}"):
        stages.ablate_run(wh, run_id)
    stages.measure_run(wh, run_id)
    return wh, run_id


def test_rankings_follow_neuron_stats_with_stable_ties(measured):
    wh, run_id = measured
    stats = query(wh, f"SELECT layer, neuron, bits, mutual_info, class_selectivity FROM neuron_stats WHERE run_id = '{run_id}'").to_pylist()
    orderings = {(o.measure, o.bits, o.scope, o.layer, o.ordering): o.neurons for o in rankings(wh, run_id, names("information"))}
    for bits in (1, 2):
        rows = [r for r in stats if r["bits"] == bits]
        keys = np.array([(r["layer"], r["neuron"]) for r in rows])
        values = np.array([r["mutual_info"] for r in rows])
        # independent reference: numpy lexsort by (value, layer, neuron); high first by (-value, layer, neuron)
        for ordering, sign in (("low_first", 1), ("high_first", -1)):
            order = np.lexsort((keys[:, 1], keys[:, 0], sign * values))
            assert orderings[("mutual_info", bits, "network", None, ordering)].tolist() == keys[order].tolist()
            for layer, width in ((1, 24), (2, 12)):
                mine = keys[:, 0] == layer
                order = np.lexsort((keys[mine, 1], sign * values[mine]))
                got = orderings[("mutual_info", bits, "layer", layer, ordering)]
                assert len(got) == width and got.tolist() == keys[mine][order].tolist(), (bits, layer, ordering)
        assert len(set(values.round(12))) < len(values)  # tied values: the tie rule is exercised
    assert ("class_selectivity", None, "network", None, "low_first") in orderings  # ranked once, bits NULL
    assert not any(m == "class_selectivity" and b is not None for m, b, *_ in orderings)


def test_curves_land_in_the_view(measured):
    wh, run_id = measured
    stages.ablate_run(wh, run_id, random_repeats=2, steps=6)
    rows = query(wh, f"""SELECT scope, measure, count(DISTINCT coalesce(bits, -1)) AS n_bits, count(DISTINCT repeat) AS repeats,
                              min(n_ablated) AS k0, max(frac_ablated) AS f1, count(DISTINCT strategy) AS strategies
                         FROM ablation_curves WHERE run_id = '{run_id}' GROUP BY ALL ORDER BY ALL""").to_pylist()
    by = {(r["scope"], r["measure"]): r for r in rows}
    assert by[("network", "mutual_info")]["n_bits"] == 2 and by[("network", "random")]["repeats"] == 2
    assert all(r["k0"] == 0 and r["f1"] == 1.0 and r["strategies"] == 2 for r in rows)
    [clean] = query(wh, f"SELECT test_error FROM runs WHERE run_id = '{run_id}'").to_pylist()
    starts = query(wh, f"SELECT DISTINCT round(test_error, 9) AS e FROM ablation_curves WHERE run_id = '{run_id}' AND n_ablated = 0").to_pylist()
    assert [r["e"] for r in starts] == [round(clean["test_error"], 9)]  # k = 0 is the unablated network

    # what the view holds equals a naive full forward pass per k (both strategies, both scopes)
    model = load_run(wh, run_id)
    test = run_data.data_of(model.spec, None).test
    store = act.open_activations(wh, run_id)
    means = [store.train_mean(layer) for layer in store.layers]
    orderings = {(o.scope, o.layer, o.ordering): o for o in rankings(wh, run_id, ("mutual_info",)) if o.bits == 1}
    moved = 0
    for scope, layer in (("network", None), ("layer", 1), ("layer", 2)):
        o = orderings[(scope, layer, "high_first")]
        for strategy in ("zero", "mean"):
            curve = query(wh, f"""SELECT n_ablated, test_error FROM ablation_curves
                                  WHERE run_id = '{run_id}' AND scope = '{scope}' AND layer IS NOT DISTINCT FROM {layer or 'NULL'}
                                    AND measure = 'mutual_info' AND bits = 1 AND ordering = 'high_first'
                                    AND strategy = '{strategy}' ORDER BY n_ablated""").to_pydict()
            assert len(curve["n_ablated"]) == 7
            ref = naive_errors(model, test.x, test.y, o.neurons, curve["n_ablated"], None if strategy == "zero" else means)
            np.testing.assert_allclose(curve["test_error"], ref, rtol=0, atol=1e-12, err_msg=f"{scope} {layer} {strategy}")
            moved += len(set(ref.round(9))) > 1
    assert moved >= 3  # the curves move: the comparison has teeth


def test_ablation_vs_random_sets_each_ranked_point_beside_the_random_band(measured):
    """The band at each k, worked out here from the curves (2 random repeats)."""
    from collections import defaultdict

    from store.contract import run_data_tests
    from store.views import memory_connection

    wh, run_id = measured
    stages.ablate_run(wh, run_id, random_repeats=2, steps=6)  # test_curves_land_in_the_view's: stored already when it ran
    curves = query(wh, f"SELECT * FROM ablation_curves WHERE run_id = '{run_id}'").to_pylist()
    band = defaultdict(list)
    for c in curves:
        if c["ordering"] == "random":
            band[(c["scope"], c["layer"], c["strategy"], c["n_ablated"])].append(c["test_error"])
    ranked = [c for c in curves if c["ordering"] != "random"]
    rows = query(wh, f"SELECT * FROM ablation_vs_random WHERE run_id = '{run_id}'").to_pylist()
    assert len(rows) == len(ranked) and all(r["random_repeats"] == 2 for r in rows)  # every ranked k has its band
    seen = set()
    for r in rows:
        errors = band[(r["scope"], r["layer"], r["strategy"], r["n_ablated"])]
        lo, hi = min(errors), max(errors)
        assert (r["random_min"], r["random_max"]) == (lo, hi) and r["random_mean"] == pytest.approx(sum(errors) / 2)
        assert r["vs_random"] == ("below" if r["test_error"] < lo else "above" if r["test_error"] > hi else "within")
        seen.add(r["vs_random"])
    assert {"below", "above"} <= seen  # both sides occur: the comparison has teeth
    con = memory_connection(wh)
    assert run_data_tests(con, ["ablation_vs_random"]) == []  # its contract's data test
    con.close()


def test_bad_input(measured, capsys):
    wh, run_id = measured
    with pytest.raises(NeuronInfoError, match="unknown measure 'loudness'"):
        stages.ablate_run(wh, run_id, measures=("loudness",), force=True)
    assert main(["ablate", run_id, "--steps", "0", "--warehouse", str(wh.root)]) == 2
    err = capsys.readouterr().err.strip()
    assert "steps" in err and len(err.splitlines()) == 1
    assert main(["ablate", run_id, "--strategy", "noise", "--warehouse", str(wh.root)]) == 2
    assert "unknown strategy" in capsys.readouterr().err


def test_new_bits_flow_through_measure_and_ablate(measured):
    wh, run_id = measured
    stages.ablate_run(wh, run_id, random_repeats=1, steps=4)  # skipped or done: curves cover bits 1, 2
    assert stages.stored_bits(wh, "ablation_curves", run_id) == {1, 2}
    stages.capture_run(wh, run_id, bits=(3,))
    stages.measure_run(wh, run_id)  # not skipped: bits 3 is new
    assert stages.stored_bits(wh, "neuron_stats", run_id) == {1, 2, 3}
    stages.ablate_run(wh, run_id, random_repeats=1, steps=4)
    assert stages.stored_bits(wh, "ablation_curves", run_id) == {1, 2, 3}


def test_default_k_grid_is_every_k_except_for_the_cifar10_preset(measured, monkeypatch):
    from pipeline import ablation_schedule
    from pipeline.spec import preset_spec

    assert ablation_schedule.default_steps(preset_spec("cifar10", 3072, 10)) == ablation_schedule.CIFAR10_STEPS
    assert ablation_schedule.default_steps(preset_spec("fashion-mnist", 784, 10)) is None
    wh, run_id = measured
    monkeypatch.setattr(stages, "default_steps", lambda spec: 5)  # as if this net were the preset's
    stages.ablate_run(wh, run_id, random_repeats=1, force=True, replace=True)  # steps not given; only this grid
    curves = query(wh, f"""SELECT scope, layer, measure, bits, ordering, strategy, repeat, list(n_ablated ORDER BY n_ablated) AS ks
                           FROM ablation_curves WHERE run_id = '{run_id}' GROUP BY ALL""").to_pylist()
    widths = {("layer", 1): 24, ("layer", 2): 12, ("network", None): 36}
    for c in curves:  # independent: 6 evenly spaced k from 0 to the ordering's length, rounded half up
        n = widths[(c["scope"], c["layer"])]
        assert c["ks"] == sorted({int(np.floor(i * n / 5 + 0.5)) for i in range(6)}), c
    assert {c["scope"] for c in curves} == {"layer", "network"} and len(curves) > 20
