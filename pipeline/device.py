"""The torch device a stage runs on (``--device``): cpu by default, cuda or mps when torch has one.

Device is how a stage runs, not what it computes: it is no part of a network's spec or run identity.
"""
from __future__ import annotations

import torch

from pipeline.errors import NeuronInfoError

KINDS = ("cpu", "cuda", "mps")


def resolve_device(name: str | None = "cpu") -> torch.device:
    """``name`` ('cpu', 'cuda', 'cuda:N', 'mps'; None = cpu) as a torch.device this torch can use, or a
    one-line NeuronInfoError naming the problem and the fix."""
    text = "cpu" if name is None else str(name).strip().lower()
    try:
        device = torch.device(text)
    except (RuntimeError, ValueError):
        device = None
    if device is None or device.type not in KINDS:
        raise NeuronInfoError(f"unknown device {name!r}; use one of {', '.join(KINDS)} (e.g. --device cuda:0)")
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            fix = ("run on a machine with an NVIDIA GPU and its driver" if torch.version.cuda
                   else "install a CUDA build of torch")
            raise NeuronInfoError(f"device {text!r}: torch {torch.__version__} sees no CUDA GPU here; "
                                  f"use --device cpu, or {fix}")
        if device.index is not None and device.index >= count:
            raise NeuronInfoError(f"device {text!r}: torch sees {count} CUDA GPU(s), numbered 0..{count - 1}; "
                                  f"use --device cuda:0")
        return torch.device("cuda", device.index or 0)
    if device.type == "mps":
        if not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
            raise NeuronInfoError(f"device {text!r}: torch {torch.__version__} has no usable MPS (Apple GPU) here; "
                                  "use --device cpu")
        return torch.device("mps")
    return torch.device("cpu")
