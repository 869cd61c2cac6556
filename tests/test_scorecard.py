"""The claims scorecard on hand-made warehouses: for each claim, three groups of three seeds whose
statistic is set by construction so that the claim holds, is contradicted, or is inconclusive.

The tables the SQL reads (runs, neuron_stats, ablation_curves) are built here from chosen numbers;
the expected effect is the mean of the numbers put in, its interval a t-interval from scipy.
"""
from __future__ import annotations

import itertools

import duckdb
import numpy as np
import pytest
from scipy import stats as scipy_stats

from pipeline.criteria import names as criterion_names
from store.sql_files import macros_sql
from store.views import create_public_views, views_for

HAND_MADE = ("runs", "neuron_stats", "ablation_curves", "neuron_redundancy", "neuron_baselines", "layers", "measure_estimates",
             "trajectory_points")  # tables a test builds
MARTS = views_for(("scorecard", "scorecard_summary"), given=HAND_MADE)  # the views over them

CASES = {  # the statistic of each of the three seeds
    "holds": [0.010, 0.012, 0.014],
    "contradicted": [-0.010, -0.012, -0.014],
    "inconclusive": [0.010, -0.008, 0.001],
}
QUANTIZED = ("entropy", "mutual_info", "kl_selectivity", "labeled_mi", "js_subset_separation")
_ids = itertools.count()


class World:
    """Hand-made public views: runs, neuron_stats (every neuron, zeros unless set) and flat ablation
    curves (every point at the AUC asked for, so the curve's area is exactly that value)."""

    def __init__(self):
        self.runs, self.stats, self.curves = [], {}, []

    def run(self, group: str, seed: int, activation="relu", regularizer="none", hidden=(4, 2), dataset="synthetic") -> str:
        run_id = f"{next(_ids):016x}"
        self.runs.append(dict(run_id=run_id, group_name=group, dataset=dataset, activation=activation,
                              regularizer=regularizer, seed=seed, hidden_sizes=list(hidden), test_error=0.1,
                              n_test=1000, origin="trained"))
        for layer, size in enumerate(hidden, 1):
            for neuron, bits in itertools.product(range(size), (1, 3)):
                self.stats[(run_id, layer, neuron, bits)] = dict.fromkeys(QUANTIZED, 0.0) | {
                    "class_selectivity": 0.0, "active_frac": 0.5}
        self.curve(run_id, "network", None, "random", None, "random", "zero", 0.5)  # every run has curves
        return run_id

    def stat(self, run_id, layer, neuron, **values):
        for bits in (1, 3):
            self.stats[(run_id, layer, neuron, bits)].update(values)

    def curve(self, run_id, scope, layer, measure, bits, ordering, strategy, auc, n=4, points=None, estimator="plugin"):
        for k in range(n + 1):
            error = auc if points is None else points.get(k, auc)
            self.curves.append(dict(run_id=run_id, scope=scope, layer=layer, measure=measure, bits=bits, estimator=estimator,
                                    ordering=ordering, strategy=strategy, repeat=0, n_ablated=k, frac_ablated=k / n,
                                    test_error=error))

    def scorecard(self, claim: str | None, part: str = "whole", estimator: str | None = None) -> dict:
        con = duckdb.connect()
        con.execute("CREATE TABLE runs (run_id VARCHAR, group_name VARCHAR, dataset VARCHAR, activation VARCHAR, "
                    "regularizer VARCHAR, seed BIGINT, hidden_sizes INTEGER[], test_error DOUBLE, n_test BIGINT, origin VARCHAR)")
        con.executemany("INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [list(r.values()) for r in self.runs])
        columns = ["run_id", "layer", "neuron", "bits", *QUANTIZED, "class_selectivity", "active_frac"]
        con.execute("CREATE TABLE neuron_stats (run_id VARCHAR, layer INTEGER, neuron INTEGER, bits INTEGER, "
                    + ", ".join(f"{c} DOUBLE" for c in columns[4:]) + ")")
        con.executemany(f"INSERT INTO neuron_stats VALUES ({', '.join('?' * len(columns))})",
                        [[*key, *(v[c] for c in columns[4:])] for key, v in self.stats.items()])
        con.execute("CREATE TABLE ablation_curves (run_id VARCHAR, scope VARCHAR, layer INTEGER, measure VARCHAR, bits INTEGER, "
                    "estimator VARCHAR, ordering VARCHAR, strategy VARCHAR, repeat INTEGER, n_ablated INTEGER, "
                    "frac_ablated DOUBLE, test_error DOUBLE)")
        con.executemany("INSERT INTO ablation_curves VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [list(c.values()) for c in self.curves])
        con.execute("CREATE TABLE measure_estimates (run_id VARCHAR, layer INTEGER, neuron INTEGER, bits INTEGER, "
                    "measure VARCHAR, estimator VARCHAR, value DOUBLE)")  # the corrected values: none here
        con.execute("CREATE TABLE trajectory_points (run_id VARCHAR, training_id VARCHAR, epoch INTEGER, step BIGINT)")
        con.execute("CREATE TABLE neuron_redundancy (run_id VARCHAR, layer INTEGER, neuron INTEGER, bits INTEGER, "
                    + ", ".join(f"{c} DOUBLE" for c in criterion_names("pair_aggregate")) + ")")
        con.execute("CREATE TABLE neuron_baselines (run_id VARCHAR, layer INTEGER, neuron INTEGER, "
                    + ", ".join(f"{c} DOUBLE" for c in criterion_names("baseline")) + ")")
        con.execute("CREATE TABLE layers (run_id VARCHAR, layer INTEGER, module_path VARCHAR, unit_kind VARCHAR, "
                    "reducer VARCHAR, units INTEGER, quantizer VARCHAR)")  # none: every run an mlp's
        create_public_views(con, MARTS)
        if estimator:
            con.execute(f"SET VARIABLE scorecard_estimator = '{estimator}'")
        if claim is None:  # the whole view (and the per-claim summary)
            return con
        rows = con.sql(f"SELECT * FROM scorecard WHERE claim = '{claim}' AND curve_part = '{part}'").fetchall()
        names = [d[0] for d in con.sql("SELECT * FROM scorecard LIMIT 0").description]
        return {r[names.index("group_name")]: dict(zip(names, r)) for r in rows}


def expected(values: list[float]) -> tuple[float, float, float]:
    """Mean and 95 % t-interval (n - 1 degrees of freedom), independently of the SQL."""
    mean, sd, n = np.mean(values), np.std(values, ddof=1), len(values)
    half = scipy_stats.t.ppf(0.975, n - 1) * sd / np.sqrt(n)
    return mean, mean - half, mean + half


# ------------------------------------------------------------------------------------------------
# one setter per claim: make run_id's statistic for that claim equal s


def set_growth(measure):
    def setter(w: World, group, seed, s):
        r = w.run(group, seed)
        for neuron in range(4):
            w.stat(r, 1, neuron, **{measure: 0.1})
        for neuron in range(2):
            w.stat(r, 2, neuron, **{measure: 0.1 + s})
    return setter


def set_network(measure, sign, ordering="low_first"):
    """sign +1: statistic = AUC(ordering) - AUC(random); -1: AUC(random) - AUC(ordering)."""
    def setter(w: World, group, seed, s):
        r = w.run(group, seed)
        w.curve(r, "network", None, measure, 1, ordering, "zero", 0.5 + sign * s)
        w.curve(r, "network", None, measure, 1, "high_first" if ordering == "low_first" else "low_first", "zero", 0.5)
    return setter


def set_shallow(w: World, group, seed, s):
    r = w.run(group, seed)
    w.curve(r, "layer", 1, "random", None, "random", "zero", 0.3 + s)
    w.curve(r, "layer", 2, "random", None, "random", "zero", 0.3)


def set_first_layer(measure):
    def setter(w: World, group, seed, s):
        r = w.run(group, seed)
        w.curve(r, "layer", 1, "random", None, "random", "zero", 0.3)
        for m in QUANTIZED:  # low = random - s, high = random + s + 0.05: the smaller side is s
            w.curve(r, "layer", 1, m, 1, "low_first", "zero", 0.3 - s if m == measure else 0.2)
            w.curve(r, "layer", 1, m, 1, "high_first", "zero", 0.35 + s if m == measure else 0.4)
    return setter


def set_entropy_weakest(w: World, group, seed, s):
    r = w.run(group, seed)
    w.curve(r, "layer", 1, "random", None, "random", "zero", 0.3)
    for m in QUANTIZED:  # others: both sides 0.05; entropy: 0.05 - s
        side = 0.05 - s if m == "entropy" else 0.05
        w.curve(r, "layer", 1, m, 1, "low_first", "zero", 0.3 - side)
        w.curve(r, "layer", 1, m, 1, "high_first", "zero", 0.3 + side)


def set_second_layer(measure, ordering, sign):
    def setter(w: World, group, seed, s):
        r = w.run(group, seed)
        w.curve(r, "layer", 2, "random", None, "random", "zero", 0.3)
        w.curve(r, "layer", 2, measure, 1, ordering, "zero", 0.3 + sign * s)
        w.curve(r, "layer", 2, measure, 1, "high_first" if ordering == "low_first" else "low_first", "zero", 0.3)
    return setter


def set_weak(w: World, group, seed, s):
    r = w.run(group, seed, activation="sigmoid")
    w.curve(r, "layer", 1, "random", None, "random", "zero", 0.3)
    gap = 0.02 - s  # |AUC(high) - AUC(low)|
    w.curve(r, "layer", 1, "mutual_info", 1, "low_first", "zero", 0.3 - gap / 2)
    w.curve(r, "layer", 1, "mutual_info", 1, "high_first", "zero", 0.3 + gap / 2)


def set_bins(w: World, group, seed, s):
    r = w.run(group, seed)
    change = 0.02 - s
    for bits, shift in ((1, 0.0), (3, change)):
        w.curve(r, "network", None, "mutual_info", bits, "low_first", "zero", 0.2 + shift)
        w.curve(r, "network", None, "mutual_info", bits, "high_first", "zero", 0.6 - shift / 2)


def set_zero_vs_mean(layer_gains):
    def setter(w: World, group, seed, s):
        r = w.run(group, seed, regularizer="dropout")
        for layer, gain in layer_gains(s).items():
            w.curve(r, "layer", layer, "random", None, "random", "zero", 0.3)
            w.curve(r, "layer", layer, "random", None, "random", "mean", 0.3 + gain)
    return setter


def set_class_selectivity(w: World, group, seed, s):
    r = w.run(group, seed)
    w.curve(r, "network", None, "mutual_info", 1, "low_first", "zero", 0.2)
    w.curve(r, "network", None, "mutual_info", 1, "high_first", "zero", 0.6)
    w.curve(r, "network", None, "class_selectivity", None, "low_first", "zero", 0.3)
    w.curve(r, "network", None, "class_selectivity", None, "high_first", "zero", 0.7 - s)  # spread 0.4 - s


def set_dead_growth(w: World, group, seed, s):
    r = w.run(group, seed, hidden=(100, 100, 100))
    for layer, dead in ((1, 20), (3, 20 + round(s * 1000))):  # dead share of layer 3 exceeds layer 1's by 10 s
        for neuron in range(dead):
            w.stat(r, layer, neuron, active_frac=0.0)


def set_active_count(w: World, group, seed, s):
    active = round(100 - s * 1000)  # statistic 100 - active = s * 1000 (scaled)
    r = w.run(group, seed, hidden=(300, 300, 300))
    for neuron in range(300 - active):
        w.stat(r, 3, neuron, active_frac=0.0)


def set_constant_removed(w: World, group, seed, s):
    r = w.run(group, seed, hidden=(4, 4, 4))
    for neuron in range(2):  # two constant neurons in layer 3: the error after ablating them rises by 0.02 - s
        w.stat(r, 3, neuron, active_frac=1.0)
    w.curve(r, "layer", 3, "entropy", 1, "low_first", "zero", 0.1, points={2: 0.1 + 0.02 - s, 3: 0.9, 4: 0.9})


SETTERS = {
    "1a": set_growth("mutual_info"), "1b": set_growth("kl_selectivity"),
    "2b": set_network("mutual_info", +1), "2c": set_network("entropy", +1), "2e": set_network("kl_selectivity", -1),
    "3": set_shallow,
    **{f"4-{m}": set_first_layer(m) for m in QUANTIZED}, "4w": set_entropy_weakest,
    "5a": set_second_layer("mutual_info", "high_first", +1), "5b": set_second_layer("kl_selectivity", "high_first", +1),
    "5c": set_second_layer("mutual_info", "low_first", -1), "5d": set_second_layer("kl_selectivity", "low_first", +1),
    "6": set_weak, "7": set_bins,
    "8a": set_zero_vs_mean(lambda s: {1: 0.0, 2: s}), "8b": set_zero_vs_mean(lambda s: {1: s, 2: 0.0}),
    "8c": set_zero_vs_mean(lambda s: {1: 0.01, 2: 0.01 + s}),
    "9": set_class_selectivity,
    "10a": set_dead_growth, "10b": set_active_count, "10c": set_constant_removed,
}
SCALE = {"10a": 10.0, "10b": 1000.0}  # these statistics are s times this (see their setters)


@pytest.mark.parametrize("claim", list(SETTERS))
def test_claim_statistic_and_verdict_on_a_hand_made_warehouse(claim):
    world = World()
    for case, values in CASES.items():
        for seed, s in enumerate(values):
            SETTERS[claim](world, f"group-{case}", seed, s)
    rows = world.scorecard(claim)
    for case, values in CASES.items():
        row = rows[f"group-{case}"]
        values = [v * SCALE.get(claim, 1.0) for v in values]
        mean, low, high = expected(values)
        assert row["n_seeds"] == 3
        assert row["effect"] == pytest.approx(mean, abs=1e-9), (claim, case)
        assert row["ci_low"] == pytest.approx(low, abs=1e-3 * max(1.0, abs(low))), (claim, case)
        assert row["ci_high"] == pytest.approx(high, abs=1e-3 * max(1.0, abs(high))), (claim, case)
        assert row["verdict"] == case, (claim, case, row)


def test_claim_2a_first_layer_share_of_the_low_mi_half():
    """6 neurons (4 in layer 1, 2 in layer 2): the 3 lowest-MI neurons hold x first-layer ones, so the
    statistic is x/3 - 4/6."""
    world = World()
    for case, picks in {"holds": [3, 3, 3], "contradicted": [1, 1, 1], "inconclusive": [3, 1, 2]}.items():
        for seed, x in enumerate(picks):
            r = world.run(f"group-{case}", seed)
            low = [(1, n) for n in range(x)] + [(2, n) for n in range(3 - x)]
            for layer, size in ((1, 4), (2, 2)):
                for neuron in range(size):
                    world.stat(r, layer, neuron, mutual_info=0.1 if (layer, neuron) in low else 0.9)
    rows = world.scorecard("2a")
    assert {g: r["verdict"] for g, r in rows.items()} == {"group-holds": "holds", "group-contradicted": "contradicted",
                                                          "group-inconclusive": "inconclusive"}
    assert rows["group-holds"]["effect"] == pytest.approx(3 / 3 - 4 / 6)
    assert rows["group-inconclusive"]["effect"] == pytest.approx(np.mean([1, 1 / 3, 2 / 3]) - 4 / 6)


def test_claim_2d_pairs_dropout_with_no_regularization_by_seed():
    world = World()
    for seed, s in enumerate(CASES["holds"]):
        for regularizer, excess in (("dropout", s), ("none", 0.0)):
            r = world.run(f"synthetic-{regularizer}", seed, regularizer=regularizer)
            world.curve(r, "network", None, "mutual_info", 1, "low_first", "zero", 0.5 + 0.03 + excess)
    row = world.scorecard("2d")["synthetic-relu: dropout vs none"]
    assert row["effect"] == pytest.approx(np.mean(CASES["holds"])) and row["verdict"] == "holds"
    assert row["page"] == "synthetic-dropout"


def test_one_seed_has_no_interval_and_says_so():
    world = World()
    set_shallow(world, "alone", 0, 0.05)
    row = world.scorecard("3")["alone"]
    assert (row["n_seeds"], row["ci_low"], row["ci_high"], row["verdict"]) == (1, None, None, "1 seed")
    assert row["effect"] == pytest.approx(0.05)


def test_t_quantile_macro_matches_scipy():
    con = duckdb.connect()
    con.execute(macros_sql())
    for df in (1, 2, 3, 5, 10, 29, 30):
        assert con.sql(f"SELECT t_quantile_95({df})").fetchall()[0][0] == pytest.approx(scipy_stats.t.ppf(0.975, df), abs=1e-3)
    for df in (31, 45, 70, 500):  # beyond the table: the next smaller tabulated df, never below the true quantile
        assert con.sql(f"SELECT t_quantile_95({df})").fetchall()[0][0] >= scipy_stats.t.ppf(0.975, df)


def test_t_two_sided_p_macro_matches_scipy():
    con = duckdb.connect()
    con.execute(macros_sql())
    for df in (1, 2, 3, 4, 7, 10, 29, 60):
        for t in (0.0, 0.3, -1.0, 2.0, 4.303, 12.0, 40.0):
            got = con.sql(f"SELECT t_two_sided_p({t}, {df})").fetchall()[0][0]
            assert got == pytest.approx(2 * scipy_stats.t.sf(abs(t), df), abs=1e-12), (t, df)


def holm(p: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values (reference, from the definition)."""
    order, m = np.argsort(p, kind="stable"), len(p)
    adjusted = np.empty(m)
    running = 0.0
    for i, j in enumerate(order):
        running = max(running, min(1.0, (m - i) * p[j]))
        adjusted[j] = running
    return adjusted


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (reference, from the definition)."""
    order, m = np.argsort(p, kind="stable"), len(p)
    adjusted = np.empty(m)
    running = 1.0
    for i in range(m - 1, -1, -1):
        j = order[i]
        running = min(running, min(1.0, m * p[j] / (i + 1)))
        adjusted[j] = running
    return adjusted


def test_multiplicity_corrections_over_the_scorecard_family():
    """Eight groups of claim 2b with effects from clear to nil: p-values from scipy's one-sample t-test, Holm
    and Benjamini-Hochberg over every cell with 2+ seeds against references from their definitions; a cell that
    holds alone but not after Holm says so; the per-claim summary counts them."""
    spreads = {f"g{i}": [m - 0.004, m, m + 0.005] for i, m in enumerate((0.05, 0.02, 0.01, 0.006, 0.004, 0.002, 0.0, -0.03))}
    world = World()
    for group, values in spreads.items():
        for seed, v in enumerate(values):
            SETTERS["2b"](world, group, seed, v)
    SETTERS["3"](world, "alone", 0, 0.05)  # one seed: outside the family
    con = world.scorecard(None)
    rows = con.sql("SELECT claim, group_name, n_seeds, effect, p_value, p_holm, p_bh, verdict, verdict_holm, verdict_bh "
                   "FROM scorecard WHERE curve_part = 'whole'").to_arrow_table().to_pylist()
    for group, values in spreads.items():
        [row] = [r for r in rows if (r["claim"], r["group_name"]) == ("2b", group)]
        assert row["p_value"] == pytest.approx(scipy_stats.ttest_1samp(values, 0.0).pvalue, rel=1e-9), group
    family = [r for r in rows if r["n_seeds"] >= 2]
    p = np.array([r["p_value"] for r in family])
    np.testing.assert_allclose([r["p_holm"] for r in family], holm(p), rtol=1e-12)
    np.testing.assert_allclose([r["p_bh"] for r in family], benjamini_hochberg(p), rtol=1e-12)
    for r in family:
        for method, adjusted in (("holm", r["p_holm"]), ("bh", r["p_bh"])):
            expected_verdict = ("holds" if r["effect"] > 0 else "contradicted") if adjusted < 0.05 else "inconclusive"
            assert r[f"verdict_{method}"] == expected_verdict, r
    assert any(r["verdict"] == "holds" and r["verdict_holm"] == "inconclusive" for r in family)  # the correction bites
    [alone] = [r for r in rows if (r["claim"], r["group_name"]) == ("3", "alone")]
    assert alone["p_value"] is None and alone["verdict_holm"] == "1 seed"
    summary = {r["claim"]: r for r in con.sql("SELECT * FROM scorecard_summary WHERE curve_part = 'whole'").to_arrow_table().to_pylist()}
    mine = [r for r in rows if r["claim"] == "2b"]
    assert summary["2b"]["cells"] == len(mine) == 8
    for column, verdict_column, verdict in (("holds", "verdict", "holds"), ("contradicted", "verdict", "contradicted"),
                                            ("holds_holm", "verdict_holm", "holds"), ("holds_bh", "verdict_bh", "holds")):
        assert summary["2b"][column] == sum(r[verdict_column] == verdict for r in mine), column


def test_early_curve_statistics_read_the_curves_up_to_the_fraction(monkeypatch):
    """Claim 2b on low-first curves that hurt early and help late: the whole-curve and the early-curve effects
    are trapezoid areas from numpy over all points and over the points with frac_ablated <= 0.5 (or the
    fraction $NEURONINFO_EARLY_FRACTION says); statistics that read no curve have no early row."""
    def curve(s):  # k = 0..4 of 4 neurons; random is flat at 0.5
        return {0: 0.5, 1: 0.5 + 2 * s, 2: 0.5 + 3 * s, 3: 0.5 - 4 * s, 4: 0.5 - 4 * s}

    def area(points, up_to):
        frac = np.array([k / 4 for k in points if k / 4 <= up_to])
        error = np.array([points[k] for k in points if k / 4 <= up_to])
        return np.sum(np.diff(frac) * (error[1:] + error[:-1]) / 2) / (frac[-1] - frac[0])

    world = World()
    for seed, s in enumerate(CASES["holds"]):
        r = world.run("g", seed)
        world.curve(r, "network", None, "mutual_info", 1, "low_first", "zero", 0.5, points=curve(s))
        world.curve(r, "network", None, "mutual_info", 1, "high_first", "zero", 0.5)
    for up_to in (0.5, 0.75):
        monkeypatch.setenv("NEURONINFO_EARLY_FRACTION", str(up_to))
        early, whole = world.scorecard("2b", "early")["g"], world.scorecard("2b", "whole")["g"]
        assert early["effect"] == pytest.approx(np.mean([area(curve(s), up_to) - 0.5 for s in CASES["holds"]]), abs=1e-12)
        assert whole["effect"] == pytest.approx(np.mean([area(curve(s), 1.0) - 0.5 for s in CASES["holds"]]), abs=1e-12)
    assert early["verdict"] == "holds" and whole["verdict"] == "contradicted"  # early damage, late relief
    assert world.scorecard("2a", "early") == {} and world.scorecard("2a", "whole")
    monkeypatch.setenv("NEURONINFO_EARLY_FRACTION", "1.5")
    with pytest.raises(Exception, match="NEURONINFO_EARLY_FRACTION='1.5' is not a fraction ablated"):
        world.scorecard("2b", "early")


def test_scorecard_ranks_information_measures_by_the_chosen_estimator():
    """Claim 9 (MI against class selectivity) with plug-in MI curves and Miller-Madow MI curves of other areas:
    unset, the scorecard reads the plug-in curves; with scorecard_estimator = miller_madow it reads the corrected
    MI curves beside class selectivity's plug-in ones (it has no others); an unknown name is an error."""
    world = World()
    for seed, s in enumerate(CASES["holds"]):
        r = world.run("g", seed)
        world.curve(r, "network", None, "class_selectivity", None, "low_first", "zero", 0.3)
        world.curve(r, "network", None, "class_selectivity", None, "high_first", "zero", 0.7)  # spread 0.4
        world.curve(r, "network", None, "mutual_info", 1, "low_first", "zero", 0.2)
        world.curve(r, "network", None, "mutual_info", 1, "high_first", "zero", 0.6 + s)  # plug-in spread 0.4 + s
        world.curve(r, "network", None, "mutual_info", 1, "low_first", "zero", 0.3, estimator="miller_madow")
        world.curve(r, "network", None, "mutual_info", 1, "high_first", "zero", 0.6 - s, estimator="miller_madow")
    plugin, corrected = world.scorecard("9")["g"], world.scorecard("9", estimator="miller_madow")["g"]
    assert plugin["estimator"] == "plugin" and corrected["estimator"] == "miller_madow"
    assert plugin["effect"] == pytest.approx(np.mean([0.4 + s - 0.4 for s in CASES["holds"]]), abs=1e-12)
    assert corrected["effect"] == pytest.approx(np.mean([0.3 - s - 0.4 for s in CASES["holds"]]), abs=1e-12)
    assert plugin["verdict"] == "holds" and corrected["verdict"] == "contradicted"
    with pytest.raises(duckdb.Error, match="scorecard_estimator nsb is not an estimator"):
        world.scorecard("9", estimator="nsb")
