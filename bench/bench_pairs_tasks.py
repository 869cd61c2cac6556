"""Benchmark: the pairs of one wide layer as tasks on Dask worker processes (issue 29).

    python bench/bench_pairs_tasks.py [--units 4096] [--bits 1]

A network with one hidden layer of ``--units`` ReLU units (seeded random weights) is registered on Fashion-MNIST
and captured: 10,000 validation samples. ``pairs_run`` then computes every pair of the layer three ways, each
into the same warehouse (``replace``), and the neuron_pairs partition of each is compared bit for bit:

- reference: one process, every core as a thread (``pairs_run`` without an executor, what ``neuroninfo pairs`` does);
- the blocks as tasks on a local Dask cluster of 1 worker process (1 thread);
- the same on 2 worker processes: the speed-up against 1 worker.

Prints wall time, the driver's and each worker's peak RSS and the load average. A fresh cluster per case, so a
worker's peak is its own.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

import pyarrow as pa
import torch


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM: its own, where ru_maxrss of a spawned worker starts at the
    parent's)."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024


def wide_run(wh, units: int, bits: int) -> str:
    """A 784-``units`` network of seeded random weights, registered on Fashion-MNIST and captured at ``bits``."""
    from flows.run_data import data_of, resolve_inputs
    from flows.stages import capture_run, register_run
    from pipeline.model import MLP
    from pipeline.spec import preset_spec
    from store.checkpoints import save_checkpoint

    spec = resolve_inputs(preset_spec("fashion-mnist", 784, 10, hidden_sizes=(units,)), None)
    torch.manual_seed(0)
    model = MLP(spec).eval()
    run_id = save_checkpoint(wh, model)
    register_run(wh, run_id, model, data_of(spec, None))
    capture_run(wh, run_id, (bits,))
    return run_id


def timed_pairs(wh, run_id: str, bits: int, workers: int | None) -> tuple[float, list[float]]:
    """Wall seconds of ``pairs_run`` (one process if ``workers`` is None, else a fresh local Dask cluster of that
    many single-threaded worker processes) and each worker's peak RSS in MB."""
    from flows.stages import pairs_run

    if workers is None:
        started = time.perf_counter()
        pairs_run(wh, run_id, bits, force=True, replace=True)
        return time.perf_counter() - started, []
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        client.run(lambda: None)  # the workers are up before the clock starts
        started = time.perf_counter()
        pairs_run(wh, run_id, bits, force=True, replace=True, executor=client.get_executor())
        wall = time.perf_counter() - started
        peaks = client.run(peak_rss_mb)
    return wall, sorted(peaks.values())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=4096)
    parser.add_argument("--bits", type=int, default=1)
    args = parser.parse_args()
    from store.paths import open_warehouse
    from store.tables import read_partition

    with tempfile.TemporaryDirectory(dir=os.getcwd()) as root:
        wh = open_warehouse(os.path.join(root, "warehouse"))
        run_id = wide_run(wh, args.units, args.bits)
        pairs = args.units * (args.units - 1) // 2
        print(f"{args.units} units, {pairs:,} pairs at {args.bits} bit(s), 10,000 samples; load {os.getloadavg()}")
        reference = None
        walls = {}
        for label, workers in (("one process, every core", None), ("Dask, 1 worker", 1), ("Dask, 2 workers", 2)):
            wall, peaks = timed_pairs(wh, run_id, args.bits, workers)
            rows = read_partition(wh, "neuron_pairs", run_id)
            if reference is None:
                reference = rows
            identical = rows.equals(reference)
            walls[label] = wall
            print(f"{label:<26} wall {wall:7.1f} s   worker peak RSS {', '.join(f'{p:,.0f}' for p in peaks) or '-'} MB"
                  f"   rows {rows.num_rows:,}   bit-identical to one process: {identical}   load {os.getloadavg()[0]:.1f}")
            assert rows.num_rows == pairs and identical
            del rows
        print(f"speed-up, 2 workers over 1: {walls['Dask, 1 worker'] / walls['Dask, 2 workers']:.2f}x; "
              f"one process / 2 workers: {walls['one process, every core'] / walls['Dask, 2 workers']:.2f}x; "
              f"driver peak RSS {peak_rss_mb():,.0f} MB")


if __name__ == "__main__":
    main()
