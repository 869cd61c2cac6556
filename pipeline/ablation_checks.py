"""Validation of the ablation engine's inputs: each failure is one NeuronInfoError line saying what and how to fix."""
from __future__ import annotations

import numpy as np

from pipeline.errors import NeuronInfoError
from pipeline.options import MAX_RANDOM_REPEATS, ORDERINGS, SCOPES, STRATEGIES  # noqa: F401 - the choices, re-exported for pipeline.ablation


def ablation_error(what: str, fix: str) -> NeuronInfoError:
    """The error to raise: ``ablation: <what>; <fix>``."""
    return NeuronInfoError(f"ablation: {what}; {fix}")


def check_options(strategies: tuple, steps, chunk_budget_mb) -> None:
    for strategy in strategies:
        if strategy not in STRATEGIES:
            raise ablation_error(f"unknown strategy {strategy!r}", f"use one of {', '.join(STRATEGIES)}")
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1):
        raise ablation_error(f"steps = {steps!r}", "use an integer >= 1, or steps=None for every k")
    if isinstance(chunk_budget_mb, bool) or not isinstance(chunk_budget_mb, (int, float)) or not chunk_budget_mb > 0:
        raise ablation_error(f"chunk_budget_mb = {chunk_budget_mb!r}", "use a positive number of megabytes")


def check_scopes(scopes: tuple) -> None:
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown or not scopes:
        raise ablation_error(f"scopes {','.join(map(str, scopes)) or '(none)'}", f"use one or both of {', '.join(SCOPES)}")


def check_random_repeats(random_repeats) -> None:
    if isinstance(random_repeats, bool) or not isinstance(random_repeats, (int, np.integer)) or not 0 <= random_repeats <= MAX_RANDOM_REPEATS:
        raise ablation_error(f"random_repeats = {random_repeats!r}", f"use an integer in 0 .. {MAX_RANDOM_REPEATS}")


def check_ordering(ordering, sizes: list[int], steps: int | None) -> np.ndarray:
    """The ordering's (layer, neuron) rows as int64, after checking them against the hidden layer sizes."""
    o = ordering
    name = f"ordering ({o.scope}, layer={o.layer}, {o.measure}, {o.ordering}, repeat={o.repeat})"
    n_layers = len(sizes)
    if o.scope not in SCOPES:
        raise ablation_error(f"unknown scope {o.scope!r} in {name}", f"use one of {', '.join(SCOPES)}")
    if o.ordering not in ORDERINGS:
        raise ablation_error(f"unknown ordering {o.ordering!r} in {name}", f"use one of {', '.join(ORDERINGS)}")
    if o.scope == "layer":
        if not isinstance(o.layer, (int, np.integer)) or not 1 <= o.layer <= n_layers:
            raise ablation_error(f"{name} names hidden layer {o.layer!r}", f"use a hidden layer 1..{n_layers}")
    elif o.layer is not None:
        raise ablation_error(f"{name} has scope 'network' but layer {o.layer!r}", "use layer=None for network scope")
    rows = np.asarray(o.neurons)
    if rows.ndim != 2 or rows.shape[1] != 2 or not np.issubdtype(rows.dtype, np.integer):
        raise ablation_error(f"{name}: neurons has shape {rows.shape} and dtype {rows.dtype}",
                             "give an int64 array of (layer, neuron) rows, shape (n, 2)")
    if len(rows) == 0:
        raise ablation_error(f"{name} has no neurons", "give at least one (layer, neuron) row")
    rows = rows.astype(np.int64)
    layers, neurons = rows[:, 0], rows[:, 1]
    if layers.min() < 1 or layers.max() > n_layers:
        wrong = int(layers.min() if layers.min() < 1 else layers.max())
        raise ablation_error(f"{name} has neuron rows in layer {wrong}", f"use hidden layers 1..{n_layers}")
    width = np.asarray(sizes, dtype=np.int64)[layers - 1]
    outside = (neurons < 0) | (neurons >= width)
    if outside.any():
        i = int(np.argmax(outside))
        raise ablation_error(
            f"{name} has neuron {int(neurons[i])} out of range for layer {int(layers[i])} of width {int(width[i])}",
            "use 0-based neuron indices below the layer width")
    if o.scope == "layer" and (layers != o.layer).any():
        i = int(np.argmax(layers != o.layer))
        raise ablation_error(f"{name} contains neuron ({int(layers[i])}, {int(neurons[i])}) from another layer",
                             f"give only neurons of layer {o.layer} in a layer-scope ordering")
    flat = np.concatenate([[0], np.cumsum(sizes)])[layers - 1] + neurons
    if len(np.unique(flat)) != len(flat):
        _, first, counts = np.unique(flat, return_index=True, return_counts=True)
        i = int(first[np.argmax(counts > 1)])
        raise ablation_error(f"{name} repeats neuron ({int(layers[i])}, {int(neurons[i])})",
                             "list every neuron at most once")
    return rows  # steps above the ordering's length: every k (pipeline.ablation.k_grid clamps)


def check_means(means, sizes: list) -> list[np.ndarray]:
    """One float64 array of training-set means per hidden layer, checked for shape and finiteness: ``sizes``
    holds each layer's width (an array of that many means) or its per-sample output shape (a mean map)."""
    if means is None:
        raise ablation_error("strategy 'mean' needs the training-set means", "pass means=[one array per hidden layer]")
    means = list(means)
    if len(means) != len(sizes):
        raise ablation_error(f"means has {len(means)} arrays but the network has {len(sizes)} hidden layers",
                             "pass one array of training-set means per hidden layer")
    out = []
    for layer, (values, size) in enumerate(zip(means, sizes), start=1):
        arr = np.asarray(values, dtype=np.float64)
        if isinstance(size, tuple) and arr.shape != size:
            raise ablation_error(f"means for layer {layer} has shape {arr.shape} but the layer's outputs have "
                                 f"shape {size}", f"pass layer {layer}'s mean output map (pipeline.units.output_means)")
        if not isinstance(size, tuple) and arr.shape != (size,):
            raise ablation_error(f"means for layer {layer} has shape {arr.shape} but the layer has {size} neurons",
                                 f"pass an array of {size} means for layer {layer}")
        if not np.isfinite(arr).all():
            raise ablation_error(f"means for layer {layer} has non-finite values", "pass finite training-set means")
        out.append(arr)
    return out


def check_data(x, y, input_dim: int | None = None) -> None:
    """Test inputs (N x input_dim; any (N, ...) shape when ``input_dim`` is None) and one label per sample."""
    if x.ndim == 0 or (input_dim is not None and (x.ndim != 2 or x.shape[1] != input_dim)):
        width = "..." if input_dim is None else input_dim
        raise ablation_error(f"x has shape {tuple(x.shape)}", f"pass test inputs of shape (N, {width})")
    if y.ndim != 1 or len(y) != len(x) or len(y) == 0:
        raise ablation_error(f"y has shape {tuple(y.shape)} for x of shape {tuple(x.shape)}",
                             "pass one label per test sample (N >= 1)")
