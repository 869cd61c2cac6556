"""Physical pruning of the cnn preset: a smaller CNN without the pruned channels and dense neurons (docs/pruning.md).

A unit of the cnn preset is the output of an activation module: a conv block's channel or the dense layer's
neuron. Cutting unit j removes output channel j of the Conv2d or Linear that produces it (and of its batch
norm) and the inputs of the next Conv2d or Linear that read it (after a Flatten: the channel's H*W columns);
Torch-Pruning's dependency graph finds and cuts all of these. The result is the cnn preset at smaller widths,
loaded into a freshly built network of that spec (so the export and the checkpoint stay the preset's).

Strategy ``zero``: an ablated unit outputs 0, so the next layer receives nothing from it, which is exactly what
removing its input columns does: the pruned network computes what the ablated one does. Strategy ``mean``: the
unit outputs its training-set mean map m_j, and its effect on the next layer is moved into that layer's bias.
Into a Linear the effect is one fixed vector: exact. Into a Conv2d it is a map that varies with position
(zero padding at the borders, m_j itself varies), while a bias is one number per channel: the map's spatial
mean is used, an approximation whose error ``masked_error`` measures.
"""
from __future__ import annotations

import copy
from dataclasses import replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from pipeline.errors import NeuronInfoError
from pipeline.options import STRATEGIES
from pipeline.prune import check_kept

WEIGHTED = (nn.Conv2d, nn.Linear)


def prune_cnn(model: nn.Module, kept: list, strategy: str = "zero", mean_maps: list | None = None) -> nn.Module:
    """A new cnn-preset model keeping only units ``kept[l-1]`` (indices) of each unit layer l, in eval mode.

    ``mean_maps`` (strategy ``mean``): each layer's training-set mean output map, (C, H, W) or (M,)."""
    import torch_pruning as tp

    from pipeline.architectures import build

    if getattr(model.spec, "arch", None) != "cnn":
        raise NeuronInfoError(f"pruning cuts the channels of the cnn preset; this run is a {model.spec.arch} "
                              "(its ablation curves show the same cumulative removal without fine-tuning)")
    if strategy not in STRATEGIES:
        raise NeuronInfoError(f"unknown pruning strategy {strategy!r}; use one of {', '.join(STRATEGIES)}")
    sizes = list(model.spec.hidden_sizes)
    kept = check_kept(kept, sizes)
    network = copy.deepcopy(model.network).float().eval()
    blocks = unit_blocks(network)
    removed = [np.setdiff1d(np.arange(m), k) for k, m in zip(kept, sizes)]
    if strategy == "mean":
        if mean_maps is None or len(mean_maps) != len(sizes):
            raise NeuronInfoError("strategy 'mean' needs each layer's training-set mean map; capture the run first")
        with torch.no_grad():
            for block, gone, mean_map in zip(blocks, removed, mean_maps):
                block.fold_means(gone, torch.as_tensor(np.asarray(mean_map), dtype=torch.float32))
    example = torch.zeros(1, *model.spec.image_shape)
    with torch.enable_grad():  # the graph is traced through autograd
        graph = tp.DependencyGraph().build_dependency(network, example_inputs=example)
    for block, gone in zip(blocks, removed):
        if len(gone):
            cut = tp.prune_conv_out_channels if isinstance(block.producer, nn.Conv2d) else tp.prune_linear_out_channels
            graph.get_pruning_group(block.producer, cut, idxs=gone.tolist()).prune()
    smaller = build(replace(model.spec, hidden_sizes=tuple(len(k) for k in kept)))
    smaller.network.load_state_dict(network.state_dict(), strict=True)  # the preset's structure, or an error
    return smaller.to(next(model.parameters()).dtype).eval()


class UnitBlock:
    """One unit layer of a Sequential network: the weighted module making its units, the activation module
    whose output they are, the per-channel modules after it (pooling, dropout, flatten) and the weighted
    module reading them."""

    def __init__(self, producer: nn.Module, between: list[nn.Module], consumer: nn.Module):
        self.producer, self.between, self.consumer = producer, between, consumer

    def fold_means(self, gone: np.ndarray, mean_map: torch.Tensor) -> None:
        """Add the removed units' mean outputs, carried through to the consumer, to the consumer's bias."""
        if not len(gone):
            return
        fill = torch.zeros(1, *mean_map.shape)
        fill[0, gone] = mean_map[gone]
        for module in self.between:
            fill = module(fill)
        if isinstance(self.consumer, nn.Linear):
            effect = F.linear(fill.flatten(1), self.consumer.weight)[0]
        else:  # one number per channel where the effect is a map: its spatial mean (approximate)
            c = self.consumer
            effect = F.conv2d(fill, c.weight, None, c.stride, c.padding, c.dilation, c.groups)[0].mean((1, 2))
        self.consumer.bias += effect.to(self.consumer.bias.dtype)


def unit_blocks(network: nn.Module) -> list[UnitBlock]:
    """The unit layers of the cnn preset in order (every activation module between two weighted modules)."""
    leaves = [m for m in network.modules() if not list(m.children())]
    blocks = []
    for i, module in enumerate(leaves):
        if isinstance(module, (nn.ReLU, nn.Sigmoid)):
            producer = next(m for m in reversed(leaves[:i]) if isinstance(m, WEIGHTED))
            j = next(j for j in range(i + 1, len(leaves)) if isinstance(leaves[j], WEIGHTED))
            blocks.append(UnitBlock(producer, leaves[i + 1:j], leaves[j]))
    return blocks


def masked_error(model: nn.Module, removed: list, strategy: str, mean_maps: list | None, x, y) -> float:
    """Test error of ``model`` with units ``removed[l-1]`` of each unit layer replaced by 0 or their mean map, by
    forward hooks on the activation modules: the ablation that a pruned network is compared with."""
    activations = [m for m in model.network.modules() if isinstance(m, (nn.ReLU, nn.Sigmoid))]

    def hook(layer: int):
        def replace_units(module, inputs, output):
            gone = torch.as_tensor(removed[layer], dtype=torch.long)
            output = output.clone()
            fill = 0.0 if strategy == "zero" else torch.as_tensor(np.asarray(mean_maps[layer]), dtype=output.dtype)[gone]
            output[:, gone] = fill
            return output
        return replace_units

    handles = [m.register_forward_hook(hook(layer)) for layer, m in enumerate(activations)]
    try:
        with torch.no_grad():
            logits = torch.cat([model.eval()(xb) for xb in torch.as_tensor(x).split(1024)])
    finally:
        for h in handles:
            h.remove()
    return float((logits.argmax(1) != torch.as_tensor(y)).float().mean())
