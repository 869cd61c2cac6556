"""Benchmark: the hooked ablation engine (``pipeline.hooked_ablation``) against a competent baseline, same run.

    python bench/bench_hooked_ablation.py [--samples 2000] [--steps 20] [--repeats 3] [--baseline-points 6]
                                          [--only cnn|vit]

Work per network: layer-scope orderings (a random permutation, low_first) of its first and its last unit
layer, k-grid ``--steps``, strategies zero and mean, on ``--samples`` random test samples (random weights:
speed does not depend on their values; labels are the clean predictions, so ablation moves the error).

- cnn: the CNN preset's shape: conv 32-64-128 (3x3, ReLU, 2x2 max pooling after each) on 28x28 grey
  input, Linear 1152->128, ReLU, Linear 128->10; unit layers the ReLUs of the first and last conv.
- vit: torchvision VisionTransformer(image_size=28, patch_size=7, 2 layers, 2 heads, hidden 32, mlp 64)
  on 3x28x28 input; unit layers the GELUs of the two MLP blocks (token units).

Baseline (what a careful user writes): per (ordering, strategy, k) a full forward pass over the samples in
batches (the fastest of BASELINE_BATCHES for its thread count, measured first) with plain forward hooks masking
the first k units. Its cost is the same for
every k, so it is timed on ``--baseline-points`` evenly spaced grid points per curve and extrapolated to the
whole grid; its error counts there are compared with the engine's. Timed with torch's threads on every core
the engine may use and with one thread; the ratio uses the better of the two (one-thread time / cores, i.e.
the curves split over the cores with perfect scaling), as bench/bench_ablation.py does. Engine (after an
untimed warm-up call) and baseline alternate within each repeat; medians of ``--repeats``. The engine is also
timed on each layer's curves alone (each call with its own clean pass).

Ceiling: the baseline's work / the engine's (one clean pass per sample, then per grid point everything outside
its cut), counted in multiply-adds (Conv2d, Linear, attention) and in the one-thread time share of the skipped
modules; the engine's copies of replayed outputs and its masking are not counted.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.ablation import Ordering, k_grid  # noqa: E402
from pipeline.hooked_ablation import Trace, hooked_ablation_curves  # noqa: E402
from pipeline.threads import choose_threads, torch_threads  # noqa: E402
from pipeline.units import output_means, unit_layers  # noqa: E402

STRATEGIES = ("zero", "mean")
BASELINE_BATCHES = (32, 64, 128, 256, 512)  # the baseline uses the fastest for its thread count


def cnn():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(64, 128, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Flatten(), nn.Linear(128 * 3 * 3, 128), nn.ReLU(), nn.Linear(128, 10)).eval()
    return net, (1, 28, 28), ["1", "7"]


def vit():
    from torchvision.models import VisionTransformer

    torch.manual_seed(0)
    net = VisionTransformer(image_size=28, patch_size=7, num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=64,
                            num_classes=10).eval()
    return net, (3, 28, 28), ["encoder.layers.encoder_layer_0.mlp.1", "encoder.layers.encoder_layer_1.mlp.1"]


CASES = {"cnn": cnn, "vit": vit}


def multiply_adds(network: nn.Module, sample: torch.Tensor) -> dict[str, float]:
    """Multiply-adds per sample of each Conv2d, Linear and MultiheadAttention call, by module path."""
    counts, handles = {}, []

    def count(path, module, args, output):
        if isinstance(module, nn.Conv2d):
            per_output = module.in_channels // module.groups * module.kernel_size[0] * module.kernel_size[1]
            counts[path] = output[0].numel() * per_output
        elif isinstance(module, nn.Linear):
            counts[path] = output[0].numel() * module.in_features
        elif isinstance(module, nn.MultiheadAttention):
            tokens, width = args[0].shape[1], args[0].shape[2]  # batch_first (N, T, D)
            counts[path] = 4 * tokens * width * width + 2 * tokens * tokens * width
    for path, module in network.named_modules():
        if isinstance(module, (nn.Conv2d, nn.Linear, nn.MultiheadAttention)):
            handles.append(module.register_forward_hook(lambda m, a, o, path=path: count(path, m, a, o)))
    try:
        with torch.no_grad():
            network(sample)
    finally:
        for handle in handles:
            handle.remove()
    return counts


def skipped_calls(network, layers, x, layer_index: int):
    """The module calls a grid point of this layer does not run (its cut), from the engine's trace."""
    trace = Trace(network, network, layers, x[:4])
    cut = trace.cut(frozenset({layers[layer_index - 1].path}))
    return trace, [trace.calls[p] for p in cut.replayed + cut.stand_ins]


def inside(call, calls) -> bool:
    return any(s.start <= call.start and call.end <= s.end for s in calls)


def skipped_fractions(network, layers, x, layer_index: int, batch: int) -> tuple[float, float]:
    """(fraction of the forward's multiply-adds, fraction of its time on one thread) that a grid point of
    this layer skips. The time is that spent inside the skipped modules' calls (timed by hooks)."""
    trace, skipped = skipped_calls(network, layers, x, layer_index)
    counts = multiply_adds(network, x[:1])
    macs = sum(n for path, n in counts.items() if inside(trace.calls[path], skipped)) / sum(counts.values())
    spent, started, handles = [0.0], {}, []
    for call in skipped:
        module = network.get_submodule(call.path)
        handles.append(module.register_forward_pre_hook(lambda m, a: started.__setitem__(m, time.perf_counter())))
        handles.append(module.register_forward_hook(
            lambda m, a, o: spent.__setitem__(0, spent[0] + time.perf_counter() - started[m])))
    try:
        with torch_threads(1), torch.no_grad():
            network(x[:batch])  # warm-up
            spent[0], t0 = 0.0, time.perf_counter()
            for s in range(0, len(x), batch):
                network(x[s : s + batch])
            total = time.perf_counter() - t0
    finally:
        for handle in handles:
            handle.remove()
    return macs, spent[0] / total


def ceiling(skipped: list[float], points: list[int]) -> float:
    """Baseline / engine work when a grid point of layer i skips the fraction skipped[i] of a forward pass,
    for points[i] grid points with k >= 1 per layer, plus one clean pass."""
    return sum(points) / (sum(n * (1 - f) for f, n in zip(skipped, points)) + 1)


def orderings_of(layers, picked: list[int]) -> list[Ordering]:
    rng = np.random.default_rng(0)
    out = []
    for l in picked:
        units = layers[l - 1].units
        rows = np.stack([np.full(units, l), rng.permutation(units)], 1).astype(np.int64)
        out.append(Ordering("layer", l, "random", None, "low_first", 0, rows))
    return out


@torch.no_grad()
def baseline_errors(model, layers, x, y, rows, k, means, batch) -> int:
    """A full forward pass over every sample (in batches) with plain hooks masking the first k units."""
    handles = []
    for l, layer in enumerate(layers, start=1):
        units = rows[:k][rows[:k, 0] == l, 1]
        if len(units):
            mask = layer.mask(units)
            fill = torch.zeros(()) if means is None else torch.as_tensor(means[l - 1], dtype=torch.float32)
            handles.append(model.get_submodule(layer.path).register_forward_hook(
                lambda m, a, out, mask=mask, fill=fill: torch.where(mask, fill, out)))
    try:
        return sum(int((model(x[s : s + batch]).argmax(1) != y[s : s + batch]).sum()) for s in range(0, len(x), batch))
    finally:
        for handle in handles:
            handle.remove()


@torch.no_grad()
def fastest_batch(model, x, threads: int) -> int:
    """The batch size (of BASELINE_BATCHES) with the fastest clean forward pass over x on ``threads`` threads."""
    seconds = {}
    with torch_threads(threads):
        model(x[:64])  # warm-up
        for batch in BASELINE_BATCHES:
            t0 = time.perf_counter()
            for s in range(0, len(x), batch):
                model(x[s : s + batch])
            seconds[batch] = time.perf_counter() - t0
    return min(seconds, key=seconds.get)


def timed(fn):
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - t0, time.process_time() - c0


def baseline_seconds(model, layers, x, y, orderings, grids, means, args, threads, batch, engine_errors) -> tuple:
    """(seconds per grid point of the baseline on ``threads`` threads, timed on --baseline-points points per
    curve; the largest difference from the engine's error counts there)."""
    spent, timed_points, differ = 0.0, 0, 0
    with torch_threads(threads):
        for o in orderings:
            grid = grids[id(o)]
            for strategy in STRATEGIES:
                for k in grid[np.linspace(0, len(grid) - 1, args.baseline_points).round().astype(int)]:
                    fill = None if strategy == "zero" else means
                    wrong, seconds, _ = timed(lambda: baseline_errors(model, layers, x, y, o.neurons, int(k), fill,
                                                                      batch))
                    spent += seconds
                    timed_points += 1
                    differ = max(differ, abs(wrong - engine_errors[(o.layer, strategy, int(k))]))
    return spent / timed_points, differ


def run_case(name, args):
    model, shape, paths = CASES[name]()
    g = torch.Generator().manual_seed(1)
    x = torch.rand(args.samples, *shape, generator=g)
    with torch.no_grad():
        y = torch.cat([model(x[s : s + 500]).argmax(1) for s in range(0, len(x), 500)])
    layers = [layer for layer in unit_layers(model, x[:2]) if layer.path in paths]
    means = output_means(model, model, layers, torch.rand(1000, *shape, generator=g))[1]
    orderings = orderings_of(layers, [1, len(layers)])
    cores = choose_threads(load_aware=False)
    grids = {id(o): k_grid(len(o.neurons), args.steps) for o in orderings}
    points = {o.layer: len(grids[id(o)]) * len(STRATEGIES) for o in orderings}
    n_points = sum(points.values())
    described = ", ".join(f"{l.path} ({l.units} {l.kind} units)" for l in layers)
    print(f"\n{name}: {args.samples:,} samples, layers {described}; {len(orderings)} orderings x "
          f"{len(STRATEGIES)} strategies, steps={args.steps}: {n_points} grid points; "
          f"{cores} cores", flush=True)
    batches = {threads: fastest_batch(model, x, threads) for threads in (cores, 1)}
    print(f"  baseline batch sizes (fastest clean forward pass): {batches[cores]} with {cores} threads, "
          f"{batches[1]} with 1", flush=True)

    def engine(part):
        return hooked_ablation_curves(model, model, layers, x, y, part, STRATEGIES, means, args.steps,
                                      batch_size=args.batch_size)

    hooked_ablation_curves(model, model, layers, x[:64], y[:64], orderings, STRATEGIES, means, 2)  # warm-up
    wall, cpu, alone, per_point, differ = [], [], {o.layer: [] for o in orderings}, {cores: [], 1: []}, 0
    for repeat in range(args.repeats):
        table, seconds, cpu_seconds = timed(lambda: engine(orderings))
        wall.append(seconds)
        cpu.append(cpu_seconds)
        for o in orderings:  # each layer's curves alone (with their own clean pass)
            alone[o.layer].append(timed(lambda: engine([o]))[1])
        mine = {(r["layer"], r["strategy"], r["n_ablated"]): round(r["test_error"] * args.samples)
                for r in table.to_pylist()}
        for threads in per_point:
            seconds, worst = baseline_seconds(model, layers, x, y, orderings, grids, means, args, threads,
                                              batches[threads], mine)
            per_point[threads].append(seconds)
            differ = max(differ, worst)
        print(f"  repeat {repeat + 1}: engine {wall[-1]:.1f} s ({cpu[-1]:.1f} CPU s; layers alone "
              f"{', '.join(f'{alone[l][-1]:.1f} s' for l in alone)}); baseline {per_point[cores][-1] * n_points:.1f} s "
              f"with {cores} threads, {per_point[1][-1] * n_points:.1f} s with 1 (extrapolated); load "
              f"{os.getloadavg()[0]:.1f}", flush=True)
    med = statistics.median
    best = min(med(per_point[cores]), med(per_point[1]) / cores)  # seconds per grid point
    print(f"{name}: median engine {med(wall):.1f} s ({med(cpu):.1f} CPU s), baseline "
          f"{med(per_point[cores]) * n_points:.1f} s ({cores} threads) / {med(per_point[1]) * n_points:.1f} s "
          f"(1 thread) -> best {best * n_points:.1f} s; "
          f"ratio {best * n_points / med(wall):.1f}x; CPU ratio (1-thread baseline / engine CPU s) "
          f"{med(per_point[1]) * n_points / med(cpu):.1f}x; largest difference in misclassified samples at the "
          f"baseline's points: {differ}")
    fractions, counts = [], []
    for o in orderings:
        l = o.layer
        macs, share = skipped_fractions(model, layers, x, l, batches[1])
        fractions.append((macs, share))
        counts.append(points[l] - len(STRATEGIES))  # grid points with k >= 1
        print(f"  layer {layers[l - 1].path} alone: median engine {med(alone[l]):.1f} s, baseline (best) "
              f"{best * points[l]:.1f} s: ratio {best * points[l] / med(alone[l]):.1f}x; a grid point skips {macs:.1%} "
              f"of the forward's multiply-adds, {share:.1%} of its time (1 thread): ceiling "
              f"{ceiling([macs], counts[-1:]):.1f}x (multiply-adds) / {ceiling([share], counts[-1:]):.1f}x (time)")
    print(f"  ceiling for the whole work (one clean pass per sample, then each grid point from its cut): "
          f"{ceiling([f[0] for f in fractions], counts):.1f}x (multiply-adds), "
          f"{ceiling([f[1] for f in fractions], counts):.1f}x (time shares)")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=2000)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--baseline-points", type=int, default=6, help="grid points per curve the baseline is timed on")
    ap.add_argument("--batch-size", type=int, default=256, help="the engine's batch_size")
    ap.add_argument("--only", choices=sorted(CASES), default=None)
    args = ap.parse_args(argv)
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    for name in [args.only] if args.only else list(CASES):
        run_case(name, args)


if __name__ == "__main__":
    main()
