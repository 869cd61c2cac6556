"""Scheduling the ablation kernel: sample chunks, blocks of grid points, worker threads, torch's thread count.

Samples are independent: (curve, chunk of samples) items run on one worker thread per core with one
intra-op thread each (torch releases the GIL), so no operation waits for a straggling thread, and each
worker's block of pre-activations stays in cache. Memory is bounded by ``chunk_budget_mb`` (blocks of
grid points x chunks of samples, all workers together).
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

import torch

SAMPLE_CHUNK = 2048  # samples per work item
CACHE_BYTES = 8 * 2**20  # target size of a block of pre-activations (fits in L3 cache)
MIN_BLOCK = 4  # grid points per block, budget permitting (fewer, larger operations)
MAX_BLOCK = 256
# k-grid of the cifar10 preset's default ablation: 31 points per curve (k = 0 and every ~3 % of the
# neurons); its 450 curves take ~9 min on 2 idle cores, every k ~7 h (docs/benchmarks.md)
CIFAR10_STEPS = 30
UNIT_STEPS = 20  # the default k-grid of conv channels, transformer neurons and other units
# the criteria other networks are ablated by when none are named: each grid point is a forward pass of the test
# split from the first ablated module on (~2 s for the cnn preset on fashion-mnist's 10,000 images), so every
# criterion (21 of them, each at every bits) would take hours; --measures names others. Not entropy: their codes
# are equal-mass bins per unit (unit_quantile), so every unit's entropy is ~bits and an entropy ordering is a tie
UNIT_CRITERIA = ("mutual_info", "kl_selectivity")


def default_criteria_of(spec) -> tuple[str, ...] | None:
    """The criteria a network is ablated by when none are named: every one the run has (None) for an mlp, else
    UNIT_CRITERIA."""
    return None if spec.arch == "mlp" else UNIT_CRITERIA


def default_steps(spec) -> int | None:
    """The k-grid when none is asked for: every k (None), except on the cifar10 preset's network
    (3072-1024-512-512-512), where every k would take hours on 2 cores: CIFAR10_STEPS, and on networks other than
    an mlp (each grid point a forward pass from the first ablated module): UNIT_STEPS."""
    from pipeline.spec import PRESETS

    if spec.arch != "mlp":
        return UNIT_STEPS
    return CIFAR10_STEPS if tuple(spec.hidden_sizes) == PRESETS["cifar10"].hidden_sizes else None


@dataclass(frozen=True)
class Layout:
    workers: int  # worker threads
    chunk: int  # samples per work item
    block: int  # grid points evaluated together


def choose_layout(layer_widths: list[int], itemsize: int, n_jobs: int, n_samples: int, longest_grid: int,
                  cores: int, chunk_budget_mb: float) -> Layout:
    """Workers, sample chunk and block size for ``n_jobs`` curves over ``n_samples`` samples.

    ``layer_widths`` are the widths of the pre-activations a worker holds per (grid point, sample):
    every layer above the lowest one any curve touches."""
    per_point = itemsize * sum(layer_widths)  # bytes per (grid point, sample)
    workers = max(1, min(cores, n_jobs * -(-n_samples // 64)))
    budget = chunk_budget_mb * 2**20 / workers  # bytes per worker
    chunk = int(min(SAMPLE_CHUNK, n_samples, max(1, budget // per_point)))
    if n_jobs < workers:  # too few curves to keep every worker busy: split the samples finer
        chunk = min(chunk, -(-n_samples // workers))
    fit = budget // (chunk * per_point)
    block = int(max(1, min(fit, longest_grid, MAX_BLOCK, max(MIN_BLOCK, CACHE_BYTES // (chunk * per_point)))))
    return Layout(workers, chunk, block)


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """torch uses ``count`` intra-op threads inside the block; afterwards exactly the count set before.

    torch's setting is process-wide: other threads of the process see it while the block runs."""
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def run_items(work: Callable, items: list, workers: int, make_workspace: Callable) -> None:
    """Run ``work(workspace, item)`` for every item: in this thread if ``workers`` is 1, else on
    ``workers`` threads with one intra-op thread each; the first error stops every worker."""
    if workers == 1:
        workspace = make_workspace()
        for item in items:
            work(workspace, item)
        return
    queue = list(reversed(items))
    lock = threading.Lock()

    def loop():
        workspace = make_workspace()
        while True:
            with lock:
                if not queue:
                    return
                item = queue.pop()
            try:
                work(workspace, item)
            except BaseException:
                with lock:
                    queue.clear()  # the other workers stop too
                raise

    with torch_threads(1), ThreadPoolExecutor(workers, thread_name_prefix="ablation") as pool:
        for future in [pool.submit(loop) for _ in range(workers)]:
            future.result()
