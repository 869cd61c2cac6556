"""How many CPU threads torch may use: the cores this process may run on, shared among the torch stages
running at once and left to other busy processes; ``$NEURONINFO_THREADS`` pins the count.

Why: torch's parallel regions wait for their slowest thread, so two threads on two cores beside one
busy process run far slower than one thread (measured: docs/benchmarks.md, "Training under load").
"""
from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from pipeline.cores import available_cores

LOAD_WINDOW = 60.0  # seconds: the time constant of the 1-minute load average
SAMPLES = 8  # reads of the run queue per estimate, 1 ms apart

_lock = threading.Lock()
_stages: dict[int, int] = {}  # thread id -> depth of stage_threads() in it
_own = {"wall": None, "cpu": 0.0, "ema": 0.0}  # this process's share of the load average


def thread_count(cores: int, workers: int = 1, busy: float = 0.0) -> int:
    """Threads for one of ``workers`` concurrent torch jobs on ``cores`` cores while other processes keep
    ``busy`` cores busy: an equal share of the cores, and no more than the cores left idle (at least 1)."""
    idle = cores - math.floor(busy + 0.5)
    return max(1, min(cores // max(1, workers), idle))


def other_load() -> float:
    """Cores' worth of work from other processes: the larger of the run queue right now (median of a few
    reads of /proc/loadavg, minus this process's running threads) and the 1-minute load average minus this
    process's own share of it (its CPU use, averaged the way the kernel averages the load)."""
    try:
        load = os.getloadavg()[0]
    except OSError:
        return 0.0
    return max(_run_queue_others(), load - _own_load())


def _run_queue_others() -> float:
    counts = []
    for i in range(SAMPLES):
        try:
            running = int(Path("/proc/loadavg").read_text().split()[3].split("/")[0])
        except (OSError, ValueError, IndexError):
            return 0.0
        counts.append(max(0, running - _own_running()))
        if i + 1 < SAMPLES:
            time.sleep(0.001)
    return float(sorted(counts)[len(counts) // 2])


def _own_running() -> int:
    """This process's threads that are running or runnable (1: the caller, if /proc is unreadable)."""
    count = 0
    try:
        for task in os.scandir("/proc/self/task"):
            try:
                stat = Path(task.path, "stat").read_text()
            except OSError:
                continue
            count += stat[stat.rindex(")") + 2] == "R"
    except OSError:
        return 1
    return max(1, count)


def _own_load() -> float:
    """Exponential average (time constant LOAD_WINDOW) of this process's CPU use, updated at each call."""
    with _lock:
        now, cpu = time.monotonic(), time.process_time()
        if _own["wall"] is None:  # first call: the process's CPU so far, spread over its age
            age = max(1e-3, _process_age())
            _own.update(wall=now, cpu=cpu, ema=cpu / age * (1 - math.exp(-age / LOAD_WINDOW)))
            return _own["ema"]
        elapsed = now - _own["wall"]
        if elapsed > 0:
            decay = math.exp(-elapsed / LOAD_WINDOW)
            rate = (cpu - _own["cpu"]) / elapsed
            _own.update(wall=now, cpu=cpu, ema=_own["ema"] * decay + rate * (1 - decay))
        return _own["ema"]


def _process_age() -> float:
    try:
        stat = Path("/proc/self/stat").read_text()
        start_ticks = int(stat[stat.rindex(")") + 2 :].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return uptime - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return LOAD_WINDOW


def pinned_threads() -> int | None:
    """``$NEURONINFO_THREADS`` as a positive integer, or None when unset or not a number."""
    try:
        return max(1, int(os.environ.get("NEURONINFO_THREADS", "").strip()))
    except ValueError:
        return None


def worker_processes() -> int:
    """Worker processes sharing this machine (``$NEURONINFO_WORKERS``, set for a local Dask cluster), else 1."""
    try:
        return max(1, int(os.environ.get("NEURONINFO_WORKERS", "").strip()))
    except ValueError:
        return 1


def choose_threads(load_aware: bool = True) -> int:
    """The thread count for a torch stage starting now: ``$NEURONINFO_THREADS``, else ``thread_count`` of the
    available cores, the workers (worker processes x stages running in this process) and ``other_load()``
    (0 when not ``load_aware``: for independent worker threads that never wait for each other)."""
    pinned = pinned_threads()
    if pinned is not None:
        return pinned
    me = threading.get_ident()
    with _lock:
        stages = 1 + sum(1 for ident, depth in _stages.items() if depth and ident != me)
    return thread_count(available_cores(), worker_processes() * stages, other_load() if load_aware else 0.0)


@contextmanager
def torch_threads(count: int) -> Iterator[int]:
    """torch uses ``count`` intra-op threads inside the block; afterwards exactly the count it had before."""
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield count
    finally:
        torch.set_num_threads(before)


@contextmanager
def counted_stage() -> Iterator[None]:
    """Count this thread as running a torch stage while inside (other stages then choose fewer threads),
    e.g. while it waits for a training in a worker process (pipeline/train_process.py)."""
    me = threading.get_ident()
    with _lock:
        _stages[me] = _stages.get(me, 0) + 1
    try:
        yield
    finally:
        with _lock:
            _stages[me] -= 1
            if not _stages[me]:
                del _stages[me]


@contextmanager
def stage_threads(load_aware: bool = True) -> Iterator[int]:
    """A torch stage: counted as running while inside, with ``choose_threads(load_aware)`` threads (yielded);
    torch's previous thread count is restored on leaving. Call ``retune()`` inside to choose again."""
    count = choose_threads(load_aware)
    with counted_stage(), torch_threads(count):
        yield count


def retune() -> int:
    """Inside ``stage_threads()``: choose the thread count again (e.g. each epoch) and tell torch."""
    count = choose_threads()
    if count != torch.get_num_threads():
        torch.set_num_threads(count)
    return count
