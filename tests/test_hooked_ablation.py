"""pipeline.hooked_ablation: every curve point equals a plain masked forward pass per k (CNN with batch norm and
an in-place ReLU, ViT token units, ResNet blocks, a shared module, in-place effects on replayed outputs); the table
is ablation_curves'; skipped modules do not run; nothing stays patched; threads restored; bad input."""

import numpy as np
import pytest
import torch
from torch import nn
from torchvision.models import VisionTransformer, resnet18

from pipeline import hooked_ablation
from pipeline.ablation import CURVE_COLUMNS, Ordering, ablation_curves, k_grid, random_orderings
from pipeline.errors import NeuronInfoError
from pipeline.hooked_ablation import hooked_ablation_curves
from pipeline.model import MLP
from pipeline.spec import NetworkSpec
from pipeline.threads import torch_threads
from pipeline.units import output_means, unit_layers

DTYPE = torch.float64  # error counts are compared exactly: float64 leaves no rounding near-ties


def elements(layer, units) -> torch.Tensor:
    """Written here, not taken from UnitLayer.mask: True at every output element of the given units."""
    mask = torch.zeros(layer.shape, dtype=torch.bool)
    index = torch.as_tensor(np.asarray(units, dtype=np.int64))
    if layer.kind == "token":
        mask[:, index] = True
    else:  # neuron (M,) or channel (C, H, W)
        mask[index] = True
    return mask


@torch.no_grad()
def naive_errors(model, network, layers, x, y, rows, ks, means) -> list[int]:
    """The reference: per k, one full forward pass of ``model`` over every sample, with a plain forward hook
    on each unit layer replacing the ablated units' elements by 0 (``means`` None) or the mean map. One torch
    thread: on this shared machine two intra-op threads made these small passes up to 40x slower."""
    model.eval()
    with torch_threads(1):
        return [_naive_pass(model, network, layers, x, y, rows, k, means) for k in ks]


def _naive_pass(model, network, layers, x, y, rows, k, means) -> int:
    handles = []
    for l, layer in enumerate(layers, start=1):
        units = rows[:k][rows[:k, 0] == l, 1]
        if len(units) == 0:
            continue
        mask = elements(layer, units)
        fill = torch.zeros(layer.shape) if means is None else torch.as_tensor(means[l - 1])

        def replace(module, args, output, mask=mask, fill=fill):
            return torch.where(mask, fill.to(output.dtype), output)
        handles.append(network.get_submodule(layer.path).register_forward_hook(replace))
    try:
        return int((model(x).argmax(1) != y).sum())
    finally:
        for handle in handles:
            handle.remove()


def engine_errors(table, n_samples) -> dict:
    """(scope, layer, ordering, strategy) -> (grid, misclassified samples per grid point)."""
    curves = {}
    for r in table.to_pylist():
        key = (r["scope"], r["layer"], r["ordering"], r["strategy"])
        curves.setdefault(key, ([], []))
        curves[key][0].append(r["n_ablated"])
        curves[key][1].append(round(r["test_error"] * n_samples))
    return curves


def orderings_of(layers, layer_scope: list[int], seed=0) -> list[Ordering]:
    """Layer-scope orderings (low/high first) of the given layers and one network-scope ordering over all."""
    rng = np.random.default_rng(seed)
    out = []
    for l in layer_scope:
        low = np.stack([np.full(layers[l - 1].units, l), rng.permutation(layers[l - 1].units)], 1)
        out.append(Ordering("layer", l, "mutual_info", 1, "low_first", 0, low))
        out.append(Ordering("layer", l, "mutual_info", 1, "high_first", 0, low[::-1].copy()))
    every = np.concatenate([np.stack([np.full(layer.units, l), np.arange(layer.units)], 1)
                            for l, layer in enumerate(layers, start=1)])
    out.append(Ordering("network", None, "entropy", 2, "low_first", 0, every[rng.permutation(len(every))]))
    return out


def check_against_naive(model, network, layers, x, y, orderings, means, steps, **options):
    table = hooked_ablation_curves(model, network, layers, x, y, orderings, ("zero", "mean"), means, steps,
                                   **options)
    assert table.schema.names == list(CURVE_COLUMNS)
    curves = engine_errors(table, len(y))
    for o in orderings:
        for strategy in ("zero", "mean"):
            grid, mine = curves[(o.scope, o.layer, o.ordering, strategy)]
            assert grid == k_grid(len(o.neurons), steps).tolist()
            reference = naive_errors(model, network, layers, x, y, o.neurons, grid, None if strategy == "zero" else means)
            assert mine == reference, (o.scope, o.layer, o.ordering, strategy)
    return curves


def labels_near_predictions(model, x, seed=5):
    """The clean predictions with a fifth of them replaced: ablation moves the error from ~20 %."""
    with torch.no_grad():
        y = model.eval()(x).argmax(1)
    g = torch.Generator().manual_seed(seed)
    flip = torch.rand(len(y), generator=g) < 0.2
    return torch.where(flip, torch.randint(0, 10, (len(y),), generator=g), y)


class CountingConv(nn.Conv2d):
    runs = 0

    def forward(self, x):
        CountingConv.runs += 1
        return super().forward(x)


def small_cnn(seed=0):
    torch.manual_seed(seed)
    net = nn.Sequential(CountingConv(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(inplace=True), nn.MaxPool2d(2),
                        nn.Conv2d(4, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                        nn.Linear(8 * 7 * 7, 16), nn.ReLU(), nn.Linear(16, 10))
    with torch.no_grad():  # non-trivial eval-mode batch norm
        bn = net[1]
        bn.running_mean.copy_(torch.randn(4) * 0.1)
        bn.running_var.copy_(torch.rand(4) * 0.1 + 0.05)
        bn.weight.copy_(torch.randn(4) * 0.5 + 1)
        bn.bias.copy_(torch.randn(4) * 0.2)
    return net.to(DTYPE).eval()


def cnn_case(n=64):
    net = small_cnn()
    g = torch.Generator().manual_seed(1)
    x, train = torch.rand(n, 1, 28, 28, generator=g, dtype=DTYPE), torch.rand(200, 1, 28, 28, generator=g, dtype=DTYPE)
    layers = unit_layers(net, x[:2])
    assert [layer.path for layer in layers] == ["2", "5", "9"]
    return net, layers, x, labels_near_predictions(net, x), output_means(net, net, layers, train)[1]


@pytest.mark.parametrize("scopes,steps,options", [([1, 2, 3], None, dict()),
                                                  ([2], 6, dict(batch_size=24, chunk_budget_mb=0.01))],
                         ids=["replicas", "one replica, small batches"])
def test_cnn_matches_naive(scopes, steps, options):
    net, layers, x, y, means = cnn_case()
    curves = check_against_naive(net, net, layers, x, y, orderings_of(layers, scopes), means, steps, **options)
    assert max(max(e) for _, e in curves.values()) > min(min(e) for _, e in curves.values())  # ablation matters


class FlatInputs(nn.Module):
    """A wrapper like the project's image models: flat inputs, reshaped into images for ``network``."""

    def __init__(self, network):
        super().__init__()
        self.network = network

    def forward(self, x):
        return self.network(x.view(-1, 1, 28, 28))


def test_model_wrapping_the_network_matches_naive():
    net, layers, x, y, means = cnn_case()
    model = FlatInputs(net)
    check_against_naive(model, net, layers, x.flatten(1), y, orderings_of(layers, [2]), means, 4)


def test_vit_token_units_match_naive():
    torch.manual_seed(0)
    vit = VisionTransformer(image_size=28, patch_size=7, num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=64,
                            num_classes=10).to(DTYPE).eval()
    g = torch.Generator().manual_seed(1)
    x, train = torch.rand(60, 3, 28, 28, generator=g, dtype=DTYPE), torch.rand(100, 3, 28, 28, generator=g, dtype=DTYPE)
    layers = unit_layers(vit, x[:2])
    assert [(layer.kind, layer.reducer) for layer in layers] == [("token", "mean")] * 2
    means = output_means(vit, vit, layers, train)[1]
    check_against_naive(vit, vit, layers, x, labels_near_predictions(vit, x), orderings_of(layers, [1, 2]), means, 8)


def test_resnet_blocks_match_naive():
    """Units are residual block outputs (and the stem's ReLU): the graph is not sequential."""
    torch.manual_seed(0)
    net = resnet18(num_classes=10).to(DTYPE).eval()
    g = torch.Generator().manual_seed(1)
    x = torch.rand(8, 3, 32, 32, generator=g, dtype=DTYPE)
    layers = unit_layers(net, x[:2])
    paths = [layer.path for layer in layers]
    assert paths[:3] == ["relu", "layer1.0", "layer1.1"] and paths[-1] == "layer4.1"
    means = output_means(net, net, layers, torch.rand(16, 3, 32, 32, generator=g, dtype=DTYPE))[1]
    picked = [paths.index(p) + 1 for p in ("layer1.1", "layer2.0", "layer4.1")]
    orderings = orderings_of(layers, picked)[1::2] + orderings_of(layers, [])  # high_first per layer; network
    check_against_naive(net, net, layers, x, labels_near_predictions(net, x), orderings, means, 5, batch_size=4)


class SharedResidual(nn.Module):
    """A module called twice per forward (never to be cached) and a residual connection."""

    def __init__(self):
        super().__init__()
        self.inp, self.act1 = nn.Linear(6, 8), nn.Tanh()
        self.shared, self.act2, self.act3 = nn.Linear(8, 8), nn.ReLU(), nn.Sigmoid()
        self.out = nn.Linear(8, 10)

    def forward(self, x):
        h = self.act1(self.inp(x))
        a = self.act2(self.shared(h))
        return self.out(self.act3(self.shared(a) + h))


def test_shared_module_and_residual_match_naive():
    torch.manual_seed(0)
    net = SharedResidual().to(DTYPE).eval()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(200, 6, generator=g, dtype=DTYPE) * 2
    layers = unit_layers(net, x[:2])
    assert [layer.path for layer in layers] == ["act1", "act2", "act3"]
    trace = hooked_ablation.Trace(net, net, layers, x)
    assert not trace.calls["shared"].replayable
    # ablating act3: everything before it is replayed, act3 too (then masked); `shared` runs again, on act2's output
    assert trace.cut(frozenset({"act3"})) == hooked_ablation.Cut(("inp", "act1", "act2", "act3"), ())
    means = output_means(net, net, layers, torch.randn(300, 6, generator=g, dtype=DTYPE))[1]
    check_against_naive(net, net, layers, x, labels_near_predictions(net, x), orderings_of(layers, [1, 2, 3]),
                        means, None)


class AliasModifiedLater(nn.Module):
    """``keep`` returns its input itself, which is then modified in place: a replayed copy would miss that."""

    def __init__(self):
        super().__init__()
        self.inp, self.act1, self.keep = nn.Linear(6, 8), nn.Tanh(), nn.Identity()
        self.act2, self.out = nn.ReLU(), nn.Linear(8, 10)

    def forward(self, x):
        h = self.act1(self.inp(x))
        kept = self.keep(h)
        a = self.act2(h * 2)
        h.mul_(-3)
        return self.out(a + kept)


class InputModifiedInPlace(nn.Module):
    """``clip`` modifies its input in place, which is read again later: skipping it would miss that."""

    def __init__(self):
        super().__init__()
        self.inp, self.act1, self.clip = nn.Linear(6, 8), nn.Tanh(), nn.ReLU(inplace=True)
        self.mid, self.act2, self.out = nn.Linear(8, 8), nn.Sigmoid(), nn.Linear(8, 10)

    def forward(self, x):
        h = self.act1(self.inp(x))
        a = self.act2(self.mid(self.clip(h)) * 3)
        return self.out(a + h)


@pytest.mark.parametrize("kind,not_replayed", [(AliasModifiedLater, "keep"), (InputModifiedInPlace, "clip")])
def test_modules_whose_in_place_effects_matter_later_are_not_replayed(kind, not_replayed):
    torch.manual_seed(0)
    net = kind().to(DTYPE).eval()
    x = torch.randn(200, 6, generator=torch.Generator().manual_seed(1), dtype=DTYPE) * 2
    layers = unit_layers(net, x[:2], paths=["act1", "act2"])
    trace = hooked_ablation.Trace(net, net, layers, x)
    assert trace.calls["act1"].replayable and not trace.calls[not_replayed].replayable
    check_against_naive(net, net, layers, x, labels_near_predictions(net, x), orderings_of(layers, [2]),
                        output_means(net, net, layers, x)[1], None)


def test_same_table_as_ablation_curves_on_an_mlp():
    """The fully-connected engine and this one agree row for row (an nn.Sequential with the MLP's weights)."""
    spec = NetworkSpec(dataset="synthetic", input_dim=20, n_classes=4, hidden_sizes=(12, 8), activation="relu",
                       regularizer="none")
    torch.manual_seed(0)
    mlp = MLP(spec).to(DTYPE).eval()
    with torch.no_grad():
        for linear in mlp.linear:
            linear.weight.mul_(2.5)
    net = nn.Sequential(mlp.linear[0], nn.ReLU(), mlp.linear[1], nn.ReLU(), mlp.linear[2])
    g = torch.Generator().manual_seed(1)
    x, y = torch.rand(300, 20, generator=g, dtype=DTYPE) * 2 - 1, torch.randint(0, 4, (300,), generator=g)
    layers = unit_layers(net, x[:2])
    means = [np.random.default_rng(2).uniform(0, 1, m) for m in spec.hidden_sizes]
    orderings = random_orderings(spec.hidden_sizes, 2)
    fast = ablation_curves(mlp, x, y, orderings, ("zero", "mean"), means, steps=5)
    hooked = hooked_ablation_curves(net, net, layers, x, y, orderings, ("zero", "mean"), means, steps=5)
    assert hooked.equals(fast)


def test_skipped_modules_do_not_run_and_nothing_stays_patched(monkeypatch):
    monkeypatch.setenv("NEURONINFO_THREADS", "1")  # one worker: two batches of 20
    net, layers, x, y, means = cnn_case(n=40)
    last = [o for o in orderings_of(layers, [3]) if o.scope == "layer"]
    CountingConv.runs = 0
    hooked_ablation_curves(net, net, layers, x, y, last, ("zero", "mean"), means, batch_size=20)
    assert CountingConv.runs == len(hooked_ablation.TRACE_SIZES) + 2  # the traces and one clean pass per batch

    def untouched():
        for module in net.modules():
            assert "forward" not in vars(module)
            assert not module._forward_hooks and not module._forward_pre_hooks

    untouched()
    assert not any(m.training for m in net.modules())
    net.train()

    def fail():
        raise RuntimeError("injected")
    with pytest.raises(RuntimeError, match="injected"):
        hooked_ablation_curves(net, net, layers, x, y, last, ("zero",), on_curve=fail)
    untouched()
    assert all(m.training for m in net.modules())  # the caller's modes are restored


@pytest.mark.parametrize("cores", ["1", "2"])
def test_thread_count_restored_and_on_curve_once_per_curve(monkeypatch, cores):
    monkeypatch.setenv("NEURONINFO_THREADS", cores)
    net, layers, x, y, means = cnn_case(n=40)
    orderings = orderings_of(layers, [2])
    done = []
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(3)
        table = hooked_ablation_curves(net, net, layers, x, y, orderings, ("zero", "mean"), means, steps=3,
                                       batch_size=8, on_curve=lambda: done.append(1))
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)
    assert len(done) == len(orderings) * 2 and table.num_rows == sum(len(k_grid(len(o.neurons), 3)) for o in orderings) * 2


def _rows(pairs):
    return np.array(pairs, dtype=np.int64)


BAD = [
    (dict(means=[np.zeros(4)] * 3), "means for layer 1 has shape (4,) but the layer's outputs have shape (4, 28, 28)"),
    (dict(layers="twice"), "is listed twice"),
    (dict(layers="elsewhere"), "never runs"),
    (dict(batch_size=0), "batch_size = 0"),
    (dict(orderings=[Ordering("layer", 2, "m", 1, "low_first", 0, _rows([[2, 8]]))]), "out of range"),
    (dict(orderings=[Ordering("layer", 4, "m", 1, "low_first", 0, _rows([[4, 0]]))]), "hidden layer 4"),
    (dict(y=torch.zeros(3, dtype=torch.int64)), "one label per test sample"),
    (dict(strategies=("zero", "noise")), "unknown strategy 'noise'"),
]


@pytest.mark.parametrize("change,fragment", BAD, ids=[f for _, f in BAD])
def test_bad_input(change, fragment):
    net, layers, x, y, means = cnn_case(n=10)
    other = nn.Sequential(nn.Linear(3, 3), nn.ReLU())
    args = dict(model=net, network=net, layers=layers, x=x, y=y, means=means,
                orderings=[o for o in orderings_of(layers, [1]) if o.scope == "layer"])
    args.update(change)
    if change.get("layers") == "twice":
        args["layers"] = layers + layers[:1]
    if change.get("layers") == "elsewhere":
        args["network"], args["layers"] = other, unit_layers(other, torch.zeros(2, 3), paths=["1"])  # `model` never calls it
        args["means"] = [np.zeros(3)]
        args["orderings"] = [Ordering("layer", 1, "m", 1, "low_first", 0, _rows([[1, 0], [1, 2]]))]
    with pytest.raises(NeuronInfoError) as e:
        hooked_ablation_curves(**args)
    msg = str(e.value)
    assert fragment in msg and "\n" not in msg and "; " in msg
