"""pipeline.pairs: every pair measure against an independent numpy reference and dit, hand-worked cases, the warehouse."""
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.compute  # noqa: F401
import pytest

from pipeline.pairs import LayerCodes, pair_blocks, pair_tables

TOL = 1e-9
PAIR_COLUMNS = ("mutual_info_i", "mutual_info_j", "joint_mi", "pair_mi", "red_mmi", "red_min", "unique_i_min",
                "unique_j_min", "synergy_min", "unique_i_mmi", "unique_j_mmi", "synergy_mmi", "co_info")


# ---------------------------------------------------------------- independent numpy reference

def mutual_info(joint):
    """I(A;B) in bits of a 2-d joint probability table."""
    outer = joint.sum(1, keepdims=True) * joint.sum(0, keepdims=True)
    keep = joint > 0
    return float((joint[keep] * np.log2(joint[keep] / outer[keep])).sum())


def specific_info(p_ty):
    """I_spec(T; y) = sum_t p(t|y) log2(p(t|y) / p(t)) for every y with p(y) > 0 (else 0)."""
    p_t, p_y = p_ty.sum(1), p_ty.sum(0)
    out = np.zeros(len(p_y))
    for y in np.flatnonzero(p_y):
        cond = p_ty[:, y] / p_y[y]
        keep = cond > 0
        out[y] = (cond[keep] * np.log2(cond[keep] / p_t[keep])).sum()
    return out


def pair_reference(ti, tj, y, n_bins, n_classes):
    """Every neuron_pairs measure of one pair of code vectors, from the joint probability table."""
    p = np.zeros((n_bins, n_bins, n_classes))
    np.add.at(p, (ti, tj, y), 1.0)
    p /= len(y)
    p_iy, p_jy, p_y = p.sum(1), p.sum(0), p.sum((0, 1))
    mi_i, mi_j = mutual_info(p_iy), mutual_info(p_jy)
    joint = mutual_info(p.reshape(n_bins * n_bins, n_classes))
    red_min = float((p_y * np.minimum(specific_info(p_iy), specific_info(p_jy))).sum())
    red_mmi = min(mi_i, mi_j)
    return dict(
        mutual_info_i=mi_i, mutual_info_j=mi_j, joint_mi=joint, pair_mi=mutual_info(p.sum(2)),
        red_mmi=red_mmi, red_min=red_min,
        unique_i_min=mi_i - red_min, unique_j_min=mi_j - red_min, synergy_min=joint - mi_i - mi_j + red_min,
        unique_i_mmi=mi_i - red_mmi, unique_j_mmi=mi_j - red_mmi, synergy_mmi=joint - mi_i - mi_j + red_mmi,
        co_info=mi_i + mi_j - joint,
    )


def miller_madow_entropy(counts):
    """Plug-in entropy of a count vector plus (occupied bins - 1) / (2 n ln 2), in bits (Miller 1955)."""
    counts = np.asarray(counts, float).ravel()
    n, used = counts.sum(), counts[counts > 0]
    return float(-(used / n * np.log2(used / n)).sum() + (len(used) - 1) / (2 * n * np.log(2)))


def miller_madow_info(table):
    """I(A;B) of a 2-d count table as H_MM(A) - sum_b p(b) H_MM(A | b)."""
    table = np.asarray(table, float)
    n = table.sum()
    return miller_madow_entropy(table.sum(1)) - sum(table[:, b].sum() / n * miller_madow_entropy(table[:, b])
                                                    for b in range(table.shape[1]) if table[:, b].sum())


def pair_miller_madow(ti, tj, y, n_bins, n_classes):
    """The Miller-Madow pair columns of one pair, and its small-sample flag, from the count tables."""
    n = np.zeros((n_bins, n_bins, n_classes))
    np.add.at(n, (ti, tj, y), 1.0)
    mi_i, mi_j = miller_madow_info(n.sum(1)), miller_madow_info(n.sum(0))
    joint = miller_madow_info(n.reshape(n_bins * n_bins, n_classes))
    n_tt, n_y = n.sum(2).ravel(), n.sum((0, 1))
    expected = np.outer(n_tt[n_tt > 0], n_y[n_y > 0]) / len(y)
    return dict(joint_mi_miller_madow=joint, pair_mi_miller_madow=miller_madow_info(n.sum(2)),
                co_info_miller_madow=mi_i + mi_j - joint, synergy_mmi_miller_madow=joint - max(mi_i, mi_j),
                small_sample=bool(expected.min() < 1 or (expected < 5).mean() > 0.2))


def random_layers(rng, n, sizes, bits):
    """Skewed random codes per layer: each neuron has its own bin distribution, some depend on the label."""
    labels = rng.integers(0, 4, n)
    layers = []
    for layer, m in enumerate(sizes, start=1):
        codes = np.empty((n, m), np.uint8)
        for j in range(m):
            weights = rng.dirichlet(np.full(1 << bits, 0.7))
            codes[:, j] = rng.choice(1 << bits, n, p=weights)
            if j % 3 == 0:
                codes[:, j] = (codes[:, j] + labels) % (1 << bits)
        layers.append(LayerCodes(layer, codes, np.arange(m)))
    return labels, layers


def check_against_reference(rows, layers, labels, bits, n_classes):
    codes = {l.layer: l.codes for l in layers}
    for row in rows:
        ref = pair_reference(codes[row["layer_i"]][:, row["neuron_i"]], codes[row["layer_j"]][:, row["neuron_j"]],
                             labels, 1 << bits, n_classes)
        for name in PAIR_COLUMNS:
            assert row[name] == pytest.approx(ref[name], abs=TOL), (name, row)
        corrected = pair_miller_madow(codes[row["layer_i"]][:, row["neuron_i"]], codes[row["layer_j"]][:, row["neuron_j"]],
                                      labels, 1 << bits, n_classes)
        for name, value in corrected.items():
            assert row[name] == pytest.approx(value, abs=TOL), (name, row)


# ---------------------------------------------------------------- against the numpy reference

@pytest.mark.parametrize("bits", [1, 2, 3])
def test_every_pair_matches_numpy(bits):
    rng = np.random.default_rng(bits)
    labels, layers = random_layers(rng, 300, (7, 4), bits)
    rows = pair_tables(labels, 4, layers, bits)["neuron_pairs"].to_pylist()
    assert [(r["layer_i"], r["neuron_i"], r["layer_j"], r["neuron_j"]) for r in rows] == \
        [(l.layer, i, l.layer, j) for l in layers for i in range(l.codes.shape[1]) for j in range(i + 1, l.codes.shape[1])]
    assert {r["bits"] for r in rows} == {bits}
    check_against_reference(rows, layers, labels, bits, 4)


def test_across_layers_adds_every_cross_pair():
    rng = np.random.default_rng(7)
    labels, layers = random_layers(rng, 200, (4, 3), 1)
    rows = pair_tables(labels, 4, layers, 1, across_layers=True)["neuron_pairs"].to_pylist()
    cross = [r for r in rows if r["layer_i"] != r["layer_j"]]
    assert len(rows) == 6 + 3 + 12 and len(cross) == 12
    assert all((r["layer_i"], r["layer_j"]) == (1, 2) for r in cross)
    check_against_reference(cross, layers, labels, 1, 4)


def test_blocks_give_the_same_rows(monkeypatch):
    import pipeline.pairs

    rng = np.random.default_rng(3)
    labels, layers = random_layers(rng, 250, (9, 5), 2)
    whole = pair_tables(labels, 4, layers, 2, across_layers=True)
    monkeypatch.setattr(pipeline.pairs, "CELLS_PER_BLOCK", 7 * 16 * 4)  # 7 pairs per block
    blocked = pair_tables(labels, 4, layers, 2, across_layers=True)
    for name in ("neuron_pairs", "neuron_redundancy"):
        a, b = blocked[name].to_pylist(), whole[name].to_pylist()
        assert len(a) == len(b) and all(x == pytest.approx(y, abs=1e-12) for x, y in zip(a, b))


def test_pair_blocks_cover_every_first_unit_once():
    layers = np.array([1, 1, 1, 1, 2, 2, 2])  # within: 3+2+1+0 + 2+1+0 pairs
    assert pair_blocks(layers, False, 3) == [(0, 1), (1, 4), (4, 7)]
    assert pair_blocks(layers, True, 100) == [(0, 7)]
    assert pair_blocks(np.array([1]), False, 10) == []


def test_classes_absent_and_a_constant_neuron():
    labels = np.array([0, 0, 1, 1, 1, 3, 3, 3])  # class 2 absent, K = 5
    codes = np.array([[0, 1, 0, 2], [1, 1, 0, 2], [1, 0, 0, 2], [0, 0, 0, 3],
                      [1, 1, 0, 3], [0, 1, 0, 1], [0, 0, 0, 1], [1, 0, 0, 0]], np.uint8)
    layers = [LayerCodes(2, codes, np.array([3, 5, 8, 9]))]
    rows = pair_tables(labels, 5, layers, 2)["neuron_pairs"].to_pylist()
    assert [(r["neuron_i"], r["neuron_j"]) for r in rows] == [(3, 5), (3, 8), (3, 9), (5, 8), (5, 9), (8, 9)]
    for row in rows:
        i, j = [3, 5, 8, 9].index(row["neuron_i"]), [3, 5, 8, 9].index(row["neuron_j"])
        ref = pair_reference(codes[:, i], codes[:, j], labels, 4, 5)
        for name in PAIR_COLUMNS:
            assert row[name] == pytest.approx(ref[name], abs=TOL), (name, row)


# ---------------------------------------------------------------- hand-worked cases (docs/measures-pairs.md)

def one_pair(ti, tj, y, bits=1):
    layers = [LayerCodes(1, np.stack([ti, tj], 1).astype(np.uint8), np.arange(2))]
    (row,) = pair_tables(np.asarray(y), int(max(y)) + 1, layers, bits)["neuron_pairs"].to_pylist()
    return row


def test_xor_is_pure_synergy():
    row = one_pair([0, 0, 1, 1], [0, 1, 0, 1], [0, 1, 1, 0])
    assert row["joint_mi"] == pytest.approx(1, abs=1e-12)
    assert row["red_min"] == pytest.approx(0, abs=1e-12) and row["red_mmi"] == pytest.approx(0, abs=1e-12)
    assert row["synergy_min"] == pytest.approx(1, abs=1e-12) and row["synergy_mmi"] == pytest.approx(1, abs=1e-12)
    assert row["pair_mi"] == pytest.approx(0, abs=1e-12) and row["co_info"] == pytest.approx(-1, abs=1e-12)


def test_copy_is_pure_redundancy():
    row = one_pair([0, 1], [0, 1], [0, 1])
    for name, value in dict(joint_mi=1, red_min=1, red_mmi=1, synergy_min=0, synergy_mmi=0, unique_i_min=0,
                            unique_j_min=0, pair_mi=1, co_info=1).items():
        assert row[name] == pytest.approx(value, abs=1e-12), name


def test_only_one_informative_neuron():
    row = one_pair([0, 0, 1, 1], [0, 1, 0, 1], [0, 0, 1, 1])
    for name, value in dict(joint_mi=1, red_min=0, red_mmi=0, unique_i_min=1, unique_j_min=0, synergy_min=0,
                            unique_i_mmi=1, synergy_mmi=0, co_info=0).items():
        assert row[name] == pytest.approx(value, abs=1e-12), name


def test_two_bit_copy_shows_the_i_min_overstatement():
    """Y = (Ti, Tj), 4 classes: I_min calls 1 bit redundant and 1 bit synergistic, though the bits are independent."""
    row = one_pair([0, 0, 1, 1], [0, 1, 0, 1], [0, 1, 2, 3])
    for name, value in dict(joint_mi=2, mutual_info_i=1, mutual_info_j=1, red_min=1, synergy_min=1,
                            unique_i_min=0, red_mmi=1, synergy_mmi=1, pair_mi=0).items():
        assert row[name] == pytest.approx(value, abs=1e-12), name


def test_atoms_add_up_to_joint_mi():
    rng = np.random.default_rng(11)
    labels, layers = random_layers(rng, 500, (12,), 2)
    for row in pair_tables(labels, 4, layers, 2)["neuron_pairs"].to_pylist():
        for r in ("min", "mmi"):
            red = row[f"red_{r}"]
            total = row[f"unique_i_{r}"] + row[f"unique_j_{r}"] + red + row[f"synergy_{r}"]
            assert abs(total - row["joint_mi"]) <= 1e-12
        assert row["red_min"] <= row["red_mmi"] + 1e-12  # I_min <= min of the two MIs


# ---------------------------------------------------------------- against dit's PID

@pytest.mark.parametrize("seed", range(4))
def test_red_min_and_red_mmi_match_dit(seed):
    dit = pytest.importorskip("dit")
    from dit.pid import PID_MMI, PID_WB

    rng = np.random.default_rng(100 + seed)
    n, bits, k = 40, 2, 3
    labels = rng.integers(0, k, n)
    ti = rng.integers(0, 1 << bits, n)
    tj = (ti + rng.integers(0, 2, n) * labels) % (1 << bits)
    row = one_pair(ti, tj, labels, bits)
    outcomes, counts = np.unique(np.stack([ti, tj, labels], 1), axis=0, return_counts=True)
    d = dit.Distribution([tuple(int(v) for v in o) for o in outcomes], list(counts / n))
    for pid, r in ((PID_WB(d, [[0], [1]], [2]), "min"), (PID_MMI(d, [[0], [1]], [2]), "mmi")):
        assert row[f"red_{r}"] == pytest.approx(pid.get_pi(((0,), (1,))), abs=1e-9)
        assert row[f"unique_i_{r}"] == pytest.approx(pid.get_pi(((0,),)), abs=1e-9)
        assert row[f"unique_j_{r}"] == pytest.approx(pid.get_pi(((1,),)), abs=1e-9)
        assert row[f"synergy_{r}"] == pytest.approx(pid.get_pi(((0, 1),)), abs=1e-9)


# ---------------------------------------------------------------- per-neuron aggregates

def test_redundancy_aggregates_match_the_pairs():
    rng = np.random.default_rng(5)
    labels, layers = random_layers(rng, 300, (6, 4), 1)
    layers[0].codes[:, 4] = layers[0].codes[:, 1]  # a duplicate: ties in red_min go to the smallest partner
    out = pair_tables(labels, 4, layers, 1, across_layers=True)
    pairs = out["neuron_pairs"].to_pylist()
    rows = out["neuron_redundancy"].to_pylist()
    assert [(r["layer"], r["neuron"]) for r in rows] == [(1, j) for j in range(6)] + [(2, j) for j in range(4)]
    for row in rows:
        (l, i), m = (row["layer"], row["neuron"]), layers[row["layer"] - 1].codes.shape[1]
        partners = {}
        for p in pairs:
            if p["layer_i"] == p["layer_j"] == l and i in (p["neuron_i"], p["neuron_j"]):
                partners[p["neuron_j"] if p["neuron_i"] == i else p["neuron_i"]] = (p["red_min"], p["synergy_min"])
        assert row["n_partners"] == len(partners) == m - 1
        red = np.array([partners[j][0] for j in sorted(partners)])
        syn = np.array([partners[j][1] for j in sorted(partners)])
        mi = pair_reference(layers[l - 1].codes[:, i], layers[l - 1].codes[:, i], labels, 2, 4)["mutual_info_i"]
        assert row["mutual_info"] == pytest.approx(mi, abs=TOL)
        assert row["max_red_min"] == pytest.approx(red.max(), abs=TOL)
        assert row["max_red_partner"] == sorted(partners)[int(np.flatnonzero(red >= red.max() - 1e-12)[0])]
        assert row["unique_min"] == pytest.approx(mi - red.max(), abs=TOL)
        assert row["mean_synergy_min"] == pytest.approx(syn.mean(), abs=TOL)
        assert row["max_synergy_min"] == pytest.approx(syn.max(), abs=TOL)
    dup = {r["neuron"]: r for r in rows if r["layer"] == 1}
    assert dup[4]["max_red_partner"] == 1 and dup[4]["unique_min"] == pytest.approx(0, abs=1e-12)


# ---------------------------------------------------------------- the warehouse, end to end

def test_pairs_stage_on_a_stored_run(trained_run):
    from flows.stages import measure_run, pairs_run
    from store.activations import open_activations
    from store.sandbox import query

    wh, run_id = trained_run
    measure_run(wh, run_id)
    pairs_run(wh, run_id, bits=1)
    pairs_run(wh, run_id, bits=2, top_n=5, across_layers=True, force=True)
    store = open_activations(wh, run_id)
    labels = store.labels("val")
    counts = query(wh, f"SELECT bits, count(*) AS n FROM neuron_pairs WHERE run_id = '{run_id}' GROUP BY bits ORDER BY bits").to_pylist()
    assert counts == [{"bits": 1, "n": 24 * 23 // 2 + 12 * 11 // 2}, {"bits": 2, "n": 10 + 10 + 25}]
    top = query(wh, f"SELECT layer, neuron FROM neuron_stats WHERE run_id = '{run_id}' AND bits = 2 "
                    "QUALIFY row_number() OVER (PARTITION BY layer ORDER BY mutual_info DESC, neuron) <= 5").to_pylist()
    rows = query(wh, f"SELECT * FROM neuron_pairs WHERE run_id = '{run_id}' AND bits = 2").to_pylist()
    assert {(r["layer_i"], r["neuron_i"]) for r in rows} | {(r["layer_j"], r["neuron_j"]) for r in rows} == \
        {(r["layer"], r["neuron"]) for r in top}
    layers = [LayerCodes(l, store.codes("val", l, 2), None) for l in store.layers]
    check_against_reference(rows, layers, labels, 2, 4)
    sample = query(wh, f"SELECT * FROM neuron_pairs WHERE run_id = '{run_id}' AND bits = 1 USING SAMPLE 40 ROWS (reservoir, 1)").to_pylist()
    check_against_reference(sample, [LayerCodes(l, store.codes("val", l, 1), None) for l in store.layers], labels, 1, 4)
    stats = query(wh, f"SELECT r.mutual_info AS a, s.mutual_info AS b FROM neuron_redundancy AS r JOIN neuron_stats AS s "
                      f"USING (run_id, layer, neuron, bits) WHERE run_id = '{run_id}'").to_pylist()
    assert len(stats) == 36 + 10 and all(abs(r["a"] - r["b"]) < 1e-12 for r in stats)


def test_pairs_as_tasks_in_processes_are_bit_identical_to_one_process(trained_run, tmp_path, monkeypatch):
    """Blocks of pairs run as tasks in other processes (paths in, a Parquet file out) and committed as one
    partition: neuron_pairs and the aggregates bit-identical to one process (one thread or two)."""
    import multiprocessing
    import shutil
    from concurrent.futures import ProcessPoolExecutor

    import pipeline.pairs
    from flows import stages
    from store.paths import open_warehouse
    from store.tables import read_partition

    wh, run_id = trained_run
    monkeypatch.setattr(pipeline.pairs, "CELLS_PER_BLOCK", 2_000)  # many blocks: 24 + 12 units at 2 bits, 4 classes
    monkeypatch.setattr(stages, "PAIR_TASKS", 3)  # a task of several blocks
    copies = {}
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as spawned:
        for name, executor, threads in (("one", None, 1), ("threads", None, 2), ("tasks", spawned, None)):
            shutil.copytree(wh.root, tmp_path / name)
            copies[name] = open_warehouse(tmp_path / name)
            stages.pairs_run(copies[name], run_id, bits=2, force=True, replace=True, executor=executor, workers=threads)
    assert not (tmp_path / "tasks" / ".work").exists() or not any((tmp_path / "tasks" / ".work").iterdir())  # scratch removed
    tables = {n: {t: read_partition(copies[n], t, run_id).filter(pa.compute.equal(pa.compute.field("bits"), 2))
                  for t in ("neuron_pairs", "neuron_redundancy")} for n in copies}
    one = tables["one"]
    assert one["neuron_pairs"].num_rows == 24 * 23 // 2 + 12 * 11 // 2
    for name in ("threads", "tasks"):  # every bit of every row, in order; the aggregates too (one DuckDB thread)
        assert tables[name]["neuron_pairs"].equals(one["neuron_pairs"]), name
        assert tables[name]["neuron_redundancy"].equals(one["neuron_redundancy"]), name


def test_a_failed_block_stops_the_blocks_not_yet_started(monkeypatch):
    import pipeline.pairs

    rng = np.random.default_rng(3)
    layers = [LayerCodes(1, rng.integers(0, 2, (200, 30)).astype(np.uint8), np.arange(30))]
    ranges = [(i, i + 1) for i in range(29)]
    calls, block_rows = [], pipeline.pairs._block_rows

    def failing(con, lo, hi, *rest):
        calls.append(lo)
        if lo == 1:
            raise MemoryError("block 1")
        return block_rows(con, lo, hi, *rest)

    monkeypatch.setattr(pipeline.pairs, "_block_rows", failing)
    with pytest.raises(MemoryError, match="block 1"):
        pipeline.pairs.pair_rows(rng.integers(0, 4, 200), 4, layers, 1, False, ranges, workers=1)
    assert len(calls) <= 3  # not the 29 blocks


def test_pair_aggregates_are_ablation_measures(trained_run):
    """rankings: low/high-first by value, ties by index; only bits whose aggregates cover every neuron."""
    from flows.rankings import rankings
    from flows.stages import measure_run, pairs_run
    from pipeline.criteria import names
    from store.sandbox import query

    wh, run_id = trained_run
    measure_run(wh, run_id)
    pairs_run(wh, run_id, bits=1)
    pairs_run(wh, run_id, bits=3, top_n=4, force=True)
    values = query(wh, f"SELECT * FROM neuron_redundancy WHERE run_id = '{run_id}' AND bits = 1 ORDER BY layer, neuron").to_pydict()
    orderings = rankings(wh, run_id, names("pair_aggregate"))
    assert {(o.measure, o.bits) for o in orderings} == {(m, 1) for m in names("pair_aggregate")}
    for o in orderings:
        layer, neuron, value = (np.asarray(values[k]) for k in ("layer", "neuron", o.measure))
        keep = layer == o.layer if o.scope == "layer" else np.ones(len(layer), bool)
        rounded = np.round(value[keep], 12)  # the documented tie rule: values compared to 1e-12, then by index
        key = rounded if o.ordering == "low_first" else -rounded
        order = np.lexsort((neuron[keep], layer[keep], key))
        assert o.neurons.tolist() == np.stack([layer[keep][order], neuron[keep][order]], 1).tolist()


def test_pairs_verb(trained_run):
    from flows.stages import measure_run

    wh, run_id = trained_run
    measure_run(wh, run_id)  # --top ranks by neuron_stats
    cmd = [sys.executable, "-m", "flows.cli", "pairs", run_id, "--warehouse", str(wh.root)]
    done = subprocess.run(cmd + ["--bits", "3", "--top", "4"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == run_id
    for extra, hint in ((["--bits", "5"], "neuroninfo capture"), (["--top", "1"], "at least 2")):
        bad = subprocess.run(cmd + extra, capture_output=True, text=True)
        assert bad.returncode == 2 and hint in bad.stderr and len(bad.stderr.strip().splitlines()) == 1


# ---------------------------------------------------------------- the report section

def test_cluster_order_keeps_blocks_together():
    from pipeline.seriation import cluster_order

    blocks = np.array([0, 1, 0, 2, 1, 0, 2])  # items 0, 2, 5 | 1, 4 | 3, 6
    similarity = np.where(blocks[:, None] == blocks[None, :], 0.9, 0.1)
    similarity[0, 2] = similarity[2, 0] = 0.95  # the closest pair merges first
    order = cluster_order(similarity)
    assert sorted(order) == list(range(7))
    runs = [blocks[order][k] != blocks[order][k + 1] for k in range(6)]
    assert sum(runs) == 2  # three contiguous blocks
    assert order[:2] == [0, 2]
    assert cluster_order(np.ones((1, 1))) == [0]


@pytest.fixture(scope="module")
def paired_run(tmp_path_factory, tiny_spec):
    """(warehouse, run_id): a synthetic run with pairs at 1 bit and (small) ablation curves, in its own warehouse."""
    from flows.stages import ablate_run, capture_run, measure_run, pairs_run, train_run
    from store.paths import open_warehouse

    wh = open_warehouse(tmp_path_factory.mktemp("paired"))
    run_id = train_run(wh, tiny_spec, progress=False)
    capture_run(wh, run_id, bits=(1, 2))
    measure_run(wh, run_id)
    pairs_run(wh, run_id, bits=1)
    ablate_run(wh, run_id, strategies=("zero",), random_repeats=2, steps=4)
    return wh, run_id


def test_report_pair_tables_match_numpy(paired_run):
    from store.sandbox import query
    from store.report_data import BINS, report_tables

    wh, run_id = paired_run
    tables = report_tables(wh, [run_id])
    pairs = query(wh, f"SELECT * FROM neuron_pairs WHERE run_id = '{run_id}'").to_pydict()
    stats = query(wh, f"SELECT layer, neuron, mutual_info FROM neuron_stats WHERE run_id = '{run_id}' AND bits = 1").to_pylist()
    cells = {(r["layer"], r["neuron_a"], r["neuron_b"]): r["red_min"] for r in tables["pair_heatmap"].to_pylist()}
    assert len(cells) == 24 * 24 + 12 * 12  # top 40 of layers of 24 and 12: every neuron
    for li, i, j, red in zip(pairs["layer_i"], pairs["neuron_i"], pairs["neuron_j"], pairs["red_min"]):
        assert cells[(li, i, j)] == cells[(li, j, i)] == pytest.approx(red, abs=1e-12)
    for s in stats:
        assert cells[(s["layer"], s["neuron"], s["neuron"])] == pytest.approx(s["mutual_info"], abs=1e-12)
    values = {m: np.asarray(pairs[m]) for m in ("red_min", "synergy_min")}
    lo = min(v.min() for v in values.values())
    hi = max(v.max() for v in values.values())
    edges = np.linspace(lo, hi, BINS + 1)
    hist = {(r["measure"], r["layer"], r["bin"]): r for r in tables["pair_hist"].to_pylist()}
    layer = np.asarray(pairs["layer_i"])
    for m, v in values.items():
        for l in (1, 2):
            counts = np.histogram(v[layer == l], bins=edges)[0]
            got = [hist[(m, l, b)]["n_pairs"] if (m, l, b) in hist else 0 for b in range(BINS)]
            assert got == counts.tolist(), (m, l)


def test_report_page_has_the_pair_section(paired_run):
    from flows.pages import report_runs

    wh, run_id = paired_run
    (page,) = report_runs(wh, [run_id])
    text = page.read_text()
    assert 'id="chart-pairs"' in text and "Redundancy and synergy between neurons" in text
    assert page.with_name(f"{page.stem}-pairs.png").stat().st_size > 10_000


def test_damaged_pair_tables_are_repaired_with_their_options(paired_run, tmp_path):
    """verify --repair recomputes every bits value of the pair tables with the options recorded beside them."""
    import shutil

    from flows.stages import pairs_run
    from store.catalog import refresh_catalog
    from store.sandbox import query
    from store.lifecycle import prepare

    root, run_id = paired_run[0].root, paired_run[1]
    shutil.copytree(root, tmp_path / "wh")
    (tmp_path / "wh" / "catalog.duckdb").unlink(missing_ok=True)
    wh = prepare(tmp_path / "wh")
    refresh_catalog(wh)
    pairs_run(wh, run_id, bits=2, top_n=4, across_layers=True)

    def rows(table):
        data = query(wh, f"SELECT * EXCLUDE (run_id) FROM {table} WHERE run_id = '{run_id}' ORDER BY ALL").to_pylist()
        return [tuple(r.values()) for r in data]

    before = {t: rows(t) for t in ("neuron_pairs", "neuron_redundancy")}
    assert {r[0] for r in before["neuron_pairs"]} == {1, 2}  # bits
    path = tmp_path / "wh" / "tables" / "neuron_pairs" / f"run_id={run_id}" / "data.parquet"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    cmd = [sys.executable, "-m", "flows.cli", "verify", run_id, "--warehouse", str(wh.root)]
    found = subprocess.run(cmd, capture_output=True, text=True)
    assert found.returncode == 3 and "neuron_pairs" in found.stdout, found.stdout + found.stderr
    repaired = subprocess.run(cmd[:4] + ["--repair"] + cmd[4:], capture_output=True, text=True)
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    for table, old in before.items():
        new = rows(table)
        assert len(new) == len(old) and all(a == pytest.approx(b, abs=1e-12) for a, b in zip(new, old)), table
    assert subprocess.run(cmd, capture_output=True, text=True).returncode == 0
