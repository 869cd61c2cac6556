"""RMSProp training of a network (any architecture of pipeline.architectures) on in-memory tensors: fast on CPU, deterministic given the spec's seed."""
from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable

import torch
from torch import nn

from pipeline.data import Dataset
from pipeline.device import resolve_device
from pipeline.architectures import build
from pipeline.model import error_rate
from pipeline.progress import note
from pipeline.spec import NetworkSpec
from pipeline.threads import torch_threads
from pipeline.train_process import TRAIN_THREADS


# torch's global RNG drives initialisation and dropout: two trainings in threads of one process
# would interleave their draws, so trainings take turns (flows train in worker processes instead:
# pipeline/train_process.py).
_TRAINING = threading.Lock()


def train(spec: NetworkSpec, data: Dataset, progress: bool = True, device: str | torch.device = "cpu",
          on_epoch: Callable[[int, nn.Module], None] | None = None) -> nn.Module:
    """Train ``spec`` on ``data.train``; report loss and validation error after each epoch. ``on_epoch(e, model)``
    sees the network as initialised (e = 0) and after each epoch e (on ``device``: copy what it keeps).

    Same spec (seed included) and data => byte-identical weights on the same machine: the initialisation,
    dropout masks and the batch order all come from ``spec.seed``, and torch runs ``TRAIN_THREADS``
    intra-op threads (float sums depend on the count). torch's thread count is one per process: work in
    other threads of this process meanwhile can change it, which ``train_process.run_isolated`` rules out.
    Trains on ``device`` (``pipeline.device.resolve_device``); the model returned is on the CPU.
    """
    device = resolve_device(device)
    with _TRAINING:
        return _train(spec, data, progress, device, on_epoch)


def finetune(model: nn.Module, data: Dataset, epochs: int, progress: bool = False, device: str | torch.device = "cpu") -> nn.Module:
    """Train an existing model (e.g. a pruned one) for ``epochs`` more epochs with its spec's optimizer
    settings; dropout masks and batch order come from ``spec.seed`` again. Changes ``model`` in place."""
    device = resolve_device(device)
    with _TRAINING, torch_threads(TRAIN_THREADS):
        torch.manual_seed(model.spec.seed)
        return _fit(model, model.spec, data, epochs, progress, device)


def _train(spec: NetworkSpec, data: Dataset, progress: bool, device: torch.device, on_epoch=None) -> nn.Module:
    with torch_threads(TRAIN_THREADS):
        torch.manual_seed(spec.seed)
        model = build(spec)  # initialised on the CPU, on any device
        if on_epoch is not None:
            on_epoch(0, model)
        return _fit(model, spec, data, spec.epochs, progress, device, on_epoch)


def _fit(model: nn.Module, spec: NetworkSpec, data: Dataset, epochs: int, progress: bool, device: torch.device,
         on_epoch=None) -> nn.Module:
    model.to(device)
    optimizer = torch.optim.RMSprop(
        model.parameters(), lr=spec.lr, momentum=spec.momentum, weight_decay=spec.weight_decay
    )
    loss_fn = nn.CrossEntropyLoss()
    order = torch.Generator().manual_seed(spec.seed)
    x, y = data.train.x.to(device), data.train.y.to(device)
    n_batches = (len(x) + spec.batch_size - 1) // spec.batch_size
    for epoch in range(1, epochs + 1):
        model.train()
        started, total_loss = time.perf_counter(), 0.0
        perm = torch.randperm(len(x), generator=order).to(device)
        for b in range(n_batches):
            idx = perm[b * spec.batch_size : (b + 1) * spec.batch_size]
            loss = loss_fn(model(x[idx]), y[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total_loss += loss.item()
            if progress and sys.stderr.isatty() and b % 50 == 0:
                _bar(epoch, epochs, b / n_batches, total_loss / (b + 1))
        if progress:
            val_error = error_rate(model, data.val.x.to(device), data.val.y.to(device))
            seconds = time.perf_counter() - started
            note(("\r" if sys.stderr.isatty() else "") + f"{spec.name} epoch {epoch}/{epochs}: loss "
                 f"{total_loss / n_batches:.4f}, val error {val_error:.4f}, {len(x) / seconds:,.0f} samples/s")
        if on_epoch is not None:
            on_epoch(epoch, model)
    return model.to("cpu").eval()


def _bar(epoch: int, epochs: int, frac: float, loss: float) -> None:
    filled = int(30 * frac)
    print(f"\repoch {epoch}/{epochs} [{'#' * filled}{'.' * (30 - filled)}] loss {loss:.4f}", end="", file=sys.stderr, flush=True)
