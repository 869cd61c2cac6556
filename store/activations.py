"""The activation store: ``activations/<run_id>.zarr`` (Zarr v3), the asset everything downstream reads.

Layout (root attributes: run_id, splits, layer_sizes, bits, method, complete):

    <split>/labels                 (N,)   uint8     split in {val, test}
    <split>/layer{l}/raw           (N, M) float32   hidden layer l's output T
    <split>/layer{l}/codes_b{b}    (N, M) uint8     Q_b(T); attrs: bits, method, thresholds
    train_mean/layer{l}            (M,)   float64   mean output on the training split (ablation to the mean)
    train_mean_map/layer{l}        shape  float64   units of other networks: the module's mean output map

Chunks, codecs and checksums: store.zarr_format (every chunk read is checked). ``complete = true`` is a store's
last write, so readers never accept a partial store: locally it is built under a temporary name and renamed into
place; on object stores (no rename) it is built in place, after deleting any earlier store. Codes added later
for new bits are listed in the ``bits`` attribute only after they are written.
"""
from __future__ import annotations

import hashlib
import json
import weakref
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import numpy as np
import pyarrow as pa
import zarr

from pipeline.errors import NeuronInfoError
from pipeline.quantize import apply_thresholds, fit_quantizers
from store.atomic import atomic_path
from store.integrity import manifest_path
from store.paths import Location, Warehouse, exists, remove_tree
from store.tables import write_partition
from store.zarr_format import ChunkWriter, all_arrays, create_array, create_arrays, read_array, zarr_store
from store.zarr_metadata import metadata_problems, record_metadata

# write_raw keeps a copy of what it wrote, up to this many bytes per store, for write_codes to quantize
# without reading it back (decoding costs about as much as the quantization itself). The copy lives only
# as long as the store object (the root group of building_store) and each layer's is dropped once used.
RAW_CACHE_BYTES = 256 * 2**20
_raw_cache: dict[int, dict[str, np.ndarray]] = {}  # id(store) -> {array path: values write_raw wrote}


def _raw_cache_of(store: object) -> dict[str, np.ndarray]:
    key = id(store)
    if key not in _raw_cache:
        _raw_cache[key] = {}
        weakref.finalize(store, _raw_cache.pop, key, None)  # dropped with the store object
    return _raw_cache[key]


@contextmanager
def building_store(wh: Warehouse, run_id: str, attrs: dict | None = None) -> Iterator[zarr.Group]:
    """Yield the root group of a new store; it is complete (and, locally, in place) only if the block succeeds.

    ``attrs`` (splits, layer_sizes, bits, method) are the root attributes, written with the group: readers
    ignore them until ``complete`` is written, last. Locally the store is built at a temporary path and renamed
    into place. Object stores have no rename: the store is built at its final location after deleting any
    earlier one (complete or not), and is deleted again on error; until ``complete`` is written readers treat
    it as missing. The checksums of its metadata are recorded once it is complete (store.zarr_metadata).
    """
    final = wh.activations(run_id)
    attrs = {"run_id": run_id, **(attrs or {}), "complete": False}
    if wh.local:
        with atomic_path(final) as build:
            root = _new_store(build, attrs)
            yield root
            root.attrs["complete"] = True
        record_metadata(final)
        return
    remove_tree(final)
    remove_tree(manifest_path(final))
    try:
        root = _new_store(final, attrs)
        yield root
        root.attrs["complete"] = True
    except BaseException:
        remove_tree(final)
        raise
    record_metadata(final)


def _new_store(loc: Location, attrs: dict) -> zarr.Group:
    return zarr.open_group(zarr_store(loc), mode="w", zarr_format=3, attributes=attrs)


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
    arrays = create_arrays(group, {"labels": ((n,), "uint8", {}), **{
        f"layer{l}/raw": ((n, m), "float32", {"split": split, "layer": l}) for l, m in enumerate(layer_sizes, start=1)}})
    label_array, raws = arrays.pop("labels"), list(arrays.values())
    non_finite = np.zeros(len(layer_sizes), dtype=np.int64)
    cache = _raw_cache_of(root.store)
    for arr in raws:
        cache.pop(arr.path, None)
    in_cache = sum(a.nbytes for a in cache.values())
    kept = [np.empty(arr.shape, np.float32) for arr in raws] if in_cache + 4 * n * sum(layer_sizes) <= RAW_CACHE_BYTES else None
    rows = 0
    with ChunkWriter() as writer:  # encodes and writes batch k while the caller computes batch k+1
        writer.write(label_array, 0, np.asarray(labels).astype(np.uint8))
        for start, layers in batches:
            if start != rows:  # not consecutive batches: the store is right, a copy might not be
                kept = None
            for i, values in enumerate(layers):
                non_finite[i] += values.size - np.count_nonzero(np.isfinite(values))
                writer.write(raws[i], start, values)
                if kept is not None:
                    kept[i][start : start + len(values)] = values
            rows = start + (len(layers[0]) if layers else 0)
    for l, count in enumerate(non_finite, start=1):
        if count:
            raise NeuronInfoError(
                f"layer {l} has {count} NaN/inf outputs on split {split}; the network is numerically broken, retrain it or fix the checkpoint"
            )
    if kept is not None and rows == n:  # every row written once, in order: the copy equals the array
        cache.update({arr.path: values for arr, values in zip(raws, kept)})


def write_train_means(root: zarr.Group, unit_means: list[np.ndarray], maps: list[np.ndarray]) -> None:
    """Store each layer's mean per unit and mean output map over the training split (units of other networks:
    a map has the module's per-sample shape, e.g. (C, H, W))."""
    for group_name, arrays in (("train_mean", unit_means), ("train_mean_map", maps)):
        group = root.require_group(group_name)
        for l, values in enumerate(arrays, start=1):
            create_array(group, f"layer{l}", values.shape, "float64")[:] = values


def write_train_mean(root: zarr.Group, batches: Iterable[tuple[int, list[np.ndarray]]]) -> None:
    """Store each layer's mean output over the training split (accumulated in float64)."""
    sums, n = None, 0
    for _, layers in batches:
        batch_sums = [v.sum(axis=0, dtype=np.float64) for v in layers]
        sums = batch_sums if sums is None else [a + b for a, b in zip(sums, batch_sums)]
        n += len(layers[0])
    group = root.require_group("train_mean")
    for l, total in enumerate(sums, start=1):
        create_array(group, f"layer{l}", total.shape, "float64")[:] = total / n


def write_codes(root: zarr.Group, splits: list[str], layers: list[int], bits: list[int], activation: str, method: str,
                quantizers: dict[int, tuple[str, str]] | None = None) -> None:
    """Fit Q on the validation outputs of each of ``layers`` for each bits value; store the codes for every split.
    ``quantizers`` gives a layer its own (method, activation) (units of other networks), else ``method`` and
    ``activation`` hold for every layer.

    All the arrays are created first, in one call, and every chunk goes through one chunk writer, so the
    layers' chunks are encoded back to back with no wait in between."""
    if not bits or not layers:
        return
    cache = _raw_cache_of(root.store)
    raws = {(split, layer): root[f"{split}/layer{layer}/raw"] for split in splits for layer in layers}

    def raw_of(split: str, layer: int) -> np.ndarray:  # what write_raw just wrote, else read back from the store
        arr = raws[split, layer]
        cached = cache.get(arr.path)
        return cached if cached is not None and cached.shape == arr.shape else read_array(arr)

    val = {layer: raw_of("val", layer) for layer in layers}
    quantizers = {layer: (quantizers or {}).get(layer, (method, activation)) for layer in layers}
    thresholds = fit_quantizers(val, bits, quantizers)
    codes = create_arrays(root, {
        f"{split}/layer{layer}/codes_b{b}": (raws[split, layer].shape, "uint8", {
            "split": split, "layer": layer, "bits": b, "method": quantizers[layer][0],
            "thresholds": thresholds[layer, b].tolist()})
        for split in splits for layer in layers for b in bits})
    with ChunkWriter() as writer:  # each chunk's codes are computed, encoded and written in the pool
        for layer in layers:
            for split in splits:
                raw = val[layer] if split == "val" else raw_of(split, layer)
                for b in bits:
                    quantize = lambda block, t=thresholds[layer, b]: apply_thresholds(block, t)
                    writer.write(codes[f"{split}/layer{layer}/codes_b{b}"], 0, raw, quantize)
            val.pop(layer)  # the writer keeps what its queued chunks need
            for split in splits:
                cache.pop(raws[split, layer].path, None)


class ActivationStore:
    """Read access to a complete store whose metadata matched its record when opened (``open_activations``)."""

    def __init__(self, root: zarr.Group, loc: Location):
        self.root = root
        self.loc = loc
        attrs = dict(root.attrs)
        self.run_id: str = attrs["run_id"]
        self.splits: list[str] = list(attrs["splits"])
        self.layer_sizes: list[int] = list(attrs["layer_sizes"])
        self.bits: list[int] = sorted(attrs["bits"])
        self.method: str = attrs["method"]

    @property
    def layers(self) -> list[int]:
        return list(range(1, len(self.layer_sizes) + 1))

    def read(self, name: str) -> np.ndarray:
        """One whole array of the store, every chunk checked (``read_array``)."""
        return read_array(self.root[name], f"activations of run {self.run_id}")

    def arrays(self) -> list[str]:
        """The paths of every array in the store."""
        return sorted(path for path, _ in all_arrays(self.root))

    def labels(self, split: str) -> np.ndarray:
        return self.read(f"{split}/labels")

    def raw(self, split: str, layer: int) -> np.ndarray:
        return self.read(f"{split}/layer{layer}/raw")

    def codes(self, split: str, layer: int, bits: int) -> np.ndarray:
        if bits not in self.bits:
            raise NeuronInfoError(f"run {self.run_id} has no {bits}-bit codes; run: neuroninfo capture {self.run_id} --bits {bits}")
        return self.read(f"{split}/layer{layer}/codes_b{bits}")

    def thresholds(self, layer: int, bits: int) -> np.ndarray:
        return np.asarray(self.root[f"val/layer{layer}/codes_b{bits}"].attrs["thresholds"], dtype=np.float64)

    def layer_method(self, layer: int) -> str:
        """The quantizer method of a layer's codes (per layer: units of other networks may differ)."""
        return self.root[f"val/layer{layer}/codes_b{self.bits[0]}"].attrs.get("method", self.method)

    def units(self) -> list[dict]:
        """Per layer: module_path, unit_kind, reducer, units (a store of an mlp made before units were
        recorded: its hidden layers, ``acts.{i}``)."""
        recorded = self.root.attrs.get("units")
        if recorded:
            return [dict(layer) for layer in recorded]
        return [{"module_path": f"acts.{l - 1}", "unit_kind": "neuron", "reducer": "none", "units": m}
                for l, m in enumerate(self.layer_sizes, start=1)]

    def train_mean(self, layer: int) -> np.ndarray:
        """A layer's mean output over the training split, per unit."""
        return self.read(f"train_mean/layer{layer}")

    def train_mean_map(self, layer: int) -> np.ndarray:
        """A layer's mean output map over the training split, its module's per-sample shape (an MLP's: per unit)."""
        name = f"train_mean_map/layer{layer}"
        return self.read(name) if "train_mean_map" in self.root else self.train_mean(layer)

    def fingerprint(self) -> str:
        """SHA-256 of the quantizers (method, every layer's thresholds per bits): what measures depend on."""
        quantizers = {f"{l}/{b}": self.thresholds(l, b).tolist() for l in self.layers for b in self.bits}
        return hashlib.sha256(json.dumps([self.method, quantizers], sort_keys=True).encode()).hexdigest()


def open_activations(wh: Warehouse, run_id: str) -> ActivationStore:
    """The complete activation store of a run, its metadata checked against its record before zarr reads it, or
    a one-line error saying how to make it (or naming the damaged file)."""
    path = wh.activations(run_id)
    damaged = metadata_problems(path) if exists(path) else []
    if damaged:
        raise NeuronInfoError(f"activations of run {run_id}: {damaged[0]}; "
                              "run: neuroninfo verify --repair (recomputes activations from the checkpoint)")
    try:
        root = zarr.open_group(zarr_store(path), mode="r+", zarr_format=3)
        complete = root.attrs.get("complete") is True
    except (FileNotFoundError, zarr.errors.GroupNotFoundError, ValueError, KeyError, TypeError):
        complete = False  # missing, or metadata damaged (unreadable JSON): either way not a store to trust
    if not complete:
        raise NeuronInfoError(f"run {run_id} has no complete activation store at {path}; run: neuroninfo capture {run_id}")
    return ActivationStore(root, path)


def publish_bits(store: ActivationStore, bits: Iterable[int]) -> None:
    """List newly written codes in the root attributes (the marker readers trust)."""
    store.bits = sorted(set(store.bits) | set(bits))
    store.root.attrs["bits"] = store.bits
    record_metadata(store.loc)


def write_quantizers(wh: Warehouse, store: ActivationStore, choice: dict | None = None) -> None:
    """Write the `quantizers` and `unit_layers` partitions of the run from the store's thresholds and units;
    ``choice`` (the capture's --layers globs and --reducer) is recorded beside them for a repair."""
    rows = [  # per-unit thresholds (unit_quantile) are listed unit by unit
        {"layer": l, "bits": b, "method": store.layer_method(l), "thresholds": store.thresholds(l, b).ravel().tolist()}
        for l in store.layers for b in store.bits
    ]
    params = {"bits": store.bits, "method": store.method, "splits": store.splits}  # what verify --repair re-captures
    params.update({k: v for k, v in (choice or {}).items() if k in ("layer_globs", "reducer") and v})
    write_partition(wh, "quantizers", store.run_id, pa.Table.from_pylist(rows), params)
    layers = [{"layer": l, **unit, "output_shape": list(store.train_mean_map(l).shape), "quantizer": store.layer_method(l)}
              for l, unit in zip(store.layers, store.units())]
    write_partition(wh, "unit_layers", store.run_id, pa.Table.from_pylist(layers), params)
