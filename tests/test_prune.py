"""pipeline.prune: the pruned network's error equals the ablation engine's curve at the same k."""

import numpy as np
import pytest
import torch
from networks import network_kinds

from pipeline.ablation import Ordering, ablation_curves
from pipeline.errors import NeuronInfoError
from pipeline.model import MLP, error_rate
from pipeline.prune import kept_neurons, n_params, prune_model
from pipeline.spec import NetworkSpec

N, D, K = 400, 16, 5

NETS = network_kinds(sizes=(10, 7), deep_sizes=(9, 6, 5))


def random_net(name: str) -> MLP:
    """Float64 weights large enough that every ablation moves the error; a non-trivial batch norm."""
    spec = NetworkSpec(dataset="synthetic", input_dim=D, n_classes=K, **NETS[name])
    g = torch.Generator().manual_seed(7)
    model = MLP.empty(spec).double()
    with torch.no_grad():
        for lin in model.linear:
            lin.weight.copy_(torch.randn(lin.weight.shape, generator=g, dtype=torch.float64))
            lin.bias.copy_(torch.randn(lin.bias.shape, generator=g, dtype=torch.float64) * 0.3)
        for bn in model.bn or []:
            m = bn.num_features
            bn.running_mean.copy_(torch.randn(m, generator=g, dtype=torch.float64) * 0.5)
            bn.running_var.copy_(torch.rand(m, generator=g, dtype=torch.float64) * 2 + 0.2)
            bn.weight.copy_(torch.randn(m, generator=g, dtype=torch.float64) * 0.8 + 1)
            bn.bias.copy_(torch.randn(m, generator=g, dtype=torch.float64) * 0.5)
    return model.eval()


@pytest.fixture(scope="module")
def inputs():
    g = torch.Generator().manual_seed(1)
    return torch.rand(N, D, generator=g, dtype=torch.float64) * 2 - 1


def case(name, x):
    """A net, labels it gets right (so pruning visibly raises the error), its sizes and training means."""
    model = random_net(name)
    with torch.no_grad():
        y = model(x).argmax(1)
    sizes = list(model.spec.hidden_sizes)
    return model, y, sizes, means_of(sizes)


def means_of(sizes):
    rng = np.random.default_rng(2)
    return [rng.uniform(0, 1, m) for m in sizes]


def curve(model, x, y, order: Ordering, strategy, means):
    table = ablation_curves(model, x, y, [order], (strategy,), means).to_pydict()
    return dict(zip(table["n_ablated"], table["test_error"]))


@pytest.mark.parametrize("strategy", ["zero", "mean"])
@pytest.mark.parametrize("name", list(NETS))
def test_layer_scope_matches_ablation(name, strategy, inputs):
    x = inputs
    model, y, sizes, means = case(name, x)
    rng = np.random.default_rng(3)
    moved = False
    for l, m in enumerate(sizes, start=1):
        perm = rng.permutation(m)
        order = Ordering("layer", l, "hand", 1, "low_first", 0, np.stack([np.full(m, l), perm], 1).astype(np.int64))
        errors = curve(model, x, y, order, strategy, means)
        for k in (0, 1, m // 2, m - 1):
            kept = [np.arange(w) for w in sizes]
            kept[l - 1] = np.sort(perm[k:])
            pruned = prune_model(model, kept, strategy, means)
            assert pruned.spec.hidden_sizes[l - 1] == m - k
            assert error_rate(pruned, x, y) == pytest.approx(errors[k], abs=1e-6), (l, k)
        moved |= errors[m - 1] != errors[0]
    assert moved  # the check is not vacuous


@pytest.mark.parametrize("strategy", ["zero", "mean"])
@pytest.mark.parametrize("name", list(NETS))
def test_network_scope_matches_ablation(name, strategy, inputs):
    x = inputs
    model, y, sizes, means = case(name, x)
    flat = np.concatenate([np.stack([np.full(m, l), np.arange(m)], 1) for l, m in enumerate(sizes, start=1)])
    ranking = flat[np.random.default_rng(4).permutation(len(flat))].astype(np.int64)
    errors = curve(model, x, y, Ordering("network", None, "hand", 1, "low_first", 0, ranking), strategy, means)
    total = sum(sizes)
    checked = 0
    for keep in (1.0, 0.8, 0.6, 0.5, 0.4):
        kept, notes = kept_neurons(ranking, sizes, keep, "network")
        k = total - sum(len(v) for v in kept)
        if notes:  # a layer's minimum bound: the kept set is not a prefix of the ranking
            continue
        removed = {(int(l), int(j)) for l, j in ranking[:k]}
        assert all((l, int(j)) not in removed for l, v in enumerate(kept, start=1) for j in v)
        pruned = prune_model(model, kept, strategy, means)
        assert error_rate(pruned, x, y) == pytest.approx(errors[k], abs=1e-6), keep
        checked += 1
    assert checked >= 3


def test_float32_pruned_net_agrees_with_float64_reference(inputs):
    """A float32 network pruned to the mean: its logits equal a float64 numpy forward pass with outputs overwritten."""
    x = inputs
    model = random_net("relu-bn").float()
    sizes = list(model.spec.hidden_sizes)
    means = means_of(sizes)
    kept = [np.arange(0, m, 2) for m in sizes]
    pruned = prune_model(model, kept, "mean", means)
    assert pruned.linear[0].weight.dtype == torch.float32

    # reference: numpy float64, batch norm applied explicitly, pruned outputs overwritten by the mean
    h = x.numpy()
    for i, lin in enumerate(model.linear[:-1]):
        z = h @ lin.weight.detach().double().numpy().T + lin.bias.detach().double().numpy()
        bn = model.bn[i]
        z = (z - bn.running_mean.double().numpy()) / np.sqrt(bn.running_var.double().numpy() + bn.eps)
        z = z * bn.weight.detach().double().numpy() + bn.bias.detach().double().numpy()
        h = np.maximum(z, 0)
        dropped = np.setdiff1d(np.arange(sizes[i]), kept[i])
        h[:, dropped] = means[i][dropped]
    logits = h @ model.linear[-1].weight.detach().double().numpy().T + model.linear[-1].bias.detach().double().numpy()
    with torch.no_grad():
        got = pruned(x.float()).double().numpy()
    np.testing.assert_allclose(got, logits, rtol=1e-4, atol=1e-4)


def test_parameter_count_shrinks():
    model = random_net("relu-bn")  # 16 -> 9 -> 6 -> 5 -> 5 with batch norm (2 affine parameters per neuron)
    assert n_params(model) == (16 * 9 + 9) + (9 * 6 + 6) + (6 * 5 + 5) + (5 * 5 + 5) + 2 * (9 + 6 + 5)
    pruned = prune_model(model, [[0, 3, 8], [1, 2], [4]], "zero")
    assert pruned.spec.hidden_sizes == (3, 2, 1)
    assert pruned.spec.regularizer == "dropout" and pruned.bn is None  # batch norm folded
    assert n_params(pruned) == (16 * 3 + 3) + (3 * 2 + 2) + (2 * 1 + 1) + (1 * 5 + 5)
    assert set(pruned.checkpoint_tensors()) == {f"linear.{i}.{p}" for i in range(4) for p in ("weight", "bias")}


def test_kept_neurons_by_hand():
    ranking = np.array([[2, 1], [2, 0], [1, 3], [1, 0], [2, 2], [1, 1], [1, 2]])  # least important first
    kept, notes = kept_neurons(ranking, [4, 3], 0.5, "network")  # keep round(3.5) = 4: remove (2,1) (2,0) (1,3)
    assert [k.tolist() for k in kept] == [[0, 1, 2], [2]] and notes == []
    kept, notes = kept_neurons(ranking, [4, 3], 0.2, "network")  # keep 1, remove 6: (2,2) would empty layer 2, so (1,1) goes
    assert [k.tolist() for k in kept] == [[2], [2]]
    assert notes == ["layer 2 keeps 1 of 3 neurons (the ranking would remove all)"]
    kept, notes = kept_neurons(ranking, [4, 3], 0.5, "layer")  # layer 1 keeps 2: drops 3, 0; layer 2 keeps 2: drops 1
    assert [k.tolist() for k in kept] == [[1, 2], [0, 2]] and notes == []
    kept, notes = kept_neurons(ranking, [4, 3], 0.1, "layer")
    assert [k.tolist() for k in kept] == [[2], [2]] and len(notes) == 2


@pytest.mark.parametrize("keep, scope, strategy", [(0.0, "layer", "zero"), (1.5, "layer", "zero"), (0.5, "block", "zero")])
def test_bad_pruning_requests(keep, scope, strategy):
    with pytest.raises(NeuronInfoError):
        kept_neurons(np.array([[1, 0], [1, 1]]), [2], keep, scope)


def test_bad_kept_and_strategy():
    model = random_net("relu")
    with pytest.raises(NeuronInfoError, match="keep at least one"):
        prune_model(model, [[], [0]], "zero")
    with pytest.raises(NeuronInfoError, match="out of range"):
        prune_model(model, [[0, 10], [0]], "zero")
    with pytest.raises(NeuronInfoError, match="training-set means"):
        prune_model(model, [[0], [0]], "mean")
    with pytest.raises(NeuronInfoError, match="unknown pruning strategy"):
        prune_model(model, [[0], [0]], "median")
