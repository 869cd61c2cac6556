"""Baseline importance measures of hidden neurons: the criteria pruning usually uses (view ``neuron_baselines``).

All are computed on the eval-mode network with batch norm folded into the Linear before it
(``pipeline.fold.folded_linears``), so they describe the function the network computes:

* ``weight_l1_in`` / ``weight_l2_in``: L1 / L2 norm of the neuron's incoming weights (its row of the
  folded Linear, bias excluded); ``weight_l1_out``: L1 norm of its outgoing weights (its column of
  the next Linear).
* ``torch_pruning_magnitude``: Torch-Pruning's default criterion, ``GroupMagnitudeImportance()``
  (p=2, mean over the group, divided by the layer's mean) on the Linear's out-channel group: the
  mean of the squared L2 norms of the neuron's incoming row and outgoing column, relative to its
  layer. Needs the ``baselines`` extra.
* ``taylor``: mean over samples of |a * dL/da| (Molchanov et al. 2017), L the cross-entropy of that
  sample, a the neuron's output.
* ``conductance``: Captum's ``LayerConductance`` of the neuron for the true class (its logit), baseline
  input all zeros, mean absolute value over the first 2,000 samples (Dhamdhere et al. 2018). Needs the
  ``baselines`` extra.
* ``ablation_damage``: test-error increase when this neuron alone is ablated (the ablation engine,
  strategies zero and mean); the ground truth the others try to predict, never a pruning criterion.

The activation statistics (act_mean, act_var, act_abs_mean) are computed in SQL from the stored raw
outputs (``sql/measures_baselines.sql``).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from pipeline.fold import folded_linears
from pipeline.model import MLP

CAPTUM_STEPS = 50  # Gauss-Legendre steps of the conductance integral (captum's default)
CONDUCTANCE_SAMPLES = 2000  # conductance uses the first validation samples only: 50 passes per sample are slow


def weight_norms(model: MLP) -> list[dict[str, np.ndarray]]:
    """Per hidden layer: weight_l1_in, weight_l2_in, weight_l1_out (float64 arrays over its neurons)."""
    layers = folded_linears(model)
    out = []
    for i in range(model.n_hidden):
        w_in, w_out = layers[i][0].double(), layers[i + 1][0].double()
        out.append({
            "weight_l1_in": w_in.abs().sum(1).numpy(),
            "weight_l2_in": w_in.pow(2).sum(1).sqrt().numpy(),
            "weight_l1_out": w_out.abs().sum(0).numpy(),
        })
    return out


def folded_sequential(model: MLP) -> nn.Sequential:
    """The eval-mode network as Linear, activation, Linear, ... with its own activation module per
    hidden layer (module 2l-1 outputs hidden layer l), batch norm folded, dropout gone."""
    modules = []
    layers = folded_linears(model)
    for i, (w, b) in enumerate(layers):
        lin = nn.Linear(w.shape[1], w.shape[0], dtype=w.dtype)
        with torch.no_grad():
            lin.weight.copy_(w)
            lin.bias.copy_(b)
        modules.append(lin)
        if i < model.n_hidden:
            modules.append(nn.ReLU() if model.spec.activation == "relu" else nn.Sigmoid())
    return nn.Sequential(*modules).eval()


def torch_pruning_magnitude(model: MLP) -> list[np.ndarray] | None:
    """Per hidden layer: Torch-Pruning's default group magnitude importance; None without torch-pruning."""
    try:
        import torch_pruning as tp
    except ImportError:
        return None
    net = folded_sequential(model)
    graph = tp.DependencyGraph().build_dependency(net, example_inputs=torch.zeros(1, model.spec.input_dim, dtype=net[0].weight.dtype))
    importance = tp.importance.GroupMagnitudeImportance()
    out = []
    for l in range(model.n_hidden):
        lin = net[2 * l]
        group = graph.get_pruning_group(lin, tp.prune_linear_out_channels, idxs=list(range(lin.out_features)))
        out.append(importance(group).detach().double().numpy())
    return out


def taylor(model: MLP, x: torch.Tensor, y: torch.Tensor, batch_size: int = 4096) -> list[np.ndarray]:
    """Per hidden layer: mean over samples of |a * dL/da|, L the sample's cross-entropy."""
    net = folded_sequential(model)
    totals = [torch.zeros(m, dtype=torch.float64) for m in model.spec.hidden_sizes]
    x = x.to(net[0].weight.dtype)
    for s in range(0, len(x), batch_size):
        h, outputs = x[s : s + batch_size], []
        for i, module in enumerate(net):
            h = module(h)
            if i % 2 == 1:
                h.retain_grad()
                outputs.append(h)
        loss = nn.functional.cross_entropy(h, y[s : s + batch_size], reduction="sum")  # per-sample gradients
        loss.backward()
        for t, a in zip(totals, outputs):
            t += (a.detach() * a.grad).abs().sum(0).double()
    return [(t / len(x)).numpy() for t in totals]


def conductance(model: MLP, x: torch.Tensor, y: torch.Tensor, batch_size: int = 256) -> list[np.ndarray] | None:
    """Per hidden layer: mean |layer conductance| for the true class over the first CONDUCTANCE_SAMPLES
    samples, baseline input zeros; None without captum."""
    try:
        from captum.attr import LayerConductance
    except ImportError:
        return None
    net = folded_sequential(model)
    x, y = x[:CONDUCTANCE_SAMPLES].to(net[0].weight.dtype), y[:CONDUCTANCE_SAMPLES]
    out = []
    for l in range(1, model.n_hidden + 1):
        method = LayerConductance(net, net[2 * l - 1])
        total = torch.zeros(model.spec.hidden_sizes[l - 1], dtype=torch.float64)
        for s in range(0, len(x), batch_size):
            xb = x[s : s + batch_size]
            attr = method.attribute(xb, baselines=torch.zeros_like(xb), target=y[s : s + batch_size],
                                    n_steps=CAPTUM_STEPS, internal_batch_size=len(xb) * CAPTUM_STEPS)
            total += attr.detach().abs().sum(0).double()
        out.append((total / len(x)).numpy())
    return out


def ablation_damage(model: MLP, x, y, strategy: str, means=None) -> list[np.ndarray]:
    """Per hidden layer: test error with the neuron alone ablated minus the unablated test error."""
    from pipeline.ablation import Ordering, ablation_curves

    sizes = list(model.spec.hidden_sizes)
    orderings = [Ordering("layer", l, "single", None, "low_first", 0, np.array([[l, j]], dtype=np.int64))
                 for l, m in enumerate(sizes, start=1) for j in range(m)]
    table = ablation_curves(model, x, y, orderings, (strategy,), means).to_pydict()
    error = np.asarray(table["test_error"]).reshape(-1, 2)  # rows k = 0, 1 per ordering
    damage = error[:, 1] - error[:, 0]
    return np.split(damage, np.cumsum(sizes)[:-1])
