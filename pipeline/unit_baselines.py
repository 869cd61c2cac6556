"""Baseline importance measures of the units of any network (not an MLP): channels, tokens' neurons, neurons.

The same columns as ``pipeline.baselines`` (view ``neuron_baselines``), for the unit layers of
``pipeline.units`` (a module of ``model.network`` whose output is read by a hook). A unit's *elements* are
the elements of its module's output that ``UnitLayer.mask`` gives it, the ones ablation replaces: a
channel's whole H x W map, a token-layer neuron at every token (whatever the reducer, ``cls`` included),
one element for ``position`` units, the neuron itself for (N, M) outputs. Every criterion describes the
eval-mode network (batch norm folded where it sits next to a Conv/Linear, dropout off):

* ``taylor``: mean over validation samples of |sum over the unit's elements of a * dL/da| (Molchanov et
  al. 2017, per channel), L the sample's cross-entropy, a the module's output: the first-order change of
  the loss when the whole unit is removed. For an MLP neuron this is the MLP path's |a * dL/da|.
* ``conductance``: Captum's ``LayerConductance`` on the unit layer's module for the logit of the sample's
  true class, baseline input all zeros, 50 steps, first 2,000 validation samples; per unit the mean over
  samples of |sum of the conductance over the unit's elements| (the conductance of the whole channel:
  summed before the absolute value, so completeness holds per unit). Needs the ``baselines`` extra.
* ``weight_l1_in`` / ``weight_l2_in``: L1 / L2 norm of the unit's filter in its *producer*, the nearest
  Conv (1d/2d/3d) or Linear before the unit's module among its earlier siblings in its parent
  ``nn.Sequential`` (our cnn's blocks, torchvision's Conv2dNormActivation, a ViT's MLPBlock), reached
  through batch norms, dropout, identities, activations and pooling only (or the unit's module itself if it
  is a Conv/Linear). Output channel c's filter is ``weight[c]`` (all its input channels and kernel
  positions; a Linear's row), bias excluded, with a batch norm that follows the producer (only dropout or
  identities between) folded in as ``pipeline.fold`` does.
* ``weight_l1_out``: L1 norm of the unit's input slice in its *consumer*, the next Conv/Linear after the
  unit's module in the same Sequential (reached through the same modules): a Linear's column, a conv's
  ``weight[:, c]`` (its group's output filters for a grouped conv); a batch norm right before the consumer
  scales the slice (folded before), one right after it its rows (folded after). None without a consumer
  in the same Sequential (e.g. the last conv block of our cnn, whose consumer follows a Flatten). A batch
  norm with a nonlinearity between it and both the producer and the consumer is folded nowhere.
* ``torch_pruning_magnitude``: Torch-Pruning's ``GroupMagnitudeImportance()`` (p=2, mean over the group,
  divided by the layer's mean) of the group of ``prune_conv_out_channels`` / ``prune_linear_out_channels``
  of the producer, on a copy of the network with those batch norms folded (as the MLP path folds them).
  Needs the ``baselines`` extra; None too where torch-pruning cannot trace the network (one note).
* ``ablation_damage`` / ``ablation_damage_mean``: ``single_unit_damage`` (the hooked ablation engine;
  None until it is slotted in).

Weight criteria are None for a layer without a producer (a ResNet block's output, a module whose parent is
not a Sequential, a ``position`` reducer, or a producer whose output channels are not the layer's units).
"""
from __future__ import annotations

import copy
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from pipeline.baselines import CAPTUM_STEPS, CONDUCTANCE_SAMPLES
from pipeline.fold import fold_norm_after, norm_affine
from pipeline.model import BN_TENSORS, MLP
from pipeline.progress import note
from pipeline.units import ACTIVATIONS, UnitLayer, _first_tensor, hooked, module_at

CRITERIA = ("weight_l1_in", "weight_l2_in", "weight_l1_out", "torch_pruning_magnitude", "taylor", "conductance",
            "ablation_damage", "ablation_damage_mean")
PRODUCERS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
IDENTITIES = (nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout,
              nn.FeatureAlphaDropout)
# keep each channel apart (a unit's filter is still its producer's output channel) but are not affine
CHANNELWISE = ACTIVATIONS + (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d,
                             nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d,
                             nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d)
TAYLOR_BATCH = 256  # samples per forward/backward pass of the Taylor criterion
CONDUCTANCE_MEMORY = 256 * 2**20  # bytes of module outputs one internal batch of captum may hold (approximate)


@dataclass(frozen=True)
class Wiring:
    """The Conv/Linear modules around a unit layer (paths relative to the network) and the batch norms that
    fold into them; ``producer`` None when the weight criteria do not apply."""

    producer: str | None = None
    producer_norm: str | None = None  # a batch norm after the producer (folded after)
    consumer: str | None = None
    consumer_norm_before: str | None = None  # a batch norm right before the consumer (folded before)
    consumer_norm_after: str | None = None  # a batch norm right after the consumer (folded after)


def _foldable(module: nn.Module) -> bool:
    return isinstance(module, NORMS) and module.running_mean is not None and module.running_var is not None


def _passes(module: nn.Module) -> bool:
    return isinstance(module, IDENTITIES + CHANNELWISE) or _foldable(module)


def _join(parent: str, name: str) -> str:
    return f"{parent}.{name}" if parent else name


def _matches(module: nn.Module, layer: UnitLayer, side: str) -> bool:
    """Do ``module``'s output (side "out") or input (side "in") channels number the layer's units?"""
    if layer.reducer == "position":
        return False
    if isinstance(module, nn.Linear):
        width = module.out_features if side == "out" else module.in_features
        return layer.kind in ("neuron", "token", "channel_last") and width == layer.units
    width = module.out_channels if side == "out" else module.in_channels
    return layer.kind == "channel" and len(layer.shape) == module.weight.dim() - 1 and width == layer.units


def wiring(network: nn.Module, layer: UnitLayer) -> Wiring:
    """The producer and consumer of ``layer``'s units among its module's siblings in its parent Sequential."""
    parent_path, _, name = layer.path.rpartition(".")
    parent = network.get_submodule(parent_path) if parent_path else network
    if not isinstance(parent, nn.Sequential):
        return Wiring()
    names = [n for n, _ in parent.named_children()]
    if name not in names:
        return Wiring()
    at = names.index(name)
    children = [parent.get_submodule(n) for n in names]

    producer, producer_norm = None, None
    if isinstance(children[at], PRODUCERS):
        producer = at
    elif _passes(children[at]):
        for j in range(at - 1, -1, -1):
            if isinstance(children[j], PRODUCERS):
                producer = j
                break
            if not _passes(children[j]):
                break
    if producer is None or not _matches(children[producer], layer, "out"):
        return Wiring()
    for j in range(producer + 1, at + 1):  # the first norm after the producer, only identities between
        if _foldable(children[j]):
            producer_norm = j
        if not isinstance(children[j], IDENTITIES):
            break

    consumer, norm_before, norm_after = None, None, None
    for j in range(at + 1, len(children)):
        if isinstance(children[j], PRODUCERS):
            consumer = j
            break
        if not _passes(children[j]):
            break
    if consumer is not None and _matches(children[consumer], layer, "in"):
        for j in range(consumer - 1, at, -1):  # the last norm before the consumer, only identities between
            if _foldable(children[j]):
                norm_before = j
            if not isinstance(children[j], IDENTITIES):
                break
        for j in range(consumer + 1, len(children)):
            if _foldable(children[j]):
                norm_after = j
            if not isinstance(children[j], IDENTITIES):
                break
    else:
        consumer = None

    def path(j):
        return None if j is None else _join(parent_path, names[j])

    return Wiring(path(producer), path(producer_norm), path(consumer), path(norm_before), path(norm_after))


def _norm_tensors(norm: nn.Module) -> dict[str, torch.Tensor]:
    tensors = {p: getattr(norm, p) for p in BN_TENSORS}
    if tensors["weight"] is None:  # affine=False: scale 1, shift 0 before the running statistics
        tensors["weight"] = torch.ones_like(norm.running_mean)
        tensors["bias"] = torch.zeros_like(norm.running_mean)
    return {p: t.detach().double() for p, t in tensors.items()}


def folded_after(module: nn.Module, norm: nn.Module | None) -> tuple[torch.Tensor, torch.Tensor]:
    """(weight, bias) of a Conv/Linear in float64 with the batch norm after it folded in (``fold_norm_after``
    on the weight as (out, everything else)); the bias is zero where the module has none."""
    weight = module.weight.detach().double()
    bias = module.bias.detach().double() if module.bias is not None else torch.zeros(weight.shape[0], dtype=torch.float64)
    if norm is None:
        return weight, bias
    flat, bias = fold_norm_after(weight.reshape(weight.shape[0], -1), bias, _norm_tensors(norm), norm.eps)
    return flat.reshape(weight.shape), bias


def input_slices(module: nn.Module, weight: torch.Tensor) -> list[torch.Tensor]:
    """Each input channel's weights in a Conv/Linear ``weight``: a Linear's column, a conv's ``weight[:, c]``
    within the group that reads channel c."""
    if isinstance(module, nn.Linear):
        return [weight[:, c] for c in range(weight.shape[1])]
    per_in, per_out = module.in_channels // module.groups, module.out_channels // module.groups
    return [weight[(c // per_in) * per_out : (c // per_in + 1) * per_out, c % per_in] for c in range(module.in_channels)]


def weight_norms(network: nn.Module, layers: list[UnitLayer], wirings: list[Wiring]) -> list[dict[str, np.ndarray | None]]:
    """Per layer: weight_l1_in, weight_l2_in (None without a producer) and weight_l1_out (None without a consumer)."""
    out = []
    for layer, w in zip(layers, wirings):
        values: dict[str, np.ndarray | None] = {"weight_l1_in": None, "weight_l2_in": None, "weight_l1_out": None}
        if w.producer is not None:
            norm = module_at(network, w.producer_norm) if w.producer_norm else None
            weight, _ = folded_after(module_at(network, w.producer), norm)
            rows = weight.reshape(weight.shape[0], -1)
            values["weight_l1_in"] = rows.abs().sum(1).numpy()
            values["weight_l2_in"] = rows.pow(2).sum(1).sqrt().numpy()
        if w.producer is not None and w.consumer is not None:
            consumer = module_at(network, w.consumer)
            after = module_at(network, w.consumer_norm_after) if w.consumer_norm_after else None
            weight, _ = folded_after(consumer, after)
            scale = torch.ones(layer.units, dtype=torch.float64)
            if w.consumer_norm_before:
                before = module_at(network, w.consumer_norm_before)
                scale, _ = norm_affine(_norm_tensors(before), before.eps)
            values["weight_l1_out"] = np.array([float(s.abs().sum() * abs(scale[c]))
                                                for c, s in enumerate(input_slices(consumer, weight))])
        out.append(values)
    return out


def unit_sums(layer: UnitLayer, values: torch.Tensor) -> torch.Tensor:
    """(N, *shape) -> (N, units): the sum over each unit's elements (``UnitLayer.mask``)."""
    n = values.shape[0]
    if layer.reducer in ("position", "none"):
        return values.reshape(n, -1)
    axes = tuple(a + 1 for a in range(len(layer.shape)) if a != layer.unit_axis)
    return values.sum(axes) if axes else values


def _dtype(model: nn.Module) -> torch.dtype:
    return next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)


def _network(model: nn.Module) -> nn.Module:
    return model if isinstance(model, MLP) else model.network


def _replace_first(output, tensor: torch.Tensor):
    if isinstance(output, torch.Tensor):
        return tensor
    return type(output)([tensor, *output[1:]])


def taylor(model: nn.Module, layers: list[UnitLayer], x: torch.Tensor, y: torch.Tensor,
           batch_size: int = TAYLOR_BATCH) -> list[np.ndarray]:
    """Per layer: mean over samples of |sum over the unit's elements of a * dL/da|, L the sample's cross-entropy.

    dL/da is read as the gradient of a zero tensor added to each unit layer's output by a hook, so the
    gradient reaches every layer whatever follows it (in-place activations included)."""
    network, dtype = _network(model), _dtype(model)
    totals = [torch.zeros(layer.units, dtype=torch.float64) for layer in layers]
    model.eval()
    for s in range(0, len(x), batch_size):
        values: list[torch.Tensor | None] = [None] * len(layers)
        probes: list[torch.Tensor | None] = [None] * len(layers)

        def probe(index, output):
            tensor = _first_tensor(output)
            values[index] = tensor.detach()
            probes[index] = torch.zeros_like(tensor, requires_grad=True)
            return _replace_first(output, tensor + probes[index])

        with torch.enable_grad(), hooked(network, layers, probe):
            logits = model(x[s : s + batch_size].to(dtype))
            loss = nn.functional.cross_entropy(logits, y[s : s + batch_size], reduction="sum")  # per-sample gradients
            grads = torch.autograd.grad(loss, probes, allow_unused=True)
        for total, layer, a, g in zip(totals, layers, values, grads):
            if g is not None:
                total += unit_sums(layer, a * g).abs().sum(0).double()
    return [(t / max(len(x), 1)).numpy() for t in totals]


def _elements_per_sample(model: nn.Module, x: torch.Tensor) -> int:
    """The number of output elements every module of ``model`` makes for one sample (a memory estimate)."""
    total = [0]

    def count(module, inputs, output):
        tensor = _first_tensor(output)
        if tensor is not None:
            total[0] += tensor[:1].numel()

    handles = [m.register_forward_hook(count) for m in model.modules()]
    try:
        with torch.no_grad():
            model(x[:1])
    finally:
        for handle in handles:
            handle.remove()
    return max(total[0], 1)


def conductance(model: nn.Module, layers: list[UnitLayer], x: torch.Tensor, y: torch.Tensor,
                memory: int = CONDUCTANCE_MEMORY) -> list[np.ndarray] | None:
    """Per layer: mean over the first CONDUCTANCE_SAMPLES samples of |conductance of the whole unit| for the true
    class, baseline input zeros; None without captum. Captum's internal batches are sized so that the module
    outputs of one batch stay within about ``memory`` bytes."""
    try:
        from captum.attr import LayerConductance
    except ImportError:
        return None
    network, dtype = _network(model), _dtype(model)
    model.eval()
    x, y = x[:CONDUCTANCE_SAMPLES].to(dtype), y[:CONDUCTANCE_SAMPLES]
    per_pass = _elements_per_sample(model, x) * torch.finfo(dtype).bits // 8
    internal = max(2, memory // per_pass)
    batch = int(np.clip(internal // (CAPTUM_STEPS + 1), 1, 256))
    out = []
    for layer in layers:
        method = LayerConductance(model, module_at(network, layer.path))
        total = torch.zeros(layer.units, dtype=torch.float64)
        for s in range(0, len(x), batch):
            xb = x[s : s + batch]
            attr = method.attribute(xb, baselines=torch.zeros_like(xb), target=y[s : s + batch], n_steps=CAPTUM_STEPS,
                                    internal_batch_size=max(2 * len(xb), min(internal, len(xb) * (CAPTUM_STEPS + 1))))
            total += unit_sums(layer, attr.detach()).abs().sum(0).double()
        out.append((total / max(len(x), 1)).numpy())
    return out


def network_input(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """What ``model`` hands its network for the flat inputs ``x`` (the images of an ``ImageClassifier``)."""
    network = _network(model)
    if network is model:
        return x
    seen = {}

    def keep(module, args):
        seen["input"] = args[0].detach().clone()

    handle = network.register_forward_pre_hook(keep)
    try:
        with torch.no_grad():
            model(x)
    finally:
        handle.remove()
    return seen["input"]


def folded_network(network: nn.Module, wirings: list[Wiring]) -> nn.Module:
    """A copy of ``network`` in eval mode with the batch norm after each producer (and after each consumer)
    folded into it and replaced by an identity."""
    copied = copy.deepcopy(network).eval()
    pairs = {(w.producer, w.producer_norm) for w in wirings if w.producer_norm}
    pairs |= {(w.consumer, w.consumer_norm_after) for w in wirings if w.consumer_norm_after}
    for module_path, norm_path in sorted(pairs):
        module, norm = copied.get_submodule(module_path), copied.get_submodule(norm_path)
        weight, bias = folded_after(module, norm)
        with torch.no_grad():
            module.weight.copy_(weight.to(module.weight.dtype))
            if module.bias is None:
                module.bias = nn.Parameter(bias.to(module.weight.dtype))
            else:
                module.bias.copy_(bias.to(module.bias.dtype))
        parent_path, _, name = norm_path.rpartition(".")
        setattr(copied.get_submodule(parent_path) if parent_path else copied, name, nn.Identity())
    return copied


def torch_pruning_magnitude(model: nn.Module, layers: list[UnitLayer], wirings: list[Wiring],
                            x: torch.Tensor) -> list[np.ndarray | None] | None:
    """Per layer: Torch-Pruning's default group magnitude importance of the producer's output channels (None
    for a layer without a producer); None without torch-pruning. ``x``: a flat input sample."""
    try:
        import torch_pruning as tp
    except ImportError:
        return None
    if all(w.producer is None for w in wirings):
        return [None] * len(layers)
    net = folded_network(_network(model), wirings)
    example = network_input(model, x[:1].to(_dtype(model)))
    try:
        with warnings.catch_warnings():  # a ViT's class token and position embedding: in no producer's group
            warnings.filterwarnings("ignore", message="Unwrapped parameters", category=UserWarning)
            graph = tp.DependencyGraph().build_dependency(net, example_inputs=example)
    except Exception as e:  # a user's network torch-pruning cannot trace: this criterion only is NULL
        note(f"baselines: torch_pruning_magnitude skipped: torch-pruning cannot trace this network "
             f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})")
        return [None] * len(layers)
    importance = tp.importance.GroupMagnitudeImportance()
    out: list[np.ndarray | None] = []
    for w in wirings:
        if w.producer is None:
            out.append(None)
            continue
        module = net.get_submodule(w.producer)
        prune = tp.prune_linear_out_channels if isinstance(module, nn.Linear) else tp.prune_conv_out_channels
        width = module.out_features if isinstance(module, nn.Linear) else module.out_channels
        group = graph.get_pruning_group(module, prune, idxs=list(range(width)))
        out.append(importance(group).detach().double().numpy())
    return out


def single_unit_damage(model: nn.Module, layers: list[UnitLayer], x: torch.Tensor, y: torch.Tensor, strategy: str,
                       maps: list[np.ndarray] | None = None) -> list[np.ndarray] | None:
    """Per layer: test error with the unit alone ablated (``strategy`` zero, or mean: its elements set to the
    training-set mean map ``maps``; None without them) minus the unablated test error: one ordering of one unit
    per unit, k = 0 and 1, through the hooked ablation engine."""
    from pipeline.ablation import Ordering
    from pipeline.hooked_ablation import hooked_ablation_curves

    if strategy == "mean" and maps is None:
        return None
    orderings = [Ordering("layer", l, "damage", None, "low_first", 0, np.array([[l, unit]], dtype=np.int64))
                 for l, layer in enumerate(layers, start=1) for unit in range(layer.units)]
    curves = hooked_ablation_curves(model, _network(model), layers, x, y, orderings, (strategy,),
                                    maps if strategy == "mean" else None, None).to_pydict()
    error = np.asarray(curves["test_error"], dtype=np.float64).reshape(len(orderings), 2)  # rows k = 0, 1
    damage = error[:, 1] - error[:, 0]
    bounds = np.cumsum([0] + [layer.units for layer in layers])
    return [damage[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


def unit_baselines(model: nn.Module, layers: list[UnitLayer], x_val: torch.Tensor, y_val: torch.Tensor,
                   x_test: torch.Tensor | None = None, y_test: torch.Tensor | None = None,
                   maps: list[np.ndarray] | None = None,
                   on_step: Callable[[], None] | None = None) -> list[dict[str, np.ndarray | None]]:
    """Per unit layer: every criterion of ``CRITERIA`` (float64 arrays over its units, None where it does not
    apply), as ``store.baselines.baselines_table`` takes them. Damage is computed on the test split when
    ``x_test`` is given (``maps``: the training-set mean maps, for the mean strategy); ``on_step`` is called
    after each of the four groups of criteria."""
    step = on_step or (lambda: None)
    network = _network(model)
    model.eval()
    wirings = [wiring(network, layer) for layer in layers]
    values = weight_norms(network, layers, wirings)
    for v, t in zip(values, taylor(model, layers, x_val, y_val)):
        v["taylor"] = t
    step()
    cond = conductance(model, layers, x_val, y_val)
    group = torch_pruning_magnitude(model, layers, wirings, x_val)
    for i, v in enumerate(values):
        v["conductance"] = None if cond is None else cond[i]
        v["torch_pruning_magnitude"] = None if group is None else group[i]
    step()
    for name, strategy in (("ablation_damage", "zero"), ("ablation_damage_mean", "mean")):
        damage = None if x_test is None else single_unit_damage(model, layers, x_test, y_test, strategy, maps)
        for i, v in enumerate(values):
            v[name] = None if damage is None else damage[i]
        step()
    return [{name: v[name] for name in CRITERIA} for v in values]
