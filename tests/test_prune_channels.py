"""Pruning the cnn preset into a physically smaller CNN (issue 25): with strategy zero it computes what the
ablated network computes (checked against masked forward hooks written here), batch norm included; its registered
run's test error equals the ablation curve at the same k; with strategy mean the fold is exact into the dense
layers and approximate into a conv, and prune says by how much."""
import numpy as np
import pytest
import torch

from flows import pruning, stages
from pipeline.architectures import build
from pipeline.prune_channels import prune_cnn
from pipeline.spec import preset_spec
from store.checkpoints import load_run
from store.paths import open_warehouse
from store.sandbox import query

SHAPES = [(8, 8), (4, 4), (2, 2), ()]  # each unit layer's output map of the synthetic 8x8 cnn: 8-16-32-32


def random_cnn(regularizer: str = "none"):
    spec = preset_spec("synthetic", 64, 10, arch="cnn", regularizer=regularizer, epochs=1, n_val=600, inputs="unit")
    torch.manual_seed(0)
    model = build(spec).eval()
    for module in model.modules():  # batch norm that does something
        if isinstance(module, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            module.running_mean.normal_()
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.normal_()
            module.bias.data.normal_()
    return model


def masked_logits(model, removed, fills, x):
    """Logits with units ``removed[l]`` of each activation module replaced by ``fills[l]`` (0 or mean maps)."""
    activations = [m for m in model.network.modules() if isinstance(m, torch.nn.ReLU)]
    handles = []
    for layer, module in enumerate(activations):
        def replace(_, __, output, layer=layer):
            output = output.clone()
            output[:, removed[layer]] = fills[layer][removed[layer]] if fills else 0.0
            return output
        handles.append(module.register_forward_hook(replace))
    with torch.no_grad():
        logits = model(x)
    for handle in handles:
        handle.remove()
    return logits


@pytest.mark.parametrize("regularizer", ["none", "dropout_bn"])
def test_a_zero_pruned_cnn_computes_the_ablated_network(regularizer):
    model = random_cnn(regularizer)
    sizes = model.spec.hidden_sizes
    rng = np.random.default_rng(1)
    kept = [np.sort(rng.choice(m, m // 2 + 1, replace=False)) for m in sizes]
    removed = [np.setdiff1d(np.arange(m), k) for m, k in zip(sizes, kept)]
    pruned = prune_cnn(model, kept, "zero")
    assert pruned.spec.hidden_sizes == tuple(len(k) for k in kept) and pruned.spec.regularizer == regularizer
    assert sum(p.numel() for p in pruned.parameters()) < 0.5 * sum(p.numel() for p in model.parameters())
    x = torch.randn(400, 64)
    with torch.no_grad():
        np.testing.assert_allclose(pruned(x).numpy(), masked_logits(model, removed, None, x).numpy(), atol=1e-5)


def test_mean_pruning_is_exact_into_dense_layers_and_approximate_into_a_conv():
    model = random_cnn()
    sizes = model.spec.hidden_sizes
    maps = [torch.as_tensor(np.abs(np.random.default_rng(l).normal(size=(m, *shape))), dtype=torch.float32)
            for l, (m, shape) in enumerate(zip(sizes, SHAPES))]
    x = torch.randn(400, 64)
    for cut, exact in (((2, 3), True), ((0, 1), False)):  # the last conv and the dense layer feed Linear layers
        kept = [np.arange(m)[::2] if l in cut else np.arange(m) for l, m in enumerate(sizes)]
        removed = [np.setdiff1d(np.arange(m), k) for m, k in zip(sizes, kept)]
        with torch.no_grad():
            gap = (prune_cnn(model, kept, "mean", [m.numpy() for m in maps])(x) - masked_logits(model, removed, maps, x)).abs().max()
        assert (gap < 1e-5) == exact, (cut, float(gap))


def test_other_networks_are_refused_with_one_line():
    spec = preset_spec("synthetic", 64, 10, arch="vit", arch_kwargs={"layers": 1, "hidden_dim": 8, "mlp_dim": 8, "heads": 1},
                       epochs=1, n_val=600)
    with pytest.raises(Exception, match="channels of the cnn preset"):
        prune_cnn(build(spec), [np.arange(8)], "zero")


def test_a_pruned_cnn_run_has_the_error_of_its_ablation_curve(tmp_path, capsys):
    """Registered by neuroninfo prune: the test error of the run cut to half its units by mutual_info (network
    scope, strategy zero, no fine-tune) equals the zero-ablation curve's point at the same k; with strategy mean,
    prune says how far the pruned network's error is from the ablated one's."""
    wh = open_warehouse(tmp_path)
    run_id = stages.train_run(wh, random_cnn().spec, progress=False)  # trained: a random one predicts one class
    model = load_run(wh, run_id)
    stages.capture_run(wh, run_id, bits=(1,))
    stages.measure_run(wh, run_id)
    total = sum(model.spec.hidden_sizes)
    stages.ablate_run(wh, run_id, ("zero",), 0, total, measures=("mutual_info",), scopes=("network",))
    new_id, notes = pruning.prune_run(wh, run_id, "mutual_info", 0.5, bits=1, scope="network", strategy="zero")
    assert notes == []
    [curve] = query(wh, f"SELECT test_error FROM ablation_curves WHERE run_id = '{run_id}' AND measure = 'mutual_info' "
                        f"AND ordering = 'low_first' AND n_ablated = {total // 2}").to_pylist()
    [pruned] = query(wh, f"SELECT test_error, hidden_sizes, n_test FROM runs WHERE run_id = '{new_id}'").to_pylist()
    [parent] = query(wh, f"SELECT test_error FROM runs WHERE run_id = '{run_id}'").to_pylist()
    assert pruned["test_error"] == pytest.approx(curve["test_error"], abs=0.5 / pruned["n_test"])  # the same count
    assert pruned["test_error"] > parent["test_error"] + 0.01  # cutting half the units changed predictions
    assert sum(pruned["hidden_sizes"]) == total // 2
    assert load_run(wh, new_id).spec.arch == "cnn"
    stages.ablate_run(wh, run_id, ("mean",), 0, total, measures=("mutual_info",), scopes=("network",))
    capsys.readouterr()
    mean_id, _ = pruning.prune_run(wh, run_id, "mutual_info", 0.5, bits=1, scope="network", strategy="mean")
    [curve] = query(wh, f"SELECT test_error FROM ablation_curves WHERE run_id = '{run_id}' AND measure = 'mutual_info' "
                        f"AND ordering = 'low_first' AND strategy = 'mean' AND n_ablated = {total // 2}").to_pylist()
    [pruned] = query(wh, f"SELECT test_error FROM runs WHERE run_id = '{mean_id}'").to_pylist()
    said = capsys.readouterr().err
    assert f"the ablated network's test error is {curve['test_error']:.2%}, the pruned one's {pruned['test_error']:.2%}" in said
