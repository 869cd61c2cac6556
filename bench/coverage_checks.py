"""The coverage checks of one network, shared by bench/coverage_torchvision.py and tests/test_coverage_sample.py.

On a tiny batch of random images (``random_batch``), ``check_network`` runs neuroninfo's path through a network
as ``neuroninfo capture / measure / ablate`` would, and fails with a ``CheckFailed`` naming the stage:

1. ``units``: the default unit layers (``pipeline.units.unit_layers``) read by hooks (``unit_outputs``); every
   layer has units and every captured value is finite;
2. ``measures``: each layer quantized at 1 bit by the quantizer ``pipeline.network_units.quantizers`` picks for
   it, measured by ``pipeline.measures.measure_layers``; every measure finite, 0 <= I(T;Y) <= H(T) (+ 1e-9);
3. ``ablation``: one network-scope ordering of a quarter of the units of the first and of the last unit layer
   (spread over each), strategy zero, through ``pipeline.hooked_ablation.hooked_ablation_curves`` on the k-grid
   {0, k} (``steps=1``: the last k is all that is compared); its error count at k must equal
   ``masked_forward_errors``, the reference written here: one plain forward pass with forward hooks doing
   ``torch.where(mask, 0, out)`` on the same modules (its masks are built here from the layer's kind and shape,
   not by ``UnitLayer.mask``). Made to be not vacuous:

   - random networks give every image the same class, their logits hardly depending on the image (an untrained
     ResNet-50 puts all 32 in one class; GoogLeNet's logits are equal to float32 precision), so no ablation
     changes a prediction. Both sides therefore classify by ``Standardized`` logits: each class's logit minus
     its mean over the clean batch, divided by its standard deviation there (fixed vectors: still a function of
     each sample alone, as the engine requires), and run in float64 (the network is converted in place), where
     rounding cannot flip a near-tie the way float32 could after such a rescaling;
   - the labels are the clean standardized predictions, so the count is the number of predictions the ablation
     changed (``Coverage.engine_errors``; random labels would let changes cancel out), and the engine's k = 0
     count must be 0;
   - parameters that torchvision initialises to silence a path are woken first (``wake_silenced``): an
     all-zero parameter of two or more dimensions (ViT's head: every logit 0 for every image; its class token)
     is redrawn from N(0, 0.02^2), a constant scale below 1e-3 (ConvNeXt's layer scale, 1e-6: every block adds
     a millionth to its input) is set to 1; an ablation could change no prediction otherwise.

Not a test module (no ``test_`` prefix): code for the two callers only.
"""
from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.ablation import Ordering  # noqa: E402
from pipeline.hooked_ablation import hooked_ablation_curves  # noqa: E402
from pipeline.measures import LayerInputs, measure_layers  # noqa: E402
from pipeline.network_units import quantizers  # noqa: E402
from pipeline.quantize import apply_thresholds, fit_thresholds  # noqa: E402
from pipeline.units import UnitLayer, unit_layers, unit_outputs  # noqa: E402

N_CLASSES = 10
SAMPLES = 32  # random images per network
BATCH = 8  # samples per forward pass
ABLATED_SHARE = 0.25  # of the units of the first and of the last unit layer, ablated together
MEASURES = ("entropy", "mutual_info", "kl_selectivity", "js_subset_separation", "labeled_mi", "class_selectivity",
            "mean_train", "active_frac")


class CheckFailed(Exception):
    """A check failed: ``stage`` is units, measures or ablation; the message says what."""

    def __init__(self, stage: str, message: str):
        super().__init__(f"{stage}: {message}")
        self.stage = stage


@dataclass
class Coverage:
    """What ``check_network`` found."""

    layers: list[UnitLayer]
    units: int  # over all unit layers
    ablated: int  # k: units in the ordering
    engine_errors: int  # changed predictions at k, hooked_ablation_curves
    reference_errors: int  # ... and by the plain masked forward
    kinds: dict[str, int] = field(default_factory=dict)  # unit layers per kind
    woken: list[str] = field(default_factory=list)  # parameters wake_silenced changed
    seconds: dict[str, float] = field(default_factory=dict)  # wall time of each check


def random_batch(shape: tuple[int, ...], samples: int = SAMPLES, seed: int = 0) -> tuple[torch.Tensor, np.ndarray]:
    """``samples`` standard-normal images of per-sample ``shape`` and random labels 0..N_CLASSES-1 (seeded)."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(samples, *shape, generator=generator)
    labels = np.random.default_rng(seed).integers(0, N_CLASSES, samples)
    return x, labels


def check_network(network: nn.Module, x: torch.Tensor, labels: np.ndarray, batch: int = BATCH,
                  share: float = ABLATED_SHARE, per_layer: bool = True, units_measured: int | None = None) -> Coverage:
    """The three checks on ``network`` (put in eval mode, ``wake_silenced``, and float64 after) with images ``x``
    and random ``labels``; ``per_layer`` and ``units_measured``: see ``check_measures``."""
    network.eval()
    woken = wake_silenced(network)
    start = time.perf_counter()
    layers, outputs = check_units(network, x, batch)
    seconds = {"units": time.perf_counter() - start}
    check_measures(network, layers, outputs, labels, per_layer, units_measured)
    seconds["measures"] = time.perf_counter() - start - seconds["units"]
    rows = ablation_rows(layers, share)
    engine, reference = check_ablation(network.double(), layers, x.double(), rows, batch)
    seconds["ablation"] = time.perf_counter() - start - seconds["units"] - seconds["measures"]
    kinds: dict[str, int] = {}
    for layer in layers:
        kinds[layer.kind] = kinds.get(layer.kind, 0) + 1
    return Coverage(layers, sum(layer.units for layer in layers), len(rows), engine, reference, kinds, woken,
                    seconds)


@torch.no_grad()
def wake_silenced(network: nn.Module, seed: int = 0) -> list[str]:
    """Redraw every parameter of two or more dimensions that is all zeros from N(0, 0.02^2) (seeded), and set
    every parameter whose elements all equal one value v with 0 < |v| < 1e-3 to 1; their names."""
    generator = torch.Generator().manual_seed(seed)
    names = []
    for name, parameter in network.named_parameters():
        if not parameter.numel():
            continue
        value = parameter.flatten()[0]
        if parameter.dim() >= 2 and not parameter.any():
            parameter.copy_(torch.randn(parameter.shape, generator=generator, dtype=parameter.dtype) * 0.02)
        elif 0 < abs(value) < 1e-3 and bool((parameter == value).all()):
            parameter.fill_(1.0)
        else:
            continue
        names.append(name)
    return names


class Standardized(nn.Module):
    """``network``'s logits minus ``mean``, divided by ``std`` (fixed per-class vectors; a zero std counts as
    1): the class whose logit is furthest above its usual value wins."""

    def __init__(self, network: nn.Module, mean: torch.Tensor, std: torch.Tensor):
        super().__init__()
        self.network, self.mean, self.std = network, mean, torch.where(std > 0, std, torch.ones_like(std))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.network(x) - self.mean) / self.std


def check_units(network: nn.Module, x: torch.Tensor, batch: int = BATCH) -> tuple[list[UnitLayer], list[np.ndarray]]:
    """The default unit layers and their (samples, units) outputs, checked."""
    layers = unit_layers(network, x[:2])
    for layer in layers:
        if layer.units < 1:
            raise CheckFailed("units", f"layer {layer.path!r} ({layer.kind}, shape {layer.shape}) has no units")
    parts: list[list[np.ndarray]] = [[] for _ in layers]
    for _, captured in unit_outputs(network, network, layers, x, batch_size=batch):
        for part, values in zip(parts, captured):
            part.append(values)
    outputs = [np.concatenate(part) for part in parts]
    for layer, values in zip(layers, outputs):
        if values.shape != (len(x), layer.units):
            raise CheckFailed("units", f"layer {layer.path!r} captured shape {values.shape}, expected "
                                       f"({len(x)}, {layer.units})")
        if not np.isfinite(values).all():
            raise CheckFailed("units", f"layer {layer.path!r} has {int((~np.isfinite(values)).sum())} non-finite values")
    return layers, outputs


def check_measures(network: nn.Module, layers: list[UnitLayer], outputs: list[np.ndarray], labels: np.ndarray,
                   per_layer: bool = True, units_measured: int | None = None):
    """1-bit measures of every layer, each quantized by its own quantizer (the same values stand in for the
    training set's means): the neuron_stats table, checked. The bench measures every unit layer by layer, as
    flows/stages.py does; the suite's sample, to stay fast, measures the first ``units_measured`` units of each
    layer (the measures cost ~0.1 ms per unit: js_subset_separation tries every subset of the classes) and,
    ``per_layer`` False, all layers' units as one LayerInputs: the same measures of every unit (each unit's
    depend on its codes, raw values and mean alone) in one pass of the SQL models instead of one per layer."""
    chosen = quantizers(SimpleNamespace(network=network), layers, "uniform")  # not an MLP: reads .network
    outputs = [values[:, :units_measured] for values in outputs]
    codes = [apply_thresholds(values, fit_thresholds(values, 1, chosen[l][1], chosen[l][0]))
             for l, values in enumerate(outputs, start=1)]
    if per_layer:
        inputs = [LayerInputs(layer=l, codes={1: c}, raw=values, mean_train=values.mean(0).astype(np.float32))
                  for l, (c, values) in enumerate(zip(codes, outputs), start=1)]
    else:
        values = np.concatenate(outputs, axis=1)
        inputs = [LayerInputs(layer=1, codes={1: np.concatenate(codes, axis=1)}, raw=values,
                              mean_train=values.mean(0).astype(np.float32))]
    stats = measure_layers(np.asarray(labels), N_CLASSES, inputs)["neuron_stats"]
    expected = sum(values.shape[1] for values in outputs)
    if stats.num_rows != expected:
        raise CheckFailed("measures", f"{stats.num_rows} neuron_stats rows for {expected} units")
    for name in MEASURES:
        column = stats.column(name)
        if column.null_count:
            raise CheckFailed("measures", f"{column.null_count} null {name} values")
        values = column.to_numpy(zero_copy_only=False).astype(np.float64)
        if not np.isfinite(values).all():
            raise CheckFailed("measures", f"{int((~np.isfinite(values)).sum())} non-finite {name} values")
    h = stats.column("entropy").to_numpy().astype(np.float64)
    mi = stats.column("mutual_info").to_numpy().astype(np.float64)
    if (mi < -1e-9).any() or (mi > h + 1e-9).any():
        raise CheckFailed("measures", f"mutual information outside [0, H]: {int(((mi < -1e-9) | (mi > h + 1e-9)).sum())} units")
    return stats


def ablation_rows(layers: list[UnitLayer], share: float = ABLATED_SHARE) -> np.ndarray:
    """(layer, unit) rows: ``share`` of the units (at least one) of the first and of the last unit layer, spread
    over each (unit indices 0, M/n, 2M/n, ...)."""
    rows = []
    for l in sorted({1, len(layers)}):
        m = layers[l - 1].units
        picked = np.unique(np.linspace(0, m, max(1, round(share * m)), endpoint=False).astype(np.int64))
        rows += [(l, int(u)) for u in picked]
    return np.asarray(rows, dtype=np.int64)


def check_ablation(network: nn.Module, layers: list[UnitLayer], x: torch.Tensor, rows: np.ndarray,
                   batch: int = BATCH) -> tuple[int, int]:
    """Predictions of ``Standardized`` logits changed by zeroing ``rows``, by the hooked engine and by the plain
    masked forward (equal)."""
    network.eval()
    with torch.no_grad():
        logits = torch.cat([network(x[s : s + batch]) for s in range(0, len(x), batch)])
    model = Standardized(network, logits.mean(0), logits.std(0))
    clean = ((logits - model.mean) / model.std).argmax(-1)
    ordering = Ordering("network", None, "random", None, "random", 0, rows)
    previous = os.environ.get("NEURONINFO_THREADS")
    os.environ["NEURONINFO_THREADS"] = str(torch.get_num_threads())  # the engine takes the caller's thread count
    try:
        table = hooked_ablation_curves(model, network, layers, x, clean, [ordering], strategies=("zero",),
                                       steps=1, batch_size=batch)
    finally:
        if previous is None:
            del os.environ["NEURONINFO_THREADS"]
        else:
            os.environ["NEURONINFO_THREADS"] = previous
    errors = {int(r["n_ablated"]): round(r["test_error"] * len(x)) for r in table.to_pylist()}
    if errors.get(0) != 0:
        raise CheckFailed("ablation", f"the engine's clean pass changes {errors.get(0)} predictions")
    engine = errors[len(rows)]
    reference = masked_forward_errors(model, network, layers, x, clean, rows, batch)
    if engine != reference:
        raise CheckFailed("ablation", f"k = {len(rows)}: the engine changes {engine} predictions, the masked forward "
                                      f"{reference}")
    return engine, reference


def element_mask(layer: UnitLayer, units: np.ndarray) -> torch.Tensor:
    """True at every element of the layer's per-sample output that belongs to one of ``units``: the neuron
    (M,), the channel map (C, H, W), the last axis of a channels-last map (H, W, C), the neuron at every token
    (T, D)."""
    mask = torch.zeros(layer.shape, dtype=torch.bool)
    index = torch.as_tensor(units, dtype=torch.int64)
    if layer.kind in ("neuron", "channel"):
        mask[index] = True
    elif layer.kind in ("channel_last", "token"):
        mask[..., index] = True
    else:
        raise CheckFailed("ablation", f"no reference mask for unit kind {layer.kind!r}")
    return mask


@torch.no_grad()
def masked_forward_errors(model: nn.Module, network: nn.Module, layers: list[UnitLayer], x: torch.Tensor,
                          labels: torch.Tensor, rows: np.ndarray, batch: int = BATCH) -> int:
    """The reference: misclassified samples of a plain forward pass of ``model``, in batches, with a forward hook
    on each ablated unit layer's module (in ``network``, a part of ``model``) replacing its units' elements by 0."""
    model.eval()
    handles = []
    for l, layer in enumerate(layers, start=1):
        units = rows[rows[:, 0] == l, 1]
        if len(units) == 0:
            continue
        mask = element_mask(layer, units)

        def zero(module, args, output, mask=mask):
            return torch.where(mask, torch.zeros((), dtype=output.dtype), output)
        handles.append(network.get_submodule(layer.path).register_forward_hook(zero))
    try:
        predicted = torch.cat([model(x[s : s + batch]).argmax(-1) for s in range(0, len(x), batch)])
    finally:
        for handle in handles:
            handle.remove()
    return int((predicted != labels).sum())
