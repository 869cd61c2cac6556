"""Capture throughput: writing a split's raw outputs + 1/2/3-bit codes to the Zarr store vs numpy.save.

Network: the fashion-mnist preset (784-300-100, random seeded weights); inputs: 10,000 validation
samples of Fashion-MNIST when installed, else uniform noise. Both sides write the same arrays to the
same disk (labels, raw outputs, and the 1/2/3-bit codes, quantizer fit included); the forward pass is
timed separately. Neither side fsyncs: both measure writing into the page cache. To keep the two
comparable, one untimed warm-up round runs first, every timed write starts from the same state
(previous outputs deleted, dirty pages flushed with os.sync(), garbage collected), and the two sides
alternate which goes first. Prints the median (and min-max) of --repeats (>= 5) runs, the CPU time
of all threads (robust to other load on the machine), and the ratio. A third line times only quantizing
and zstd-encoding the same chunks on all cores (no zarr, no files): the floor for any zstd store.
Goal: the store writes at >= 0.5x numpy.save's speed while compressed.
"""
import argparse
import gc
import os
import shutil
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
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
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per side (at least 5)")
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
    hidden_sizes = list(spec.hidden_sizes)

    def write_store(name: str) -> None:
        with act.building_store(wh, name) as root:
            act.write_raw(root, "val", labels, hidden_sizes, batches)
            for layer in range(1, len(hidden_sizes) + 1):
                act.write_codes(root, ["val"], layer, list(BITS), spec.activation, "uniform")
            root.attrs.update({"splits": ["val"], "layer_sizes": hidden_sizes, "bits": list(BITS), "method": "uniform"})

    def write_numpy(name: str) -> None:
        out = tmp / name
        out.mkdir()
        np.save(out / "labels.npy", labels)
        for layer, values in enumerate(raw, start=1):
            np.save(out / f"layer{layer}_raw.npy", values)
            for bits in BITS:
                np.save(out / f"layer{layer}_codes_b{bits}.npy", apply_thresholds(values, fit_thresholds(values, bits, spec.activation)))

    def encode_only(name: str) -> None:
        """The floor for any zstd store: quantize and zstd-encode the same chunks on all cores, write nothing."""
        codec = act.COMPRESSORS[0]._zstd_codec
        jobs = []
        for values in raw:
            cols = values.shape[1] if values.shape[1] <= act.WHOLE_LAYER_COLS else act.CHUNK_COLS
            thresholds = [fit_thresholds(values, bits, spec.activation) for bits in BITS]
            for r in range(0, len(values), act.CHUNK_ROWS):
                for c in range(0, values.shape[1], cols):
                    block = values[r : r + act.CHUNK_ROWS, c : c + cols]
                    jobs.append(lambda block=block: codec.encode(np.ascontiguousarray(block)))
                    jobs += [lambda block=block, t=t: codec.encode(apply_thresholds(block, t)) for t in thresholds]
        list(pool.map(lambda job: job(), jobs))

    def timed(write, name: str) -> tuple[float, float]:
        """Wall-clock and CPU seconds (all threads) of one write."""
        gc.collect()
        os.sync()  # start from a clean page cache: no writeback of earlier rounds during the timed write
        started, cpu = time.perf_counter(), time.process_time()
        write(name)
        return time.perf_counter() - started, time.process_time() - cpu

    pool = ThreadPoolExecutor(os.cpu_count())
    sides = {
        "store": (write_store, lambda name: wh.activations(name)),
        "numpy": (write_numpy, lambda name: tmp / name),
        "encode": (encode_only, None),
    }
    times = {side: [] for side in sides}
    cpu_times = {side: [] for side in sides}
    sizes = {}
    for r in range(-1, max(args.repeats, 5)):  # round -1 is the warm-up
        order = list(sides) if r % 2 else list(reversed(sides))
        for side in order:
            write, path = sides[side]
            seconds, cpu = timed(write, f"{side}{r}")
            if path is not None:
                sizes[side] = dir_size(path(f"{side}{r}"))
                shutil.rmtree(path(f"{side}{r}"))
            if r >= 0:
                times[side].append(seconds)
                cpu_times[side].append(cpu)
    store_times, numpy_times = times["store"], times["numpy"]
    store_cpu, numpy_cpu = statistics.median(cpu_times["store"]), statistics.median(cpu_times["numpy"])
    encode_s, encode_cpu = statistics.median(times["encode"]), statistics.median(cpu_times["encode"])

    store_s, numpy_s = statistics.median(store_times), statistics.median(numpy_times)
    store_bytes, numpy_bytes = sizes["store"], sizes["numpy"]

    def spread(ts: list[float]) -> str:
        return f"[{min(ts):.3f}-{max(ts):.3f}]"

    print(f"capture benchmark: {len(x):,} samples ({source}), layers {hidden_sizes}, bits {BITS}, {os.cpu_count()} cores, "
          f"median of {len(store_times)} (warm-up excluded, no fsync)")
    print(f"  forward pass                 {forward_s:8.3f} s   {len(x) / forward_s:12,.0f} samples/s")
    print(f"  zarr store (raw + codes)     {store_s:8.3f} s {spread(store_times)}   {raw_mb / store_s:8.1f} MB/s raw   {len(x) / store_s:10,.0f} samples/s   {store_bytes / 1e6:6.1f} MB on disk   cpu {store_cpu:.3f} s")
    print(f"  numpy.save (same arrays)     {numpy_s:8.3f} s {spread(numpy_times)}   {raw_mb / numpy_s:8.1f} MB/s raw   {len(x) / numpy_s:10,.0f} samples/s   {numpy_bytes / 1e6:6.1f} MB on disk   cpu {numpy_cpu:.3f} s")
    print(f"  zstd encode + quantize only  {encode_s:8.3f} s {spread(times['encode'])}   {raw_mb / encode_s:8.1f} MB/s raw   (no I/O, no zarr: the floor for a zstd store)   cpu {encode_cpu:.3f} s")
    print(f"  speed ratio store/numpy.save {numpy_s / store_s:8.2f}x  (goal >= 0.5x)   compression {numpy_bytes / store_bytes:.1f}x   "
          f"cpu-time ratio {numpy_cpu / store_cpu:.2f}x   load average {os.getloadavg()[0]:.1f}")
    print(f"  best ratio any zstd store could reach here (floor/numpy.save) {numpy_s / encode_s:.2f}x")
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
