"""The activation store: ``activations/<run_id>.zarr`` (Zarr v3), the asset everything downstream reads.

Layout (root attributes: run_id, splits, layer_sizes, bits, method, complete):

    <split>/labels                 (N,)   uint8     split in {val, test}
    <split>/layer{l}/raw           (N, M) float32   hidden layer l's output T
    <split>/layer{l}/codes_b{b}    (N, M) uint8     Q_b(T); attrs: bits, method, thresholds
    train_mean/layer{l}            (M,)   float64   mean output on the training split (ablation to the mean)

2-D arrays are chunked CHUNK_ROWS samples x CHUNK_COLS neurons (a whole layer up to 512 wide) with zstd, dimension names
(sample, neuron). A store is built under a temporary name and renamed into place with
``complete = true`` as its last write, so readers never accept a partial store; codes added later for
new bits are listed in the ``bits`` attribute only after they are written.
"""
from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pyarrow as pa
import zarr
from zarr.codecs import ZstdCodec

from pipeline.errors import NeuronInfoError
from pipeline.quantize import apply_thresholds, fit_thresholds
from store.paths import Warehouse
from store.tables import write_partition

CHUNK_ROWS, CHUNK_COLS = 1000, 256
WHOLE_LAYER_COLS = 512  # a layer this narrow is one column of chunks (no half-empty edge chunks)
COMPRESSORS = [ZstdCodec(level=3)]


def _array(group: zarr.Group, name: str, shape: tuple[int, ...], dtype, **attrs) -> zarr.Array:
    if len(shape) == 2:
        cols = shape[1] if shape[1] <= WHOLE_LAYER_COLS else CHUNK_COLS
        chunks = (min(CHUNK_ROWS, max(shape[0], 1)), cols)
    else:
        chunks = (max(min(shape[0], 100_000), 1),)
    names = ("sample", "neuron") if len(shape) == 2 else (("neuron",) if name.startswith("layer") else ("sample",))
    return group.create_array(
        name, shape=shape, dtype=dtype, chunks=chunks, compressors=COMPRESSORS,
        dimension_names=names, attributes=attrs, overwrite=True,
    )


@contextmanager
def building_store(wh: Warehouse, run_id: str) -> Iterator[zarr.Group]:
    """Yield the root group of a new store at a temporary path; publish it only if the block succeeds."""
    final = wh.activations(run_id)
    tmp = final.with_name(f".{final.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        root = zarr.open_group(tmp, mode="w", zarr_format=3)
        root.attrs.update({"run_id": run_id, "complete": False})
        yield root
        root.attrs["complete"] = True
        _replace_dir(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _replace_dir(src: Path, final: Path) -> None:
    trash = final.with_name(f".{final.name}.{uuid.uuid4().hex[:8]}.old")
    if final.exists():
        final.rename(trash)
    src.rename(final)
    shutil.rmtree(trash, ignore_errors=True)


def write_raw(
    root: zarr.Group,
    split: str,
    labels: np.ndarray,
    layer_sizes: list[int],
    batches: Iterable[tuple[int, list[np.ndarray]]],
) -> None:
    """Write labels and every layer's raw outputs of a split, batch by batch (rows aligned to chunks).

    NaN/inf outputs are an error naming the layer and the count; nothing is published then.
    """
    group = root.require_group(split)
    n = len(labels)
    _array(group, "labels", (n,), "uint8")[:] = labels.astype(np.uint8)
    raws = [_array(group.require_group(f"layer{l}"), "raw", (n, m), "float32", split=split, layer=l)
            for l, m in enumerate(layer_sizes, start=1)]
    non_finite = np.zeros(len(layer_sizes), dtype=np.int64)
    for start, layers in batches:
        for i, values in enumerate(layers):
            non_finite[i] += values.size - np.count_nonzero(np.isfinite(values))
            raws[i][start : start + len(values)] = values
    for l, count in enumerate(non_finite, start=1):
        if count:
            raise NeuronInfoError(
                f"layer {l} has {count} NaN/inf outputs on split {split}; the network is numerically broken, retrain it or fix the checkpoint"
            )


def write_train_mean(root: zarr.Group, batches: Iterable[tuple[int, list[np.ndarray]]]) -> None:
    """Store each layer's mean output over the training split (accumulated in float64)."""
    sums, n = None, 0
    for _, layers in batches:
        batch_sums = [v.sum(axis=0, dtype=np.float64) for v in layers]
        sums = batch_sums if sums is None else [a + b for a, b in zip(sums, batch_sums)]
        n += len(layers[0])
    group = root.require_group("train_mean")
    for l, total in enumerate(sums, start=1):
        _array(group, f"layer{l}", total.shape, "float64")[:] = total / n


def write_codes(root: zarr.Group, splits: list[str], layer: int, bits: list[int], activation: str, method: str) -> None:
    """Fit Q on the validation outputs of ``layer`` for each bits value; store the codes for every split."""
    val = root[f"val/layer{layer}/raw"][:]
    thresholds = {b: fit_thresholds(val, b, activation, method) for b in bits}
    for split in splits:
        raw = val if split == "val" else root[f"{split}/layer{layer}/raw"][:]
        for b in bits:
            _array(
                root[f"{split}/layer{layer}"], f"codes_b{b}", raw.shape, "uint8",
                split=split, layer=layer, bits=b, method=method, thresholds=thresholds[b].tolist(),
            )[:] = apply_thresholds(raw, thresholds[b])


class ActivationStore:
    """Read access to a complete store."""

    def __init__(self, root: zarr.Group):
        self.root = root
        attrs = dict(root.attrs)
        self.run_id: str = attrs["run_id"]
        self.splits: list[str] = list(attrs["splits"])
        self.layer_sizes: list[int] = list(attrs["layer_sizes"])
        self.bits: list[int] = sorted(attrs["bits"])
        self.method: str = attrs["method"]

    @property
    def layers(self) -> list[int]:
        return list(range(1, len(self.layer_sizes) + 1))

    def labels(self, split: str) -> np.ndarray:
        return self.root[f"{split}/labels"][:]

    def raw(self, split: str, layer: int) -> np.ndarray:
        return self.root[f"{split}/layer{layer}/raw"][:]

    def codes(self, split: str, layer: int, bits: int) -> np.ndarray:
        if bits not in self.bits:
            raise NeuronInfoError(f"run {self.run_id} has no {bits}-bit codes; run: neuroninfo capture {self.run_id} --bits {bits}")
        return self.root[f"{split}/layer{layer}/codes_b{bits}"][:]

    def thresholds(self, layer: int, bits: int) -> np.ndarray:
        return np.asarray(self.root[f"val/layer{layer}/codes_b{bits}"].attrs["thresholds"], dtype=np.float64)

    def train_mean(self, layer: int) -> np.ndarray:
        return self.root[f"train_mean/layer{layer}"][:]


def open_activations(wh: Warehouse, run_id: str) -> ActivationStore:
    """The complete activation store of a run, or a one-line error saying how to make it."""
    path = wh.activations(run_id)
    try:
        root = zarr.open_group(path, mode="r+", zarr_format=3)
        complete = root.attrs.get("complete") is True
    except (FileNotFoundError, zarr.errors.GroupNotFoundError, ValueError):
        complete = False
    if not complete:
        raise NeuronInfoError(f"run {run_id} has no complete activation store at {path}; run: neuroninfo capture {run_id}")
    return ActivationStore(root)


def publish_bits(store: ActivationStore, bits: Iterable[int]) -> None:
    """List newly written codes in the root attributes (the marker readers trust)."""
    store.bits = sorted(set(store.bits) | set(bits))
    store.root.attrs["bits"] = store.bits


def write_quantizers(wh: Warehouse, store: ActivationStore) -> None:
    """Write the `quantizers` partition of the run from the store's thresholds."""
    rows = [
        {"layer": l, "bits": b, "method": store.method, "thresholds": store.thresholds(l, b).tolist()}
        for l in store.layers for b in store.bits
    ]
    write_partition(wh, "quantizers", store.run_id, pa.Table.from_pylist(rows))
