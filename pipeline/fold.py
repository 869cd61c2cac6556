"""Eval-mode batch norm is an affine map, x -> scale * x + shift: folded into the Linear before or after it.

Every fold in the project goes through ``norm_affine``: pruning, the ablation engine, the baselines,
the Sequential export and the import of a norm that follows an activation.
"""
from __future__ import annotations

import torch

from pipeline.model import BN_TENSORS


def norm_affine(norm: dict[str, torch.Tensor], eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(scale, shift) of a batch norm in eval mode; ``norm`` holds its ``BN_TENSORS`` by name."""
    scale = norm["weight"] / torch.sqrt(norm["running_var"] + eps)
    return scale, norm["bias"] - norm["running_mean"] * scale


def fold_norm_after(weight: torch.Tensor, bias: torch.Tensor, norm: dict, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Linear then batch norm as one Linear: scale * (W x + b) + shift."""
    scale, shift = norm_affine(norm, eps)
    return weight * scale[:, None], bias * scale + shift


def fold_norm_before(weight: torch.Tensor, bias: torch.Tensor, norm: dict, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Batch norm then Linear as one Linear: W (scale * x + shift) + b (a norm after the previous activation)."""
    scale, shift = norm_affine(norm, eps)
    return weight * scale[None, :], bias + weight @ shift


def folded_linears(model, device: torch.device | str = "cpu", dtype: torch.dtype | None = None) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(weight, bias) of every Linear of a ``pipeline.model.MLP`` in eval mode with the batch norm after it
    folded in: new tensors on ``device`` in ``dtype`` (default: the model's), converted before folding."""
    def on(tensor: torch.Tensor) -> torch.Tensor:
        return tensor.detach().to(device, dtype or tensor.dtype, copy=True)

    out = []
    with torch.no_grad():
        for i, linear in enumerate(model.linear):
            weight, bias = on(linear.weight), on(linear.bias)
            if model.bn is not None and i < len(model.bn):
                norm = model.bn[i]
                weight, bias = fold_norm_after(weight, bias, {p: on(getattr(norm, p)) for p in BN_TENSORS}, norm.eps)
            out.append((weight, bias))
    return out
