"""The cumulative ablation engine's public API (docs/measures.md, "Ablation"; view ``ablation_curves``).

Ablating neuron j of hidden layer l sets its output (the activation's output) to 0 (``zero``) or to
its training-set mean (``mean``). A curve ablates the first k neurons of an ordering, for every k
of a grid, and records the test error. How it is fast: ``pipeline.ablation_kernel`` (incremental
rank-1 updates from cached clean activations) and ``pipeline.ablation_schedule`` (sample chunks on
worker threads); inputs are checked in ``pipeline.ablation_checks``.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import torch

from pipeline.ablation_checks import ORDERINGS, SCOPES, STRATEGIES, check_data, check_means, check_options, check_ordering
from pipeline.ablation_kernel import CleanPass, FoldedNet, Plan, Workspace, chunk_errors
from pipeline.ablation_schedule import choose_layout, run_items
from pipeline.device import resolve_device
from pipeline.errors import NeuronInfoError
from pipeline.threads import stage_threads

__all__ = ["CURVE_COLUMNS", "ORDERINGS", "SCOPES", "STRATEGIES", "Ordering", "ablation_curves", "k_grid",
           "random_orderings"]

# the columns of the table ablation_curves returns, in plain Arrow types (the warehouse view adds run_id)
CURVE_COLUMNS = {"scope": pa.string(), "layer": pa.int64(), "measure": pa.string(), "bits": pa.int64(),
                 "estimator": pa.string(), "ordering": pa.string(), "strategy": pa.string(), "repeat": pa.int64(), "n_ablated": pa.int64(),
                 "frac_ablated": pa.float64(), "test_error": pa.float64()}


@dataclass(frozen=True, eq=False)
class Ordering:
    """One ordering of neurons to ablate cumulatively (the first k rows of ``neurons``)."""

    scope: str  # 'layer' | 'network'
    layer: int | None  # 1-based hidden layer for scope 'layer', None for 'network'
    measure: str  # e.g. 'mutual_info'; 'random' for random orderings
    bits: int | None  # None for random orderings
    ordering: str  # 'low_first' | 'high_first' | 'random'
    repeat: int  # random seed for random orderings, else 0
    neurons: np.ndarray  # int64 (n, 2): rows (layer 1-based, neuron 0-based) in ablation order
    estimator: str = "plugin"  # the estimator of the values ranked (pipeline/estimators.py); plugin for random


def random_orderings(hidden_sizes, repeats: int = 5) -> list[Ordering]:
    """Random orderings with seeds 0..repeats-1: per seed, one per hidden layer, then one network-wide.

    Layer l with seed r is ``default_rng(r).permutation(M_l)``; the network ordering is
    ``default_rng(r).permutation(sum M_l)`` over the hidden neurons numbered layer by layer.
    """
    sizes = [int(m) for m in hidden_sizes]
    if repeats < 0:
        raise NeuronInfoError(f"random repeats = {repeats}; use a number >= 0")
    every = np.concatenate([np.stack([np.full(width, layer), np.arange(width)], 1)
                            for layer, width in enumerate(sizes, start=1)]).astype(np.int64)
    out = []
    for seed in range(repeats):
        for layer, width in enumerate(sizes, start=1):
            permutation = np.random.default_rng(seed).permutation(width)
            rows = np.stack([np.full(width, layer), permutation], 1).astype(np.int64)
            out.append(Ordering("layer", layer, "random", None, "random", seed, rows))
        permutation = np.random.default_rng(seed).permutation(len(every))
        out.append(Ordering("network", None, "random", None, "random", seed, every[permutation]))
    return out


def k_grid(n: int, steps: int | None = None) -> np.ndarray:
    """The numbers of ablated neurons evaluated: 0..n, or steps+1 roughly even integers from 0 to n
    (every k when steps >= n: the grid is clamped per ordering)."""
    if steps is None:
        return np.arange(n + 1, dtype=np.int64)
    return np.unique(np.floor(np.linspace(0, n, steps + 1) + 0.5).astype(np.int64))


def ablation_curves(
    model,
    x,
    y,
    orderings: list[Ordering],
    strategies=("zero", "mean"),
    means: list[np.ndarray] | None = None,
    steps: int | None = None,
    chunk_budget_mb: int = 256,
    on_curve: Callable[[], None] | None = None,
    device: str | torch.device = "cpu",
) -> pa.Table:
    """Test error after cumulatively ablating each ordering, for each strategy and k in the grid.

    ``x`` (N x input_dim) and ``y`` (N,) are the test split; ``means`` (strategy 'mean') holds one
    array of training-set mean outputs per hidden layer. ``steps=None`` evaluates every k = 0..n,
    ``steps=S`` evaluates S+1 roughly even integers from 0 to n. Returns a table with the columns
    ``CURVE_COLUMNS``, one row per (ordering, strategy, k), in plain Arrow types (string, int64,
    double): the caller casts it to the warehouse schema (``store.tables.write_partition`` does).

    Uses ``pipeline.threads.choose_threads(load_aware=False)`` cores (worker threads); torch's thread count is set only
    while the call runs and is then restored to exactly what it was. ``on_curve()`` is called as each
    (ordering, strategy) curve is finished (for progress reports), from a worker thread. ``device``
    (``pipeline.device.resolve_device``) holds the weights and activations; one worker on a GPU.
    """
    device = resolve_device(device)
    net = FoldedNet(model, device)
    strategies = tuple(strategies)
    check_options(strategies, steps, chunk_budget_mb)
    mean_arrays = check_means(means, net.sizes) if "mean" in strategies else None
    rows_of = [check_ordering(o, net.sizes, steps) for o in orderings]
    x = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
    y = torch.as_tensor(np.asarray(y) if not isinstance(y, torch.Tensor) else y)
    check_data(x, y, net.input_dim)
    if not orderings or not strategies:
        return curve_table([], [], 0)
    x = x.detach().to(device, net.dtype).contiguous()
    y = y.detach().to(device, torch.int64)
    plans = [Plan(net, rows, k_grid(len(rows), steps)) for rows in rows_of]
    fills = {"zero": None}
    if mean_arrays is not None:
        fills["mean"] = {l: torch.as_tensor(m, dtype=net.dtype).to(device) for l, m in enumerate(mean_arrays, start=1)}
    # its workers never wait for each other, so a busy core slows one of them, not all: the cores
    # are shared with concurrent stages but not given up to other load (docs/benchmarks.md)
    with stage_threads(load_aware=False) as cores, torch.no_grad():
        cores = cores if device.type == "cpu" else 1
        errors = _count_errors(net, CleanPass(net, x), y, plans, strategies, fills, cores, chunk_budget_mb, on_curve)
    jobs = [(o, p.grid, s) for o, p in zip(orderings, plans) for s in strategies]
    return curve_table(jobs, errors, len(y))


def _count_errors(net, clean, y, plans, strategies, fills, cores, chunk_budget_mb, on_curve=None) -> list[np.ndarray]:
    """Misclassified test samples per (plan, strategy) job and grid point, over every sample chunk."""
    jobs = [(p, s) for p in plans for s in strategies]
    n_samples = len(y)
    lowest = min(p.lowest for p in plans)
    itemsize = torch.empty(0, dtype=net.dtype).element_size()
    widths = [net.width(m + 1) for m in range(lowest, net.n_hidden + 1)]
    layout = choose_layout(widths, itemsize, len(jobs), n_samples, max(len(p.grid) for p in plans), cores,
                           chunk_budget_mb)
    items = [(i, first) for i in range(len(jobs)) for first in range(0, n_samples, layout.chunk)]
    errors = [np.zeros(len(p.grid), dtype=np.int64) for p, _ in jobs]
    chunks_left = [len(range(0, n_samples, layout.chunk))] * len(jobs)
    lock = threading.Lock()

    def work(workspace: Workspace, item) -> None:
        i, first = item
        plan, strategy = jobs[i]
        count = chunk_errors(net, clean, y, plan, fills[strategy], workspace, first,
                             min(layout.chunk, n_samples - first))
        with lock:
            errors[i] += count
            chunks_left[i] -= 1
            finished = chunks_left[i] == 0
        if finished and on_curve is not None:
            on_curve()

    run_items(work, items, layout.workers, lambda: Workspace(net, lowest, layout.block, layout.chunk, net.dtype))
    return errors


def curve_table(jobs, errors, n_samples) -> pa.Table:
    """One row per (ordering, strategy, grid k), columns ``CURVE_COLUMNS``: ``jobs`` are (ordering, grid,
    strategy), ``errors`` the misclassified samples per job and grid point, out of ``n_samples``."""
    columns = {name: [] for name in CURVE_COLUMNS}
    for (o, grid, strategy), wrong in zip(jobs, errors):
        points, n = len(grid), int(grid[-1])
        columns["scope"] += [o.scope] * points
        columns["layer"] += [None if o.scope == "network" else int(o.layer)] * points
        columns["measure"] += [o.measure] * points
        columns["bits"] += [None if o.bits is None else int(o.bits)] * points
        columns["estimator"] += [o.estimator] * points
        columns["ordering"] += [o.ordering] * points
        columns["strategy"] += [strategy] * points
        columns["repeat"] += [int(o.repeat)] * points
        columns["n_ablated"].append(grid)
        columns["frac_ablated"].append(grid / n)
        columns["test_error"].append(wrong / n_samples)
    for name in ("n_ablated", "frac_ablated", "test_error"):
        columns[name] = np.concatenate(columns[name]) if columns[name] else []
    return pa.table({name: pa.array(columns[name], type=kind) for name, kind in CURVE_COLUMNS.items()})
