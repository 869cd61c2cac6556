"""Run a network over a split in batches and yield every hidden layer's outputs, batch by batch."""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from pipeline.model import MLP
from pipeline.threads import choose_threads, torch_threads


@torch.no_grad()
def hidden_outputs(model: MLP, x: torch.Tensor, batch_size: int = 5000) -> Iterator[tuple[int, list[np.ndarray]]]:
    """Yield ``(start, [H_1, ..., H_L])`` for consecutive batches: H_l is (batch, M_l) float32.

    Only one batch of every layer is in memory at a time, whatever the size of the split. Each batch
    runs with ``pipeline.threads.choose_threads()`` torch threads; torch's count is restored before each yield.
    """
    model.eval()
    threads = choose_threads()
    for start in range(0, len(x), batch_size):
        with torch_threads(threads):
            h, layers = x[start : start + batch_size], []
            for i in range(model.n_hidden):
                h = model.block(i, h)
                layers.append(h.numpy().astype(np.float32, copy=False))
        yield start, layers
