"""pipeline.measures: every measure against an independent numpy reference, hand-worked cases, the warehouse."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pyarrow as pa

from pipeline.measures import LayerInputs, connect, count_codes, measure_layers
from store.partitions import problems
from store.sandbox import query
from store.measures import write_measures
from store.paths import open_warehouse
from store.schemas import SCHEMAS
from store.tables import write_partition

TOL = 1e-9
TIE = 1e-12


# ---------------------------------------------------------------- independent numpy reference

def xlog2x(p):
    p = np.asarray(p, float)
    return np.where(p > 0, p * np.log2(np.where(p > 0, p, 1)), 0.0)


def mutual_info(joint):
    """I(A;B) in bits of a 2-d joint probability table."""
    outer = joint.sum(1, keepdims=True) * joint.sum(0, keepdims=True)
    keep = joint > 0
    return float((joint[keep] * np.log2(joint[keep] / outer[keep])).sum())


def argmax_unique(values):
    """(argmax, whether the max beats every other value by more than TIE)."""
    values = np.asarray(values, float)
    best = int(np.argmax(values))
    return best, bool(np.sum(values >= values[best] - TIE) == 1)


def reference(codes, labels, raw, n_classes, bits):
    """Per neuron: a dict of every neuron_stats measure plus 'specific' {class: value} and the counts."""
    n, m = codes.shape
    n_bins = 1 << bits
    present = np.bincount(labels, minlength=n_classes) > 0
    masks = np.arange(1, 1 << (n_classes - 1))
    rows = []
    for j in range(m):
        counts = np.zeros((n_bins, n_classes), int)
        np.add.at(counts, (codes[:, j], labels), 1)
        p = counts / n
        pt, py = p.sum(1), p.sum(0)
        specific = {}
        for y in np.flatnonzero(present):
            cond = p[:, y] / py[y]
            keep = cond > 0
            specific[int(y)] = float((cond[keep] * np.log2(cond[keep] / pt[keep])).sum())
        one_vs_rest = [mutual_info(np.stack([p[:, y], pt - p[:, y]], 1)) for y in range(n_classes)]
        split = []  # I(T; 1[Y in S]) for every mask S over classes 0..K-2
        for mask in masks:
            in_s = p[:, ((mask >> np.arange(n_classes)) & 1).astype(bool)].sum(1)
            split.append(mutual_info(np.stack([in_s, pt - in_s], 1)))
        kl_classes = sorted(specific)
        kl_best, kl_unique = argmax_unique([specific[y] for y in kl_classes])
        lab_best, lab_unique = argmax_unique(one_vs_rest)
        js_best, js_unique = argmax_unique(split)
        means = np.array([raw[labels == y, j].astype(float).mean() for y in np.flatnonzero(present)])
        top = means.max()
        rest = (means.sum() - top) / (len(means) - 1) if len(means) > 1 else None
        selectivity = 0.0 if rest is None or top + rest == 0 else (top - rest) / (top + rest)
        rows.append(dict(
            entropy=-float(xlog2x(pt).sum()),
            mutual_info=mutual_info(p),
            kl_selectivity=specific[kl_classes[kl_best]], kl_class=kl_classes[kl_best], kl_unique=kl_unique,
            labeled_mi=one_vs_rest[lab_best], labeled_mi_class=lab_best, labeled_unique=lab_unique,
            js_subset_separation=split[js_best], js_subset=int(masks[js_best]), js_unique=js_unique,
            class_selectivity=selectivity,
            specific=specific,
            one_vs_rest=one_vs_rest,
            split=split,
            counts=counts,
        ))
    return rows


# ---------------------------------------------------------------- helpers

def layer(codes_by_bits, raw=None, layer_no=1, mean_train=None):
    m = next(iter(codes_by_bits.values())).shape[1]
    n = next(iter(codes_by_bits.values())).shape[0]
    raw = np.zeros((n, m), np.float32) if raw is None else raw
    mean_train = np.arange(m, dtype=np.float32) / 7 if mean_train is None else mean_train
    return LayerInputs(layer=layer_no, codes=codes_by_bits, raw=raw, mean_train=mean_train)


def stats_rows(tables, bits, layer_no=1):
    rows = [r for r in tables["neuron_stats"].to_pylist() if r["bits"] == bits and r["layer"] == layer_no]
    return sorted(rows, key=lambda r: r["neuron"])


def check_against_reference(codes_by_bits, labels, raw, n_classes):
    tables = measure_layers(labels, n_classes, [layer(codes_by_bits, raw)])
    one_bit_active = codes_by_bits[1].mean(0)
    specific = {(r["bits"], r["neuron"], r["class"]): r["specific_info"] for r in tables["specific_info"].to_pylist()}
    counts = {(r["bits"], r["neuron"], r["bin"], r["class"]): r["n"] for r in tables["counts"].to_pylist()}
    assert all(r["split"] == "val" and r["layer"] == 1 and r["n"] > 0 for r in tables["counts"].to_pylist())
    for bits, codes in codes_by_bits.items():
        ref = reference(codes, labels, raw, n_classes, bits)
        got = stats_rows(tables, bits)
        assert [r["neuron"] for r in got] == list(range(codes.shape[1]))
        for j, (g, r) in enumerate(zip(got, ref)):
            for key in ("entropy", "mutual_info", "kl_selectivity", "labeled_mi", "js_subset_separation", "class_selectivity"):
                assert g[key] == pytest.approx(r[key], abs=TOL), (bits, j, key)
            assert g["active_frac"] == pytest.approx(one_bit_active[j], abs=TOL)
            assert g["mean_train"] == pytest.approx(j / 7, abs=1e-6)
            if r["kl_unique"]:
                assert g["kl_class"] == r["kl_class"], (bits, j)
            if r["labeled_unique"]:
                assert g["labeled_mi_class"] == r["labeled_mi_class"], (bits, j)
            if r["js_unique"]:
                assert g["js_subset"] == r["js_subset"], (bits, j)
            # tied or not, the reported class / subset attains the maximum
            assert r["specific"][g["kl_class"]] >= r["kl_selectivity"] - TOL
            assert r["one_vs_rest"][g["labeled_mi_class"]] >= r["labeled_mi"] - TOL
            assert 0 < g["js_subset"] < 1 << (n_classes - 1)
            assert r["split"][g["js_subset"] - 1] >= r["js_subset_separation"] - TOL
            for y, value in r["specific"].items():
                assert specific.pop((bits, j, y)) == pytest.approx(value, abs=TOL)
            nonzero = {(bits, j, t, y): int(c) for (t, y), c in np.ndenumerate(r["counts"]) if c}
            for key, c in nonzero.items():
                assert counts.pop(key) == c
    assert not specific and not counts  # no extra rows (absent classes, empty cells)
    return tables


def random_codes(rng, n, m, bits_list, skew=1.0):
    """Codes independent of everything, with a geometric (skewed) distribution over the bins."""
    out = {}
    for bits in bits_list:
        p = np.exp(-skew * np.arange(1 << bits))
        out[bits] = rng.choice(1 << bits, size=(n, m), p=p / p.sum()).astype(np.uint8)
    return out


# ---------------------------------------------------------------- random data against the reference

@pytest.mark.parametrize("n_classes", [2, 3, 10])
def test_random_codes_match_reference(n_classes):
    rng = np.random.default_rng(n_classes)
    n, m = 400, 12
    labels = rng.integers(0, n_classes, n).astype(np.uint8)
    codes = random_codes(rng, n, m, (1, 2, 3))
    for bits, c in codes.items():  # make some neurons depend on the label
        c[:, : m // 2] = np.minimum((labels[:, None] + c[:, : m // 2]) % (1 << bits), (1 << bits) - 1)
    raw = rng.exponential(1.0, (n, m)).astype(np.float32) * (rng.random((n, m)) < 0.6)
    check_against_reference(codes, labels, raw, n_classes)


def test_eight_bit_codes_use_bin_255():
    rng = np.random.default_rng(8)
    n, m = 300, 3
    labels = rng.integers(0, 3, n).astype(np.uint8)  # class sizes not multiples of 64: padding exists
    codes = {1: rng.integers(0, 2, (n, m)).astype(np.uint8), 8: rng.integers(0, 256, (n, m)).astype(np.uint8)}
    codes[8][:40, 0] = 255
    raw = rng.random((n, m)).astype(np.float32)
    check_against_reference(codes, labels, raw, 3)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31), n=st.integers(5, 120), m=st.integers(1, 5),
       n_classes=st.integers(2, 6), skew=st.floats(0.0, 3.0))
def test_hypothesis_codes_match_reference(seed, n, m, n_classes, skew):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_classes, n).astype(np.uint8)
    raw = (rng.exponential(1, (n, m)) * (rng.random((n, m)) < 0.5)).astype(np.float32)
    check_against_reference(random_codes(rng, n, m, (1, 2, 3), skew), labels, raw, n_classes)


def test_count_codes_only_nonzero_cells():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 4, 1000).astype(np.uint8)
    codes = rng.integers(0, 8, (1000, 70)).astype(np.uint8)
    got = count_codes(connect(), codes, labels, 3)
    assert got.column_names == ["neuron", "bin", "class", "n"]
    expected = np.zeros((70, 8, 4), int)
    np.add.at(expected, (np.arange(70)[None, :], codes, labels[:, None]), 1)
    table = np.zeros_like(expected)
    d = got.to_pydict()
    table[d["neuron"], d["bin"], d["class"]] = d["n"]
    assert (table == expected).all() and min(d["n"]) > 0 and len(d["n"]) == np.count_nonzero(expected)


# ---------------------------------------------------------------- hand-worked cases

def h2(p):
    """Binary entropy in bits."""
    return -(p * np.log2(p) + (1 - p) * np.log2(1 - p))


@pytest.mark.parametrize("n_classes, c", [(2, 1), (4, 1), (4, 3), (10, 0), (10, 9)])
def test_class_indicator_and_constant_neurons(n_classes, c):
    """Equiprobable classes; neuron 0 is constant, neuron 1 is the indicator of class c."""
    labels = np.repeat(np.arange(n_classes), 12).astype(np.uint8)
    codes = np.stack([np.zeros(len(labels)), labels == c], 1).astype(np.uint8)
    raw = np.stack([np.full(len(labels), 2.0), (labels == c) * 3.0], 1).astype(np.float32)
    tables = measure_layers(labels, n_classes, [layer({1: codes}, raw)])
    constant, indicator = stats_rows(tables, 1)
    for key in ("entropy", "mutual_info", "kl_selectivity", "labeled_mi", "js_subset_separation", "active_frac"):
        assert constant[key] == pytest.approx(0, abs=1e-12), key
    assert constant["kl_class"] == constant["labeled_mi_class"] == 0 and constant["js_subset"] == 1  # ties: smallest
    assert constant["class_selectivity"] == 0  # mu_max = mu_rest = 2
    k = n_classes
    # H(T) = I(T;Y) = labeled_mi = h(1/K): T determines whether Y = c, and Y = c has probability 1/K
    for key in ("entropy", "mutual_info", "labeled_mi", "js_subset_separation"):
        assert indicator[key] == pytest.approx(h2(1 / k), abs=1e-12), key
    assert indicator["labeled_mi_class"] == (0 if k == 2 else c)  # K = 2: both one-vs-rest splits are the same
    # the best split is {c} vs the rest: S = {c} if c < K-1, else its complement {0..K-2}
    assert indicator["js_subset"] == ((1 << c) if c < k - 1 else (1 << (k - 1)) - 1)
    # specific info: for c, D([0,1] || [(K-1)/K, 1/K]) = log2 K; for y != c, D([1,0] || ...) = log2(K/(K-1))
    spectrum = {r["class"]: r["specific_info"] for r in tables["specific_info"].to_pylist() if r["neuron"] == 1}
    assert spectrum[c] == pytest.approx(np.log2(k), abs=1e-12)
    for y in set(range(k)) - {c}:
        assert spectrum[y] == pytest.approx(np.log2(k / (k - 1)), abs=1e-12)
    assert indicator["kl_selectivity"] == pytest.approx(np.log2(k))
    assert indicator["kl_class"] == (0 if k == 2 else c)  # K = 2: log2 K = log2(K/(K-1)), a tie
    assert indicator["active_frac"] == pytest.approx(1 / k)
    assert indicator["class_selectivity"] == 1  # mu_max = 3, mu_rest = 0


def test_absent_class_gets_no_specific_info_and_labeled_mi_zero():
    """Class 1 of K = 3 never occurs: no specific_info row, one-vs-rest on it is 0, splits still work."""
    labels = np.array([0] * 10 + [2] * 10, np.uint8)
    codes = (labels == 2).astype(np.uint8)[:, None]
    raw = (labels == 2).astype(np.float32)[:, None] * 5
    tables = check_against_reference({1: codes}, labels, raw, 3)
    assert sorted(r["class"] for r in tables["specific_info"].to_pylist()) == [0, 2]
    (row,) = stats_rows(tables, 1)
    assert row["labeled_mi"] == pytest.approx(1) and row["js_subset_separation"] == pytest.approx(1)
    assert row["labeled_mi_class"] == 0  # classes 0 and 2 tie at 1 bit
    assert row["js_subset"] in (1, 3)  # {0} and {0,1} are the same split of the present classes
    assert row["js_subset"] == 1  # tie: smallest mask
    assert row["class_selectivity"] == 1  # means over present classes only: 0 and 5


def test_unused_bins():
    """3-bit codes using only bins 2 and 5: counts and measures see two bins."""
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 4, 200).astype(np.uint8)
    codes = np.where(rng.random((200, 3)) < 0.3, 5, 2).astype(np.uint8)
    codes[:, 0] = np.where(labels < 2, 2, 5)
    tables = check_against_reference({1: (codes == 5).astype(np.uint8), 3: codes}, labels, rng.random((200, 3)).astype(np.float32), 4)
    assert {r["bin"] for r in tables["counts"].to_pylist() if r["bits"] == 3} == {2, 5}
    one, three = stats_rows(tables, 1), stats_rows(tables, 3)
    for a, b in zip(one, three):  # the same partition of the samples
        for key in ("entropy", "mutual_info", "kl_selectivity", "labeled_mi", "js_subset_separation"):
            assert a[key] == pytest.approx(b[key], abs=1e-12)
    assert three[0]["js_subset_separation"] == pytest.approx(three[0]["entropy"]) and three[0]["js_subset"] == 0b011


def test_class_selectivity_with_zeros():
    rng = np.random.default_rng(5)
    n, m, k = 300, 9, 5
    labels = rng.integers(0, k, n).astype(np.uint8)
    raw = (rng.exponential(1, (n, m)) * (rng.random((n, m)) < 0.3)).astype(np.float32)
    raw[:, 0] = 0  # dead neuron: 0
    raw[:, 1] = np.where(labels == 3, 1.5, 0)  # only class 3: 1
    raw[:, 2] = rng.normal(0, 1, n)  # signed outputs
    tables = measure_layers(labels, k, [layer({1: (raw > 0).astype(np.uint8)}, raw)])
    got = [r["class_selectivity"] for r in stats_rows(tables, 1)]
    means = np.stack([raw[labels == y].astype(float).mean(0) for y in range(k)])
    top = means.max(0)
    rest = (means.sum(0) - top) / (k - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = np.where(top + rest == 0, 0, (top - rest) / (top + rest))
    assert got == pytest.approx(expected, abs=TOL)
    assert got[0] == 0 and got[1] == 1


# ---------------------------------------------------------------- layers, schemas and the warehouse

def test_write_measures_writes_readable_partitions(tmp_path):
    rng = np.random.default_rng(9)
    labels = rng.integers(0, 3, 150).astype(np.uint8)
    layers = [layer(random_codes(rng, 150, m, (1, 3)), rng.random((150, m)).astype(np.float32), layer_no=i + 1)
              for i, m in enumerate((7, 4))]
    wh = open_warehouse(tmp_path)
    write_measures(wh, "abc123", measure_layers(labels, 3, iter(layers)))
    assert query(wh, "SELECT count(*) AS n FROM neuron_stats").to_pylist() == [{"n": 0}]  # no `runs` row: hidden
    assert [p.run_id for p in problems(wh)] == ["abc123"] * 3  # ... and reported, per table
    write_partition(wh, "runs", "abc123", pa.Table.from_pylist([{"name": "hand-made"}], schema=SCHEMAS["runs"]))
    stats = query(wh, "SELECT run_id, layer, bits, count(*) AS n FROM neuron_stats GROUP BY ALL ORDER BY ALL")
    assert stats.to_pylist() == [
        {"run_id": "abc123", "layer": 1, "bits": 1, "n": 7},
        {"run_id": "abc123", "layer": 1, "bits": 3, "n": 7},
        {"run_id": "abc123", "layer": 2, "bits": 1, "n": 4},
        {"run_id": "abc123", "layer": 2, "bits": 3, "n": 4},
    ]
    same = query(wh, "SELECT count(*) AS n FROM neuron_stats WHERE entropy >= mutual_info - 1e-12 AND active_frac BETWEEN 0 AND 1")
    assert same["n"][0].as_py() == 22
    total = query(wh, "SELECT layer, bits, neuron, sum(n) AS n FROM counts WHERE split = 'val' GROUP BY ALL")
    assert set(total["n"].to_pylist()) == {150}
    assert query(wh, "SELECT count(DISTINCT class) AS k FROM specific_info")["k"][0].as_py() == 3


def test_schemas_and_empty_input():
    from store.schemas import SCHEMAS

    empty = measure_layers(np.zeros(5, np.uint8), 2, [])
    assert set(empty) == {"counts", "neuron_stats", "specific_info"}
    assert all(empty[t].schema == SCHEMAS[t] and empty[t].num_rows == 0 for t in empty)
    tables = measure_layers(np.array([0, 1, 1], np.uint8), 2, [layer({1: np.array([[0], [1], [1]], np.uint8)})])
    assert all(tables[t].schema == SCHEMAS[t] for t in tables)
    with pytest.raises(ValueError):
        measure_layers(np.array([0, 2], np.uint8), 2, [layer({1: np.zeros((2, 1), np.uint8)})])
    with pytest.raises(ValueError):
        measure_layers(np.array([0, 1], np.uint8), 2, [layer({1: np.array([[0], [2]], np.uint8)})])
