"""The unit layers of a run's model, their outputs and quantizers, whatever the architecture.

An MLP's units are its hidden neurons, read by its own batched forward pass (``pipeline.activations``); every
other model's are read by hooks (``pipeline.units``) on ``model.network``.
"""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch import nn

from pipeline.activations import hidden_outputs
from pipeline.model import MLP, unit_paths
from pipeline.units import UnitLayer, module_at, output_means, unit_layers, unit_outputs

# a layer of neurons after one of these activation modules keeps the study's quantizer (uniform bins)
UNIFORM_ACTIVATIONS = {nn.ReLU: "relu", nn.Sigmoid: "sigmoid"}


def network_of(model: nn.Module) -> nn.Module:
    """The module whose paths name the unit layers: an MLP itself, else ``model.network``."""
    return model if isinstance(model, MLP) else model.network


def layers_of(model: nn.Module, sample: torch.Tensor, globs: list[str] | None = None,
              reducer: str | None = None) -> list[UnitLayer]:
    """The unit layers of ``model`` (its hidden layers for an MLP; else the architecture's default layers, or the
    modules ``globs`` match), read from a forward pass over ``sample`` (a few flat inputs)."""
    if isinstance(model, MLP):
        return [UnitLayer(path, "neuron", "none", (width,)) for path, width in zip(unit_paths(model.spec), model.spec.hidden_sizes)]
    model.eval()
    return unit_layers(model.network, sample, globs=globs, reducer=reducer, forward=model)


def recorded_layers(units: list[dict], shapes: list[tuple[int, ...]]) -> list[UnitLayer]:
    """The unit layers a store recorded (``ActivationStore.units``), with each layer's per-sample output shape."""
    return [UnitLayer(u["module_path"], u["unit_kind"], u["reducer"], tuple(shape)) for u, shape in zip(units, shapes)]


def outputs(model: nn.Module, layers: list[UnitLayer], x: torch.Tensor,
            device: str = "cpu") -> Iterator[tuple[int, list[np.ndarray]]]:
    """``(start, [U_1 .. U_L])`` batch by batch: each layer's (batch, units) float32 outputs."""
    if isinstance(model, MLP):
        return hidden_outputs(model, x, device=device)
    return unit_outputs(model, model.network, layers, x, batch_size=500)


def means(model: nn.Module, layers: list[UnitLayer], x: torch.Tensor) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Each layer's mean over ``x`` per unit, and its mean output map (what ablation to the mean fills a unit's
    elements with), in one pass."""
    return output_means(model, network_of(model), layers, x, batch_size=500)


def quantizers(model: nn.Module, layers: list[UnitLayer], method: str) -> dict[int, tuple[str, str]]:
    """Each layer's (method, activation) for ``method`` as asked: an MLP's layers, and any layer of neurons read
    after a ReLU or sigmoid module, keep it; reduced units (channels, tokens) and neurons after other
    activations take per-unit equal-mass bins (``unit_quantile``, pipeline/quantize.py says why)."""
    if isinstance(model, MLP):
        return {l: (method, model.spec.activation) for l in range(1, len(layers) + 1)}
    chosen = {}
    for l, layer in enumerate(layers, start=1):
        activation = UNIFORM_ACTIVATIONS.get(type(module_at(model.network, layer.path)))
        keeps = layer.kind == "neuron" and activation is not None
        chosen[l] = (method, activation) if keeps or method != "uniform" else ("unit_quantile", "none")
    return chosen
