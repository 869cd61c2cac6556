"""The tests' independent reference for ablation: a full forward pass per k with the first k outputs overwritten."""
import numpy as np
import torch


@torch.no_grad()
def naive_errors(model, x, y, rows, ks, means):
    """Test error per k in ``ks`` after overwriting the outputs of the first k (layer, neuron) ``rows``
    with 0 (``means`` None) or with ``means[layer - 1][neuron]``; model.block and model.head as they are."""
    out = []
    for k in ks:
        gone = rows[:k]
        h = x
        for i in range(model.n_hidden):
            h = model.block(i, h).clone()
            sel = torch.from_numpy(gone[gone[:, 0] == i + 1, 1])
            h[:, sel] = 0.0 if means is None else torch.as_tensor(means[i], dtype=h.dtype)[sel]
        pred = model.head(h).argmax(1)
        out.append(int((pred != y).sum()) / len(y))
    return np.array(out)
