"""The network spec: everything needed to rebuild, retrain and describe one network.

A spec is stored as JSON in the checkpoint's metadata (docs/warehouse.md, "Checkpoint format"), so a checkpoint
alone says how it was made. Presets hold the per-dataset training choices (``PRESETS``).
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields, replace

from pipeline.errors import NeuronInfoError
from pipeline.options import MAX_PARAMETERS

ACTIVATIONS = ("relu", "sigmoid")  # the study's, of an mlp or cnn
BUILTIN = "builtin"  # the activation of an architecture with its own (vit, torchvision, a user's class)
INPUTS = ("standardized", "unit")  # inputs standardized by training-split channel stats, or [0, 1] as loaded
REGULARIZERS = ("none", "l2", "dropout", "dropout_bn")


@dataclass(frozen=True)
class Preset:
    """A dataset's training choices: hidden sizes, epochs, dropout, weight decay."""

    hidden_sizes: tuple[int, ...]
    epochs: int
    dropout: float
    weight_decay: float


PRESETS = {
    "mnist": Preset((300, 100), 10, 0.2, 1e-4),
    "fashion-mnist": Preset((300, 100), 15, 0.2, 1e-4),
    "cifar10": Preset((1024, 512, 512, 512), 30, 0.1, 1e-4),
    "synthetic": Preset((32, 16), 5, 0.2, 1e-4),
    "npz": Preset((300, 100), 10, 0.2, 1e-4),  # a user's own data (--dataset npz:PATH): the mnist choices
}


@dataclass(frozen=True)
class NetworkSpec:
    """A fully-connected classifier and how it is trained. Validated on construction."""

    dataset: str
    input_dim: int
    n_classes: int
    hidden_sizes: tuple[int, ...]
    activation: str = "relu"
    regularizer: str = "none"
    dropout: float = 0.0  # used by regularizers dropout / dropout_bn only
    weight_decay: float = 0.0  # used by regularizer l2 only
    seed: int = 0
    epochs: int = 10
    lr: float = 1e-4
    momentum: float = 0.9
    batch_size: int = 64
    n_val: int = 10_000  # validation samples split off the official training set
    # inputs: "standardized" by the training split's per-channel mean and std (pipeline/standardize.py;
    # training fills input_mean / input_std, one value per channel) or "unit" ([0, 1] as loaded, no stats)
    inputs: str = "standardized"
    input_mean: tuple[float, ...] | None = None
    input_std: tuple[float, ...] | None = None
    # the architecture (pipeline/architectures.py): mlp (the study's), cnn, vit, torchvision:NAME or
    # package.module:Class; arch_kwargs is canonical JSON for its builder, image_shape (C, H, W) how the flat
    # inputs are images. An mlp's spec leaves all three out of its JSON (its run identity is as before)
    arch: str = "mlp"
    arch_kwargs: str = ""
    image_shape: tuple[int, ...] | None = None

    def __post_init__(self):
        object.__setattr__(self, "hidden_sizes", tuple(int(h) for h in self.hidden_sizes))
        if self.image_shape is not None:
            object.__setattr__(self, "image_shape", tuple(self.image_shape))
        if isinstance(self.arch_kwargs, dict):
            object.__setattr__(self, "arch_kwargs", json.dumps(self.arch_kwargs, sort_keys=True) if self.arch_kwargs else "")
        for name in ("input_mean", "input_std"):
            value = getattr(self, name)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                value = (value,)  # one channel given as a number
            if isinstance(value, (list, tuple)):
                object.__setattr__(self, name, tuple(value))
        _validate(self)

    @property
    def name(self) -> str:
        """A readable label naming every choice that differs from the dataset's preset, then the seed,
        e.g. ``fashion-mnist-300x100-relu-dropout-e5-s0`` (5 epochs where the preset trains 15)."""
        return f"{self.group}-s{self.seed}"

    @property
    def group(self) -> str:
        """The name without the seed: runs of one group differ only by seed, never by configuration."""
        return "-".join([self.dataset, self.shape_label, self.regularizer, *self._differences()])

    @property
    def shape_label(self) -> str:
        """The network in a name: ``300x100-relu`` (an mlp), ``cnn32x64x128x128-relu``, ``vit``, ``resnet18``."""
        from pipeline.architectures import arch_label

        sizes = "x".join(str(h) for h in self.hidden_sizes)
        if self.arch == "mlp":
            return f"{sizes}-{self.activation}"
        return f"cnn{sizes}-{self.activation}" if self.arch == "cnn" else arch_label(self.arch)

    def _differences(self) -> list[str]:
        """Short labels of the hyper-parameters that differ from the preset (all of them for a dataset without one)."""
        preset = PRESETS.get(self.dataset) or PRESETS.get("npz" if self.dataset.startswith("npz:") else self.dataset.split("-")[0])
        usual = {
            "e": preset.epochs if preset else None,
            "lr": 1e-4, "mom": 0.9, "bs": 64,
            "do": preset.dropout if preset and self.regularizer in ("dropout", "dropout_bn") else 0.0,
            "wd": preset.weight_decay if preset and self.regularizer == "l2" else 0.0,
            "val": _default_n_val(self.dataset),
        }
        actual = {"e": self.epochs, "lr": self.lr, "mom": self.momentum, "bs": self.batch_size, "do": self.dropout,
                  "wd": self.weight_decay, "val": self.n_val}
        labels = [f"{key}{actual[key]:g}" for key in usual if actual[key] != usual[key]]
        return labels + (["unit"] if self.inputs == "unit" else [])  # [0, 1] inputs, not standardized

    def to_json(self) -> str:
        """The spec as JSON. A [0, 1]-input spec leaves out ``inputs`` and the stats, so it reads exactly as
        specs written before they existed (and keeps its run identity)."""
        unit, mlp = self.inputs == "unit", self.arch == "mlp"
        return json.dumps({k: v for k, v in asdict(self).items()
                           if not (unit and k in ("inputs", "input_mean", "input_std"))
                           and not (mlp and k in ("arch", "arch_kwargs", "image_shape"))}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "NetworkSpec":
        """Parse a spec from JSON; unknown keys are ignored, missing required ones are an error."""
        try:
            data = json.loads(text)
        except (TypeError, ValueError) as e:
            raise NeuronInfoError(f"spec is not valid JSON ({e}); write the spec as a JSON object") from None
        if not isinstance(data, dict):
            raise NeuronInfoError("spec must be a JSON object with dataset, input_dim, n_classes, hidden_sizes, ...")
        known = {f.name for f in fields(cls)}
        if "inputs" not in data:  # written before the choice existed: standardized only if it has stats
            data["inputs"] = "unit" if data.get("input_mean") is None else "standardized"
        required = {"dataset", "input_dim", "n_classes", "hidden_sizes"}
        missing = sorted(required - data.keys())
        if missing:
            raise NeuronInfoError(f"spec is missing {', '.join(missing)}; add them to the checkpoint's 'spec' metadata")
        try:
            return cls(**{k: v for k, v in data.items() if k in known})
        except (TypeError, ValueError, OverflowError) as e:
            raise NeuronInfoError(f"spec has a field of the wrong type or range ({str(e).splitlines()[0]}); fix the checkpoint's 'spec' metadata") from None


def _default_n_val(dataset: str) -> int | None:
    from pipeline.data import default_n_val

    try:
        return default_n_val(dataset)
    except NeuronInfoError:  # a dataset this project does not know (an imported network's)
        return None


def _validate(spec: NetworkSpec) -> None:
    def bad(what: str, fix: str):
        raise NeuronInfoError(f"invalid network spec: {what}; {fix}")

    if not isinstance(spec.dataset, str) or not spec.dataset:
        bad(f"dataset {spec.dataset!r}", "name a dataset such as fashion-mnist")
    if spec.activation not in (*ACTIVATIONS, BUILTIN):
        bad(f"unknown activation {spec.activation!r}", f"use one of {', '.join(ACTIVATIONS)}")
    if spec.regularizer not in REGULARIZERS:
        bad(f"unknown regularizer {spec.regularizer!r}", f"use one of {', '.join(REGULARIZERS)}")
    _validate_arch(spec, bad)
    if not spec.hidden_sizes and spec.arch in ("mlp", "cnn"):
        bad("no hidden layers", "give at least one hidden size, e.g. --hidden 300,100")
    if any(h <= 0 for h in spec.hidden_sizes):
        bad(f"hidden sizes {list(spec.hidden_sizes)} include a width <= 0", "use positive widths")
    for name in ("input_dim", "n_classes", "epochs", "batch_size", "n_val"):
        value = getattr(spec, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < (0 if name == "epochs" else 1):
            bad(f"{name} = {value!r}", f"{name} must be a positive integer")
    if not isinstance(spec.seed, int) or isinstance(spec.seed, bool) or not 0 <= spec.seed < 2**63:
        bad(f"seed = {spec.seed!r}", "the seed must be an integer in 0 .. 2**63-1")
    for name in ("lr", "momentum", "dropout", "weight_decay"):
        value = getattr(spec, name)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value != value:
            bad(f"{name} = {value!r}", f"{name} must be a number")
    if spec.n_classes < 2:
        bad(f"n_classes = {spec.n_classes}", "a classifier needs at least 2 classes")
    if not 0.0 <= spec.dropout < 1.0:
        bad(f"dropout = {spec.dropout}", "dropout must be in [0, 1)")
    if spec.weight_decay < 0:
        bad(f"weight_decay = {spec.weight_decay}", "weight decay must be >= 0")
    if not spec.lr > 0:
        bad(f"lr = {spec.lr}", "the learning rate must be > 0")
    if not 0.0 <= spec.momentum < 1.0:
        bad(f"momentum = {spec.momentum}", "momentum must be in [0, 1)")
    if spec.dropout and spec.regularizer not in ("dropout", "dropout_bn"):
        bad(f"dropout {spec.dropout} with regularizer {spec.regularizer!r}", "use regularizer dropout or dropout_bn")
    if spec.weight_decay and spec.regularizer != "l2":
        bad(f"weight_decay {spec.weight_decay} with regularizer {spec.regularizer!r}", "use regularizer l2")
    _validate_input_stats(spec, bad)


def _validate_arch(spec: NetworkSpec, bad) -> None:
    from pipeline.architectures import arch_family

    if not isinstance(spec.arch, str):
        bad(f"arch {spec.arch!r}", "name an architecture such as mlp, cnn, vit or torchvision:resnet18")
    family = arch_family(spec.arch)
    try:
        kwargs = json.loads(spec.arch_kwargs) if spec.arch_kwargs else {}
    except (TypeError, ValueError):
        kwargs = None
    if not isinstance(kwargs, dict):
        bad(f"arch_kwargs {spec.arch_kwargs!r}", "give a JSON object, e.g. --arch-kwargs '{\"width\": 64}'")
    if family == "mlp":
        if spec.image_shape is not None or spec.arch_kwargs:
            bad("image_shape or arch_kwargs for an mlp", "leave them out, or choose another --arch")
        if spec.activation == BUILTIN:
            bad("activation 'builtin' for an mlp", "use relu or sigmoid")
        return
    shape = spec.image_shape
    if not (isinstance(shape, tuple) and len(shape) == 3 and all(isinstance(v, int) and v > 0 for v in shape)):
        bad(f"image_shape {shape!r} for arch {spec.arch}", "give (channels, height, width) of the images")
    if shape[0] * shape[1] * shape[2] != spec.input_dim:
        bad(f"image_shape {list(shape)} holds {shape[0] * shape[1] * shape[2]} values, not input_dim {spec.input_dim}",
            "give the images' (channels, height, width)")
    if family == "cnn":
        if len(spec.hidden_sizes) < 2:
            bad(f"cnn hidden sizes {list(spec.hidden_sizes)}", "give conv channels then the dense width, e.g. 32,64,128,128")
        if spec.activation == BUILTIN:
            bad("activation 'builtin' for a cnn", "use relu or sigmoid")
        return
    if spec.activation != BUILTIN:
        bad(f"activation {spec.activation!r} for arch {spec.arch}", "it has its own activations: say 'builtin'")
    if spec.hidden_sizes:
        bad(f"hidden sizes for arch {spec.arch}", "leave --hidden out: the architecture sets its widths")
    if family != "vit" and spec.regularizer in ("dropout", "dropout_bn"):
        bad(f"regularizer {spec.regularizer!r} for arch {spec.arch}", "use none or l2 (its dropout is its own)")


def _validate_input_stats(spec: NetworkSpec, bad) -> None:
    mean, std = spec.input_mean, spec.input_std
    if spec.inputs not in INPUTS:
        bad(f"unknown input scaling {spec.inputs!r}", f"use one of {', '.join(INPUTS)}")
    if spec.inputs == "unit" and mean is not None:
        bad("input_mean / input_std with inputs 'unit'", "use inputs 'standardized' with them, or drop them")
    if (mean is None) != (std is None):
        bad("input_mean without input_std (or the reverse)", "give both, one value per channel, or neither")
    if mean is None:
        return
    for name, values in (("input_mean", mean), ("input_std", std)):
        if not isinstance(values, tuple) or not values or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values):
            bad(f"{name} = {values!r}", "give finite numbers, one per input channel (1 grey-scale, 3 RGB)")
    if len(mean) != len(std):
        bad(f"{len(mean)} input_mean values but {len(std)} input_std values", "give one of each per channel")
    if spec.input_dim % len(mean):
        bad(f"{len(mean)} channels do not divide input_dim {spec.input_dim}", "give one value per channel")
    if not all(s > 0 for s in std):
        bad(f"input_std = {list(std)}", "every channel's std must be > 0")


CNN_HIDDEN = (32, 64, 128, 128)  # the cnn preset: conv channels, then the dense width
SMALL_CNN_HIDDEN = (8, 16, 32, 32)  # images under 16x16 (the synthetic sets' 8x8)


def preset_spec(
    dataset: str,
    input_dim: int,
    n_classes: int,
    activation: str = "relu",
    regularizer: str = "none",
    seed: int = 0,
    preset: str | None = None,
    arch: str = "mlp",
    arch_kwargs: dict | None = None,
    **overrides,
) -> NetworkSpec:
    """A spec to train, from a preset (default: the dataset's own), applying dropout/L2 only where the
    regularizer uses them. ``arch`` other than mlp takes the dataset's image shape and the architecture's own
    widths (``arch_shape``)."""
    from pipeline.npz_data import canonical, is_npz

    dataset = canonical(dataset)
    key = preset or (dataset if dataset in PRESETS else "npz" if is_npz(dataset) else dataset.split("-")[0])
    if key not in PRESETS:
        raise NeuronInfoError(f"unknown preset {key!r}; use one of {', '.join(PRESETS)}")
    p = PRESETS[key]
    shape = {"hidden_sizes": p.hidden_sizes}
    if arch != "mlp":  # the architecture's own widths and image shape; its own activation unless a cnn
        shape = arch_shape(arch, dataset, input_dim, arch_kwargs or {})
        activation = activation if arch == "cnn" else BUILTIN
    spec = NetworkSpec(
        dataset=dataset,
        input_dim=input_dim,
        n_classes=n_classes,
        activation=activation,
        regularizer=regularizer,
        dropout=p.dropout if regularizer in ("dropout", "dropout_bn") else 0.0,
        weight_decay=p.weight_decay if regularizer == "l2" else 0.0,
        seed=seed,
        epochs=p.epochs,
        **shape,
    )
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if "n_val" not in overrides:
        from pipeline.data import default_n_val

        overrides["n_val"] = default_n_val(dataset)
    spec = replace(spec, **overrides)
    check_size(spec)
    check_trainable(spec)
    return spec


def arch_shape(arch: str, dataset: str, input_dim: int, arch_kwargs: dict) -> dict:
    """The spec fields an architecture other than mlp sets: image_shape, hidden_sizes (a cnn's channels and
    dense width; none for the others) and arch_kwargs (a vit's patch follows the image side)."""
    from pipeline.architectures import VIT_DEFAULTS, arch_family
    from pipeline.data import image_shape

    family = arch_family(arch)
    shape = image_shape(dataset, input_dim)
    if family == "cnn":
        hidden = CNN_HIDDEN if min(shape[1:]) >= 16 else SMALL_CNN_HIDDEN  # 28x28, 32x32: the preset; 8x8: smaller
        return {"arch": arch, "image_shape": shape, "hidden_sizes": hidden,
                "arch_kwargs": json.dumps(arch_kwargs, sort_keys=True) if arch_kwargs else ""}
    if family == "vit":
        patch = next(p for p in (7, 4, 2, 1) if shape[1] % p == 0)
        arch_kwargs = {**VIT_DEFAULTS, "patch": patch, **arch_kwargs}
    return {"arch": arch, "image_shape": shape, "hidden_sizes": (),
            "arch_kwargs": json.dumps(arch_kwargs, sort_keys=True) if arch_kwargs else ""}


def check_size(spec: NetworkSpec) -> None:
    """A one-line error when ``spec``'s network has more parameters than this trains (before allocating them)."""
    if spec.arch == "mlp":
        sizes = [spec.input_dim, *spec.hidden_sizes, spec.n_classes]
        parameters, label = sum(a * b + b for a, b in zip(sizes, sizes[1:])), "a " + "-".join(map(str, sizes))
    else:
        from pipeline.architectures import parameter_count

        parameters, label = parameter_count(spec), f"the {spec.arch}"
    if parameters > MAX_PARAMETERS:
        raise NeuronInfoError(f"{label} network has {parameters:,} parameters, above the "
                              f"{MAX_PARAMETERS:,} this trains; use smaller hidden sizes (--hidden)")


def check_trainable(spec: NetworkSpec) -> None:
    """A one-line error when training ``spec`` would leave its network as initialised (a spec may say 0
    epochs: an imported untrained network's does)."""
    if spec.epochs < 1:
        raise NeuronInfoError(f"epochs = {spec.epochs} trains nothing; pass --epochs 1 or more "
                              "(to study an untrained network, save it and `neuroninfo import` it)")
