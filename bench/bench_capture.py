"""Capture: writing a split's raw outputs + 1/2/3-bit codes to the Zarr store, against references timed in the same run.

    python bench/bench_capture.py [--case fashion|cifar10|both] [--samples N] [--repeats R] [--public]

Cases: the fashion-mnist preset (784-300-100) and the cifar10 preset (3072-1024-512-512-512), random seeded
weights, 10,000 uniform-noise inputs. Sides, alternating order round by round after one untimed warm-up,
each starting from a synced page cache (no fsync inside: every side writes into the page cache):

- forward: the forward pass that produces the outputs (``hidden_outputs``, torch on every core);
- capture: that forward pass streamed into the store (``write_raw``) + the codes (``write_codes``), as
  ``neuroninfo capture`` does it: the goal is <= 2x the forward pass;
- store: the same writes from outputs already in memory;
- encode: the floor a careful user would measure: fit the quantizers, quantize and encode every chunk of
  the same arrays with the store's own codecs called directly (numcodecs Blosc/Zstd + google_crc32c) on a
  thread pool over every core; no zarr, no files. Goal: store <= 2x encode;
- numpy.save of the same arrays (uncompressed, quantizing included), for scale.

``--public`` adds zarr's public API for the same writes (``array[chunk] = values`` from the store's thread
pool, in place of its chunk writer on zarr internals; and ``array[...] = values`` of whole arrays) and times
reading every array back (read_array against ``array[...]`` + a stored-chunk count): the references for the
private-path decision in store/zarr_format.py. Prints medians (min-max) and the load average.
"""
import argparse
import gc
import os
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import google_crc32c
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.activations import hidden_outputs  # noqa: E402
from pipeline.model import MLP  # noqa: E402
from pipeline.quantize import apply_thresholds, fit_thresholds  # noqa: E402
from pipeline.spec import NetworkSpec  # noqa: E402
from store import activations as act  # noqa: E402
from store import zarr_format as zf  # noqa: E402
from store.paths import open_warehouse  # noqa: E402

BITS = (1, 2, 3)
CASES = {"fashion": (784, (300, 100)), "cifar10": (3072, (1024, 512, 512, 512))}


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def numcodecs_of(dtype) -> list:
    """The store's codecs for ``dtype`` as plain encoders (numcodecs objects and a CRC-32C step)."""
    import numcodecs
    from zarr.codecs import BloscCodec, Crc32cCodec, ZstdCodec

    out = []
    for codec in zf.compressors(dtype):
        if isinstance(codec, BloscCodec):
            shuffle = {"noshuffle": 0, "shuffle": 1, "bitshuffle": 2}[codec.shuffle.value]
            out.append(numcodecs.Blosc(cname=codec.cname.value, clevel=codec.clevel, shuffle=shuffle,
                                       typesize=np.dtype(dtype).itemsize).encode)
        elif isinstance(codec, ZstdCodec):
            out.append(numcodecs.Zstd(level=codec.level).encode)
        elif isinstance(codec, Crc32cCodec):
            out.append(lambda data: bytes(data) + np.uint32(google_crc32c.value(bytes(data))).tobytes())
        else:
            raise TypeError(f"no plain encoder for {codec}")
    return out


def public_put_chunk(arr, coords: tuple[int, ...], block: np.ndarray, transform) -> None:
    """The public alternative to the store's chunk writer: zarr's ``array[region] = values`` for one chunk."""
    region = tuple(slice(i * c, i * c + n) for i, c, n in zip(coords, arr.chunks, block.shape))
    arr[region] = block if transform is None else transform(block)


def public_read(arr) -> np.ndarray:
    """The public alternative to read_array: zarr's ``array[...]`` and a count of the stored chunks (zarr reads a
    missing chunk as the fill value); naming a bad chunk would still need the one-chunk reader."""
    values = arr[...]
    if arr.nchunks_initialized != arr.nchunks:
        raise ValueError(f"{arr.path}: a chunk is missing")
    return values


def chunk_blocks(values: np.ndarray):
    cols = values.shape[1] if values.shape[1] <= zf.WHOLE_LAYER_COLS else zf.CHUNK_COLS
    for r in range(0, len(values), zf.CHUNK_ROWS):
        for c in range(0, values.shape[1], cols):
            yield values[r : r + zf.CHUNK_ROWS, c : c + cols]


def run_case(name: str, samples: int, repeats: int, public: bool, pool: ThreadPoolExecutor) -> dict:
    input_dim, hidden = CASES[name]
    spec = NetworkSpec(dataset="bench", input_dim=input_dim, n_classes=10, hidden_sizes=hidden, activation="relu",
                       regularizer="dropout", dropout=0.2)
    torch.manual_seed(0)
    model = MLP(spec).eval()
    x = torch.rand(samples, input_dim, generator=torch.Generator().manual_seed(1))
    labels = np.zeros(samples, dtype=np.uint8)
    batches = list(hidden_outputs(model, x))
    raw = [np.concatenate([b[1][i] for b in batches]) for i in range(model.n_hidden)]
    tmp = Path(tempfile.mkdtemp(prefix="bench_capture_"))
    wh = open_warehouse(tmp / "wh")
    sizes = list(hidden)
    raw_codec, code_codec = numcodecs_of("float32"), numcodecs_of("uint8")

    attrs = {"splits": ["val"], "layer_sizes": sizes, "bits": list(BITS), "method": "uniform"}

    def write_codes(root):
        act.write_codes(root, ["val"], list(range(1, len(sizes) + 1)), list(BITS), "relu", "uniform")

    def forward(run: str) -> None:
        for _ in hidden_outputs(model, x):
            pass

    def capture(run: str) -> None:
        with act.building_store(wh, run, attrs) as root:
            act.write_raw(root, "val", labels, sizes, hidden_outputs(model, x))
            write_codes(root)

    def store(run: str) -> None:
        with act.building_store(wh, run, attrs) as root:
            act.write_raw(root, "val", labels, sizes, batches)
            write_codes(root)

    def public_chunks(run: str) -> None:
        """The same writes as ``store``, each chunk through zarr's public API from the same thread pool."""
        private = zf.put_chunk
        zf.put_chunk = public_put_chunk
        try:
            store(run)
        finally:
            zf.put_chunk = private

    def public_store(run: str) -> None:
        """zarr's public write path for the same arrays (no chunk writer)."""
        with act.building_store(wh, run, attrs) as root:
            group = root.require_group("val")
            zf.create_array(group, "labels", (samples,), "uint8")[:] = labels
            for l, values in enumerate(raw, start=1):
                g = group.require_group(f"layer{l}")
                zf.create_array(g, "raw", values.shape, "float32")[:] = values
                for b in BITS:
                    t = fit_thresholds(values, b, "relu", "uniform")
                    zf.create_array(g, f"codes_b{b}", values.shape, "uint8", thresholds=t.tolist())[:] = apply_thresholds(values, t)

    def encode(run: str) -> None:
        def chunk(block, thresholds):
            data = np.ascontiguousarray(block) if thresholds is None else apply_thresholds(block, thresholds)
            for step in (raw_codec if thresholds is None else code_codec):
                data = step(data)

        jobs = []
        for values in raw:
            fitted = [fit_thresholds(values, b, "relu", "uniform") for b in BITS]
            for block in chunk_blocks(values):
                jobs += [(block, t) for t in [None, *fitted]]
        list(pool.map(lambda job: chunk(*job), jobs))

    def numpy_save(run: str) -> None:
        out = tmp / run
        out.mkdir()
        np.save(out / "labels.npy", labels)
        for l, values in enumerate(raw, start=1):
            np.save(out / f"layer{l}_raw.npy", values)
            for b in BITS:
                np.save(out / f"layer{l}_codes_b{b}.npy", apply_thresholds(values, fit_thresholds(values, b, "relu", "uniform")))

    sides = {"forward": (forward, None), "capture": (capture, wh.activations), "store": (store, wh.activations),
             "encode": (encode, None), "numpy": (numpy_save, lambda run: tmp / run)}
    if public:
        sides["public chunks"] = (public_chunks, wh.activations)
        sides["public"] = (public_store, wh.activations)
    times, cpus, on_disk = {s: [] for s in sides}, {s: [] for s in sides}, {}
    for r in range(-1, repeats):  # round -1 is the warm-up
        for side in (list(sides) if r % 2 else list(reversed(sides))):
            fn, where = sides[side]
            gc.collect()
            os.sync()
            t0, c0 = time.perf_counter(), time.process_time()
            fn(f"{side}{r}")
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            if where is not None:
                on_disk[side] = dir_size(where(f"{side}{r}"))
                shutil.rmtree(where(f"{side}{r}"))
            if r >= 0:
                times[side].append(wall)
                cpus[side].append(cpu)
    reads = time_reads(wh, store, repeats, pool) if public else {}
    shutil.rmtree(tmp)
    raw_bytes = sum(a.nbytes for a in raw)
    return dict(name=name, hidden=hidden, samples=samples, times=times, cpus=cpus, on_disk=on_disk, reads=reads,
                raw_mb=raw_bytes / 1e6, total_mb=(raw_bytes + raw_bytes // 4 * len(BITS) + samples) / 1e6)


def time_reads(wh, write, repeats: int, pool) -> dict:
    """Reading every array of one store: the store's checked reader against zarr's public API."""
    write("reads")
    root = act.open_activations(wh, "reads").root
    arrays = [arr for _, arr in zf.all_arrays(root)]
    out = {"read_array": [], "public": []}
    read = {"read_array": zf.read_array, "public": public_read}
    for r in range(repeats + 1):
        for side in (list(out) if r % 2 else list(reversed(out))):
            t0 = time.perf_counter()
            for arr in arrays:
                read[side](arr)
            if r:
                out[side].append(time.perf_counter() - t0)
    for arr in arrays:
        assert np.array_equal(zf.read_array(arr), public_read(arr))
    return out


def report(res: dict) -> None:
    med = {s: statistics.median(t) for s, t in res["times"].items()}
    cpu = {s: statistics.median(t) for s, t in res["cpus"].items()}
    print(f"\n{res['name']}: {res['samples']:,} samples, layers {list(res['hidden'])}, bits {BITS}; "
          f"{res['total_mb']:.1f} MB of raw + codes (raw {res['raw_mb']:.1f} MB); median of {len(res['times']['store'])}")
    labels = {"forward": "forward pass", "capture": "capture (forward -> store)", "store": "store (outputs in memory)",
              "encode": "encode-only floor (no I/O)", "numpy": "numpy.save", "public chunks": "store, zarr public per chunk",
              "public": "zarr public, whole arrays"}
    for side, t in res["times"].items():
        disk = res["on_disk"].get(side)
        disk = f"{disk / 1e6:7.1f} MB" if disk else " " * 10
        print(f"  {labels[side]:28s} {med[side]:7.3f} s [{min(t):.3f}-{max(t):.3f}]  cpu {cpu[side]:6.3f} s  {disk}")
    ratio_store, ratio_capture = med["store"] / med["encode"], med["capture"] / med["forward"]
    print(f"  store / encode-only floor    {ratio_store:6.2f}x  (goal <= 2x)")
    print(f"  capture / forward pass       {ratio_capture:6.2f}x  (goal <= 2x)")
    print(f"  store / numpy.save           {med['store'] / med['numpy']:6.2f}x the time; compression "
          f"{res['on_disk']['numpy'] / res['on_disk']['store']:.2f}x smaller than numpy.save")
    if "public" in med:
        print(f"  zarr public per chunk / store {med['public chunks'] / med['store']:5.2f}x the time, "
              f"{cpu['public chunks'] / cpu['store']:.2f}x the CPU time (zarr internals kept if > 1.1x)")
        rd = {s: statistics.median(t) for s, t in res["reads"].items()}
        print(f"  read every array: read_array {rd['read_array']:.3f} s, zarr array[...] + chunk count {rd['public']:.3f} s "
              f"({rd['public'] / rd['read_array']:.2f}x)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", choices=(*CASES, "both"), default="both")
    ap.add_argument("--samples", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=7, help="timed rounds (at least 3)")
    ap.add_argument("--public", action="store_true", help="also time zarr's public write path and reads")
    ap.add_argument("--old-codecs", action="store_true", help="zstd level 1 for every array, as before 2026-11-30")
    args = ap.parse_args()
    if args.old_codecs:
        from zarr.codecs import Crc32cCodec, ZstdCodec

        zf.COMPRESSORS = {k: [ZstdCodec(level=1), Crc32cCodec()] for k in zf.COMPRESSORS}
    torch.set_num_threads(os.cpu_count() or 1)
    print(f"capture benchmark: {os.cpu_count()} cores, torch {torch.__version__}, load average {os.getloadavg()}")
    print(f"codecs: raw {[c.to_dict() for c in zf.compressors('float32')]}; codes {[c.to_dict() for c in zf.compressors('uint8')]}")
    pool = ThreadPoolExecutor(os.cpu_count() or 1)
    for name in CASES if args.case == "both" else [args.case]:
        report(run_case(name, args.samples, max(args.repeats, 3), args.public, pool))
    print(f"\nload average at the end {os.getloadavg()}")


if __name__ == "__main__":
    main()
