"""pipeline.ablation: every curve point equals a naive masked full forward pass per k; grids; bad input."""

import numpy as np
import pytest
import torch
from naive_ablation import naive_errors
from networks import network_kinds

from pipeline import ablation
from pipeline.ablation import CURVE_COLUMNS, Ordering, ablation_curves, k_grid, random_orderings
from pipeline.errors import NeuronInfoError
from pipeline.model import MLP
from pipeline.spec import NetworkSpec
from store.schemas import SCHEMAS

N, D, K = 300, 20, 4

NETS = network_kinds(sizes=(12, 8), deep_sizes=(10, 7, 5))


def make_net(name, dtype=torch.float64, seed=0):
    spec = NetworkSpec(dataset="synthetic", input_dim=D, n_classes=K, **NETS[name])
    torch.manual_seed(seed)
    model = MLP(spec)
    with torch.no_grad():
        for lin in model.linear:  # larger weights: ablation visibly moves the error
            lin.weight.mul_(2.5)
            lin.bias.normal_(0, 0.3)
        for bn in model.bn or []:  # non-trivial eval-mode batch norm
            m = bn.num_features
            bn.running_mean.copy_(torch.randn(m) * 0.5)
            bn.running_var.copy_(torch.rand(m) * 2 + 0.2)
            bn.weight.copy_(torch.randn(m) * 0.8 + 1)
            bn.bias.copy_(torch.randn(m) * 0.5)
    return model.to(dtype).eval()


def make_data(seed=1, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(N, D, generator=g, dtype=dtype) * 2 - 1
    y = torch.randint(0, K, (N,), generator=g)
    return x, y


def make_means(sizes, seed=2):
    rng = np.random.default_rng(seed)
    return [rng.uniform(0, 1, m) for m in sizes]


def hand_orderings(sizes, seed=3):
    """'Measure' orderings (random scores as stand-ins) low/high first, per layer and network-wide."""
    rng = np.random.default_rng(seed)
    out = []
    for l, m in enumerate(sizes, start=1):
        low = np.argsort(rng.normal(size=m), kind="stable")
        for name, order in (("low_first", low), ("high_first", low[::-1])):
            rows = np.stack([np.full(m, l), order], 1).astype(np.int64)
            out.append(Ordering("layer", l, "mutual_info", 1, name, 0, rows))
    flat = np.concatenate([np.stack([np.full(m, l), np.arange(m)], 1) for l, m in enumerate(sizes, start=1)])
    low = np.argsort(rng.normal(size=len(flat)), kind="stable")
    for name, order in (("low_first", low), ("high_first", low[::-1])):
        out.append(Ordering("network", None, "entropy", 2, name, 0, flat[order].astype(np.int64)))
    # network-wide, upper layers first, then the lowest layer, and a partial one without layer 1
    top_down = np.concatenate([flat[flat[:, 0] == l] for l in range(len(sizes), 0, -1)])
    out.append(Ordering("network", None, "kl_selectivity", 1, "low_first", 0, top_down.astype(np.int64)))
    upper = flat[flat[:, 0] > 1]
    out.append(Ordering("network", None, "js_subset_separation", 1, "high_first", 0,
                        upper[rng.permutation(len(upper))].astype(np.int64)))
    return out


def curve(table, o, strategy):
    """(n_ablated, frac_ablated, test_error) of one curve, in table order."""
    key = (o.scope, o.layer if o.scope == "layer" else None, o.measure, o.bits, o.ordering, strategy, o.repeat)
    rows = _CURVES.get(id(table))
    if rows is None or rows[0] is not table:
        index = {}
        for r in table.to_pylist():
            k = (r["scope"], r["layer"], r["measure"], r["bits"], r["ordering"], r["strategy"], r["repeat"])
            index.setdefault(k, []).append((r["n_ablated"], r["frac_ablated"], r["test_error"]))
        rows = _CURVES[id(table)] = (table, index)
    ks, frac, err = zip(*rows[1][key])
    return np.array(ks), np.array(frac), np.array(err)


_CURVES = {}


@pytest.mark.parametrize("name", list(NETS))
def test_every_point_equals_naive_forward(name):
    model = make_net(name)
    sizes = model.spec.hidden_sizes
    x, y = make_data()
    means = make_means(sizes)
    orderings = random_orderings(sizes, 2) + hand_orderings(sizes)
    table = ablation_curves(model, x, y, orderings, ("zero", "mean"), means)
    assert table.column_names == list(CURVE_COLUMNS) == SCHEMAS["ablation_curves"].names
    assert table.num_rows == 2 * sum(len(o.neurons) + 1 for o in orderings)
    clean = naive_errors(model, x, y, orderings[0].neurons, [0], None)[0]
    moved = 0
    for o in orderings:
        for strategy in ("zero", "mean"):
            ks, frac, err = curve(table, o, strategy)
            n = len(o.neurons)
            np.testing.assert_array_equal(ks, np.arange(n + 1))
            np.testing.assert_array_equal(frac, np.arange(n + 1) / n)
            ref = naive_errors(model, x, y, o.neurons, ks, None if strategy == "zero" else means)
            np.testing.assert_array_equal(err, ref, err_msg=f"{name} {o.scope} {o.layer} {o.ordering} {strategy}")
            assert err[0] == clean
            moved += len(set(err.tolist())) > 1
    assert moved > len(orderings)  # the curves are not flat: the check has teeth


def test_steps_grid_and_small_chunks_match_naive():
    model = make_net("relu-bn")
    sizes = model.spec.hidden_sizes
    x, y = make_data(seed=5)
    means = make_means(sizes, seed=6)
    orderings = random_orderings(sizes, 1) + hand_orderings(sizes, seed=7)
    full = ablation_curves(model, x, y, orderings, ("zero", "mean"), means)
    # a tiny budget forces sample chunks and short blocks of k (the state is carried across both)
    for budget in (0.05, 0.2):  # sample chunks of 204 and blocks of 1 k; one chunk and blocks of 2
        small = ablation_curves(model, x, y, orderings, ("zero", "mean"), means, chunk_budget_mb=budget)
        assert small.equals(full)
    for steps, budget in ((1, 256), (3, 0.05), (5, 256)):
        table = ablation_curves(model, x, y, orderings, ("mean", "zero"), means, steps=steps, chunk_budget_mb=budget)
        for o in orderings:
            n = len(o.neurons)
            expect = np.unique(np.floor(np.linspace(0, n, steps + 1) + 0.5).astype(int))
            for strategy in ("zero", "mean"):
                ks, frac, err = curve(table, o, strategy)
                np.testing.assert_array_equal(ks, expect)
                assert ks[0] == 0 and ks[-1] == n
                np.testing.assert_array_equal(frac, ks / n)
                _, _, err_full = curve(full, o, strategy)
                np.testing.assert_array_equal(err, err_full[ks])
                ref = naive_errors(model, x, y, o.neurons, ks, None if strategy == "zero" else means)
                np.testing.assert_array_equal(err, ref)


def test_k_grid():
    assert k_grid(4).tolist() == [0, 1, 2, 3, 4]
    assert k_grid(12, 5).tolist() == [0, 2, 5, 7, 10, 12]
    assert k_grid(7, 7).tolist() == list(range(8))
    assert k_grid(300, 1).tolist() == [0, 300]
    g = k_grid(1000, 100)
    assert len(g) == 101 and len(set(g)) == 101


def test_float32_close_to_naive():
    """In float32 the summation order differs from the naive pass: labels agree but for rounding ties."""
    model = make_net("sigmoid-bn", dtype=torch.float32)
    x, y = make_data(dtype=torch.float32)
    sizes = model.spec.hidden_sizes
    means = make_means(sizes)
    orderings = random_orderings(sizes, 1)
    table = ablation_curves(model, x, y, orderings, ("zero", "mean"), means)
    for o in orderings:
        for strategy in ("zero", "mean"):
            ks, _, err = curve(table, o, strategy)
            ref = naive_errors(model, x, y, o.neurons, ks, None if strategy == "zero" else means)
            assert np.abs(err - ref).max() <= 1 / N


def test_random_orderings_are_deterministic_and_cover_every_neuron():
    sizes = (12, 8)
    a, b = random_orderings(sizes, 3), random_orderings(list(sizes), 3)
    assert len(a) == 3 * (len(sizes) + 1)
    for oa, ob in zip(a, b):
        assert (oa.scope, oa.layer, oa.repeat) == (ob.scope, ob.layer, ob.repeat)
        np.testing.assert_array_equal(oa.neurons, ob.neurons)
        assert oa.neurons.dtype == np.int64 and oa.measure == "random" and oa.ordering == "random"
        assert oa.bits is None
    assert sorted({o.repeat for o in a}) == [0, 1, 2]
    layer1 = [o for o in a if o.scope == "layer" and o.layer == 1 and o.repeat == 2][0]
    np.testing.assert_array_equal(layer1.neurons[:, 1], np.random.default_rng(2).permutation(12))
    net = [o for o in a if o.scope == "network" and o.repeat == 0][0]
    assert net.layer is None and len(net.neurons) == 20
    assert len({tuple(r) for r in net.neurons.tolist()}) == 20
    assert len({tuple(o.neurons[:, 1]) for o in a if o.scope == "layer" and o.layer == 1}) == 3


def test_table_columns():
    model = make_net("relu")
    x, y = make_data()
    orderings = random_orderings(model.spec.hidden_sizes, 1)
    t = ablation_curves(model, x.numpy(), y.numpy(), orderings, ("zero",), steps=2)
    assert t.cast(SCHEMAS["ablation_curves"]).num_rows == t.num_rows  # what the store writes
    rows = t.to_pylist()
    assert {r["strategy"] for r in rows} == {"zero"}
    assert all(r["layer"] is None for r in rows if r["scope"] == "network")
    assert {r["layer"] for r in rows if r["scope"] == "layer"} == {1, 2}
    assert all(r["bits"] is None and r["measure"] == "random" for r in rows)
    empty = ablation_curves(model, x, y, [], ("zero",))
    assert empty.num_rows == 0 and empty.cast(SCHEMAS["ablation_curves"]).num_rows == 0


@pytest.mark.parametrize("cores", ["1", "2"])
def test_torch_thread_count_is_restored(monkeypatch, cores):
    """The engine may use other thread counts while it runs (one per worker) but leaves torch's
    setting exactly as the caller had it, whatever the number of cores it was given."""
    monkeypatch.setenv("NEURONINFO_THREADS", cores)
    model = make_net("relu")
    x, y = make_data()
    orderings = random_orderings(model.spec.hidden_sizes, 2)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(3)  # a count the engine would never choose by itself here
        table = ablation_curves(model, x, y, orderings, ("zero",), steps=4)
        assert torch.get_num_threads() == 3

        def crash(*args):
            raise RuntimeError("injected")
        monkeypatch.setattr(ablation, "chunk_errors", crash)
        with pytest.raises(RuntimeError, match="injected"):  # also when a worker fails
            ablation_curves(model, x, y, orderings, ("zero",), steps=4)
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)
    assert table.num_rows > 0


def _rows(pairs):
    return np.array(pairs, dtype=np.int64)


BAD = [
    (dict(strategies=("mean",), means=None), "needs the training-set means"),
    (dict(means=[np.zeros(12)]), "means has 1 arrays but the network has 2 hidden layers"),
    (dict(means=[np.zeros(12), np.zeros(7)]), "means for layer 2 has shape (7,)"),
    (dict(steps=0), "steps = 0"),
    (dict(strategies=("zero", "noise")), "unknown strategy 'noise'"),
    (dict(orderings=[Ordering("layer", 1, "m", 1, "low_first", 0, _rows([[1, 0], [1, 12]]))]), "out of range"),
    (dict(orderings=[Ordering("network", None, "m", 1, "low_first", 0, _rows([[1, 0], [3, 0]]))]), "layer 3"),
    (dict(orderings=[Ordering("layer", 1, "m", 1, "low_first", 0, _rows([[1, 3], [1, 3]]))]), "repeats neuron (1, 3)"),
    (dict(orderings=[Ordering("layer", 1, "m", 1, "low_first", 0, _rows([[1, 3], [2, 0]]))]), "from another layer"),
    (dict(orderings=[Ordering("global", None, "m", 1, "low_first", 0, _rows([[1, 3]]))]), "unknown scope 'global'"),
    (dict(orderings=[Ordering("layer", 4, "m", 1, "low_first", 0, _rows([[1, 3]]))]), "hidden layer 4"),
    (dict(orderings=[Ordering("network", 1, "m", 1, "low_first", 0, _rows([[1, 3]]))]), "use layer=None"),
    (dict(orderings=[Ordering("layer", 1, "m", 1, "sideways", 0, _rows([[1, 3]]))]), "unknown ordering"),
    (dict(orderings=[Ordering("layer", 1, "m", 1, "low_first", 0, np.zeros((0, 2), np.int64))]), "no neurons"),
    (dict(x=torch.zeros(N, D + 1)), "x has shape"),
]


def test_steps_beyond_a_layer_clamp_to_every_k():
    model = make_net("relu")
    x, y = make_data()
    sizes = model.spec.hidden_sizes
    layer1 = [o for o in random_orderings(sizes, 1) if o.scope == "layer" and o.layer == 1]
    table = ablation_curves(model, x, y, layer1, ("zero",), None, steps=sizes[0] + 5)
    assert sorted(table.column("n_ablated").to_pylist()) == list(range(sizes[0] + 1))


@pytest.mark.parametrize("kwargs,fragment", BAD, ids=[f for _, f in BAD])
def test_bad_input(kwargs, fragment):
    model = make_net("relu")
    x, y = make_data()
    sizes = model.spec.hidden_sizes
    args = dict(model=model, x=x, y=y, strategies=("zero", "mean"), means=make_means(sizes),
                orderings=[o for o in random_orderings(sizes, 1) if o.scope == "layer" and o.layer == 1])
    args.update(kwargs)
    with pytest.raises(NeuronInfoError) as e:
        ablation_curves(**args)
    msg = str(e.value)
    assert fragment in msg and "\n" not in msg and "; " in msg


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_exact_ties_when_a_whole_layer_is_zeroed(dtype):
    """Zero biases: ablating every neuron of a layer (or of the network) leaves all-zero logits, a tie
    that argmax breaks towards class 0. The engine recomputes that point instead of ending a running sum."""
    model = make_net("relu", dtype=dtype)
    with torch.no_grad():
        for lin in model.linear:
            lin.bias.zero_()
    x, y = make_data(dtype=dtype)
    sizes = model.spec.hidden_sizes
    orderings = [o for o in random_orderings(sizes, 2)]
    table = ablation_curves(model, x, y, orderings, ("zero",))
    for o in orderings:
        ks, _, err = curve(table, o, "zero")
        ref = naive_errors(model, x, y, o.neurons, ks, None)
        assert err[-1] == ref[-1] == int((y != 0).sum()) / N, (o.scope, o.layer)
        if dtype == torch.float64:
            np.testing.assert_array_equal(err, ref)
        else:  # float32: labels may differ only where two logits agree to rounding
            assert np.abs(err - ref).max() <= 1 / N, (o.scope, o.layer)
    assert {o.scope for o in orderings} == {"layer", "network"}
