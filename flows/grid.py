"""A grid of networks (activations x regularizers x seeds of a preset), every choice checked before any work."""
from __future__ import annotations

import itertools
import json
from pathlib import Path

from pipeline.data import DEFAULT_N_VAL, check_available, dataset_shape
from pipeline.errors import NeuronInfoError
from pipeline.options import STRATEGIES
from pipeline.progress import note
from pipeline.quantize import check_bits
from pipeline.spec import BUILTIN, NetworkSpec, preset_spec

EXAMPLES = dict(activations="relu", regularizers="dropout", seeds="0", bits="1,2,3", strategies="zero,mean")


def grid_specs(
    preset: str,
    dataset: str | None,
    hidden_sizes: list[int] | None,
    activations: list[str],
    regularizers: list[str],
    seeds: list[int],
    epochs: int | None,
    n_val: int | None,
    bits: list[int],
    strategies: list[str],
    data_dir: str | Path | None = None,
    inputs: str = "standardized",
    arch: str = "mlp",
    arch_kwargs: str | None = None,
) -> list[NetworkSpec]:
    """Every network of the grid, each choice checked (a one-line error) before any work or server starts."""
    dataset = dataset or preset
    input_dim, n_classes = dataset_shape(dataset)
    for name, values in (("activations", activations), ("regularizers", regularizers), ("seeds", seeds), ("bits", bits),
                         ("strategies", strategies)):
        if not values:
            raise NeuronInfoError(f"no {name} given; pass at least one, e.g. --{name} {EXAMPLES[name]}")
    for b in bits:
        check_bits(b)
    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown:
        raise NeuronInfoError(f"unknown strategy {unknown[0]!r}; use one of {', '.join(STRATEGIES)}")
    kwargs = json.loads(arch_kwargs) if arch_kwargs else None
    if arch not in ("mlp", "cnn"):  # an architecture with its own activations
        activations = [BUILTIN]
    specs = [
        preset_spec(dataset, input_dim, n_classes, activation=a, regularizer=r, seed=s, preset=preset,
                    hidden_sizes=hidden_sizes, epochs=epochs, n_val=n_val, inputs=inputs, arch=arch, arch_kwargs=kwargs)
        for a, r, s in itertools.product(dict.fromkeys(activations), dict.fromkeys(regularizers), dict.fromkeys(seeds))
    ]
    check_available(dataset, data_dir, specs[0].n_val)
    say_adapted_n_val(specs[0], n_val)
    return specs


def say_adapted_n_val(spec: NetworkSpec, given: int | None) -> None:
    """Tell the user when the validation split was shrunk to fit a small training set."""
    if given is None and spec.n_val < DEFAULT_N_VAL:
        note(f"{spec.dataset}: validation split of {spec.n_val} samples (a sixth of its training set; "
             f"the default {DEFAULT_N_VAL:,} does not fit); pass --n-val to choose")
