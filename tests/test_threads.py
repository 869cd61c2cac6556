"""pipeline.threads: the thread-count rule as a pure function, the inputs it reads, and torch's count restored."""

import threading
import time

import pytest
import torch

from pipeline import threads
from pipeline.cores import quota_cores
from pipeline.threads import choose_threads, stage_threads, thread_count


@pytest.mark.parametrize("cores, workers, busy, expected", [
    # expected = max(1, min(cores // workers, cores - busy rounded half up)), worked out by hand per row
    (2, 1, 0.0, 2),  # idle: every core
    (2, 1, 1.0, 1),  # one busy process on two cores: the core left
    (2, 1, 0.4, 2), (2, 1, 0.6, 1),  # busy is rounded to whole cores: 0.4 -> 0 (2 idle), 0.6 -> 1 (1 idle)
    (2, 1, 0.5, 1), (4, 1, 2.5, 1),  # halves round up (0.5 -> 1, 2.5 -> 3), not to even
    (4, 1, 1.5, 2),  # 1.5 -> 2 busy: 2 of 4 idle
    (2, 2, 0.0, 1),  # two workers (Dask processes or concurrent tasks) share two cores
    (2, 2, 1.0, 1), (2, 1, 7.5, 1), (1, 4, 0.0, 1), (2, 1, 1.5, 1),  # never fewer than one (idle 0 or below, share 0)
    (8, 2, 0.0, 4), (8, 1, 3.0, 5), (8, 2, 4.0, 4),  # share 4; 5 idle; share 4 = idle 4: the other worker's load is not counted twice
    (16, 3, 2.0, 5),  # share 16 // 3 = 5 < 14 idle
    (12, 5, 0.0, 2),  # share rounds down: 12 // 5 = 2
    (4, 0, 0.0, 4),  # no workers counts as one
])
def test_thread_count(cores, workers, busy, expected):
    assert thread_count(cores, workers, busy) == expected


def test_quota_cores():
    assert quota_cores(-1, 100_000) is None and quota_cores(0, 100_000) is None
    assert quota_cores(150_000, 100_000) == 2 and quota_cores(50_000, 100_000) == 1 and quota_cores(400_000, 100_000) == 4


def test_choose_threads_reads_its_inputs(monkeypatch):
    monkeypatch.delenv("NEURONINFO_THREADS", raising=False)
    monkeypatch.delenv("NEURONINFO_WORKERS", raising=False)
    monkeypatch.setattr(threads, "available_cores", lambda: 8)
    monkeypatch.setattr(threads, "other_load", lambda: 0.0)
    assert choose_threads() == 8
    monkeypatch.setattr(threads, "other_load", lambda: 3.0)
    assert choose_threads() == 5
    monkeypatch.setenv("NEURONINFO_WORKERS", "2")
    assert choose_threads() == 4
    assert choose_threads(load_aware=False) == 4  # shared with the other worker, not given up to the load
    monkeypatch.setenv("NEURONINFO_THREADS", "3")  # the pin wins over the rule
    assert choose_threads() == 3
    monkeypatch.setenv("NEURONINFO_THREADS", "many")
    assert choose_threads() == 4


def test_stages_running_in_other_threads_share_the_cores(monkeypatch):
    monkeypatch.delenv("NEURONINFO_THREADS", raising=False)
    monkeypatch.delenv("NEURONINFO_WORKERS", raising=False)
    monkeypatch.setattr(threads, "available_cores", lambda: 8)
    monkeypatch.setattr(threads, "other_load", lambda: 0.0)
    entered, leave, seen = threading.Event(), threading.Event(), {}

    def other_stage():
        with stage_threads() as count:
            seen["other"] = count
            entered.set()
            leave.wait(10)

    worker = threading.Thread(target=other_stage)
    worker.start()
    try:
        assert entered.wait(10)
        assert seen["other"] == 8  # alone when it started
        with stage_threads() as count:  # this stage and the other one
            assert count == 4 and threads.retune() == 4  # retune does not count this stage twice
    finally:
        leave.set()
        worker.join()
    assert choose_threads() == 8


def test_stage_threads_restores_torch_count(monkeypatch):
    monkeypatch.setenv("NEURONINFO_THREADS", "1")
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(3)
        with stage_threads() as count:
            assert count == 1 and torch.get_num_threads() == 1
        assert torch.get_num_threads() == 3
        with pytest.raises(RuntimeError, match="boom"), stage_threads():
            raise RuntimeError("boom")
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)


def test_training_leaves_torch_count_alone(monkeypatch, tiny_spec):
    from pipeline.data import load_dataset
    from pipeline.train import train

    monkeypatch.setenv("NEURONINFO_THREADS", "1")
    data = load_dataset(tiny_spec.dataset, seed=tiny_spec.seed, n_val=tiny_spec.n_val)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(3)
        train(tiny_spec, data, progress=False)
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)


def test_other_load_leaves_out_this_process(monkeypatch):
    """The load average minus this process's own share; a load of only our own making is no other load."""
    monkeypatch.setattr(threads, "_run_queue_others", lambda: 0.0)
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (2.5, 0.0, 0.0))
    monkeypatch.setattr(threads, "_own_load", lambda: 1.5)
    assert threads.other_load() == 1.0
    monkeypatch.setattr(threads, "_own_load", lambda: 3.0)
    assert threads.other_load() == 0.0
    monkeypatch.setattr(threads, "_run_queue_others", lambda: 2.0)
    assert threads.other_load() == 2.0


def test_capture_leaves_torch_count_alone(monkeypatch, tiny_spec):
    from pipeline.activations import hidden_outputs
    from pipeline.model import MLP

    monkeypatch.setenv("NEURONINFO_THREADS", "1")
    torch.manual_seed(0)
    model, x = MLP(tiny_spec), torch.rand(30, tiny_spec.input_dim)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(3)
        batches = hidden_outputs(model, x, batch_size=10)
        next(batches)
        assert torch.get_num_threads() == 3  # between batches, as the caller had it
        assert len(list(batches)) == 2 and torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)


def test_a_training_in_a_worker_process_counts_as_a_stage(monkeypatch):
    """While a thread waits for a training in its worker process, the ablation engine beside it takes half the
    cores (that process keeps one busy), and all of them again afterwards."""
    from pipeline import train_process

    monkeypatch.delenv("NEURONINFO_THREADS", raising=False)
    monkeypatch.setattr(threads, "available_cores", lambda: 8)
    monkeypatch.setattr(threads, "other_load", lambda: 0.0)
    seen, done = [], threading.Event()

    def watch():  # what a stage starting now in another thread would get, while the training runs
        while not done.is_set():
            seen.append(choose_threads(load_aware=False))
            time.sleep(0.01)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        train_process.run_isolated("time:sleep", 1.0)  # any job: the worker's wait counts
    finally:
        done.set()
        watcher.join()
    assert 4 in seen and choose_threads(load_aware=False) == 8
