"""Locks between threads and processes: a file lock that says when it has to wait, and one analysis per run."""
from __future__ import annotations

import fcntl
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from store.paths import Warehouse

LOCKS = ".locks"  # per-run lock files of a local warehouse
_thread_locks: dict[str, threading.Lock] = {}
_thread_locks_guard = threading.Lock()


@contextmanager
def file_lock(path: Path, what: str) -> Iterator[None]:
    """An exclusive advisory lock between processes (released when the process dies); a line on stderr when
    another process holds it, so a wait never looks like a hang."""
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"neuroninfo: waiting for {what} ({path}), held by another process", file=sys.stderr, flush=True)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _thread_lock(key: str) -> threading.Lock:
    with _thread_locks_guard:
        return _thread_locks.setdefault(key, threading.Lock())


@contextmanager
def run_lock(wh: Warehouse, run_id: str) -> Iterator[None]:
    """One analysis of ``run_id`` at a time: among this process's threads, and (local warehouses) among the
    processes of this machine."""
    with _thread_lock(f"{wh.root}|{run_id}"), machine_lock(wh, run_id, f"the analysis of run {run_id}"):
        yield


@contextmanager
def machine_lock(wh: Warehouse, name: str, what: str) -> Iterator[None]:
    """``file_lock`` on ``<warehouse>/.locks/<name>.lock`` among the processes of this machine (local warehouses;
    on object storage, nothing: there is no shared lock file)."""
    if not wh.local:
        yield
        return
    folder = Path(wh.root) / LOCKS
    folder.mkdir(exist_ok=True)
    with file_lock(folder / f"{name}.lock", what):
        yield
