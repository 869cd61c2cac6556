"""The pipeline stages as plain functions over a warehouse: train, capture, measure, ablate.

Each stage takes run_ids and paths, reads its inputs from the warehouse and writes its outputs
there, so it can run from the CLI, inside a Prefect task, or on a Dask worker alike. No Prefect here.
"""
from __future__ import annotations

import functools
from pathlib import Path

import torch

from pipeline.activations import hidden_outputs
from pipeline.data import Dataset, load_dataset
from pipeline.errors import NeuronInfoError
from pipeline.model import MLP, error_rate
from pipeline.quantize import check_bits
from pipeline.spec import NetworkSpec
from pipeline.train import set_threads, train
from store import activations as act
from store.catalog import refresh_catalog
from store.checkpoints import load_run, save_checkpoint
from store.paths import Warehouse
from store.runs import write_run
from store.tables import has_partition

SPLITS = ("val", "test")


@functools.lru_cache(maxsize=4)
def dataset_for(name: str, data_dir: str | None, seed: int, n_val: int) -> Dataset:
    """Load (and keep a few in memory) the dataset a spec was trained on."""
    return load_dataset(name, data_dir=data_dir, seed=seed, n_val=n_val)


def data_of(spec: NetworkSpec, data_dir: str | Path | None) -> Dataset:
    data = dataset_for(spec.dataset, str(data_dir) if data_dir else None, spec.seed, spec.n_val)
    if (data.input_dim, data.n_classes) != (spec.input_dim, spec.n_classes):
        raise NeuronInfoError(
            f"network {spec.name} takes {spec.input_dim} inputs and {spec.n_classes} classes but {spec.dataset} has "
            f"{data.input_dim} and {data.n_classes}; the checkpoint's spec does not match its dataset"
        )
    return data


def register_run(wh: Warehouse, run_id: str, model: MLP, data: Dataset) -> None:
    """Evaluate the unablated network and write its `runs` row."""
    sizes = {"n_train": len(data.train.y), "n_val": len(data.val.y), "n_test": len(data.test.y)}
    val_error = error_rate(model, data.val.x, data.val.y)
    test_error = error_rate(model, data.test.x, data.test.y)
    write_run(wh, run_id, model.spec, sizes, val_error, test_error)
    refresh_catalog(wh)


def train_run(wh: Warehouse, spec: NetworkSpec, data_dir: str | Path | None = None, progress: bool = True) -> str:
    """Train a network (unless its checkpoint is already in the warehouse) and register it; return run_id."""
    data = data_of(spec, data_dir)
    model = train(spec, data, progress=progress)
    run_id = save_checkpoint(wh, model)
    if not has_partition(wh, "runs", run_id):
        register_run(wh, run_id, model, data)
    return run_id


def capture_run(
    wh: Warehouse,
    run_id: str,
    bits: tuple[int, ...] = (1, 2, 3),
    method: str = "uniform",
    data_dir: str | Path | None = None,
    splits: tuple[str, ...] = SPLITS,
) -> str:
    """Store the run's hidden outputs and codes; with a complete store, only add codes for new bits."""
    for b in bits:
        check_bits(b, method)
    if "val" not in splits:
        raise NeuronInfoError("--splits must include val: the quantizers are fitted on the validation outputs")
    model = load_run(wh, run_id)
    spec = model.spec
    try:
        store = act.open_activations(wh, run_id)
    except NeuronInfoError:
        store = None
    if store is not None and set(splits) <= set(store.splits) and store.method == method:
        new_bits = [b for b in bits if b not in store.bits]
        for layer in store.layers:
            act.write_codes(store.root, store.splits, layer, new_bits, spec.activation, method)
        act.publish_bits(store, new_bits)
    else:
        data = data_of(spec, data_dir)
        set_threads()
        with act.building_store(wh, run_id) as root:
            for split in splits:
                x, y = getattr(data, split).x, getattr(data, split).y
                act.write_raw(root, split, y.numpy(), list(spec.hidden_sizes), hidden_outputs(model, x))
            act.write_train_mean(root, hidden_outputs(model, data.train.x))
            for layer in range(1, model.n_hidden + 1):
                act.write_codes(root, list(splits), layer, list(bits), spec.activation, method)
            root.attrs.update({"splits": list(splits), "layer_sizes": list(spec.hidden_sizes),
                               "bits": sorted(bits), "method": method})
        store = act.open_activations(wh, run_id)
    act.write_quantizers(wh, store)
    refresh_catalog(wh)
    return run_id
