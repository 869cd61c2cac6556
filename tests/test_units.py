"""Units of any network (issue 25): conv channels and transformer neurons measured from hook-captured outputs,
checked against an independent numpy computation; a fully-connected run's identity and bytes as before; a
user's module by class path; a dropped file naming code refused by the inbox."""
import hashlib
import json

import numpy as np
import pytest
import torch

from flows.run_data import data_of
from flows.stages import capture_run, measure_run, register_run
from pipeline.architectures import build
from pipeline.spec import NetworkSpec, preset_spec
from store.checkpoints import load_run, save_checkpoint
from store.paths import open_warehouse
from store.sandbox import query

VIT = {"layers": 2, "hidden_dim": 16, "mlp_dim": 32, "heads": 2}
# module paths of the units, by hand: our cnn is Sequential(features, classifier), each activation its own module;
# torchvision's VisionTransformer has its MLP activation at encoder.layers.encoder_layer_i.mlp.1
EXPECTED_PATHS = {"cnn": ["0.1", "0.4", "0.7", "1.2"],
                  "vit": ["encoder.layers.encoder_layer_0.mlp.1", "encoder.layers.encoder_layer_1.mlp.1"]}


def random_run(wh, arch: str, kwargs: dict | None = None) -> str:
    """A network of ``arch`` with seeded random weights (no training), registered and captured at 1 and 2 bits."""
    spec = preset_spec("synthetic", 64, 10, arch=arch, arch_kwargs=kwargs, epochs=1, n_val=600, inputs="unit")
    torch.manual_seed(3)
    model = build(spec).eval()
    run_id = save_checkpoint(wh, model)
    register_run(wh, run_id, model, data_of(spec, None))
    capture_run(wh, run_id, bits=(1, 2))
    measure_run(wh, run_id)
    return run_id


@pytest.fixture(scope="module")
def unit_runs(tmp_path_factory):
    wh = open_warehouse(tmp_path_factory.mktemp("units"))
    return wh, {"cnn": random_run(wh, "cnn"), "vit": random_run(wh, "vit", VIT)}


def plain_hooked_values(model, paths: list[str], x: torch.Tensor) -> list[np.ndarray]:
    """Each module's output over ``x`` by plain forward hooks, reduced by hand: (N, C, H, W) mean over space,
    (N, T, D) mean over tokens, (N, M) as it is."""
    seen = {}
    handles = [model.network.get_submodule(p).register_forward_hook(
        lambda m, i, out, p=p: seen.__setitem__(p, out.detach().double())) for p in paths]
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    reduced = []
    for p in paths:
        out = seen[p]
        reduced.append((out.mean((2, 3)) if out.ndim == 4 else out.mean(1) if out.ndim == 3 else out).numpy())
    return reduced


def entropy_bits(codes: np.ndarray) -> float:
    p = np.bincount(codes) / len(codes)
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum())


def reference_measures(values: np.ndarray, labels: np.ndarray, bits: int, uniform_relu: bool):
    """Entropy and I(T;Y) per unit: per-unit equal-mass bins (or, for a ReLU neuron layer, the study's uniform
    bins with threshold 0), computed here from scratch."""
    n_bins = 2 ** bits
    if uniform_relu:
        top = max(values.max(), 0.0)
        thresholds = np.tile(np.concatenate([[0.0], top * np.arange(1, n_bins - 1) / (n_bins - 1)]), (values.shape[1], 1))
    else:
        thresholds = np.quantile(values, np.arange(1, n_bins) / n_bins, axis=0).T
    entropy, mutual_info = [], []
    for unit in range(values.shape[1]):
        codes = (values[:, unit][:, None] > thresholds[unit][None, :]).sum(1)
        h = entropy_bits(codes)
        conditional = sum((labels == c).mean() * entropy_bits(codes[labels == c]) for c in np.unique(labels))
        entropy.append(h)
        mutual_info.append(h - conditional)
    return np.array(entropy), np.array(mutual_info)


@pytest.mark.parametrize("arch", ["cnn", "vit"])
def test_channel_and_token_measures_equal_numpy_from_hooked_outputs(unit_runs, arch):
    wh, run_ids = unit_runs
    run_id = run_ids[arch]
    layers = query(wh, f"SELECT layer, module_path, unit_kind, reducer, units, quantizer FROM layers "
                       f"WHERE run_id = '{run_id}' ORDER BY layer").to_pylist()
    assert [r["module_path"] for r in layers] == EXPECTED_PATHS[arch]
    model = load_run(wh, run_id)
    val = data_of(model.spec, None).val
    values = plain_hooked_values(model, EXPECTED_PATHS[arch], val.x)
    labels = val.y.numpy()
    stored = query(wh, f"SELECT layer, bits, entropy, mutual_info FROM neuron_stats WHERE run_id = '{run_id}' "
                       "ORDER BY layer, bits, neuron").to_pylist()
    for layer, unit_values in zip(layers, values):
        assert layer["units"] == unit_values.shape[1]
        uniform = layer["unit_kind"] == "neuron"  # the cnn's dense ReLU layer keeps the study's quantizer
        assert layer["quantizer"] == ("uniform" if uniform else "unit_quantile")
        for bits in (1, 2):
            rows = [r for r in stored if r["layer"] == layer["layer"] and r["bits"] == bits]
            entropy, mutual_info = reference_measures(unit_values, labels, bits, uniform)
            np.testing.assert_allclose([r["entropy"] for r in rows], entropy, atol=1e-9)
            np.testing.assert_allclose([r["mutual_info"] for r in rows], mutual_info, atol=1e-9)


def test_layer_stats_show_each_layers_constant_fraction_and_module(unit_runs):
    wh, run_ids = unit_runs
    rows = query(wh, f"SELECT layer, module_path, unit_kind, n_neurons, constant_frac FROM layer_stats "
                     f"WHERE run_id = '{run_ids['cnn']}' ORDER BY layer").to_pylist()
    assert [(r["module_path"], r["unit_kind"]) for r in rows] == [
        ("0.1", "channel"), ("0.4", "channel"), ("0.7", "channel"), ("1.2", "neuron")]
    assert all(0.0 <= r["constant_frac"] <= 1.0 for r in rows)


def test_a_fully_connected_run_keeps_its_run_id_and_parquet_bytes(tmp_path):
    """Fixed weights, the synthetic data: the run_id and the tables' bytes that main gave before units existed
    (measured with commit 4e17e03: the same script there and here)."""
    torch.manual_seed(0)
    spec = NetworkSpec(dataset="synthetic", input_dim=64, n_classes=10, hidden_sizes=(12, 6), n_val=1000, epochs=1,
                       inputs="unit")
    model = build(spec).eval()
    wh = open_warehouse(tmp_path / "wh")
    run_id = save_checkpoint(wh, model)
    register_run(wh, run_id, model, data_of(spec, None))
    capture_run(wh, run_id, bits=(1, 2))
    measure_run(wh, run_id)
    assert run_id == "db74b33f54232246"
    digests = {table: hashlib.sha256((wh.root / "tables" / table / f"run_id={run_id}" / "data.parquet").read_bytes())
               .hexdigest()[:16] for table in ("quantizers", "counts")}
    assert digests == {"quantizers": "f30fb9f76d6dd4dd", "counts": "ca791b553e461bd1"}
    # the measures' last bits follow DuckDB's parallel sums (its thread count): their values to 1e-9 are the same
    rows = query(wh, "SELECT * EXCLUDE (run_id) FROM neuron_stats ORDER BY layer, neuron, bits").to_pylist()
    rounded = json.dumps([{k: round(v, 9) if isinstance(v, float) else v for k, v in r.items()} for r in rows])
    assert hashlib.sha256(rounded.encode()).hexdigest()[:16] == NEURON_STATS_ROUNDED


NEURON_STATS_ROUNDED = "7732bc8ecd886a09"  # from the same run on main before units (its bytes were equal there)

USER_MODULE = '''
from torch import nn


class Net(nn.Module):
    def __init__(self, width: int, num_classes: int = 10):
        super().__init__()
        self.conv = nn.Conv2d(1, width, 3, padding=1)
        self.act = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(width, num_classes)

    def forward(self, x):
        return self.head(self.pool(self.act(self.conv(x))).flatten(1))
'''


def test_a_users_module_by_class_path_trains_and_captures(tmp_path, monkeypatch, run_verb):
    (tmp_path / "user_nets.py").write_text(USER_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    wh = str(tmp_path / "wh")
    code, out, err = run_verb("train", "--dataset", "synthetic", "--arch", "user_nets:Net", "--arch-kwargs",
                              '{"width": 6}', "--epochs", "1", "--regularizer", "none", "--warehouse", wh)
    assert code == 0, err
    [run] = query(open_warehouse(wh), "SELECT run_id, arch, name FROM runs").to_pylist()
    assert run["arch"] == "user_nets:Net" and run["name"].startswith("synthetic-Net-none")
    code, out, err = run_verb("capture", run["run_id"], "--bits", "1", "--warehouse", wh)
    assert code == 0, err
    [layer] = query(open_warehouse(wh), "SELECT module_path, unit_kind, reducer, units FROM layers").to_pylist()
    assert layer == {"module_path": "act", "unit_kind": "channel", "reducer": "mean", "units": 6}
    code, out, err = run_verb("capture", run["run_id"], "--layers", "nothing*", "--warehouse", wh)
    assert code == 2 and "--layers nothing* matches no module" in err


def test_the_inbox_refuses_a_sidecar_naming_code(tmp_path):
    from flows.inbox_stage import analyse_inbox_file
    from store.inbox import InboxFile

    wh = open_warehouse(tmp_path / "wh")
    torch.manual_seed(0)
    spec = preset_spec("synthetic", 64, 10, arch="cnn", epochs=1, inputs="unit")
    path = wh.inbox / "net.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(build(spec).network.state_dict(), path)
    (wh.inbox / "net.pt.json").write_text(json.dumps({"dataset": "synthetic", "arch": "user_nets:Net"}))
    outcome = analyse_inbox_file(wh, InboxFile(path, (wh.inbox / "net.pt.json",)))
    assert outcome.status == "rejected"
    assert "code the inbox never imports" in (wh.inbox / "rejected" / "net.pt.reason.txt").read_text()


def test_presets_of_the_architectures():
    """The cnn preset's widths on 28x28 and 32x32 images (smaller on 8x8), the vit's patch following the side."""
    assert preset_spec("fashion-mnist", 784, 10, arch="cnn").hidden_sizes == (32, 64, 128, 128)
    assert preset_spec("cifar10", 3072, 10, arch="cnn").image_shape == (3, 32, 32)
    assert preset_spec("synthetic", 64, 10, arch="cnn").hidden_sizes == (8, 16, 32, 32)
    vit = preset_spec("fashion-mnist", 784, 10, arch="vit")
    assert json.loads(vit.arch_kwargs)["patch"] == 7 and vit.activation == "builtin" and vit.hidden_sizes == ()
    assert json.loads(preset_spec("cifar10", 3072, 10, arch="vit").arch_kwargs)["patch"] == 4


class FunctionalBlock(torch.nn.Module):
    """Conv then an activation called as a function, like GoogLeNet's and Inception's BasicConv2d."""

    def __init__(self, channels_in, channels_out, how):
        super().__init__()
        self.conv, self.how = torch.nn.Conv2d(channels_in, channels_out, 3, padding=1), how

    def forward(self, x):
        x = self.conv(x)
        if self.how == "F.relu_":
            return torch.nn.functional.relu(x, inplace=True)
        if self.how == "sigmoid":
            return x.sigmoid()
        return torch.relu(x) + 1  # "shifted": the block's output is not the activation's result


class FunctionalNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = torch.nn.Sequential(FunctionalBlock(3, 4, "F.relu_"))  # the block, not the Sequential
        self.gate = FunctionalBlock(4, 4, "sigmoid")
        self.shifted = FunctionalBlock(4, 5, "shifted")
        self.shared = FunctionalBlock(5, 5, "F.relu_")  # runs twice: stands for its parent, the network itself
        # once per forward on a table shared by all samples (Swin v2's position-bias MLP): not a unit layer
        self.table = torch.nn.Sequential(torch.nn.Linear(2, 10), torch.nn.ReLU())
        self.head = torch.nn.Linear(5, 10)

    def forward(self, x):
        x = self.shared(self.shared(self.shifted(self.gate(self.stem(x)))))
        return self.head(x.mean((2, 3))) + self.table(torch.ones(1, 2))


def test_modules_returning_an_activation_functions_result_are_default_unit_layers():
    """GoogLeNet's and Inception's conv blocks end with F.relu; Swin v2's ReLU of a shared table is left out."""
    from pipeline.errors import NeuronInfoError
    from pipeline.units import unit_layers

    torch.manual_seed(0)
    network, sample = FunctionalNet().eval(), torch.randn(2, 3, 8, 8)
    layers = unit_layers(network, sample)
    assert [(layer.path, layer.kind, layer.units) for layer in layers] == [("stem.0", "channel", 4),
                                                                           ("gate", "channel", 4)]
    with pytest.raises(NeuronInfoError, match="no tensor with one row per sample"):
        unit_layers(network, sample, paths=["table.1"])


def test_other_networks_are_ablated_by_mutual_info_and_kl_selectivity_unless_told(unit_runs):
    """Each grid point of a conv or transformer network is a forward pass of the test split: by default the curves
    rank by mutual_info and kl_selectivity (and random), and --scopes layer leaves the network-wide curves out."""
    from flows.stages import ablate_run

    wh, run_ids = unit_runs
    run_id = run_ids["cnn"]
    ablate_run(wh, run_id, ("zero",), 1, 2, scopes=("layer",))
    rows = query(wh, f"SELECT DISTINCT measure, bits, scope, layer FROM ablation_curves WHERE run_id = '{run_id}'").to_pylist()
    assert {(r["measure"], r["bits"]) for r in rows} == {("mutual_info", 1), ("mutual_info", 2), ("kl_selectivity", 1),
                                                         ("kl_selectivity", 2), ("random", None)}
    assert {(r["scope"], r["layer"]) for r in rows} == {("layer", i) for i in (1, 2, 3, 4)}
    ablate_run(wh, run_id, ("zero",), 1, 2, measures=("entropy",))  # both scopes now, beside the layer curves
    rows = query(wh, f"SELECT DISTINCT measure, scope FROM ablation_curves WHERE run_id = '{run_id}'").to_pylist()
    assert {(r["measure"], r["scope"]) for r in rows} >= {("entropy", "network"), ("entropy", "layer"),
                                                          ("mutual_info", "layer")}
    with pytest.raises(Exception, match="use one or both of layer, network"):
        ablate_run(wh, run_id, ("zero",), 1, 2, scopes=("everything",))
