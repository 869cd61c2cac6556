"""Run a network over a split in batches and yield every hidden layer's outputs, batch by batch."""
from __future__ import annotations

import copy
from collections.abc import Iterator

import numpy as np
import torch

from pipeline.device import resolve_device
from pipeline.model import MLP
from pipeline.threads import choose_threads, torch_threads


@torch.no_grad()
def hidden_outputs(model: MLP, x: torch.Tensor, batch_size: int = 5000,
                   device: str | torch.device = "cpu") -> Iterator[tuple[int, list[np.ndarray]]]:
    """Yield ``(start, [H_1, ..., H_L])`` for consecutive batches: H_l is (batch, M_l) float32 numpy.

    Only one batch of every layer is in memory at a time, whatever the size of the split. Runs on
    ``device`` (a copy of the model if it lives elsewhere) with ``pipeline.threads.choose_threads()``
    CPU threads per batch; torch's thread count is restored before each yield.
    """
    device = resolve_device(device)
    if next(model.parameters()).device != device:
        model = copy.deepcopy(model).to(device)
    model.eval()
    threads = choose_threads()
    for start in range(0, len(x), batch_size):
        with torch_threads(threads):
            h, layers = x[start : start + batch_size].to(device), []
            for i in range(model.n_hidden):
                h = model.block(i, h)
                layers.append(h.cpu().numpy().astype(np.float32, copy=False))
        yield start, layers
