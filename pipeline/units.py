"""Units: one scalar per sample taken from a named module's output, for any ``nn.Module``.

A unit layer is a module of the network (its path in ``named_modules()``) whose output is read by a forward
hook and turned into (samples x units):

- ``neuron``: a (N, M) output, M units (a fully-connected layer's neurons);
- ``channel``: a (N, C, H, W) convolutional map, C units, each channel reduced over space by ``mean`` (default)
  or ``max``, or H*W*C units with ``position`` (every position its own unit: positions of one image are not
  independent samples, so their information is not a dataset-level quantity);
- ``channel_last``: a (N, H, W, C) map of a channels-last block (ConvNeXt's and Swin's MLPs), reduced the same way;
- ``token``: a (N, T, D) transformer activation, D units, each neuron reduced over tokens by ``mean`` (default)
  or read at the class token (``cls``, token 0).

Ablating a unit replaces its whole output, the channel map or the neuron at every token, by zero or by its
training-set mean map (``UnitLayer.mask`` says which elements belong to which units).
"""
from __future__ import annotations

import fnmatch
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from pipeline.errors import NeuronInfoError

KINDS = ("neuron", "channel", "channel_last", "token")
REDUCERS = {"neuron": ("none",), "channel": ("mean", "max", "position"), "channel_last": ("mean", "max", "position"),
            "token": ("mean", "cls", "position")}
DEFAULT_REDUCER = {"neuron": "none", "channel": "mean", "channel_last": "mean", "token": "mean"}
ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.GELU, nn.SiLU, nn.Sigmoid, nn.Tanh, nn.Hardswish, nn.Hardsigmoid, nn.LeakyReLU,
               nn.ELU, nn.Mish, nn.SELU, nn.CELU, nn.PReLU, nn.Softplus)
# the same activations called as functions (F.relu, torch.sigmoid, Tensor.relu_, ...): a module returning one's
# result stands for an activation module (GoogLeNet's and Inception's BasicConv2d end with F.relu)
ACTIVATION_FUNCTIONS = frozenset({"relu", "relu6", "hardtanh", "gelu", "silu", "sigmoid", "tanh", "hardswish",
                                  "hardsigmoid", "leaky_relu", "elu", "mish", "selu", "celu", "prelu", "softplus"})
CHANNELS_LAST_BEFORE = (nn.Linear,)  # an activation right after one of these in a Sequential acts on the last dim


@dataclass(frozen=True)
class UnitLayer:
    """Where a layer's units come from and how many there are."""

    path: str  # module path relative to the network, e.g. "features.3" or "encoder.layers.encoder_layer_0.mlp.1"
    kind: str  # one of KINDS
    reducer: str  # one of REDUCERS[kind]
    shape: tuple[int, ...]  # the module's output for one sample, e.g. (C, H, W)

    @property
    def unit_axis(self) -> int:
        """The axis of ``shape`` that numbers the units (``position``: every element is a unit)."""
        return {"neuron": 0, "channel": 0, "channel_last": len(self.shape) - 1, "token": 1}[self.kind]

    @property
    def units(self) -> int:
        return int(np.prod(self.shape)) if self.reducer == "position" else int(self.shape[self.unit_axis])

    def reduce(self, output: torch.Tensor) -> torch.Tensor:
        """The module's output (N, *shape) as (N, units)."""
        n = output.shape[0]
        if self.reducer in ("none",):
            return output.reshape(n, -1)
        if self.reducer == "position":
            return output.reshape(n, -1)
        if self.reducer == "cls":
            return output[:, 0, :]
        axes = tuple(a + 1 for a in range(len(self.shape)) if a != self.unit_axis)
        return output.mean(axes) if self.reducer == "mean" else output.amax(axes)

    def mask(self, units: np.ndarray | list[int]) -> torch.Tensor:
        """A boolean tensor of ``shape``: True at every element of the given units."""
        units = torch.as_tensor(np.asarray(units, dtype=np.int64))
        if self.reducer == "position":
            flat = torch.zeros(int(np.prod(self.shape)), dtype=torch.bool)
            flat[units] = True
            return flat.view(self.shape)
        selected = torch.zeros(self.shape[self.unit_axis], dtype=torch.bool)
        selected[units] = True
        view = [1] * len(self.shape)
        view[self.unit_axis] = -1
        return selected.view(view).expand(self.shape).clone()

    def describe(self) -> dict:
        return {"module_path": self.path, "unit_kind": self.kind, "reducer": self.reducer, "units": self.units}


def module_at(network: nn.Module, path: str) -> nn.Module:
    """The module at ``path`` (a one-line error naming the path if there is none)."""
    try:
        return network.get_submodule(path)
    except AttributeError:
        raise NeuronInfoError(f"the network has no module {path!r}; list its modules with "
                              "`neuroninfo layers RUN --all` or give --layers globs over module paths") from None


def _kind_of(network: nn.Module, path: str, shape: tuple[int, ...]) -> str:
    if len(shape) == 0:
        raise NeuronInfoError(f"module {path!r} returns no tensor with one row per sample (a value shared by all "
                              "samples, a scalar per sample, or not a tensor): pick another module with --layers")
    if len(shape) == 1:
        return "neuron"
    if len(shape) == 2:
        return "token"
    if len(shape) == 3:
        return "channel_last" if _after_linear(network, path) else "channel"
    raise NeuronInfoError(f"module {path!r} outputs {len(shape) + 1}-d tensors {tuple(shape)}; units are read from "
                          "(N, M), (N, T, D) and (N, C, H, W) outputs: pick another module with --layers")


def _after_linear(network: nn.Module, path: str) -> bool:
    """Is the module at ``path`` right after a Linear in its parent Sequential (a channels-last MLP)?"""
    parent_path, _, name = path.rpartition(".")
    parent = network.get_submodule(parent_path) if parent_path else network
    if not isinstance(parent, nn.Sequential):
        return False
    names = [n for n, _ in parent.named_children()]
    at = names.index(name) if name in names else 0
    return at > 0 and isinstance(parent[at - 1], CHANNELS_LAST_BEFORE)


def _first_tensor(output):
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
        return output[0]
    return None


class _ActivationResults(TorchFunctionMode):
    """Keeps the tensors that activation functions (``ACTIVATION_FUNCTIONS``, however called) return in a pass."""

    def __init__(self):
        super().__init__()
        self.results = weakref.WeakValueDictionary()  # id -> tensor (an entry goes with its tensor: no stale ids)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        result = func(*args, **(kwargs or {}))
        if isinstance(result, torch.Tensor) and getattr(func, "__name__", "").rstrip("_") in ACTIVATION_FUNCTIONS:
            self.results[id(result)] = result
        return result

    def claim(self, tensor: torch.Tensor | None) -> bool:
        """Is ``tensor`` an activation function's result not yet returned by a module? (hooks of inner modules
        run first, so the innermost module returning it claims it)"""
        return tensor is not None and self.results.pop(id(tensor), None) is tensor


@torch.no_grad()
def trace_calls(network: nn.Module, sample: torch.Tensor, forward=None,
                activated: set[str] | None = None) -> dict[str, tuple[int, tuple[int, ...]]]:
    """Every module's (number of calls, per-sample output shape) in one forward pass over ``sample`` (two or
    more samples), in the order the calls end; the shape is () for an output that is not a tensor with the samples
    along dim 0 (Swin v2's position-bias MLP runs once per forward on a table shared by all samples).
    ``forward`` runs the network (default: ``network(sample)``). ``activated``, if given, receives the paths of
    the modules that return an activation function's result (the innermost such module)."""
    seen: dict[str, tuple[int, tuple[int, ...]]] = {}
    results = _ActivationResults()
    handles = []
    for path, module in network.named_modules():
        if not path:
            continue

        def hook(module, inputs, output, path=path):
            tensor = _first_tensor(output)
            calls = seen.get(path, (0, ()))[0] + 1
            batch_major = tensor is not None and tensor.dim() > 0 and tensor.shape[0] == len(sample)
            seen[path] = (calls, tuple(tensor.shape[1:]) if batch_major else ())
            if activated is not None and results.claim(tensor):
                activated.add(path)
        handles.append(module.register_forward_hook(hook))
    try:
        if activated is None:
            (forward or network)(sample)
        else:
            with results:
                (forward or network)(sample)
    finally:
        for handle in handles:
            handle.remove()
    return seen


def default_paths(network: nn.Module, calls: dict[str, tuple[int, tuple[int, ...]]],
                  activated: set[str] = frozenset()) -> list[str]:
    """The default unit layers: every activation module that runs once per forward pass, and every module in
    ``activated`` (one that returns an activation function's result, e.g. a conv block ending with F.relu); an
    activation module that runs several times (ResNet's blocks reuse one ReLU) stands for its parent block's
    output. Heads (an activation whose output is the logits) are left out by the caller."""
    paths: list[str] = []
    for path, module in network.named_modules():
        if not path or not (isinstance(module, ACTIVATIONS) or path in activated) or path not in calls:
            continue
        count, shape = calls[path]
        if count != 1:
            path = path.rpartition(".")[0]
            count, shape = calls.get(path, (0, ()))
            if not path or count != 1:
                continue
        if 1 <= len(shape) <= 3 and path not in paths:
            paths.append(path)
    return paths


def _before_logits(network: nn.Module, calls: dict, paths: list[str]) -> list[str]:
    """``paths`` without those that return after the last module with weights (an activation of the logits,
    e.g. SqueezeNet's final ReLU)."""
    order = list(calls)  # in the order the calls ended
    weighted = [order.index(p) for p in order if any(True for _ in network.get_submodule(p).parameters(recurse=False))]
    last = max(weighted, default=len(order))
    return [p for p in paths if order.index(p) < last]


def select_paths(candidates: list[str], globs: list[str] | None) -> list[str]:
    """The candidate paths matching any of ``globs`` (fnmatch over module paths), in network order."""
    if not globs:
        return candidates
    chosen = [p for p in candidates if any(fnmatch.fnmatchcase(p, g) for g in globs)]
    if not chosen:
        raise NeuronInfoError(f"--layers {','.join(globs)} matches no module; module paths look like "
                              f"{', '.join(candidates[:4])}")
    return chosen


def unit_layers(network: nn.Module, sample: torch.Tensor, paths: list[str] | None = None,
                globs: list[str] | None = None, reducer: str | None = None, forward=None) -> list[UnitLayer]:
    """Describe the unit layers of ``network``: the given module ``paths``, else the default ones filtered by
    ``globs``; ``reducer`` overrides each kind's default where the kind accepts it."""
    activated: set[str] = set()
    calls = trace_calls(network, sample, forward, activated if paths is None and not globs else None)
    if paths is None:
        every = [p for p, _ in network.named_modules() if p and p in calls]
        paths = select_paths(_before_logits(network, calls, default_paths(network, calls, activated))
                             if not globs else every, globs)
    layers = []
    for path in paths:
        module_at(network, path)
        count, shape = calls.get(path, (0, ()))
        if count != 1:
            raise NeuronInfoError(f"module {path!r} runs {count} times per forward pass, so its output is not one "
                                  "layer; pick the block that owns it (its parent path)")
        kind = _kind_of(network, path, shape)
        chosen = reducer if reducer in REDUCERS[kind] else DEFAULT_REDUCER[kind]
        if reducer == "position" and len(shape) == 1:
            chosen = "none"
        layers.append(UnitLayer(path, kind, chosen, tuple(int(s) for s in shape)))
    if not layers:
        raise NeuronInfoError("the network has no unit layer (no activation module runs once per forward pass); "
                              "name modules with --layers")
    return layers


@contextmanager
def hooked(network: nn.Module, layers: list[UnitLayer], on_output) -> Iterator[None]:
    """Call ``on_output(index, output)`` as each unit layer's module returns; a non-None result replaces the
    module's output (for ablation)."""
    handles = []
    for index, layer in enumerate(layers):
        def hook(module, inputs, output, index=index):
            return on_output(index, output)
        handles.append(module_at(network, layer.path).register_forward_hook(hook))
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


@torch.no_grad()
def unit_outputs(model: nn.Module, network: nn.Module, layers: list[UnitLayer], x: torch.Tensor,
                 batch_size: int = 1000) -> Iterator[tuple[int, list[np.ndarray]]]:
    """Yield ``(start, [U_1, ..., U_L])`` for consecutive batches of ``x``: U_l is (batch, units of layer l)
    float32 numpy, read by hooks on ``network`` (a part of ``model``) while ``model`` runs in eval mode."""
    model.eval()
    for start in range(0, len(x), batch_size):
        captured: list[np.ndarray | None] = [None] * len(layers)

        def keep(index, output):
            captured[index] = layers[index].reduce(_first_tensor(output)).float().cpu().numpy()

        with hooked(network, layers, keep):
            model(x[start : start + batch_size])
        yield start, captured


@torch.no_grad()
def output_means(model: nn.Module, network: nn.Module, layers: list[UnitLayer], x: torch.Tensor,
                 batch_size: int = 1000) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Each unit layer's mean over ``x`` (float64) of its units' values, (units,), and of its output map, the
    layer's per-sample ``shape``: the values a unit's elements take when it is ablated to the mean."""
    unit_sums = [np.zeros(layer.units, dtype=np.float64) for layer in layers]
    map_sums = [np.zeros(layer.shape, dtype=np.float64) for layer in layers]
    model.eval()
    for start in range(0, len(x), batch_size):
        def add(index, output):
            output = _first_tensor(output)
            unit_sums[index] += layers[index].reduce(output).sum(0, dtype=torch.float64).cpu().numpy()
            map_sums[index] += output.sum(0, dtype=torch.float64).cpu().numpy()  # no float64 copy of the batch

        with hooked(network, layers, add):
            model(x[start : start + batch_size])
    n = max(len(x), 1)
    return [total / n for total in unit_sums], [total / n for total in map_sums]
