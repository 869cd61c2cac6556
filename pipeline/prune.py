"""Physical pruning: a smaller MLP without the pruned neurons (docs/pruning.md).

Evaluation-mode batch norm is an affine map, folded into the Linear before it, so the pruned
network has no batch norm (its spec says regularizer ``dropout`` where it said ``dropout_bn``).
Removing neuron j of hidden layer l drops row j of linear l-1 and column j of linear l. With
strategy ``mean`` the neuron's output is the constant a_j (its training-set mean), so its
contribution a_j * W[:, j] moves into the next layer's bias (the paper's bias balancing). Without
fine-tuning the pruned network computes exactly what the ablated one does.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from pipeline.errors import NeuronInfoError
from pipeline.fold import folded_linears
from pipeline.model import MLP
from pipeline.options import SCOPES, STRATEGIES



def prune_model(model: MLP, kept: list, strategy: str = "zero", means: list | None = None) -> MLP:
    """A new MLP keeping only neurons ``kept[l-1]`` (indices) of each hidden layer l, in eval mode.

    ``means`` (strategy ``mean``): one array of training-set mean outputs per hidden layer.
    """
    sizes = list(model.spec.hidden_sizes)
    kept = check_kept(kept, sizes)
    if strategy not in STRATEGIES:
        raise NeuronInfoError(f"unknown pruning strategy {strategy!r}; use one of {', '.join(STRATEGIES)}")
    if strategy == "mean":
        if means is None or len(means) != len(sizes):
            raise NeuronInfoError("strategy 'mean' needs one array of training-set means per hidden layer; capture the run first")
        means = [torch.as_tensor(np.asarray(m, dtype=np.float64)) for m in means]
    layers = folded_linears(model)
    new = []
    rows = None  # indices kept of this Linear's input (None: all inputs)
    for i, (w, b) in enumerate(layers):
        if rows is not None:
            dropped = np.setdiff1d(np.arange(w.shape[1]), rows)
            if strategy == "mean" and len(dropped):
                a = means[i - 1][dropped].to(w.dtype)
                b = b + w[:, dropped] @ a
            w = w[:, rows]
        if i < len(sizes):
            rows = kept[i]
            w, b = w[rows], b[rows]
        new.append((w, b))
    regularizer = "dropout" if model.spec.regularizer == "dropout_bn" else model.spec.regularizer
    spec = replace(model.spec, hidden_sizes=tuple(len(k) for k in kept), regularizer=regularizer)
    dtype = model.linear[0].weight.dtype
    out = MLP.empty(spec).to(dtype)
    with torch.no_grad():
        for lin, (w, b) in zip(out.linear, new):
            lin.weight.copy_(w)
            lin.bias.copy_(b)
    return out.eval()


def n_params(model: MLP) -> int:
    """Number of weights and biases (batch norm's affine parameters included, running statistics not)."""
    return sum(p.numel() for p in model.parameters())


def kept_neurons(ranking: np.ndarray, sizes, keep: float, scope: str) -> tuple[list[np.ndarray], list[str]]:
    """Which neurons survive when the least important go first; and notes where a layer's minimum binds.

    ``ranking``: (layer 1-based, neuron) rows of every hidden neuron, least important first.
    ``layer`` scope keeps round(keep * M_l) of each layer, ranked within the layer; ``network`` scope
    removes the first round((1 - keep) * total) neurons of the ranking. Either way a layer keeps at
    least one neuron (its most important), and a note says so.
    """
    sizes = [int(m) for m in sizes]
    if not 0.0 < keep <= 1.0:
        raise NeuronInfoError(f"--keep {keep} is not a fraction in (0, 1]; give e.g. --keep 0.5")
    if scope not in SCOPES:
        raise NeuronInfoError(f"unknown scope {scope!r}; use one of {', '.join(SCOPES)}")
    ranking = np.asarray(ranking, dtype=np.int64)
    removed = {l: [] for l in range(1, len(sizes) + 1)}
    notes = []
    if scope == "layer":
        for l, m in enumerate(sizes, start=1):
            want = m - _round(keep * m)
            cut = min(want, m - 1)
            if cut < want:
                notes.append(f"layer {l} keeps 1 of {m} neurons (the fraction would remove all)")
            removed[l] = list(ranking[ranking[:, 0] == l][:cut, 1])
    else:
        budget = min(sum(sizes) - _round(keep * sum(sizes)), sum(sizes) - len(sizes))
        for l, j in ranking.tolist():
            if sum(map(len, removed.values())) == budget:
                break
            if len(removed[l]) == sizes[l - 1] - 1:  # skip the layer's last neuron, take the next in the ranking
                notes.append(f"layer {l} keeps 1 of {sizes[l - 1]} neurons (the ranking would remove all)")
                continue
            removed[l].append(j)
        notes = list(dict.fromkeys(notes))
    kept = [np.setdiff1d(np.arange(m), removed[l]) for l, m in enumerate(sizes, start=1)]
    return kept, notes


def _round(v: float) -> int:
    return int(np.floor(v + 0.5))


def check_kept(kept, sizes: list[int]) -> list[np.ndarray]:
    if len(kept) != len(sizes):
        raise NeuronInfoError(f"kept neurons given for {len(kept)} layers but the network has {len(sizes)}; give one index array per hidden layer")
    out = []
    for l, (k, m) in enumerate(zip(kept, sizes), start=1):
        k = np.unique(np.asarray(k, dtype=np.int64))
        if len(k) == 0:
            raise NeuronInfoError(f"layer {l} would keep no neuron; keep at least one per layer")
        if k[0] < 0 or k[-1] >= m:
            raise NeuronInfoError(f"kept neuron {int(k[-1] if k[-1] >= m else k[0])} is out of range for layer {l} of width {m}")
        out.append(k)
    return out
