"""Capture of a network's units by hooks (conv channels, transformer neurons) against plain forward passes.

    python bench/bench_capture_units.py [--arch cnn|vit|both] [--samples N] [--repeats R]

The cnn preset (conv 32-64-128, dense 128) and the vit preset (4 layers, width 64, MLP 128, patch 7) on
1x28x28 inputs (Fashion-MNIST's shape), seeded random weights, N uniform-noise samples per split. Sides,
alternating order round by round after one untimed warm-up:

- forward: the reference a careful user would write: the model over the val, test and train samples in
  batches of 500 under ``torch.no_grad`` (what any capture must at least compute), nothing kept;
- capture: ``neuroninfo capture`` of the same samples (flows.stages.capture_run: hooks read every unit layer
  of val and test, stream them to the Zarr store, fit and write 1/2/3-bit codes, and one pass over train
  for the mean per unit and the mean output map). The goal: capture <= 2x forward.

Prints medians (min-max) of the seconds and the ratio, and the load average.
"""
import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flows.stages import capture_run, register_run  # noqa: E402
from pipeline.architectures import build  # noqa: E402
from pipeline.data import Dataset, Split  # noqa: E402
from pipeline.spec import preset_spec  # noqa: E402
from store.checkpoints import save_checkpoint  # noqa: E402
from store.paths import open_warehouse  # noqa: E402


def dataset(n: int) -> Dataset:
    g = torch.Generator().manual_seed(0)

    def split():
        return Split(torch.rand(n, 784, generator=g), torch.randint(0, 10, (n,), generator=g))

    return Dataset("fashion-mnist", 10, 784, split(), split(), split())


@torch.no_grad()
def forward(model, data: Dataset) -> None:
    model.eval()
    for split in (data.val, data.test, data.train):
        for start in range(0, len(split.x), 500):
            model(split.x[start : start + 500])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", choices=("cnn", "vit", "both"), default="both")
    parser.add_argument("--samples", type=int, default=5000, help="samples per split (val, test, train)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    data = dataset(args.samples)
    print(f"{os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} torch threads, "
          f"{args.samples:,} samples per split")
    for arch in (("cnn", "vit") if args.arch == "both" else (args.arch,)):
        spec = preset_spec("fashion-mnist", 784, 10, arch=arch, epochs=1, inputs="unit", n_val=args.samples)
        torch.manual_seed(0)
        model = build(spec).eval()
        with tempfile.TemporaryDirectory() as root, mock.patch("flows.stages.data_of", lambda spec, data_dir=None: data):
            wh = open_warehouse(root)
            run_id = save_checkpoint(wh, model)
            register_run(wh, run_id, model, data)

            sides = {"forward": lambda: forward(model, data), "capture": lambda: capture_run(wh, run_id, bits=(1, 2, 3))}
            times = {name: [] for name in sides}
            sides["capture"]()  # warm-up
            for round_ in range(args.repeats):
                for name in (list(sides) if round_ % 2 == 0 else list(sides)[::-1]):
                    shutil.rmtree(wh.activations(run_id), ignore_errors=True)  # a fresh store each round, untimed
                    started = time.perf_counter()
                    sides[name]()
                    times[name].append(time.perf_counter() - started)
        med = {name: statistics.median(t) for name, t in times.items()}
        for name, t in times.items():
            print(f"{arch} {name:8s} {med[name]:7.2f} s  ({min(t):.2f}-{max(t):.2f})")
        print(f"{arch} capture / forward = {med['capture'] / med['forward']:.2f}  (goal <= 2)")
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
