"""What integrity costs: capture and measure of one network with checksums on vs off, in one run.

On: every Zarr chunk carries a CRC-32C (written at capture, checked on every read) and every Parquet
partition gets its size + SHA-256 record. Off: the same stages with the CRC codec removed and the
records skipped. Network: the fashion-mnist preset (784-300-100, seeded random weights) on
Fashion-MNIST (Debian's dataset-fashion-mnist), bits 1, 2, 3; the capture stage is
the real one (forward passes on val, test and train, codes, quantizers). The two sides alternate,
after one untimed warm-up each; prints medians (min-max) and the overhead. Goal: checksums cost
< 10 % of capture time.
"""
import argparse
import os
import shutil
import statistics
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import torch
from zarr.codecs import Crc32cCodec

from flows.stages import capture_run, measure_run
from pipeline.model import MLP
from pipeline.spec import preset_spec
from store import activations, tables
from store.checkpoints import save_checkpoint
from store.paths import open_warehouse


@contextmanager
def checksums(on: bool):
    """Run with the CRC codec and integrity records (on) or without either (off)."""
    compressors, record = activations.COMPRESSORS, tables.record
    if not on:
        activations.COMPRESSORS = {k: [c for c in v if not isinstance(c, Crc32cCodec)] for k, v in compressors.items()}
        tables.record = lambda *args, **kwargs: None
    try:
        yield
    finally:
        activations.COMPRESSORS, tables.record = compressors, record


def one_round(wh, run_id, on: bool) -> tuple[float, float]:
    shutil.rmtree(Path(wh.activations(run_id)), ignore_errors=True)
    with checksums(on):
        started = time.perf_counter()
        capture_run(wh, run_id, (1, 2, 3))
        captured = time.perf_counter()
        measure_run(wh, run_id, force=True)
        measured = time.perf_counter()
    return captured - started, measured - captured


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    dataset = "fashion-mnist"  # apt-get install dataset-fashion-mnist
    spec = preset_spec(dataset, 784, 10, regularizer="dropout")
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        wh = open_warehouse(tmp)
        run_id = save_checkpoint(wh, MLP(spec).eval())
        times = {True: [], False: []}
        for on in (True, False):
            one_round(wh, run_id, on)  # warm-up: data loaded, caches filled
        for i in range(args.repeats):
            for on in ((True, False) if i % 2 == 0 else (False, True)):
                times[on].append(one_round(wh, run_id, on))
    print(f"integrity cost, {spec.name} on {dataset}, bits 1-3, {args.repeats} rounds, load average {os.getloadavg()[0]:.2f}")
    for stage, index in (("capture", 0), ("measure", 1)):
        on = [t[index] for t in times[True]]
        off = [t[index] for t in times[False]]
        overhead = statistics.median(on) / statistics.median(off) - 1
        print(f"  {stage}: checksums on {statistics.median(on):.3f} s ({min(on):.3f}-{max(on):.3f}), "
              f"off {statistics.median(off):.3f} s ({min(off):.3f}-{max(off):.3f}): overhead {overhead:+.1%}")


if __name__ == "__main__":
    main()
