"""The fully-connected network: hidden blocks Linear -> (BatchNorm) -> ReLU/sigmoid -> (Dropout).

Parameter names match the checkpoint format (``linear_key``, ``norm_key``: ``linear.{i}.weight|bias`` and
``bn.{i}.weight|bias|running_mean|running_var`` for the norm after linear i). Hidden layer l (1-based) is
the output of block l-1.
"""
from __future__ import annotations

import torch
from torch import nn

from pipeline.spec import NetworkSpec

LINEAR, NORM = "linear", "bn"  # the module lists of MLP, hence the checkpoint's tensor prefixes
LINEAR_TENSORS = ("weight", "bias")
BN_TENSORS = ("weight", "bias", "running_mean", "running_var")


def linear_key(i: int, name: str) -> str:
    """Checkpoint name of tensor ``name`` (one of LINEAR_TENSORS) of linear i."""
    return f"{LINEAR}.{i}.{name}"


def norm_key(i: int, name: str) -> str:
    """Checkpoint name of tensor ``name`` (one of BN_TENSORS) of the batch norm after linear i."""
    return f"{NORM}.{i}.{name}"


class MLP(nn.Module):
    def __init__(self, spec: NetworkSpec, device: str | None = None):
        super().__init__()
        self.spec = spec
        widths = (spec.input_dim, *spec.hidden_sizes, spec.n_classes)
        self.linear = nn.ModuleList(nn.Linear(a, b, device=device) for a, b in zip(widths[:-1], widths[1:]))
        use_bn = spec.regularizer == "dropout_bn"
        self.bn = nn.ModuleList(nn.BatchNorm1d(h, device=device) for h in spec.hidden_sizes) if use_bn else None
        # one parameter-free activation module per block, so a hook on ``acts.{i}`` reads hidden layer i+1
        self.acts = nn.ModuleList(nn.ReLU() if spec.activation == "relu" else nn.Sigmoid() for _ in spec.hidden_sizes)
        self.drop = nn.Dropout(spec.dropout) if spec.dropout > 0 else nn.Identity()

    @property
    def n_hidden(self) -> int:
        return len(self.spec.hidden_sizes)

    def pre_activation(self, i: int, h: torch.Tensor) -> torch.Tensor:
        """Block i up to (and including) batch norm: the input of the activation."""
        z = self.linear[i](h)
        return self.bn[i](z) if self.bn is not None else z

    def block(self, i: int, h: torch.Tensor) -> torch.Tensor:
        """Hidden block i (0-based): its output is hidden layer i+1."""
        return self.drop(self.acts[i](self.pre_activation(i, h)))

    def head(self, h: torch.Tensor) -> torch.Tensor:
        """Logits from the last hidden layer."""
        return self.linear[-1](h)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i in range(self.n_hidden):
            x = self.block(i, x)
        return self.head(x)

    def checkpoint_tensors(self) -> dict[str, torch.Tensor]:
        """The tensors of the public checkpoint format (contiguous CPU float32 copies)."""
        out = {}
        for i, lin in enumerate(self.linear):
            out.update({linear_key(i, name): getattr(lin, name) for name in LINEAR_TENSORS})
        for i, bn in enumerate(self.bn or []):
            out.update({norm_key(i, name): getattr(bn, name) for name in BN_TENSORS})
        return {k: v.detach().to(torch.float32).contiguous().clone() for k, v in out.items()}

    def expected_shapes(self) -> dict[str, tuple[int, ...]]:
        return checkpoint_shapes(self.spec)

    @classmethod
    def empty(cls, spec: NetworkSpec) -> "MLP":
        """A model with uninitialised weights, to load a checkpoint into. It draws nothing from torch's
        global RNG, so loading never disturbs a training running in another thread."""
        return cls(spec, device="meta").to_empty(device="cpu")

    def load_checkpoint_tensors(self, tensors: dict[str, torch.Tensor]) -> "MLP":
        """Copy checkpoint tensors in (shapes are checked by the caller) and switch to eval mode."""
        with torch.no_grad():
            for i, lin in enumerate(self.linear):
                for name in LINEAR_TENSORS:
                    getattr(lin, name).copy_(tensors[linear_key(i, name)])
            for i, bn in enumerate(self.bn or []):
                for name in BN_TENSORS:
                    getattr(bn, name).copy_(tensors[norm_key(i, name)])
                bn.num_batches_tracked.zero_()
        return self.eval()


def checkpoint_shapes(spec: NetworkSpec) -> dict[str, tuple[int, ...]]:
    """The public checkpoint's tensor names and shapes for ``spec``, by arithmetic alone (allocates nothing)."""
    widths = [spec.input_dim, *spec.hidden_sizes, spec.n_classes]
    shapes = {}
    for i, (fan_in, fan_out) in enumerate(zip(widths, widths[1:])):
        shapes[linear_key(i, "weight")] = (fan_out, fan_in)
        shapes[linear_key(i, "bias")] = (fan_out,)
    if spec.regularizer == "dropout_bn":
        for i, width in enumerate(spec.hidden_sizes):
            shapes.update({norm_key(i, name): (width,) for name in BN_TENSORS})
    return shapes


def unit_paths(spec: NetworkSpec) -> list[str]:
    """The module paths of an MLP's hidden layers (their activation modules)."""
    return [f"acts.{i}" for i in range(len(spec.hidden_sizes))]


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int = 8192) -> torch.Tensor:
    """Predicted labels in eval mode, in batches."""
    model.eval()
    return torch.cat([model(x[i : i + batch_size]).argmax(1) for i in range(0, len(x), batch_size)])


def error_rate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of misclassified samples."""
    return float((predict(model, x) != y).float().mean())
