"""Training in a process of its own, so that a checkpoint's bytes depend on its spec and seed alone.

torch's intra-op thread count is one number per process, and the float sums of a matrix product or a
reduction depend on it; its global RNG (initialisation, dropout masks) is one per process too. Two
networks trained in threads of one process, or a training beside a capture that sets two threads, would
change each other's bytes. So every training runs in a worker process that does nothing else at the time,
with exactly ``TRAIN_THREADS`` intra-op threads and its global RNG seeded from the spec: the same bytes
whatever the machine's load, ``$NEURONINFO_THREADS``, the task runner, or how many networks train at once.

Workers are started on first use (``python -m pipeline.train_process``, ~3 s to import torch) and kept
for the next training; each runs one job at a time, so N concurrent callers get N workers. A job is a
module-level function named ``"module:function"`` with picklable arguments, run in the caller's
working directory, environment and import path; its notes reach the caller's
sink (the Prefect task's log) as they are written, and its result or exception comes back.
"""
from __future__ import annotations

import atexit
import importlib
import io
import os
import pickle
import subprocess
import sys
import threading
import time

TRAIN_THREADS = 1  # intra-op threads of every training (its bytes depend on it: recorded in runs.provenance)

_idle: list[subprocess.Popen] = []
_lock = threading.Lock()


def run_isolated(target: str, *args):
    """``module:function(*args)`` in an idle worker process (started if none is idle); its notes are
    forwarded to this thread's sink. Raises what the function raised; a worker that dies is not reused."""
    from pipeline.progress import note
    from pipeline.threads import counted_stage

    worker = _checkout()
    try:
        pickle.dump((os.getcwd(), dict(os.environ), list(sys.path), target, args), worker.stdin)
        worker.stdin.flush()
        with counted_stage():  # its core is busy: stages of this process beside it take fewer threads
            while True:
                kind, payload = pickle.load(worker.stdout)
                if kind == "note":
                    note(payload)
                    continue
                break
    except (EOFError, OSError, pickle.UnpicklingError) as e:
        worker.kill()
        from pipeline.errors import NeuronInfoError

        raise NeuronInfoError(f"the training worker process died ({type(e).__name__}, exit code "
                              f"{worker.wait()}); its output is above; run again to retry") from None
    except BaseException:  # interrupted while it trains: its state is unknown
        worker.kill()
        raise
    with _lock:
        _idle.append(worker)
    if kind == "error":
        raise payload
    return payload


def _checkout() -> subprocess.Popen:
    with _lock:
        while _idle:
            worker = _idle.pop()
            if worker.poll() is None:
                return worker
    env = dict(os.environ, OMP_NUM_THREADS=str(TRAIN_THREADS), MKL_NUM_THREADS=str(TRAIN_THREADS))
    return subprocess.Popen([sys.executable, "-m", "pipeline.train_process"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, env=env)


@atexit.register
def stop_workers() -> None:
    """Close the idle workers' input: each exits when it reads the end."""
    with _lock:
        workers, _idle[:] = list(_idle), []
    for worker in workers:
        try:
            worker.stdin.close()
            worker.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            worker.kill()


def model_bytes(model) -> bytes:
    """A trained network as bytes a job can return (the whole module: any architecture)."""
    import torch

    buffer = io.BytesIO()
    torch.save(model, buffer)
    return buffer.getvalue()


def model_from_bytes(data: bytes):
    """The network ``model_bytes`` made (pickled by this project's own worker: trusted)."""
    import torch

    return torch.load(io.BytesIO(data), weights_only=False)


def _exit_with_parent(parent: int) -> None:
    """A worker whose parent died (even by SIGKILL, mid-training) exits within a second."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(1)


def _serve() -> None:
    import torch

    from pipeline.progress import set_sink

    torch.set_num_threads(TRAIN_THREADS)
    requests, replies = sys.stdin.buffer, os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    sys.stdout = sys.stderr  # a job's prints must not corrupt the replies
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()

    def reply(kind, payload):
        pickle.dump((kind, payload), replies)
        replies.flush()

    set_sink(lambda line: reply("note", line))
    while True:
        try:
            cwd, environ, path, target, args = pickle.load(requests)
        except EOFError:
            return
        os.chdir(cwd)  # the caller's, as a fresh child would have them: relative paths, $NEURONINFO_DATA,
        os.environ.clear()  # and its import path (a user's package:Class network)
        os.environ.update(environ)
        sys.path[:] = path
        module, name = target.split(":")
        try:
            result = ("result", getattr(importlib.import_module(module), name)(*args))
        except Exception as e:  # noqa: BLE001 - the caller re-raises it
            try:
                pickle.dumps(e)
                result = ("error", e)
            except Exception:  # noqa: BLE001
                result = ("error", RuntimeError(f"{type(e).__name__}: {e}"))
        reply(*result)


if __name__ == "__main__":
    _serve()
