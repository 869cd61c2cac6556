"""pipeline.baselines and sql/measures_baselines.sql on a hand-made network with known weights."""

import numpy as np
import pytest
import torch

from pipeline import baselines as bl
from pipeline.model import MLP
from pipeline.spec import NetworkSpec
from store.baselines import baselines_table

# 3 inputs -> 2 -> 2 -> 2 classes, ReLU. Neuron 1 of hidden layer 1 feeds nothing forward.
W0 = np.array([[1.0, -2.0, 2.0], [0.0, 3.0, 4.0]])  # L1 rows 5, 7; L2 rows 3, 5
B0 = np.array([0.1, -0.2])
W1 = np.array([[1.0, 0.0], [-2.0, 0.0]])  # column 1 zero: layer-1 neuron 1 is disconnected
B1 = np.array([0.5, 0.3])
W2 = np.array([[2.0, -1.0], [-1.0, 3.0]])
B2 = np.array([0.0, 0.2])


def hand_net(bn: bool = False) -> MLP:
    spec = NetworkSpec(dataset="synthetic", input_dim=3, n_classes=2, hidden_sizes=(2, 2), activation="relu",
                       regularizer="dropout_bn" if bn else "none", dropout=0.1 if bn else 0.0)
    model = MLP.empty(spec).double()
    with torch.no_grad():
        for lin, (w, b) in zip(model.linear, [(W0, B0), (W1, B1), (W2, B2)]):
            lin.weight.copy_(torch.tensor(w))
            lin.bias.copy_(torch.tensor(b))
        for norm in model.bn or []:  # scale weight / sqrt(var + eps) = 0.5, shift 0: halves the layer
            norm.running_mean.zero_()
            norm.running_var.fill_(4.0 - norm.eps)
            norm.weight.fill_(1.0)
            norm.bias.zero_()
    return model.eval()


@pytest.fixture(scope="module")
def samples():
    g = np.random.default_rng(0)
    x = g.uniform(-1, 1, (200, 3))
    y = g.integers(0, 2, 200)
    return torch.tensor(x), torch.tensor(y)


def forward(x, mask1=None):
    """numpy reference: pre-activations and outputs of both hidden layers, and the logits."""
    z1 = x @ W0.T + B0
    a1 = np.maximum(z1, 0)
    if mask1 is not None:
        a1 = np.where(mask1, a1, 0.0)
    z2 = a1 @ W1.T + B1
    a2 = np.maximum(z2, 0)
    return z1, a1, z2, a2, a2 @ W2.T + B2


def test_weight_norms_by_hand():
    norms = bl.weight_norms(hand_net())
    np.testing.assert_allclose(norms[0]["weight_l1_in"], [5, 7])
    np.testing.assert_allclose(norms[0]["weight_l2_in"], [3, 5])
    np.testing.assert_allclose(norms[0]["weight_l1_out"], [3, 0])
    np.testing.assert_allclose(norms[1]["weight_l1_in"], [1, 2])
    np.testing.assert_allclose(norms[1]["weight_l1_out"], [3, 4])


def test_weight_norms_fold_batch_norm():
    norms = bl.weight_norms(hand_net(bn=True))  # batch norm halves every hidden row
    np.testing.assert_allclose(norms[0]["weight_l1_in"], [2.5, 3.5])
    np.testing.assert_allclose(norms[0]["weight_l2_in"], [1.5, 2.5])
    np.testing.assert_allclose(norms[1]["weight_l1_in"], [0.5, 1.0])
    np.testing.assert_allclose(norms[0]["weight_l1_out"], [1.5, 0])  # layer 2's rows halved too


def test_torch_pruning_magnitude_by_hand():
    pytest.importorskip("torch_pruning")
    got = bl.torch_pruning_magnitude(hand_net())
    # layer 1: squared row norms [9, 25], squared outgoing column norms [5, 0]; mean [7, 12.5]; / layer mean 9.75
    np.testing.assert_allclose(got[0], np.array([7, 12.5]) / 9.75, rtol=1e-6)
    # layer 2: rows [1, 4], columns of W2 [5, 10]; mean [3, 7]; / 5
    np.testing.assert_allclose(got[1], [0.6, 1.4], rtol=1e-6)


def test_taylor_against_numpy(samples):
    x, y = samples
    got = bl.taylor(hand_net(), x, y)
    z1, a1, z2, a2, logits = forward(x.numpy())
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    g_logits = p - np.eye(2)[y.numpy()]  # dL/dlogits of each sample's cross-entropy
    g_a2 = g_logits @ W2
    g_a1 = (g_a2 * (z2 > 0)) @ W1
    np.testing.assert_allclose(got[1], np.abs(a2 * g_a2).mean(0), rtol=1e-10)
    np.testing.assert_allclose(got[0], np.abs(a1 * g_a1).mean(0), rtol=1e-10)
    assert got[0][1] == 0.0  # no outgoing weights: no Taylor importance


def test_conductance_completeness_and_zero(samples):
    pytest.importorskip("captum")
    x, y = samples
    got = bl.conductance(hand_net(), x, y)
    assert got[0][1] == 0.0  # no outgoing weights: no conductance
    # the only connected neuron of layer 1 carries the whole change of the target logit (completeness)
    target = lambda inputs: forward(inputs)[4][np.arange(len(y)), y.numpy()]  # noqa: E731
    expected = np.abs(target(x.numpy()) - target(np.zeros_like(x.numpy()))).mean()
    assert got[0][0] == pytest.approx(expected, rel=2e-2)


def test_ablation_damage_against_numpy(samples):
    x, y = samples
    model = hand_net()
    damage = bl.ablation_damage(model, x, y, "zero")
    base = (forward(x.numpy())[4].argmax(1) != y.numpy()).mean()
    for j in range(2):
        mask = np.ones(2, bool)
        mask[j] = False
        ablated = (forward(x.numpy(), mask)[4].argmax(1) != y.numpy()).mean()
        assert damage[0][j] == pytest.approx(ablated - base, abs=1e-9)
    assert damage[0][1] == 0.0
    damage_mean = bl.ablation_damage(model, x, y, "mean", [np.array([0.7, 0.4]), np.array([0.2, 0.9])])
    assert damage_mean[0][1] == 0.0


def test_activation_statistics_in_sql():
    rng = np.random.default_rng(5)
    raw = [rng.normal(size=(50, 3)).astype(np.float32), np.maximum(rng.normal(size=(50, 2)), 0).astype(np.float32)]
    values = [{"weight_l1_in": np.arange(3.0), "taylor": np.ones(3)}, {"weight_l1_in": np.arange(2.0), "taylor": np.ones(2)}]
    table = baselines_table(values, raw).to_pydict()
    assert table["layer"] == [1, 1, 1, 2, 2] and table["neuron"] == [0, 1, 2, 0, 1]
    stacked = np.concatenate([r.astype(np.float64) for r in raw], axis=1)
    np.testing.assert_allclose(table["act_mean"], stacked.mean(0), rtol=1e-12)
    np.testing.assert_allclose(table["act_var"], stacked.var(0), rtol=1e-9)
    np.testing.assert_allclose(table["act_abs_mean"], np.abs(stacked).mean(0), rtol=1e-12)
    assert table["conductance"] == [None] * 5  # not given: NULL
    assert table["weight_l1_in"] == [0, 1, 2, 0, 1]
