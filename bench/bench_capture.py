"""Capture throughput: writing a split's raw outputs + 1/2/3-bit codes to the Zarr store vs numpy.save.

Network: the fashion-mnist preset (784-300-100, random seeded weights); inputs: 10,000 validation
samples of Fashion-MNIST when installed, else uniform noise. Both sides write the same arrays to the
same disk; the forward pass is timed separately. Prints medians of 5 repeats and the ratio.
Goal: the store writes at >= 0.5x numpy.save's speed while compressed.
"""
import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from pipeline.activations import hidden_outputs
from pipeline.model import MLP
from pipeline.quantize import apply_thresholds, fit_thresholds
from pipeline.spec import preset_spec
from store import activations as act
from store.paths import open_warehouse

BITS = (1, 2, 3)


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count())
    spec = preset_spec("fashion-mnist", 784, 10, regularizer="dropout")
    torch.manual_seed(0)
    model = MLP(spec).eval()
    try:
        from pipeline.data import load_dataset
        x = load_dataset("fashion-mnist").val.x[: args.samples]
        source = "Fashion-MNIST validation"
    except Exception:
        x = torch.rand(args.samples, 784)
        source = "uniform noise"
    labels = np.zeros(len(x), dtype=np.uint8)

    started = time.perf_counter()
    batches = list(hidden_outputs(model, x))
    forward_s = time.perf_counter() - started
    raw = [np.concatenate([b[1][i] for b in batches]) for i in range(model.n_hidden)]
    raw_mb = sum(a.nbytes for a in raw) / 1e6

    tmp = Path(tempfile.mkdtemp(prefix="bench_capture_"))
    wh = open_warehouse(tmp / "wh")
    store_times, numpy_times = [], []
    for r in range(args.repeats):
        started = time.perf_counter()
        with act.building_store(wh, f"bench{r}") as root:
            act.write_raw(root, "val", labels, list(spec.hidden_sizes), batches)
            for layer in (1, 2):
                act.write_codes(root, ["val"], layer, list(BITS), spec.activation, "uniform")
            root.attrs.update({"splits": ["val"], "layer_sizes": list(spec.hidden_sizes), "bits": list(BITS), "method": "uniform"})
        store_times.append(time.perf_counter() - started)

        out = tmp / f"npy{r}"
        out.mkdir()
        started = time.perf_counter()
        np.save(out / "labels.npy", labels)
        for layer, values in enumerate(raw, start=1):
            np.save(out / f"layer{layer}_raw.npy", values)
            for bits in BITS:
                np.save(out / f"layer{layer}_codes_b{bits}.npy", apply_thresholds(values, fit_thresholds(values, bits, "relu")))
        numpy_times.append(time.perf_counter() - started)

    store_s, numpy_s = statistics.median(store_times), statistics.median(numpy_times)
    store_bytes, numpy_bytes = dir_size(wh.activations("bench0")), dir_size(tmp / "npy0")
    print(f"capture benchmark: {len(x):,} samples ({source}), layers {list(spec.hidden_sizes)}, bits {BITS}, {os.cpu_count()} cores")
    print(f"  forward pass                 {forward_s:8.3f} s   {len(x) / forward_s:12,.0f} samples/s")
    print(f"  zarr store (raw + codes)     {store_s:8.3f} s   {raw_mb / store_s:8.1f} MB/s raw   {len(x) / store_s:10,.0f} samples/s   {store_bytes / 1e6:6.1f} MB on disk")
    print(f"  numpy.save (same arrays)     {numpy_s:8.3f} s   {raw_mb / numpy_s:8.1f} MB/s raw   {len(x) / numpy_s:10,.0f} samples/s   {numpy_bytes / 1e6:6.1f} MB on disk")
    print(f"  speed ratio store/numpy.save {numpy_s / store_s:8.2f}x  (goal >= 0.5x)   compression {numpy_bytes / store_bytes:.1f}x")
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
