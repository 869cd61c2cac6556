"""measure_estimates: each estimator against an independent numpy reference (written here from the formulas in
docs/measures.md, loop by loop), the shuffle draws against label permutations, the G-test against scipy's
contingency test, known-MI channels, and the stage's rows, reruns and repair on a real run."""
import math
import shutil

import numpy as np
import pyarrow.parquet as pq
import pytest
from scipy import stats

from pipeline import estimators as est
from pipeline.estimates import run_estimates
from pipeline.options import EstimateSpec

LN2 = math.log(2)


# ---- an independent reference: one table at a time, plain loops ----

def ref_entropy(counts):
    n = sum(counts)
    return -sum(c / n * math.log2(c / n) for c in counts if c > 0) if n else 0.0


def pt_bayescount(counts):
    """Panzeri-Treves' relevant bins, transcribed from the published procedure (pyentropy's pt_bayescount)."""
    counts = np.asarray(counts, float)
    dim, n = counts.size, counts.sum()
    nz = counts[counts > 0] / n
    r_naive = nz.size
    if r_naive >= dim:
        return float(r_naive)
    r_expected = r_naive - ((1 - nz) ** n).sum()
    delta_prev, delta = dim, abs(r_naive - r_expected)
    extra = 0.0
    while delta < delta_prev and r_naive + extra < dim:
        extra += 1
        gamma = extra * (1 - (n / (n + r_naive)) ** (1 / n))
        bayes = ((1 - gamma) / (n + r_naive)) * (nz * n + 1)
        r_expected = (1 - (1 - bayes) ** n).sum() + extra * (1 - (1 - gamma / extra) ** n)
        delta_prev, delta = delta, abs(r_naive - r_expected)
    return r_naive + extra - 1


def ref_bins(counts, estimator):
    if estimator == "miller_madow":
        return sum(1 for c in counts if c > 0)
    return pt_bayescount(counts)


def ref_corrected_entropy(counts, estimator):
    h = ref_entropy(counts)
    if estimator == "plugin" or sum(counts) == 0:
        return h
    return h + (ref_bins(counts, estimator) - 1) / (2 * sum(counts) * LN2)


def ref_info(groups, estimator):
    """I(T; G) of a table groups[t][g] = H(T) - sum_g p(g) H(T | g), every entropy corrected."""
    n_bins, n_groups = len(groups), len(groups[0])
    n = sum(sum(row) for row in groups)
    marginal = [sum(row) for row in groups]
    value = ref_corrected_entropy(marginal, estimator)
    for g in range(n_groups):
        column = [groups[t][g] for t in range(n_bins)]
        if sum(column):
            value -= sum(column) / n * ref_corrected_entropy(column, estimator)
    return value


def ref_measures(table, subset, estimator):
    table = np.asarray(table, float)
    n_bins, k = table.shape
    n = table.sum()
    n_t = table.sum(1)
    kl, labeled = -np.inf, 0.0
    for y in range(k):
        n_y = table[:, y].sum()
        if n_y == 0:
            continue
        d = sum(table[t, y] / n_y * math.log2(table[t, y] / n_y / (n_t[t] / n)) for t in range(n_bins) if table[t, y])
        if estimator != "plugin":
            d -= ((ref_bins(table[:, y], estimator) - 1) / n_y - (ref_bins(n_t, estimator) - 1) / n) / (2 * LN2)
        kl = max(kl, d)
        split = [[table[t, y], n_t[t] - table[t, y]] for t in range(n_bins)]
        labeled = max(labeled, ref_info(split, estimator)) if y else ref_info(split, estimator)
    if (table.sum(0) == 0).any():
        labeled = max(labeled, 0.0)
    inside = [sum(table[t, y] for y in range(k) if subset >> y & 1) for t in range(n_bins)]
    return {
        "entropy": ref_corrected_entropy(list(n_t), estimator),
        "mutual_info": ref_info(table.tolist(), estimator),
        "kl_selectivity": kl,
        "labeled_mi": labeled,
        "js_subset_separation": ref_info([[inside[t], n_t[t] - inside[t]] for t in range(n_bins)], estimator),
    }


def crafted_tables():
    """Tables with what breaks estimators: an unused bin, an absent class, a one-bin neuron, tiny counts."""
    rng = np.random.default_rng(7)
    tables = rng.integers(0, 40, size=(6, 8, 5))
    tables[0, 3, :] = 0  # an unused bin
    tables[1, :, 2] = 0  # an absent class
    tables[2, 1:, :] = 0  # a constant neuron: one bin
    tables[3] = rng.integers(0, 3, size=(8, 5))  # a few samples over many cells
    tables[3, 0, :] += 1
    tables[4, :, :] = 0
    tables[4, 2, :] = 5  # all samples in one bin, every class present
    tables[4, 5, 1] = 7
    return tables


@pytest.mark.parametrize("estimator", ["plugin", "miller_madow", "panzeri_treves"])
def test_estimators_match_the_loop_reference(estimator):
    tables = crafted_tables()
    subsets = np.array([1, 3, 5, 6, 9, 2])
    got = est.measures(tables, subsets, est.COUNTED[estimator])
    for i, (table, subset) in enumerate(zip(tables, subsets)):
        want = ref_measures(table, subset, estimator)
        for m in est.MEASURES:
            assert got[m][i] == pytest.approx(want[m], abs=1e-12), (i, m)


def test_relevant_bins_match_the_published_procedure():
    rng = np.random.default_rng(3)
    for _ in range(300):
        dim = int(rng.choice([2, 4, 8, 16]))
        counts = rng.integers(0, 4, size=dim) * (rng.random(dim) < 0.6)
        if counts.sum() == 0:
            continue
        assert est.relevant_bins(counts[None])[0] == pytest.approx(pt_bayescount(counts)), counts


def test_miller_madow_sql_matches_the_reference():
    """sql/estimates_miller_madow.sql (over counts, neuron_stats, specific_info rows) equals the loop reference."""
    import pyarrow as pa
    from pipeline.estimates import miller_madow
    from pipeline.measures import LayerInputs, measure_layers

    tables = crafted_tables()
    n_classes = tables.shape[-1]
    parts = {"counts": [], "neuron_stats": [], "specific_info": []}
    for i, table in enumerate(tables):  # each table one neuron of a layer of its own, from samples that make it
        bins_, classes = np.nonzero(table)
        reps = table[bins_, classes]
        codes = np.repeat(bins_, reps).astype(np.uint8)[:, None]
        raw = codes.astype(np.float32)
        measured = measure_layers(np.repeat(classes, reps), n_classes, [LayerInputs(i + 1, {3: codes}, raw, raw.mean(0))])
        for name in parts:
            parts[name].append(measured[name])
    measured = {name: pa.concat_tables(p) for name, p in parts.items()}
    mm = miller_madow(measured["counts"], measured["neuron_stats"], measured["specific_info"], n_classes)
    for i, row in enumerate(measured["neuron_stats"].to_pylist()):
        want = ref_measures(tables[i], row["js_subset"], "miller_madow")
        for m in est.MEASURES:
            assert mm[i + 1, 3][m][0] == pytest.approx(want[m], abs=1e-12), (i, m)


def test_shuffled_tables_are_label_permutations():
    """Redrawn tables keep both margins, and each cell has the hypergeometric mean and variance of a
    permutation: n(t) n(y) / N and n(y) (n(t)/N)(1 - n(t)/N)(N - n(y)) / (N - 1)."""
    table = np.array([[5, 0, 3], [2, 9, 1], [0, 4, 6], [7, 1, 2]])
    draws = est.shuffled(table[None], 20000, np.random.default_rng(0))[0]
    assert (draws.sum(-1) == table.sum(-1)).all() and (draws.sum(-2) == table.sum(-2)).all()
    n_t, n_y, n = table.sum(1)[:, None], table.sum(0)[None, :], table.sum()
    mean = n_t * n_y / n
    var = n_y * (n_t / n) * (1 - n_t / n) * (n - n_y) / (n - 1)
    assert np.abs(draws.mean(0) - mean).max() < 4 * np.sqrt(var.max() / 20000) + 1e-9
    assert np.allclose(draws.var(0), var, rtol=0.05)
    # the same law as permuting a sample list: compare the MI's null distribution both ways
    bins_ = np.repeat(np.arange(4), table.sum(1))
    labels = np.concatenate([np.repeat(np.arange(3), table[t]) for t in range(4)])
    rng = np.random.default_rng(1)
    permuted = []
    for _ in range(4000):
        shuffled_labels = rng.permutation(labels)
        permuted.append(np.histogram2d(bins_, shuffled_labels, bins=[np.arange(5), np.arange(4)])[0])
    ours = est.information(draws[:4000].astype(float))
    theirs = est.information(np.array(permuted))
    assert stats.ks_2samp(ours, theirs).pvalue > 0.01


def test_g_test_matches_scipy_and_flags_small_samples():
    rng = np.random.default_rng(5)
    tables = rng.integers(5, 60, size=(5, 4, 3))
    mi = est.information(tables.astype(float))
    p, small = est.independence_test(tables, mi)
    for i, table in enumerate(tables):
        g, _, dof, _ = stats.chi2_contingency(table, correction=False, lambda_="log-likelihood")
        n, rows_, cols = table.sum(), table.sum(1), table.sum(0)  # Williams (1976): G / q
        q = 1 + (n * (1 / rows_).sum() - 1) * (n * (1 / cols).sum() - 1) / (6 * n * dof)
        assert p[i] == pytest.approx(stats.chi2.sf(g / q, dof), rel=1e-9)
    assert not small.any()
    # expected counts n(t) n(y) / N: 2 x 2 table of N = 10 with a cell expecting 0.9 (< 1): flagged
    tiny = np.array([[[1, 2], [2, 5]]])
    assert est.independence_test(tiny, est.information(tiny.astype(float)))[1][0]
    # 3 of 12 cells (25 %) expect 4 (< 5), none below 1: flagged; 1 of 12 (8 %) expecting 2.4: not
    table = np.array([[[30, 30, 30], [30, 30, 30], [30, 30, 30], [4, 4, 4]]])
    assert est.independence_test(table, est.information(table.astype(float)))[1][0]
    table = np.array([[[10, 15, 15], [10, 100, 100], [10, 100, 100], [10, 100, 100]]])
    assert not est.independence_test(table, est.information(table.astype(float)))[1][0]


def channel(n_bins, strength, n_classes=10):
    """p(t | y): a mix of uniform and class y's own bin (y mod bins)."""
    own = np.zeros((n_classes, n_bins))
    own[np.arange(n_classes), np.arange(n_classes) % n_bins] = 1
    return (1 - strength) / n_bins + strength * own


def true_info(p_t_given_y):
    joint = p_t_given_y / len(p_t_given_y)
    p_t = joint.sum(0)
    return sum(joint[y, t] * math.log2(joint[y, t] / (p_t[t] / len(joint))) for y in range(len(joint))
               for t in range(joint.shape[1]) if joint[y, t] > 0)


def draw_tables(p_t_given_y, n, reps, rng):
    n_classes, n_bins = p_t_given_y.shape
    per_class = rng.multinomial(n, np.full(n_classes, 1 / n_classes), size=reps)
    tables = np.zeros((reps, n_bins, n_classes), np.int64)
    for y in range(n_classes):
        tables[:, :, y] = rng.multinomial(per_class[:, y], p_t_given_y[y])
    return tables


def test_known_information_is_recovered_at_1000_samples_and_16_bins():
    """Plug-in MI is ~0.1 bits high at N = 1,000 over 16 bins x 10 classes; the corrected estimators come within
    0.01 bits on average, and the analytic interval covers the truth about 95 % of the time."""
    rng = np.random.default_rng(11)
    for strength in (0.0, 0.45):
        p = channel(16, strength)
        truth = true_info(p)
        tables = draw_tables(p, 1000, 200, rng)
        subsets = np.ones(len(tables), np.int64)
        plugin = est.measures(tables, subsets)
        assert plugin["mutual_info"].mean() - truth > 0.08
        corrected = est.measures(tables, subsets, est.occupied)["mutual_info"]
        assert abs(corrected.mean() - truth) < 0.01
        se = est.standard_errors(tables, subsets, plugin)["mutual_info"]
        covered = np.abs(corrected - truth) <= 1.96 * se
        assert 0.88 <= covered.mean() <= 0.99, covered.mean()


def test_p_values_are_uniform_under_independence():
    rng = np.random.default_rng(2)
    tables = draw_tables(channel(8, 0.0), 2000, 400, rng)
    p, small = est.independence_test(tables, est.information(tables.astype(float)))
    assert not small.any()
    assert stats.kstest(p, "uniform").pvalue > 0.01


@pytest.fixture(scope="module")
def estimated_run(trained_run, tmp_path_factory):
    from flows.stages import estimate_run, measure_run
    from store.paths import open_warehouse

    wh, run_id = trained_run
    copy = tmp_path_factory.mktemp("estimates") / "wh"
    shutil.copytree(wh.root, copy)
    wh = open_warehouse(copy)
    measure_run(wh, run_id)
    estimate_run(wh, run_id)
    return wh, run_id


def test_stage_rows_cover_every_measure_and_keep_the_plugin_values(estimated_run):
    from store.sandbox import query

    wh, run_id = estimated_run
    rows = query(wh, f"SELECT * FROM measure_estimates WHERE run_id = '{run_id}'").to_pylist()
    stats_rows = query(wh, f"SELECT * FROM neuron_stats WHERE run_id = '{run_id}'").to_pylist()
    assert len(rows) == len(stats_rows) * (5 * 4 - 1)  # 5 measures x 4 estimators, no shuffle entropy
    by_key = {(r["layer"], r["neuron"], r["bits"]): r for r in stats_rows}
    for r in rows:
        s = by_key[r["layer"], r["neuron"], r["bits"]]
        if r["estimator"] == "plugin":
            assert r["value"] == s[r["measure"]]
        assert r["ci_low"] <= r["value"] <= r["ci_high"]
        assert (r["p_value"] is None) == (r["measure"] != "mutual_info")
    from store.contract import contracts
    from store.verify import verify_run

    assert verify_run(wh, run_id) == []
    for test in contracts()["measure_estimates"].tests:  # the contract's data tests find nothing
        assert query(wh, test.fails_when).num_rows == 0, test.name


def test_estimates_rerun_to_the_same_bytes_and_repair(estimated_run):
    from flows.stages import estimate_run
    from store.tables import partition_file

    wh, run_id = estimated_run
    path = partition_file(wh, "measure_estimates", run_id)
    before = pq.read_table(str(path))
    estimate_run(wh, run_id, force=True)
    assert pq.read_table(str(path)).equals(before)
    # a bootstrap on request: other intervals around the same values
    estimate_run(wh, run_id, EstimateSpec(intervals="bootstrap", resamples=50), force=True)
    boot = pq.read_table(str(path))
    assert boot.column("value").equals(before.column("value"))
    assert set(boot.column("interval").to_pylist()) == {"bootstrap"}
    assert boot.column("ci_low").to_pylist() != before.column("ci_low").to_pylist()
    from store.contract import contracts
    from store.sandbox import query

    for test in contracts()["measure_estimates"].tests:
        assert query(wh, test.fails_when).num_rows == 0, test.name
    # damage the file: repair replays the recorded spec (the bootstrap) to the same bytes
    from flows.repair import repair_run
    from store.verify import verify_run

    path.write_bytes(path.read_bytes()[:-20] + b"\0" * 20)
    problems = verify_run(wh, run_id)
    assert [p.kind for p in problems] == ["measure_estimates"]
    repair_run(wh, run_id, problems)
    assert pq.read_table(str(path)).equals(boot)


def test_run_estimates_on_no_layers_and_refuses_bad_specs():
    import pyarrow as pa

    empty = pa.table({k: pa.array([], pa.int32()) for k in ("layer", "bits", "neuron", "bin", "class")})
    empty = empty.append_column("n", pa.array([], pa.int64()))
    assert run_estimates("r", empty, None, None, 10).num_rows == 0
    for bad in (dict(intervals="jackknife"), dict(shuffles=0), dict(resamples=0), dict(level=1.0)):
        with pytest.raises(ValueError):
            EstimateSpec(**bad)


def test_layer_significance_counts_benjamini_hochberg_survivors(estimated_run):
    from store.sandbox import query

    wh, run_id = estimated_run
    tests = query(wh, f"SELECT layer, bits, p_value FROM measure_estimates WHERE run_id = '{run_id}' "
                      "AND measure = 'mutual_info' AND estimator = 'plugin'").to_pylist()
    got = {(r["layer"], r["bits"]): r for r in
           query(wh, f"SELECT * FROM layer_significance WHERE run_id = '{run_id}'").to_pylist()}
    assert len(got) == len({(t["layer"], t["bits"]) for t in tests}) == 6
    for key, row in got.items():
        p = np.sort([t["p_value"] for t in tests if (t["layer"], t["bits"]) == key])
        m = len(p)
        below = np.nonzero(p <= 0.05 * np.arange(1, m + 1) / m)[0]  # BH step-up: the largest i with p_(i) <= q i / m
        want = 0 if len(below) == 0 else below[-1] + 1
        assert row["n_units"] == m and row["significant_units"] == want, key


def test_permutation_p_value_matches_explicit_label_permutations():
    """A small table's permutation p-value against one from permuting a sample list (same law, Monte Carlo error)."""
    from pipeline.estimates import permutation_p_values

    table = np.array([[6, 1, 2], [1, 5, 1], [2, 2, 6]])
    observed = est.information(table[None].astype(float))
    ours = permutation_p_values(table[None], observed, 4000, np.random.default_rng(0))[0]
    bins_ = np.repeat(np.arange(3), table.sum(1))
    labels = np.concatenate([np.repeat(np.arange(3), table[t]) for t in range(3)])
    rng = np.random.default_rng(1)
    null = [est.information(np.histogram2d(bins_, rng.permutation(labels), bins=[np.arange(4)] * 2)[0][None])[0]
            for _ in range(4000)]
    theirs = (1 + np.sum(np.array(null) >= observed[0] - 1e-12)) / 4001
    assert 0.001 < theirs < 0.2 and abs(ours - theirs) < 4 * np.sqrt(theirs * (1 - theirs) / 4000) + 1e-3
    assert est.independence_test(table[None], observed)[1][0]  # this table is flagged small-sample


def test_estimate_of_an_unmeasured_or_damaged_run_is_a_one_line_error(estimated_run, tmp_path):
    from flows.stages import estimate_run
    from pipeline.errors import NeuronInfoError
    from store.paths import open_warehouse
    from store.tables import partition_file

    wh, run_id = estimated_run
    copy = open_warehouse(tmp_path / "wh")
    shutil.copytree(wh.root, copy.root, dirs_exist_ok=True)
    counts = partition_file(copy, "counts", run_id)
    counts.write_bytes(counts.read_bytes()[:-8] + b"\0" * 8)  # damaged: never read as if whole
    with pytest.raises(NeuronInfoError, match="does not match its integrity record"):
        estimate_run(copy, run_id, force=True)
    shutil.rmtree(copy.partition("counts", run_id))
    with pytest.raises(NeuronInfoError, match=f"has no counts; run: neuroninfo measure {run_id}"):
        estimate_run(copy, run_id, force=True)
    shutil.rmtree(copy.partition("neuron_stats", run_id))
    with pytest.raises(NeuronInfoError, match="is not measured yet"):
        estimate_run(copy, run_id, force=True)


def test_ablation_ranks_by_a_corrected_estimator(estimated_run):
    """ablate --estimator miller_madow: its orderings sort the Miller-Madow MI worked out here from the counts
    (ties by layer, neuron), its curves equal a naive forward pass per k along them and sit beside the plug-in
    curves; a rerun is skipped; criteria without corrected values, unknown estimators and unestimated runs are
    one-line errors; curves of files written before the estimator column read plugin."""
    import pyarrow as pa
    from naive_ablation import naive_errors

    from flows import run_data
    from flows.rankings import rankings
    from flows.stages import ablate_run
    from pipeline.errors import NeuronInfoError
    from store.checkpoints import load_run
    from store.sandbox import query
    from store.atomic import write_parquet
    from store.integrity import record
    from store.tables import partition_file, read_partition

    wh, run_id = estimated_run
    counts = query(wh, f"SELECT layer, neuron, bin, class, n FROM counts WHERE run_id = '{run_id}' AND bits = 3").to_pylist()
    keys = sorted({(c["layer"], c["neuron"]) for c in counts})
    tables = {key: np.zeros((8, 4)) for key in keys}  # synthetic-4: 4 classes, 3 bits = 8 bins
    for c in counts:
        tables[c["layer"], c["neuron"]][c["bin"], c["class"]] += c["n"]
    mm = np.array([ref_info(tables[key].tolist(), "miller_madow") for key in keys])
    layer, neuron = np.array(keys).T
    want = np.stack([layer, neuron], 1)[np.lexsort((neuron, layer, np.round(mm, 12)))]
    [network] = [o for o in rankings(wh, run_id, ("mutual_info",), "miller_madow")
                 if o.scope == "network" and o.ordering == "low_first" and o.bits == 3]
    assert network.estimator == "miller_madow" and network.neurons.tolist() == want.tolist()
    [plugin] = [o for o in rankings(wh, run_id, ("mutual_info",)) if o.scope == "network" and o.ordering == "low_first" and o.bits == 3]
    assert plugin.neurons.tolist() != want.tolist()  # the correction reorders: the comparison has teeth

    ablate_run(wh, run_id, ("zero",), 1, 5, measures=("mutual_info",))
    ablate_run(wh, run_id, ("zero",), 0, 5, measures=("mutual_info",), estimator="miller_madow")
    curves = query(wh, f"""SELECT estimator, n_ablated, test_error FROM ablation_curves WHERE run_id = '{run_id}'
                           AND scope = 'network' AND measure = 'mutual_info' AND bits = 3 AND ordering = 'low_first'
                           ORDER BY estimator, n_ablated""").to_pydict()
    assert sorted(set(curves["estimator"])) == ["miller_madow", "plugin"]
    model = load_run(wh, run_id)
    test = run_data.data_of(model.spec, None).test
    corrected = [i for i, e in enumerate(curves["estimator"]) if e == "miller_madow"]
    ks = [curves["n_ablated"][i] for i in corrected]
    np.testing.assert_allclose([curves["test_error"][i] for i in corrected],
                               naive_errors(model, test.x, test.y, want, ks, None), rtol=0, atol=1e-12)
    path = partition_file(wh, "ablation_curves", run_id)
    stamp = path.stat().st_mtime_ns
    ablate_run(wh, run_id, ("zero",), 0, 5, measures=("mutual_info",), estimator="miller_madow")
    assert path.stat().st_mtime_ns == stamp  # covered: nothing recomputed

    for kwargs, message in (
        (dict(measures=("class_selectivity",), estimator="miller_madow"), "criterion 'class_selectivity' has no miller_madow values"),
        (dict(measures=("entropy",), estimator="shuffle"), "criterion 'entropy' has no shuffle values"),
        (dict(estimator="nsb"), "unknown estimator 'nsb'; use one of plugin, miller_madow"),
    ):
        with pytest.raises(NeuronInfoError, match=message):
            ablate_run(wh, run_id, ("zero",), 0, 5, **kwargs)

    # a partition written before the estimator column existed reads plugin
    old = read_partition(wh, "ablation_curves", run_id)
    old = old.filter(pa.compute.equal(old["estimator"], "plugin")).drop_columns(["estimator"])
    record(path, write_parquet(path, old))  # as an older version wrote it
    assert query(wh, f"SELECT DISTINCT estimator FROM ablation_curves WHERE run_id = '{run_id}'").column(0).to_pylist() == ["plugin"]
    ablate_run(wh, run_id, ("zero",), 0, 5, measures=("mutual_info",), estimator="miller_madow")  # merged beside them
    merged = query(wh, f"SELECT estimator, count(*) AS n FROM ablation_curves WHERE run_id = '{run_id}' GROUP BY ALL ORDER BY ALL")
    assert merged.to_pydict() == {"estimator": ["miller_madow", "plugin"], "n": [len(ks) * 2 * 3 * 3, old.num_rows]}  # k x orderings x scopes x bits
