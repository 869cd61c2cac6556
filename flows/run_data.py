"""The data a run's stages see: its dataset, standardized by its spec's input statistics (no Prefect here)."""
from __future__ import annotations

import functools
from dataclasses import replace
from pathlib import Path

from pipeline.data import Dataset, Split, input_channels, load_dataset
from pipeline.errors import NeuronInfoError
from pipeline.spec import NetworkSpec
from pipeline.standardize import standardize, with_input_stats


@functools.lru_cache(maxsize=4)
def dataset_for(name: str, data_dir: str | None, seed: int, n_val: int, input_mean: tuple | None = None,
                input_std: tuple | None = None) -> Dataset:
    """Load (and keep a few in memory) the dataset a spec was trained on, standardized by ``input_mean/std`` if given."""
    if input_mean is None:
        return load_dataset(name, data_dir=data_dir, seed=seed, n_val=n_val)
    data = dataset_for(name, data_dir, seed, n_val)
    scale = lambda split: Split(standardize(split.x, input_mean, input_std), split.y)  # noqa: E731
    return replace(data, train=scale(data.train), val=scale(data.val), test=scale(data.test))


def data_of(spec: NetworkSpec, data_dir: str | Path | None, standardized: bool = True) -> Dataset:
    """The dataset ``spec`` was trained on, its inputs as the network takes them (standardized by the spec's
    stats), or with ``standardized=False`` as the dataset holds them ([0, 1])."""
    stats = (spec.input_mean, spec.input_std) if standardized else (None, None)
    data = dataset_for(spec.dataset, str(data_dir) if data_dir else None, spec.seed, spec.n_val, *stats)
    if (data.input_dim, data.n_classes) != (spec.input_dim, spec.n_classes):
        raise NeuronInfoError(
            f"network {spec.name} takes {spec.input_dim} inputs and {spec.n_classes} classes but {spec.dataset} has "
            f"{data.input_dim} and {data.n_classes}; the checkpoint's spec does not match its dataset"
        )
    return data


def train_job(spec_json: str, data_dir: str | None, device: str, progress: bool) -> bytes:
    """Train a spec on its dataset (a job for ``pipeline.train_process.run_isolated``): the network's bytes."""
    from pipeline.train import train
    from pipeline.train_process import model_bytes

    spec = NetworkSpec.from_json(spec_json)
    return model_bytes(train(spec, data_of(spec, data_dir), progress=progress, device=device))


def train_snapshots_job(spec_json: str, data_dir: str | None, device: str, progress: bool, epochs: list[int]) -> dict[int, bytes]:
    """Train a spec, keeping the network after each of ``epochs`` (0: as initialised) with the spec of a training
    that long (pipeline/trajectory.py): {epoch: the network's bytes}. A job for ``run_isolated``."""
    import copy

    from pipeline.train import train
    from pipeline.train_process import model_bytes
    from pipeline.trajectory import snapshot_spec

    spec = NetworkSpec.from_json(spec_json)
    kept: dict[int, bytes] = {}

    def keep(epoch, model):
        if epoch in epochs:
            snapshot = copy.deepcopy(model).to("cpu").eval()
            snapshot.spec = snapshot_spec(spec, epoch)
            kept[epoch] = model_bytes(snapshot)

    train(spec, data_of(spec, data_dir), progress=progress, device=device, on_epoch=keep)
    return kept


def resolve_inputs(spec: NetworkSpec, data_dir: str | Path | None) -> NetworkSpec:
    """``spec`` with its input statistics: a ``standardized`` spec without them gets the training split's
    per-channel mean and std; a ``unit`` spec (or one that has them) is returned as it is."""
    if spec.inputs == "unit" or spec.input_mean is not None:
        return spec
    train_x = data_of(spec, data_dir).train.x  # [0, 1]: this spec has no stats yet
    return with_input_stats(spec, train_x, input_channels(spec.dataset))
