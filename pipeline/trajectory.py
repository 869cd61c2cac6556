"""Trajectories: one training seen at several epochs, each checkpoint a run of its own.

The network after e epochs of a training is exactly the network ``replace(spec, epochs=e)`` trains (the
initialisation, batch order and dropout masks come from the seed, epoch after epoch), so a checkpoint kept
at epoch e gets that spec: it is the run training e epochs would make, with the same run_id. Epoch 0 is
the network as initialised. The `trajectory_points` table links the runs of one training by epoch.
"""
from __future__ import annotations

from dataclasses import replace

from pipeline.errors import NeuronInfoError
from pipeline.spec import NetworkSpec


def log_epochs(epochs: int) -> tuple[int, ...]:
    """0, 1, 2, 4, 8, ... up to ``epochs``, and ``epochs`` itself: a logarithmic grid (early training moves fastest)."""
    grid, e = {0, epochs}, 1
    while e < epochs:
        grid.add(e)
        e *= 2
    return tuple(sorted(grid))


def checkpoint_epochs(epochs: int, listed: tuple[int, ...] | str = (), every: int | None = None) -> tuple[int, ...]:
    """The epochs a training of ``epochs`` epochs keeps: ``listed`` (or 'log': ``log_epochs``) and every ``every``
    epochs from 0; the last epoch always. A one-line error for an epoch outside 0..epochs."""
    if every is not None and every < 1:
        raise NeuronInfoError(f"--checkpoint-every {every}; give a number of epochs >= 1")
    listed = log_epochs(epochs) if listed == "log" else tuple(listed or ())
    wanted = set(listed) | (set(range(0, epochs + 1, every)) if every else set())
    outside = sorted(e for e in wanted if not 0 <= e <= epochs)
    if outside:
        raise NeuronInfoError(f"checkpoint epoch {outside[0]} is outside this training's 0..{epochs}; "
                              f"list epochs within it (or train longer: --epochs {max(outside)})")
    return tuple(sorted(wanted | {epochs}))


def analysed_in_full(epoch: int, epochs: tuple[int, ...] | None = None) -> bool:
    """Does a trajectory checkpoint at ``epoch`` get pairs and ablation (they cost most) besides its measures?
    At ``epochs`` when given, else at 0 and every power of two (the logarithmic grid)."""
    if epochs is not None:
        return epoch in epochs
    return epoch == 0 or epoch & (epoch - 1) == 0


def snapshot_spec(spec: NetworkSpec, epoch: int) -> NetworkSpec:
    """The spec of the checkpoint a training of ``spec`` keeps after ``epoch`` epochs."""
    return replace(spec, epochs=epoch)


def training_id(spec: NetworkSpec) -> str:
    """The name of a training this project ran: its final spec's name (every choice and the seed)."""
    return spec.name
