"""pipeline.unit_baselines against computations written here: a small CNN (conv-BN-ReLU-pool, conv-ReLU-pool,
flatten, linear-ReLU, linear) and a small torchvision ViT, random weights in float64; and the baselines
stage end to end on a trained synthetic cnn."""

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from pipeline import unit_baselines as ub
from pipeline.architectures import ImageClassifier
from pipeline.network_units import layers_of
from pipeline.spec import preset_spec

EPS = 1e-5  # BatchNorm2d's


def cnn(seed: int = 0) -> ImageClassifier:
    """1x8x8 images -> conv 4 -> BN -> ReLU -> pool -> conv 6 -> ReLU -> pool -> flatten -> 5 -> ReLU -> 3 classes."""
    torch.manual_seed(seed)
    spec = preset_spec("synthetic", 64, 3, arch="cnn", hidden_sizes=(4, 6, 5), epochs=1)
    network = nn.Sequential(
        nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                      nn.Conv2d(4, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)),
        nn.Sequential(nn.Flatten(), nn.Linear(6 * 2 * 2, 5), nn.ReLU(), nn.Linear(5, 3)))
    norm = network[0][1]
    with torch.no_grad():  # eval-mode statistics far from the identity
        norm.running_mean.copy_(torch.randn(4) * 0.3)
        norm.running_var.copy_(torch.rand(4) * 2 + 0.2)
        norm.weight.copy_(torch.randn(4))
        norm.bias.copy_(torch.randn(4) * 0.1)
    return ImageClassifier(spec, network).double().eval()


def reference_forward(model: ImageClassifier, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
    """The CNN written with functional ops: the three ReLU outputs and the logits."""
    (c1, bn, _, _, c2, _, _), (_, l1, _, l2) = model.network[0], model.network[1]
    h = F.conv2d(x.reshape(-1, 1, 8, 8), c1.weight, c1.bias, padding=1)
    a1 = F.relu((h - bn.running_mean[None, :, None, None]) / torch.sqrt(bn.running_var[None, :, None, None] + EPS)
                * bn.weight[None, :, None, None] + bn.bias[None, :, None, None])
    a2 = F.relu(F.conv2d(F.max_pool2d(a1, 2), c2.weight, c2.bias, padding=1))
    a3 = F.relu(F.max_pool2d(a2, 2).reshape(len(x), -1) @ l1.weight.T + l1.bias)
    return [a1, a2, a3], a3 @ l2.weight.T + l2.bias


@pytest.fixture(scope="module")
def samples():
    g = torch.Generator().manual_seed(1)
    return torch.randn(120, 64, generator=g, dtype=torch.float64), torch.randint(0, 3, (120,), generator=g)


def layers(model, x):
    found = layers_of(model, x[:4])
    assert [(l.path, l.kind, l.units) for l in found] == [("0.2", "channel", 4), ("0.5", "channel", 6), ("1.2", "neuron", 5)]
    return found


def test_wiring_finds_producers_consumers_and_norms(samples):
    model = cnn()
    got = [ub.wiring(model.network, layer) for layer in layers(model, samples[0])]
    assert got[0] == ub.Wiring("0.0", "0.1", "0.4", None, None)
    assert got[1] == ub.Wiring("0.4", None, None, None, None)  # its consumer follows a Flatten in the next Sequential
    assert got[2] == ub.Wiring("1.1", None, "1.3", None, None)


def test_weight_norms_of_batch_norm_folded_filters_by_hand(samples):
    model = cnn()
    found = layers(model, samples[0])
    values = ub.weight_norms(model.network, found, [ub.wiring(model.network, layer) for layer in found])
    (c1, bn, _, _, c2, _, _), (_, l1, _, l2) = model.network[0], model.network[1]
    scale = (bn.weight / torch.sqrt(bn.running_var + EPS)).detach()
    folded = c1.weight.detach() * scale[:, None, None, None]
    np.testing.assert_allclose(values[0]["weight_l1_in"], folded.abs().sum((1, 2, 3)).numpy(), rtol=1e-12)
    np.testing.assert_allclose(values[0]["weight_l2_in"], folded.pow(2).sum((1, 2, 3)).sqrt().numpy(), rtol=1e-12)
    np.testing.assert_allclose(values[0]["weight_l1_out"], c2.weight.detach().abs().sum((0, 2, 3)).numpy(), rtol=1e-12)
    np.testing.assert_allclose(values[1]["weight_l1_in"], c2.weight.detach().abs().sum((1, 2, 3)).numpy(), rtol=1e-12)
    assert values[1]["weight_l1_out"] is None
    np.testing.assert_allclose(values[2]["weight_l2_in"], l1.weight.detach().norm(dim=1).numpy(), rtol=1e-12)
    np.testing.assert_allclose(values[2]["weight_l1_out"], l2.weight.detach().abs().sum(0).numpy(), rtol=1e-12)


def test_every_criterion_per_layer_as_baselines_table_takes_them(samples):
    x, y = samples[0][:8], samples[1][:8]
    model = cnn()
    found = layers(model, x)
    steps = []
    values = ub.unit_baselines(model, found, x, y, x, y, on_step=lambda: steps.append(1))
    assert len(steps) == 4
    for layer, v in zip(found, values):
        assert tuple(v) == ub.CRITERIA
        assert v["ablation_damage_mean"] is None  # no mean maps given
        assert all(a is None or (a.dtype == np.float64 and a.shape == (layer.units,)) for a in v.values())
    assert values[1]["weight_l1_out"] is None and values[1]["weight_l1_in"] is not None
    network = model.network if hasattr(model, "network") else model
    with torch.no_grad():
        base = (model(x).argmax(1) != y).double().mean().item()
    for layer, v in zip(found, values):  # single-unit damage: a plain forward with the unit zeroed, by hand
        expected = []
        for unit in range(layer.units):
            def zero(module, inputs, out, unit=unit):
                out = out.clone()
                if out.ndim == 4:
                    out[:, unit] = 0
                else:
                    out[..., unit] = 0
                return out
            handle = network.get_submodule(layer.path).register_forward_hook(zero)
            with torch.no_grad():
                expected.append((model(x).argmax(1) != y).double().mean().item() - base)
            handle.remove()
        np.testing.assert_allclose(v["ablation_damage"], expected, atol=1e-12)


def test_weight_norms_fold_a_norm_before_and_after_the_consumer():
    torch.manual_seed(3)
    seq = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.BatchNorm1d(3), nn.Linear(3, 2), nn.Dropout(0.1), nn.BatchNorm1d(2))
    for norm in (seq[2], seq[5]):
        with torch.no_grad():
            norm.running_var.copy_(torch.rand(norm.num_features) + 0.5)
            norm.weight.copy_(torch.randn(norm.num_features))
    network = nn.Sequential(seq).double().eval()
    layer = ub.UnitLayer("0.1", "neuron", "none", (3,))
    w = ub.wiring(network, layer)
    assert w == ub.Wiring("0.0", None, "0.3", "0.2", "0.5")
    before, after = seq[2], seq[5]
    s_before = before.weight / torch.sqrt(before.running_var + before.eps)
    s_after = after.weight / torch.sqrt(after.running_var + after.eps)
    expected = (seq[3].weight * s_after[:, None] * s_before[None, :]).abs().sum(0)
    got = ub.weight_norms(network, [layer], [w])[0]["weight_l1_out"]
    np.testing.assert_allclose(got, expected.detach().numpy(), rtol=1e-12)


def test_taylor_against_autograd_per_channel(samples):
    x, y = samples
    model = cnn()
    with torch.no_grad():
        model.network[0][4].weight[:, 1] = 0.0  # channel 1 of the first layer feeds nothing forward
    found = layers(model, x)
    got = [{"taylor": t} for t in ub.taylor(model, found, x, y, batch_size=50)]  # batches of 50, 50, 20
    got[0].update(ub.weight_norms(model.network, found[:1], [ub.wiring(model.network, found[0])])[0])
    outputs, logits = reference_forward(model, x)
    np.testing.assert_allclose(logits.detach().numpy(), model(x).detach().numpy(), rtol=1e-10, atol=1e-12)
    grads = torch.autograd.grad(F.cross_entropy(logits, y, reduction="sum"), outputs)
    for l, (a, g) in enumerate(zip(outputs, grads)):
        per_unit = (a * g).sum((2, 3)) if a.dim() == 4 else a * g
        np.testing.assert_allclose(got[l]["taylor"], per_unit.abs().mean(0).detach().numpy(), rtol=1e-10)
    assert got[0]["taylor"][1] == 0.0 and got[0]["weight_l1_out"][1] == 0.0
    assert got[0]["taylor"].min() >= 0 and (got[0]["taylor"] > 0).sum() >= 2


def test_conductance_equals_a_direct_captum_call_per_channel(samples):
    captum = pytest.importorskip("captum.attr")
    x, y = samples[0][:12], samples[1][:12]
    model = cnn()
    found = layers(model, x)
    got = ub.conductance(model, found, x, y, memory=2**20)  # 2 samples per attribute call
    for l, layer in enumerate(found):
        attr = captum.LayerConductance(model, model.network.get_submodule(layer.path)).attribute(
            x, baselines=torch.zeros_like(x), target=y, n_steps=ub.CAPTUM_STEPS)
        per_unit = attr.sum((2, 3)) if attr.dim() == 4 else attr
        np.testing.assert_allclose(got[l], per_unit.abs().mean(0).detach().numpy(), rtol=1e-8)


def test_conductance_completeness_through_one_channel(samples):
    pytest.importorskip("captum")
    x, y = samples[0][:40], samples[1][:40]
    model = cnn()
    with torch.no_grad():
        model.network[0][4].weight[:, 1:] = 0.0  # only channel 0 of the first layer feeds forward
    found = layers(model, x)[:1]
    got = ub.conductance(model, found, x, y)[0]
    assert (got[1:] == 0).all()
    with torch.no_grad():
        target = model(x)[torch.arange(len(y)), y] - model(torch.zeros_like(x))[torch.arange(len(y)), y]
    assert got[0] == pytest.approx(target.abs().mean().item(), rel=2e-2)  # the channel carries the whole change


def test_torch_pruning_magnitude_by_hand(samples):
    pytest.importorskip("torch_pruning")
    model = cnn()
    found = layers(model, samples[0])
    wirings = [ub.wiring(model.network, layer) for layer in found]
    got = ub.torch_pruning_magnitude(model, found, wirings, samples[0])
    (c1, bn, _, _, c2, _, _), (_, l1, _, l2) = model.network[0], model.network[1]
    scale = (bn.weight / torch.sqrt(bn.running_var + EPS)).detach()
    rows1 = (c1.weight.detach() * scale[:, None, None, None]).pow(2).sum((1, 2, 3))
    cols1 = c2.weight.detach().pow(2).sum((0, 2, 3))
    cols2 = l1.weight.detach().pow(2).reshape(5, 6, 4).sum((0, 2))  # flatten: channel c is columns 4c..4c+3
    for l, (rows, cols) in enumerate([(rows1, cols1), (c2.weight.detach().pow(2).sum((1, 2, 3)), cols2),
                                      (l1.weight.detach().pow(2).sum(1), l2.weight.detach().pow(2).sum(0))]):
        expected = (rows + cols) / 2
        np.testing.assert_allclose(got[l], (expected / expected.mean()).numpy(), rtol=1e-6)
    assert model.network[0][1].weight is bn.weight  # the model itself is not folded


def test_a_network_torch_pruning_cannot_trace_leaves_that_criterion_null(samples, monkeypatch):
    tp = pytest.importorskip("torch_pruning")
    model = cnn()
    found = layers(model, samples[0])

    def fails(self, *args, **kwargs):
        raise RuntimeError("cannot trace")

    monkeypatch.setattr(tp.DependencyGraph, "build_dependency", fails)
    wirings = [ub.wiring(model.network, layer) for layer in found]
    assert ub.torch_pruning_magnitude(model, found, wirings, samples[0]) == [None, None, None]


def test_layers_without_a_producer_get_none():
    model = cnn()
    position = ub.UnitLayer("0.2", "channel", "position", (4, 8, 8))
    block = ub.UnitLayer("0", "channel", "mean", (6, 2, 2))  # a Sequential's output: no Conv/Linear sibling
    assert ub.wiring(model.network, position) == ub.Wiring() == ub.wiring(model.network, block)
    values = ub.weight_norms(model.network, [position, block], [ub.Wiring(), ub.Wiring()])
    assert all(v is None for d in values for v in d.values())


def vit() -> ImageClassifier:
    from torchvision.models import VisionTransformer

    torch.manual_seed(4)
    spec = preset_spec("synthetic", 64, 3, arch="vit", arch_kwargs={"layers": 2, "heads": 2, "hidden_dim": 8,
                                                                       "mlp_dim": 12, "patch": 4}, epochs=1)
    network = VisionTransformer(image_size=8, patch_size=4, num_layers=2, num_heads=2, hidden_dim=8, mlp_dim=12,
                                num_classes=3)
    network.conv_proj = nn.Conv2d(1, 8, 4, 4)
    nn.init.normal_(network.heads.head.weight)  # torchvision starts the head at zero: no gradient reaches the units
    return ImageClassifier(spec, network).double().eval()


def test_vit_token_units(samples):
    x, y = samples[0][:24], samples[1][:24]
    model = vit()
    found = layers_of(model, x[:4])
    path = "encoder.layers.encoder_layer_0.mlp.1"  # the first of two blocks: every token reaches the class token
    assert [(l.path, l.kind, l.shape) for l in found] == [(path, "token", (5, 12)), (path.replace("0", "1"), "token", (5, 12))]
    found = found[:1]
    cls = ub.UnitLayer(path, "token", "cls", (5, 12))
    wirings = [ub.wiring(model.network, layer) for layer in found]
    got = [{"taylor": t, **norms} for t, norms in zip(ub.taylor(model, found + [cls], x, y),
                                                       ub.weight_norms(model.network, found + [cls], wirings * 2))]

    kept = {}

    def keep(module, inputs, output):
        output.retain_grad()
        kept["a"] = output

    handle = model.network.get_submodule(path).register_forward_hook(keep)
    F.cross_entropy(model(x), y, reduction="sum").backward()
    handle.remove()
    a = kept["a"]
    expected = (a * a.grad).sum(1).abs().mean(0).detach().numpy()  # each neuron summed over the 5 tokens
    np.testing.assert_allclose(got[0]["taylor"], expected, rtol=1e-10)
    np.testing.assert_allclose(got[1]["taylor"], expected, rtol=1e-10)  # cls units: ablation replaces every token too
    mlp = model.network.encoder.layers.encoder_layer_0.mlp
    np.testing.assert_allclose(got[0]["weight_l1_in"], mlp[0].weight.detach().abs().sum(1).numpy(), rtol=1e-12)
    np.testing.assert_allclose(got[0]["weight_l1_out"], mlp[3].weight.detach().abs().sum(0).numpy(), rtol=1e-12)
    conductance = ub.conductance(model, found, x[:4], y[:4])
    if conductance is not None:
        assert conductance[0].shape == (12,) and (conductance[0] > 0).all()
    magnitude = ub.torch_pruning_magnitude(model, found, wirings, x)
    if magnitude is not None:  # mlp.0's rows and mlp.3's columns
        expected = (mlp[0].weight.detach().pow(2).sum(1) + mlp[3].weight.detach().pow(2).sum(0)) / 2
        np.testing.assert_allclose(magnitude[0], (expected / expected.mean()).numpy(), rtol=1e-6)


def test_baselines_stage_writes_every_unit_of_a_cnn(tmp_path):
    from importlib.util import find_spec

    from flows.stages import baselines_run, capture_run, train_run
    from store.contract import run_data_tests
    from store.paths import open_warehouse
    from store.sandbox import query
    from store.views import memory_connection

    wh = open_warehouse(tmp_path / "wh")
    spec = preset_spec("synthetic-4", 64, 4, arch="cnn", hidden_sizes=(4, 6, 8), regularizer="dropout_bn", epochs=1,
                       n_val=60)
    run_id = train_run(wh, spec, progress=False)
    capture_run(wh, run_id, bits=(1,))
    baselines_run(wh, run_id)
    rows = query(wh, f"SELECT * FROM neuron_baselines WHERE run_id = '{run_id}' ORDER BY layer, neuron").to_pydict()
    units = query(wh, f"SELECT layer, units FROM layers WHERE run_id = '{run_id}' ORDER BY layer").to_pydict()
    assert units["units"] == [4, 6, 8]
    assert rows["layer"] == [l for l, m in zip(units["layer"], units["units"]) for _ in range(m)]
    assert rows["neuron"] == [j for m in units["units"] for j in range(m)]
    assert all(v is not None and v >= 0 for name in ("taylor", "weight_l1_in", "weight_l2_in", "act_var")
               for v in rows[name])
    assert None not in rows["weight_l1_out"][:4] + rows["weight_l1_out"][10:]  # conv 1 -> conv 2, linear -> linear
    assert rows["weight_l1_out"][4:10] == [None] * 6  # conv 2's consumer follows a Flatten
    assert all(v is not None and -1 <= v <= 1 for name in ("ablation_damage", "ablation_damage_mean") for v in rows[name])
    for name, package in (("conductance", "captum"), ("torch_pruning_magnitude", "torch_pruning")):
        if find_spec(package) is not None:
            assert None not in rows[name]
    con = memory_connection(wh)
    try:
        assert run_data_tests(con, ["neuron_baselines"]) == []
    finally:
        con.close()
