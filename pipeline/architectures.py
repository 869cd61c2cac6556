"""Architectures: how a spec's ``arch`` becomes an ``nn.Module`` taking the datasets' flat inputs.

- ``mlp``: the fully-connected network of the study (``pipeline.model.MLP``), hidden_sizes its widths;
- ``cnn``: a small convolutional net, hidden_sizes = the conv channels then the fully-connected width, e.g.
  (32, 64, 128, 128): three blocks conv 3x3 -> (batch norm) -> activation -> 2x2 max pooling, then
  flatten -> linear -> (batch norm) -> activation -> dropout -> linear to the classes;
- ``vit``: a small torchvision ``VisionTransformer`` (arch_kwargs: layers, heads, hidden_dim, mlp_dim, patch),
  its patch embedding taking the dataset's channels;
- ``torchvision:NAME``: any classification builder of torchvision, random weights, ``num_classes`` from the
  dataset (grey-scale images are repeated to the 3 channels these models take);
- ``package.module:Class``: a user's own module class, built with ``arch_kwargs`` (JSON) and ``num_classes``
  if its constructor takes it. Code is imported only when the CLI or the API names it: the inbox never does.

Every non-MLP model is an ``ImageClassifier``: it reshapes the flat (N, C*H*W) inputs into images and calls
``model.network``, the module whose paths name the unit layers (``pipeline.units``).
"""
from __future__ import annotations

import importlib
import inspect
import json

import torch
from torch import nn

from pipeline.errors import NeuronInfoError

BUILTIN = ("mlp", "cnn", "vit")
VIT_DEFAULTS = {"layers": 4, "heads": 4, "hidden_dim": 64, "mlp_dim": 128, "patch": 7}


def arch_family(arch: str) -> str:
    """'mlp', 'cnn', 'vit', 'torchvision' or 'module' (a user's class)."""
    if arch in BUILTIN:
        return arch
    if arch.startswith("torchvision:"):
        return "torchvision"
    if ":" in arch and all(part.replace("_", "a").replace(".", "a").isalnum() for part in arch.split(":", 1)):
        return "module"
    raise NeuronInfoError(f"unknown architecture {arch!r}; use mlp, cnn, vit, torchvision:NAME (e.g. "
                          "torchvision:resnet18) or package.module:Class")


def arch_label(arch: str) -> str:
    """A short label for run names: 'cnn', 'vit', 'resnet18', 'Net'."""
    return arch.split(":")[-1]


class ImageClassifier(nn.Module):
    """Flat inputs (N, C*H*W) -> images (N, C, H, W) -> ``network`` -> logits. Grey images fed to a network
    whose first layer takes 3 channels are repeated to 3 channels (``repeat``)."""

    def __init__(self, spec, network: nn.Module, repeat: int = 1):
        super().__init__()
        self.spec = spec
        self.network = network
        self.image_shape = tuple(spec.image_shape)
        self.repeat = repeat

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        images = x.reshape(-1, *self.image_shape)
        if self.repeat > 1:
            images = images.expand(-1, self.repeat, -1, -1)
        return self.network(images)

    def checkpoint_tensors(self) -> dict[str, torch.Tensor]:
        """The network's state_dict (its own names, as torchvision or the user's class writes them): floating
        tensors as contiguous CPU float32 copies, integer buffers (batch norm's counters) as they are."""
        return {name: (t.detach().to(torch.float32) if t.is_floating_point() else t.detach()).cpu().contiguous().clone()
                for name, t in self.network.state_dict().items()}

    def expected_shapes(self) -> dict[str, tuple[int, ...]]:
        return checkpoint_shapes(self.spec)

    def load_checkpoint_tensors(self, tensors: dict[str, torch.Tensor]) -> "ImageClassifier":
        """Copy checkpoint tensors in (names and shapes are checked by the caller) and switch to eval mode."""
        self.network.load_state_dict(tensors, strict=True)
        return self.eval()


def build(spec, device: str | torch.device | None = None) -> nn.Module:
    """A freshly initialised model for ``spec`` (initialisation draws from torch's global RNG)."""
    family = arch_family(spec.arch)
    if family == "mlp":
        from pipeline.model import MLP

        return MLP(spec, device=device)
    with torch.device(device or "cpu"):
        network, repeat = _BUILDERS[family](spec)
        return ImageClassifier(spec, network, repeat)


def empty(spec) -> nn.Module:
    """A model with uninitialised weights to load a checkpoint into: built on the meta device, so it draws
    nothing from torch's global RNG (loading never disturbs a training running in another thread)."""
    return build(spec, device="meta").to_empty(device="cpu")


def checkpoint_shapes(spec) -> dict[str, tuple[int, ...]]:
    """The checkpoint's tensor names and shapes for ``spec`` (built on the meta device: allocates nothing)."""
    if arch_family(spec.arch) == "mlp":
        from pipeline.model import checkpoint_shapes as mlp_shapes

        return mlp_shapes(spec)
    return {name: tuple(t.shape) for name, t in build(spec, device="meta").network.state_dict().items()}


def parameter_count(spec) -> int:
    """The number of parameters ``spec``'s network has (counted on the meta device: allocates nothing)."""
    return sum(p.numel() for p in build(spec, device="meta").parameters())


def _activation(spec) -> nn.Module:
    return nn.ReLU() if spec.activation == "relu" else nn.Sigmoid()


def _cnn(spec) -> tuple[nn.Module, int]:
    channels_in, height, width = spec.image_shape
    *channels, fc_width = spec.hidden_sizes
    batch_norm = spec.regularizer == "dropout_bn"
    features = []
    for out in channels:
        features += [nn.Conv2d(channels_in, out, 3, padding=1)]
        features += [nn.BatchNorm2d(out)] if batch_norm else []
        features += [_activation(spec), nn.MaxPool2d(2)]
        channels_in, height, width = out, height // 2, width // 2
    if height < 1 or width < 1:
        raise NeuronInfoError(f"{len(channels)} conv blocks halve a {spec.image_shape[1]}x{spec.image_shape[2]} image "
                              "below 1x1; use fewer channels in --hidden (the last number is the dense width)")
    classifier = [nn.Flatten(), nn.Linear(channels_in * height * width, fc_width)]
    classifier += [nn.BatchNorm1d(fc_width)] if batch_norm else []
    classifier += [_activation(spec), nn.Dropout(spec.dropout) if spec.dropout else nn.Identity(),
                   nn.Linear(fc_width, spec.n_classes)]
    return nn.Sequential(nn.Sequential(*features), nn.Sequential(*classifier)), 1


def _vit(spec) -> tuple[nn.Module, int]:
    from torchvision.models import VisionTransformer

    options = {**VIT_DEFAULTS, **json.loads(spec.arch_kwargs or "{}")}
    channels, height, width = spec.image_shape
    if height != width or height % options["patch"]:
        raise NeuronInfoError(f"a vit needs square images whose side the patch divides ({height}x{width}, patch "
                              f"{options['patch']}); set --arch-kwargs '{{\"patch\": N}}'")
    network = VisionTransformer(image_size=height, patch_size=options["patch"], num_layers=options["layers"],
                                num_heads=options["heads"], hidden_dim=options["hidden_dim"],
                                mlp_dim=options["mlp_dim"], num_classes=spec.n_classes, dropout=spec.dropout)
    if channels != 3:  # the patch embedding takes the dataset's own channels
        network.conv_proj = nn.Conv2d(channels, options["hidden_dim"], options["patch"], options["patch"])
    return network, 1


def _torchvision(spec) -> tuple[nn.Module, int]:
    import torchvision

    name = spec.arch.split(":", 1)[1]
    if name not in torchvision.models.list_models(module=torchvision.models):
        raise NeuronInfoError(f"torchvision has no classification model {name!r}; see "
                              "torchvision.models.list_models(module=torchvision.models)")
    kwargs = json.loads(spec.arch_kwargs or "{}")
    network = torchvision.models.get_model(name, weights=None, num_classes=spec.n_classes, **kwargs)
    return network, 3 // spec.image_shape[0] if spec.image_shape[0] in (1, 3) else 1


def _module(spec) -> tuple[nn.Module, int]:
    module_name, _, class_name = spec.arch.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as e:
        raise NeuronInfoError(f"cannot import {spec.arch} ({str(e).splitlines()[0]}); put the package on PYTHONPATH "
                              "and name a class as package.module:Class") from None
    kwargs = json.loads(spec.arch_kwargs or "{}")
    if "num_classes" in inspect.signature(cls).parameters:
        kwargs.setdefault("num_classes", spec.n_classes)
    try:
        network = cls(**kwargs)
    except TypeError as e:
        raise NeuronInfoError(f"{spec.arch}({', '.join(kwargs)}) failed: {e}; fix --arch-kwargs") from None
    if not isinstance(network, nn.Module):
        raise NeuronInfoError(f"{spec.arch} built a {type(network).__name__}, not a torch.nn.Module")
    return network, 1


_BUILDERS = {"cnn": _cnn, "vit": _vit, "torchvision": _torchvision, "module": _module}
