"""Training throughput (samples/s): per preset against a plain DataLoader loop, and on Fashion-MNIST
under load (old thread rule vs new), all measured in the same run.

Presets: random inputs of each preset's shape (the speed does not depend on the pixels); the same
network, optimizer and batch size on both sides; the reference iterates a torch DataLoader over a
TensorDataset (shuffle, batch 64, no workers), the textbook loop.

Under load: one epoch of the real Fashion-MNIST training split, idle and beside one competing busy
process (``while True: pass``), with the old rule (torch threads = the cores, pinned through
``$NEURONINFO_THREADS``) and the new one (``pipeline.threads.choose_threads``), interleaved, medians.
Dask: two local worker processes (one Dask thread each) train one epoch each at the same time, old
rule vs new (``$NEURONINFO_WORKERS=2``, as ``flows.train_and_measure.task_runner_for`` sets it).
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from pipeline.data import Dataset, Split
from pipeline.model import MLP
from pipeline.spec import preset_spec
from pipeline.threads import available_cores, choose_threads, stage_threads
from pipeline.train import train

SHAPES = {"mnist": (784, 10), "fashion-mnist": (784, 10), "cifar10": (3072, 10)}
RULES = ("old", "new")


def load() -> str:
    return " ".join(open("/proc/loadavg").read().split()[:4])


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


def presets(samples: int) -> None:
    print(f"\npresets: {samples:,} random samples per epoch, batch 64, RMSProp, load {load()}")
    for preset, (dim, k) in SHAPES.items():
        spec = preset_spec(preset, dim, k, regularizer="dropout", epochs=1)
        x, y = torch.rand(samples, dim), torch.randint(0, k, (samples,))
        small = Split(x[:1000], y[:1000])
        data = Dataset(preset, k, dim, Split(x, y), small, small)
        started = time.perf_counter()
        train(spec, data, progress=False)
        ours = time.perf_counter() - started
        with stage_threads():  # the reference gets the thread count the trainer gets
            ref = reference_seconds(spec, x, y)
        sizes = "-".join(str(h) for h in (dim, *spec.hidden_sizes, k))
        print(f"  {preset:14s} {sizes:24s} {samples / ours:10,.0f} samples/s   reference {samples / ref:10,.0f} samples/s"
              f"   ratio {ref / ours:5.2f}x")


def fashion(samples: int) -> Dataset:
    from pipeline.data import load_dataset

    data = load_dataset("fashion-mnist", seed=0, n_val=10_000)
    tiny = Split(data.val.x[:500], data.val.y[:500])
    return Dataset("fashion-mnist", 10, 784, Split(data.train.x[:samples], data.train.y[:samples]), tiny, tiny)


def epoch(data: Dataset, rule: str) -> tuple[float, int]:
    """(samples/s of one epoch, threads the rule chose) under ``rule``."""
    if rule == "old":
        os.environ["NEURONINFO_THREADS"] = str(available_cores())
    else:
        os.environ.pop("NEURONINFO_THREADS", None)
    threads = choose_threads()
    spec = preset_spec("fashion-mnist", 784, 10, regularizer="dropout", epochs=1)
    started = time.perf_counter()
    train(spec, data, progress=False)
    return len(data.train.y) / (time.perf_counter() - started), threads


def under_load(samples: int, repeats: int) -> dict:
    data = fashion(samples)
    epoch(Dataset("warm", 10, 784, Split(data.train.x[:3000], data.train.y[:3000]), data.val, data.test), "old")
    print(f"\none epoch of Fashion-MNIST ({samples:,} samples, 784-300-100-10, dropout), {available_cores()} cores, "
          f"{repeats} rounds; load (1, 5, 15 min, run queue) before: {load()}")
    results = {(state, rule): [] for state in ("idle", "busy") for rule in RULES}
    for r in range(repeats):
        for state in ("idle", "busy"):
            rival = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if state == "busy" else None
            try:
                if rival:
                    time.sleep(1.0)
                for rule in RULES if r % 2 == 0 else RULES[::-1]:
                    rate, threads = epoch(data, rule)
                    results[state, rule].append(rate)
                    print(f"  round {r + 1} {state:4s} {rule} rule: {threads} thread(s) {rate:9,.0f} samples/s   load {load()}", flush=True)
            finally:
                if rival:
                    rival.kill()
                    rival.wait()
            time.sleep(1.0)
    os.environ.pop("NEURONINFO_THREADS", None)
    med = {key: statistics.median(v) for key, v in results.items()}
    print("  medians:")
    for rule in RULES:
        ratio = med["busy", rule] / med["idle", rule]
        print(f"    {rule} rule: idle {med['idle', rule]:9,.0f}  one busy process {med['busy', rule]:9,.0f} samples/s"
              f"  = {ratio:.0%} of its idle  ({med['busy', rule] / med['idle', 'old']:.0%} of the old rule's idle)")
    print(f"    loaded: new / old = {med['busy', 'new'] / med['busy', 'old']:.1f}x (goal: new loaded >= 40 % of idle)")
    return med


def quiet(samples: int, repeats: int, wait: float = 240.0) -> None:
    """Idle only, after waiting (up to ``wait`` s) for the 1-minute load average to fall below 0.5: the
    new rule then sees no other load and should choose every core, as the old one does."""
    data = fashion(samples)
    started = time.monotonic()
    while os.getloadavg()[0] >= 0.5 and time.monotonic() - started < wait:
        time.sleep(5)
    print(f"\nidle after {time.monotonic() - started:.0f} s of waiting for quiet; load {load()}")
    rates = {rule: [] for rule in RULES}
    for r in range(repeats):
        for rule in RULES if r % 2 == 0 else RULES[::-1]:
            rate, threads = epoch(data, rule)
            rates[rule].append(rate)
            print(f"  round {r + 1} idle {rule} rule: {threads} thread(s) {rate:9,.0f} samples/s   load {load()}", flush=True)
    os.environ.pop("NEURONINFO_THREADS", None)
    old, new = (statistics.median(rates[rule]) for rule in RULES)
    print(f"  medians: old {old:,.0f}, new {new:,.0f} samples/s (new / old {new / old:.2f})")


def _worker_epoch(samples: int) -> tuple[float, int, str]:
    import pipeline.threads as th

    data = fashion(samples)
    warm = Dataset("warm", 10, 784, Split(data.train.x[:2000], data.train.y[:2000]), data.val, data.test)
    train(preset_spec("fashion-mnist", 784, 10, regularizer="dropout", epochs=1), warm, progress=False)
    return epoch(data, "old" if os.environ.get("BENCH_RULE") == "old" else "new") + (th.__file__,)


def dask(samples: int, repeats: int, idle: float | None) -> None:
    from distributed import Client, LocalCluster

    print(f"\ntwo Dask workers (processes, 1 thread each) on {available_cores()} cores, each training one epoch "
          f"({samples:,} samples) at once; load before: {load()}")
    for rule in RULES:
        env = {"BENCH_RULE": rule, "NEURONINFO_WORKERS": "2", "PYTHONPATH": os.pathsep.join(sys.path)}
        os.environ.pop("NEURONINFO_THREADS", None)
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, env=env, dashboard_address=None) as cluster, \
                Client(cluster) as client:
            workers = list(client.scheduler_info()["workers"])
            totals = []
            for r in range(repeats):
                started = time.perf_counter()
                futures = [client.submit(_worker_epoch, samples, pure=False, workers=[w]) for w in workers]
                out = client.gather(futures)
                wall = time.perf_counter() - started
                totals.append(sum(rate for rate, _, _ in out))
                print(f"  {rule} rule round {r + 1}: threads {[t for _, t, _ in out]}, per worker "
                      f"{', '.join(f'{rate:,.0f}' for rate, _, _ in out)} samples/s, total {totals[-1]:,.0f} samples/s "
                      f"(wall {wall:.1f} s incl. loading)   load {load()}", flush=True)
        total = statistics.median(totals)
        versus = f" = {total / idle:.0%} of one idle worker (new rule)" if idle else ""
        print(f"  {rule} rule: median total {total:,.0f} samples/s{versus}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=20_000, help="random samples per preset epoch")
    parser.add_argument("--load-samples", type=int, default=50_000, help="Fashion-MNIST samples per epoch under load")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dask-samples", type=int, default=20_000, help="samples per worker epoch in the Dask part")
    parser.add_argument("--dask-repeats", type=int, default=2)
    parser.add_argument("--parts", default="presets,load,dask", help="comma-separated: presets, load, dask, quiet")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    print(f"training throughput, torch {torch.__version__}, {os.cpu_count()} CPUs, {available_cores()} available, "
          f"load {load()}")
    warm = preset_spec("mnist", 784, 10, epochs=1)  # untimed: thread pools and allocator warm up
    wx, wy = torch.rand(2000, 784), torch.randint(0, 10, (2000,))
    train(warm, Dataset("warm-up", 10, 784, Split(wx, wy), Split(wx, wy), Split(wx, wy)), progress=False)
    reference_seconds(warm, wx, wy)
    if "presets" in parts:
        presets(args.samples)
    med = under_load(args.load_samples, args.repeats) if "load" in parts else {}
    if "quiet" in parts:
        quiet(args.load_samples, args.repeats)
    if "dask" in parts:
        dask(args.dask_samples, args.dask_repeats, med.get(("idle", "new")))
    print(f"load after: {load()}")


if __name__ == "__main__":
    main()
