"""Checkpoints as people save them: a flat ``{name: tensor}`` state_dict to the public format, and back.

Recognised layer names (``module.`` prefixes of DataParallel are dropped, ``num_batches_tracked`` ignored):

- ``nn.Sequential`` indices ``0.weight``, ``3.weight``, ... (also inside ``layers.``, ``hidden.``, ``net.``,
  ``model.``): Linear, BatchNorm1d (told apart by ``running_mean``), activation and Dropout in the usual
  orders. A BatchNorm right after its Linear (index + 1) is the norm before the activation; one further
  away follows the activation and is folded into the next Linear (eps 1e-5, torch's default);
- ``fc1..fcN`` (with ``bn1..bnN`` after the Linear of the same number), ordered numerically;
- ``layers.{i}`` / ``hidden.{i}`` ModuleLists;
- the project's own ``linear.{i}`` / ``bn.{i}``.
All but the last may end in one output layer named ``out``, ``output``, ``head`` or ``classifier``.

Hidden sizes and batch norm come from the shapes; the activation cannot be inferred (``spec_for`` takes it
from what the user says). Anything ambiguous or inconsistent is a NeuronInfoError listing what was found.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, fields

import torch

from pipeline.errors import NeuronInfoError
from pipeline.fold import fold_norm_before, folded_linears
from pipeline.model import BN_TENSORS, LINEAR, LINEAR_TENSORS, MLP, NORM, linear_key, norm_key
from pipeline.spec import NetworkSpec
from pipeline.standardize import per_input

PARAMS = set(LINEAR_TENSORS + BN_TENSORS)
CONTAINERS = ("layers", "hidden", "net", "model")
HEADS = ("out", "output", "head", "classifier")
BN_EPS = 1e-5


@dataclass(frozen=True)
class Converted:
    """Public-format tensors (``linear.{i}.*``, ``bn.{i}.*``) and what their shapes say."""

    tensors: dict[str, torch.Tensor]
    input_dim: int
    n_classes: int
    hidden_sizes: tuple[int, ...]
    batch_norm: bool
    naming: str  # 'public' | 'sequential' | 'fc' | 'modulelist'


@dataclass(frozen=True)
class _Layer:
    kind: str  # 'linear' | 'bn'
    name: str  # the module's name in the file
    index: int | None  # its position in a Sequential (None where names carry no position)
    tensors: dict[str, torch.Tensor]


def convert_state_dict(state: dict[str, torch.Tensor]) -> Converted:
    """The public-format tensors of a fully-connected network's state_dict."""
    modules = _modules(state)
    naming, layers = _ordered_layers(modules)
    return _to_public(layers, naming)


def _found(modules: dict) -> str:
    shown = sorted(modules, key=_natural)[:12]
    return ", ".join(shown) + (" ..." if len(modules) > 12 else "")


def _natural(name: str) -> list:
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name)]


def _modules(state: dict) -> dict[str, dict[str, torch.Tensor]]:
    """Tensors grouped by module name (``a.b.weight`` -> module ``a.b``, parameter ``weight``)."""
    if not state:
        raise NeuronInfoError("the file holds no tensors; save model.state_dict()")
    bad = [k for k, v in state.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise NeuronInfoError(f"entries {', '.join(map(str, bad[:4]))} are not named tensors; save model.state_dict()")
    if all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    modules: dict[str, dict[str, torch.Tensor]] = {}
    unknown = []
    for key, tensor in state.items():
        module, _, param = key.rpartition(".")
        if param == "num_batches_tracked":
            continue
        if param not in PARAMS or not module:
            unknown.append(key)
            continue
        modules.setdefault(module, {})[param] = tensor
    if unknown:
        raise NeuronInfoError(f"tensors {', '.join(unknown[:6])} are not Linear or BatchNorm1d parameters; "
                              "only fully-connected networks (Linear, BatchNorm1d) import")
    return modules


def _kind(name: str, tensors: dict) -> str:
    if "running_mean" in tensors:
        missing = [p for p in BN_TENSORS if p not in tensors]
        if missing:
            raise NeuronInfoError(f"batch norm {name} lacks {', '.join(missing)}; save it with affine=True and running stats")
        return "bn"
    weight = tensors.get("weight")
    if weight is None or weight.dim() != 2:
        shape = None if weight is None else tuple(weight.shape)
        raise NeuronInfoError(f"module {name} (weight shape {shape}, tensors {', '.join(sorted(tensors))}) is neither "
                              "a Linear nor a BatchNorm1d; only fully-connected networks import")
    if "bias" not in tensors:
        raise NeuronInfoError(f"Linear {name} has no bias; import needs Linear layers with bias=True")
    return "linear"


def _ordered_layers(modules: dict) -> tuple[str, list[_Layer]]:
    """Recognise the naming scheme and put the modules in network order (an output layer named
    ``out``/``output``/``head``/``classifier`` comes last)."""
    heads = [n for n in modules if n in HEADS]
    body = [n for n in modules if n not in HEADS]
    patterns = {
        "public": rf"({LINEAR}|{NORM})\.(\d+)",
        "sequential": rf"(?:({'|'.join(CONTAINERS)})\.)?(\d+)",
        "fc": r"(fc|bn)(\d+)",
    }
    matching = [s for s, pattern in patterns.items() if body and all(re.fullmatch(pattern, n) for n in body)]
    if len(matching) != 1 or len(heads) > 1 or (heads and matching == ["public"]):
        raise NeuronInfoError(f"cannot tell the layer order from the names {_found(modules)}; use nn.Sequential indices, "
                              "fc1..fcN, layers.{i}/hidden.{i} (+ out) or linear.{i}/bn.{i}")
    naming = matching[0]
    tail = [_Layer(_kind(n, modules[n]), n, None, modules[n]) for n in heads]
    if naming in ("public", "fc"):
        order = sorted(body, key=lambda n: (int(re.sub(r"\D", "", n)), n.startswith("bn")))
        return naming, [_Layer(_kind(n, modules[n]), n, None, modules[n]) for n in order] + tail
    containers = {re.fullmatch(r"(?:(\w+)\.)?\d+", n).group(1) for n in body}
    if len(containers) > 1:
        raise NeuronInfoError(f"layers under several containers ({', '.join(sorted(map(str, containers)))}) in {_found(modules)}; "
                              "the layer order is ambiguous")
    order = sorted(body, key=lambda n: int(n.rsplit(".", 1)[-1]))
    layers = [_Layer(_kind(n, modules[n]), n, int(n.rsplit(".", 1)[-1]), modules[n]) for n in order]
    return ("sequential" if containers == {None} else "modulelist"), layers + tail


def _to_public(layers: list[_Layer], naming: str) -> Converted:
    """Check the chain Linear -> (BatchNorm) -> ... -> Linear and name the tensors as the public format does."""
    described = ", ".join(f"{l.name} ({l.kind} {tuple(l.tensors['weight'].shape)})" for l in layers)
    linears: list[dict] = []
    norms: list[dict | None] = []
    pending_post_norm = None  # a batch norm after the activation, folded into the next Linear
    for pos, layer in enumerate(layers):
        t = {k: v.detach().to(torch.float32) for k, v in layer.tensors.items()}
        if layer.kind == "linear":
            if linears and t["weight"].shape[1] != linears[-1]["weight"].shape[0]:
                raise NeuronInfoError(f"layer {layer.name} takes {t['weight'].shape[1]} inputs but the layer before gives "
                                      f"{linears[-1]['weight'].shape[0]}; the shapes do not chain: {described}")
            if pending_post_norm is not None:
                t = _fold_into_next(pending_post_norm, t)
                pending_post_norm = None
            linears.append(t)
            norms.append(None)
            continue
        before = layers[pos - 1] if pos else None
        if before is None or before.kind != "linear" or norms[-1] is not None or pending_post_norm is not None:
            raise NeuronInfoError(f"batch norm {layer.name} does not follow a Linear; found: {described}")
        width = linears[-1]["weight"].shape[0]
        if any(t[p].shape != (width,) for p in BN_TENSORS):
            raise NeuronInfoError(f"batch norm {layer.name} does not have width {width} of the Linear before it; found: {described}")
        if layer.index is not None and before.index is not None and layer.index > before.index + 1:
            pending_post_norm = t  # Linear, activation, BatchNorm: the neuron's output is the activation's
        else:
            norms[-1] = t
    if pending_post_norm is not None or norms[-1] is not None:
        raise NeuronInfoError(f"the network ends in a batch norm, not a Linear output layer; found: {described}")
    if len(linears) < 2:
        raise NeuronInfoError(f"found {len(linears)} Linear layer(s) ({described}); a network needs at least one hidden layer")
    hidden_norms = norms[:-1]
    if any(n is not None for n in hidden_norms) and not all(n is not None for n in hidden_norms):
        raise NeuronInfoError(f"batch norm after some hidden layers but not all; found: {described}")
    tensors = {}
    for i, lin in enumerate(linears):
        tensors.update({linear_key(i, p): lin[p].contiguous() for p in LINEAR_TENSORS})
        if norms[i] is not None:
            tensors.update({norm_key(i, p): norms[i][p].contiguous() for p in BN_TENSORS})
    for key, value in tensors.items():
        if not torch.isfinite(value).all():
            raise NeuronInfoError(f"tensor {key} holds NaN or inf; the network diverged, retrain it")
    return Converted(tensors, int(linears[0]["weight"].shape[1]), int(linears[-1]["weight"].shape[0]),
                     tuple(int(l["weight"].shape[0]) for l in linears[:-1]), hidden_norms[0] is not None, naming)


def _fold_into_next(norm: dict, linear: dict) -> dict:
    """The next Linear absorbs a batch norm that follows an activation."""
    weight, bias = fold_norm_before(linear["weight"], linear["bias"], norm, BN_EPS)
    return {"weight": weight, "bias": bias}


def spec_for(converted: Converted, given: dict) -> NetworkSpec:
    """A spec from the inferred shapes and what the user says (dataset and activation required; regularizer
    ``dropout_bn`` with batch norm, else as given or ``none``). Other spec keys pass through; keys the spec
    does not have are ignored; sizes the user gives must match the file's."""
    missing = [k for k in ("dataset", "activation") if not given.get(k)]
    if missing:
        raise NeuronInfoError(f"the file does not say its {' and '.join(missing)}; give them (--dataset D --activation relu|sigmoid, "
                              "or a sidecar <file>.json / spec.json with them)")
    inferred = {"input_dim": converted.input_dim, "n_classes": converted.n_classes,
                "hidden_sizes": list(converted.hidden_sizes)}
    for key, value in inferred.items():
        if key in given and given[key] is not None and _as_list(given[key]) != _as_list(value):
            raise NeuronInfoError(f"the spec says {key} = {given[key]} but the file's tensors have {value}; fix the spec")
    regularizer = given.get("regularizer")
    if converted.batch_norm and regularizer not in (None, "dropout_bn"):
        raise NeuronInfoError(f"the file has batch norm but the spec says regularizer {regularizer!r}; use dropout_bn")
    if not converted.batch_norm and regularizer == "dropout_bn":
        raise NeuronInfoError("the spec says regularizer dropout_bn but the file has no batch norm tensors; use none, l2 or dropout")
    known = {f.name for f in fields(NetworkSpec)}
    values = {k: v for k, v in given.items() if k in known and v is not None} | inferred
    values["regularizer"] = "dropout_bn" if converted.batch_norm else (regularizer or "none")
    values.setdefault("inputs", "unit" if values.get("input_mean") is None else "standardized")  # the file's own scaling
    if "n_val" not in values:
        from pipeline.data import default_n_val

        try:
            values["n_val"] = default_n_val(values["dataset"])
        except NeuronInfoError:
            pass  # a dataset the project does not know: the spec's default
    try:
        return NetworkSpec(**values)
    except (TypeError, ValueError, OverflowError) as e:
        raise NeuronInfoError(f"spec has a field of the wrong type or range ({str(e).splitlines()[0]}); fix it") from None


def _as_list(value) -> list | int:
    return [int(v) for v in value] if isinstance(value, (list, tuple)) else value


def sequential_layers(spec: NetworkSpec) -> list[str]:
    """The ``nn.Sequential`` that ``sequential_state_dict`` fills: Linear, activation per hidden layer,
    then the output Linear (batch norm and input standardization folded into the Linears)."""
    widths = (spec.input_dim, *spec.hidden_sizes, spec.n_classes)
    act = "ReLU()" if spec.activation == "relu" else "Sigmoid()"
    layers = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        layers.append(f"Linear({a}, {b})")
        if i < len(spec.hidden_sizes):
            layers.append(act)
    return layers


def sequential_modules(spec: NetworkSpec) -> torch.nn.Sequential:
    """The ``nn.Sequential`` of ``sequential_layers(spec)``, ready for ``load_state_dict``."""
    from torch import nn

    widths = (spec.input_dim, *spec.hidden_sizes, spec.n_classes)
    modules = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        modules.append(nn.Linear(a, b))
        if i < len(spec.hidden_sizes):
            modules.append(nn.ReLU() if spec.activation == "relu" else nn.Sigmoid())
    return nn.Sequential(*modules).eval()


def sequential_state_dict(model: MLP) -> dict[str, torch.Tensor]:
    """A plain ``nn.Sequential`` state_dict (keys ``0.weight, 0.bias, 2.weight, ...``) computing the same
    function as ``model`` (an ``pipeline.model.MLP``) in eval mode."""
    out = {}
    for i, (w, b) in enumerate(folded_linears(model)):
        if i == 0:
            w, b = _fold_standardization(model.spec, w, b)
        out[f"{2 * i}.weight"], out[f"{2 * i}.bias"] = w.float().contiguous(), b.float().contiguous()
    return out


def _fold_standardization(spec: NetworkSpec, w: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """W ((x - m) / s) + b as a Linear on raw [0, 1] inputs, when the spec standardizes its inputs
    (per-channel ``input_mean`` / ``input_std``, channel-major inputs)."""
    if spec.input_mean is None:
        return w, b
    m, s = per_input(spec.input_mean, spec.input_dim), per_input(spec.input_std, spec.input_dim)
    return w / s[None, :], b - (w / s[None, :]) @ m
