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

ACTIVATIONS = ("relu", "sigmoid")
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

    def __post_init__(self):
        object.__setattr__(self, "hidden_sizes", tuple(int(h) for h in self.hidden_sizes))
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
        sizes = "x".join(str(h) for h in self.hidden_sizes)
        return "-".join([self.dataset, sizes, self.activation, self.regularizer, *self._differences()])

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
        unit = self.inputs == "unit"
        return json.dumps({k: v for k, v in asdict(self).items()
                           if not (unit and k in ("inputs", "input_mean", "input_std"))}, sort_keys=True)

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
    if spec.activation not in ACTIVATIONS:
        bad(f"unknown activation {spec.activation!r}", f"use one of {', '.join(ACTIVATIONS)}")
    if spec.regularizer not in REGULARIZERS:
        bad(f"unknown regularizer {spec.regularizer!r}", f"use one of {', '.join(REGULARIZERS)}")
    if not spec.hidden_sizes:
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


def preset_spec(
    dataset: str,
    input_dim: int,
    n_classes: int,
    activation: str = "relu",
    regularizer: str = "none",
    seed: int = 0,
    preset: str | None = None,
    **overrides,
) -> NetworkSpec:
    """A spec to train, from a preset (default: the dataset's own), applying dropout/L2 only where the
    regularizer uses them."""
    from pipeline.npz_data import canonical, is_npz

    dataset = canonical(dataset)
    key = preset or (dataset if dataset in PRESETS else "npz" if is_npz(dataset) else dataset.split("-")[0])
    if key not in PRESETS:
        raise NeuronInfoError(f"unknown preset {key!r}; use one of {', '.join(PRESETS)}")
    p = PRESETS[key]
    spec = NetworkSpec(
        dataset=dataset,
        input_dim=input_dim,
        n_classes=n_classes,
        hidden_sizes=p.hidden_sizes,
        activation=activation,
        regularizer=regularizer,
        dropout=p.dropout if regularizer in ("dropout", "dropout_bn") else 0.0,
        weight_decay=p.weight_decay if regularizer == "l2" else 0.0,
        seed=seed,
        epochs=p.epochs,
    )
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if "n_val" not in overrides:
        from pipeline.data import default_n_val

        overrides["n_val"] = default_n_val(dataset)
    spec = replace(spec, **overrides)
    sizes = [spec.input_dim, *spec.hidden_sizes, spec.n_classes]
    parameters = sum(a * b + b for a, b in zip(sizes, sizes[1:]))
    if parameters > MAX_PARAMETERS:  # checked before training allocates them
        raise NeuronInfoError(f"a {'-'.join(map(str, sizes))} network has {parameters:,} parameters, above the "
                              f"{MAX_PARAMETERS:,} this trains; use smaller hidden sizes (--hidden)")
    check_trainable(spec)
    return spec


def check_trainable(spec: NetworkSpec) -> None:
    """A one-line error when training ``spec`` would leave its network as initialised (a spec may say 0
    epochs: an imported untrained network's does)."""
    if spec.epochs < 1:
        raise NeuronInfoError(f"epochs = {spec.epochs} trains nothing; pass --epochs 1 or more "
                              "(to study an untrained network, save it and `neuroninfo import` it)")
