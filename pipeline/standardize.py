"""Input standardization: per-channel mean and std of the training split, stored in the spec.

A spec with ``input_mean`` / ``input_std`` (one value per channel: 1 for the grey-scale sets, 3 for
CIFAR-10's channel-major inputs) feeds its network ``(x - mean[c]) / std[c]``; a spec without them feeds
the [0, 1] inputs as they are. Every consumer (training, capture, ablation, imported checkpoints) goes
through ``standardize`` with the spec's own values, so they all see the same inputs.
"""
from __future__ import annotations

from dataclasses import replace

import torch

from pipeline.spec import NetworkSpec


def channel_stats(x: torch.Tensor, channels: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and (population) std of ``x`` (N, D), computed in float64; a constant channel gets std 1."""
    per_channel = x.reshape(len(x), channels, -1).transpose(0, 1).reshape(channels, -1).double()
    mean = per_channel.mean(dim=1)
    std = per_channel.std(dim=1, correction=0)
    std = torch.where(std > 0, std, torch.ones_like(std))
    return tuple(round(float(m), 9) for m in mean), tuple(round(float(s), 9) for s in std)


def with_input_stats(spec: NetworkSpec, train_x: torch.Tensor, channels: int) -> NetworkSpec:
    """``spec`` standardizing its inputs by ``train_x``'s per-channel statistics."""
    mean, std = channel_stats(train_x, channels)
    return replace(spec, input_mean=mean, input_std=std)


def standardize(x: torch.Tensor, input_mean: tuple[float, ...] | None, input_std: tuple[float, ...] | None) -> torch.Tensor:
    """``(x - mean[c]) / std[c]`` for channel-major inputs ``x`` (N, D); ``x`` itself when there are no stats."""
    if input_mean is None:
        return x
    per_channel = x.shape[1] // len(input_mean)
    mean = torch.tensor(input_mean, dtype=x.dtype).repeat_interleave(per_channel)
    std = torch.tensor(input_std, dtype=x.dtype).repeat_interleave(per_channel)
    return (x - mean) / std
