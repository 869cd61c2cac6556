"""Training throughput per preset (samples/s) against a plain DataLoader loop measured in the same run.

Random inputs of each preset's shape (the speed does not depend on the pixels); the same network,
optimizer and batch size on both sides. The reference iterates a torch DataLoader over a
TensorDataset (shuffle, batch 64, no workers), the textbook loop.
"""
import argparse
import os
import time

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from pipeline.data import Dataset, Split
from pipeline.model import MLP
from pipeline.spec import preset_spec
from pipeline.train import train

SHAPES = {"mnist": (784, 10), "fashion-mnist": (784, 10), "cifar10": (3072, 10)}


def reference_seconds(spec, x, y) -> float:
    torch.manual_seed(spec.seed)
    model = MLP(spec).train()
    optimizer = torch.optim.RMSprop(model.parameters(), lr=spec.lr, momentum=spec.momentum)
    loss_fn = nn.CrossEntropyLoss()
    started = time.perf_counter()
    for xb, yb in DataLoader(TensorDataset(x, y), batch_size=spec.batch_size, shuffle=True):
        loss = loss_fn(model(xb), yb)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=20_000)
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count())
    print(f"training throughput, {args.samples:,} samples per epoch, {os.cpu_count()} cores, batch 64, RMSProp, "
          f"load average {os.getloadavg()[0]:.1f}")
    warm = preset_spec("mnist", 784, 10, epochs=1)  # untimed: thread pools and allocator warm up
    wx, wy = torch.rand(2000, 784), torch.randint(0, 10, (2000,))
    train(warm, Dataset("warm-up", 10, 784, Split(wx, wy), Split(wx, wy), Split(wx, wy)), progress=False)
    reference_seconds(warm, wx, wy)
    for preset, (dim, k) in SHAPES.items():
        spec = preset_spec(preset, dim, k, regularizer="dropout", epochs=1)
        x, y = torch.rand(args.samples, dim), torch.randint(0, k, (args.samples,))
        small = Split(x[:1000], y[:1000])
        data = Dataset(preset, k, dim, Split(x, y), small, small)
        started = time.perf_counter()
        train(spec, data, progress=False)
        ours = time.perf_counter() - started
        ref = reference_seconds(spec, x, y)
        sizes = "-".join(str(h) for h in (dim, *spec.hidden_sizes, k))
        print(f"  {preset:14s} {sizes:24s} {args.samples / ours:10,.0f} samples/s   reference {args.samples / ref:10,.0f} samples/s   ratio {ref / ours:5.2f}x")


if __name__ == "__main__":
    main()
