"""Forward time of a physically pruned network against the original, measured in the same run.

A 784-300-100-10 ReLU network (random weights; speed does not depend on their values), pruned by
``pipeline.prune.prune_model`` to several kept fractions (every layer by the same fraction); each is
timed on the same batch of inputs, interleaved with the original, median of several repeats.
Prints each pruned network's parameter count and forward time as ratios to the original.
"""
import argparse
import statistics
import time

import numpy as np
import torch

from pipeline.model import MLP
from pipeline.prune import n_params, prune_model
from pipeline.spec import NetworkSpec


def seconds(model: MLP, x: torch.Tensor, loops: int) -> float:
    with torch.no_grad():
        model(x)  # warm-up
        started = time.perf_counter()
        for _ in range(loops):
            model(x)
    return (time.perf_counter() - started) / loops


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--loops", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    spec = NetworkSpec(dataset="fashion-mnist", input_dim=784, n_classes=10, hidden_sizes=(300, 100))
    model = MLP(spec).eval()
    x = torch.rand(args.samples, 784)
    means = [np.zeros(m) for m in spec.hidden_sizes]
    print(f"784-300-100-10 ReLU, {args.samples} samples, {args.threads} thread(s), median of {args.repeats}")
    print(f"{'kept':>5} {'sizes':>9} {'params':>8} {'param ratio':>11} {'forward':>9} {'time ratio':>10}")
    for keep in (1.0, 0.75, 0.5, 0.25, 0.1):
        kept = [np.arange(max(1, int(round(keep * m)))) for m in spec.hidden_sizes]
        pruned = prune_model(model, kept, "mean", means)
        ratios, times = [], []
        for _ in range(args.repeats):
            t_orig = seconds(model, x, args.loops)
            t_pruned = seconds(pruned, x, args.loops)
            ratios.append(t_pruned / t_orig)
            times.append(t_pruned)
        sizes = "x".join(map(str, pruned.spec.hidden_sizes))
        print(f"{keep:>5} {sizes:>9} {n_params(pruned):>8} {n_params(pruned) / n_params(model):>11.3f} "
              f"{statistics.median(times) * 1e3:>7.2f}ms {statistics.median(ratios):>9.3f}x")


if __name__ == "__main__":
    main()
