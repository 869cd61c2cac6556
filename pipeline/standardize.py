"""Input standardization: per-channel mean and std of the training split, stored in the spec.

A spec with ``input_mean`` / ``input_std`` (one value per channel: 1 for the grey-scale sets, 3 for
CIFAR-10's channel-major inputs) feeds its network ``(x - mean[c]) / std[c]``; a spec without them feeds
the [0, 1] inputs as they are. Every consumer (training, capture, ablation, imported checkpoints) goes
through ``standardize`` with the spec's own values, so they all see the same inputs.
"""
from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn

from pipeline.spec import NetworkSpec


def channel_stats(x: torch.Tensor, channels: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and (population) std of ``x`` (N, D), computed in float64; a constant channel gets std 1."""
    by_channel = x.reshape(len(x), channels, -1)
    stats = [torch.std_mean(by_channel[:, c].double(), correction=0) for c in range(channels)]
    mean = tuple(round(float(m), 9) for _, m in stats)
    std = tuple(round(float(s), 9) if s > 0 else 1.0 for s, _ in stats)
    return mean, std


def with_input_stats(spec: NetworkSpec, train_x: torch.Tensor, channels: int) -> NetworkSpec:
    """``spec`` standardizing its inputs by ``train_x``'s per-channel statistics."""
    mean, std = channel_stats(train_x, channels)
    return replace(spec, input_mean=mean, input_std=std)


def per_input(values: tuple[float, ...], input_dim: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """One value per channel spread over that channel's inputs (channel-major): a vector of ``input_dim``."""
    return torch.tensor(values, dtype=dtype).repeat_interleave(input_dim // len(values))


def standardize(x: torch.Tensor, input_mean: tuple[float, ...] | None, input_std: tuple[float, ...] | None) -> torch.Tensor:
    """``(x - mean[c]) / std[c]`` for channel-major inputs ``x`` (N, D); ``x`` itself when there are no stats."""
    if input_mean is None:
        return x
    return (x - per_input(input_mean, x.shape[1], x.dtype)) / per_input(input_std, x.shape[1], x.dtype)


class OnDatasetInputs(nn.Module):
    """``network`` preceded by its spec's standardization: it takes the dataset's [0, 1] inputs, as the
    exported ``nn.Sequential`` does (the stats folded into its first Linear). ``.network`` takes standardized ones."""

    def __init__(self, network: nn.Module):
        super().__init__()
        self.network, self.spec = network, network.spec
        stats = self.spec.input_mean is not None
        self.register_buffer("mean", per_input(self.spec.input_mean, self.spec.input_dim) if stats else None)
        self.register_buffer("std", per_input(self.spec.input_std, self.spec.input_dim) if stats else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.network(x if self.mean is None else (x - self.mean) / self.std)
