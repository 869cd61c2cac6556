"""The Zarr v3 format of the activation store: each new array's metadata (chunks, codecs, dimension names),
and the chunk writer and reader that encode and decode chunks with the array's own codecs.

2-D arrays are chunked CHUNK_ROWS samples x CHUNK_COLS neurons (a whole layer up to 512 wide), compressed
(``COMPRESSORS``: Blosc-LZ4 / Blosc-zstd with bit-shuffle for raw outputs / codes) with a CRC-32C checksum per
chunk, dimension names (sample, neuron), chunk files ``c.<row>.<col>`` beside the array's ``zarr.json`` (stores
written before 2026-11-30 have 1,000-row chunks in ``c/<row>/<col>``; readers follow each array's metadata). Every
chunk is stored, even one equal to the fill value, so a missing chunk file is an error, never silently read as
fill value: reads go through ``read_array``, which checks every chunk and names the array and chunk that is
missing or damaged. What the store holds, and when readers trust it, is store.activations.
"""
from __future__ import annotations

import itertools
import json
import os
import shutil
from concurrent.futures import Future, ThreadPoolExecutor, wait
from functools import lru_cache
from pathlib import Path

import numpy as np
import zarr
from zarr.abc.codec import SupportsSyncCodec
from zarr.abc.store import SupportsGetSync, SupportsSetSync
from zarr.codecs import BloscCodec, BytesCodec, Crc32cCodec, ZstdCodec
from zarr.core.buffer import default_buffer_prototype
from zarr.core.buffer.cpu import NDBuffer
from zarr.core.group import GroupMetadata
from zarr.core.metadata import ArrayV3Metadata
from zarr.core.sync import sync
from zarr.storage import LocalStore, StorePath

from pipeline.errors import NeuronInfoError
from store.paths import Location, filesystem, is_url

# 2,500 rows: two chunks per batch of ``pipeline.activations.hidden_outputs`` (5,000 rows), so streamed batches
# stay chunk-aligned; 1,000-row chunks made 2.5x the files, and each file costs ~0.3 ms to create here
# (files are created one at a time, even from two threads), which kept the store over 2x its encode floor.
CHUNK_ROWS, CHUNK_COLS = 2500, 256
CHUNK_KEY_ENCODING = {"name": "default", "separator": "."}
WHOLE_LAYER_COLS = 512  # a layer this narrow is one column of chunks (no half-empty edge chunks)
# Raw float32 outputs: Blosc-LZ4 + bit-shuffle. Only their zeros compress (the mantissas are noise): zstd 1
# 1.7-1.8x at ~340 MB/s per core, Blosc-LZ4 + bit-shuffle 1.14x at ~1.3 GB/s. With zstd, capturing the
# cifar10-sized case took 2.2x its forward pass, with LZ4 1.7x (goal <= 2x; docs/benchmarks.md), for 46 %
# more bytes on disk (still 1.7x smaller than numpy.save).
# uint8 codes (and labels): Blosc-zstd level 1 + bit-shuffle, which packs the few used bits of every byte
# before compressing: 1-bit codes 8x smaller (zstd alone 5.3x), 3-bit 4.2x (3.5x), at 2x zstd's speed.
# CRC-32C (hardware-accelerated) after compression: a flipped or truncated chunk fails to decode.
# Stores written with other codecs (zstd for every array before 2026-11-30) read as before: each array's
# zarr.json names its codecs, and readers decode with those.
COMPRESSORS = {
    "float32": [BloscCodec(cname="lz4", clevel=5, shuffle="bitshuffle", typesize=4), Crc32cCodec()],
    "uint8": [BloscCodec(cname="zstd", clevel=1, shuffle="bitshuffle", typesize=1), Crc32cCodec()],
    "float64": [ZstdCodec(level=1), Crc32cCodec()],
}
WRITE_THREADS = os.cpu_count() or 1  # chunks are encoded (zstd releases the GIL) and written in parallel


def create_arrays(group: zarr.Group, specs: dict[str, tuple[tuple[int, ...], str, dict]]) -> dict[str, zarr.Array]:
    """Create (or replace) the arrays ``specs`` names under ``group``, ``name -> (shape, dtype, attributes)``; a
    name may hold a subgroup (``layer1/raw``) that exists already.

    On a local store each array's ``zarr.json`` is written directly (an earlier array of that name removed
    first); elsewhere zarr creates them together (``create_hierarchy``). One ``create_array`` per array took
    5-9 ms while the chunk writer's threads ran, ``create_hierarchy`` ~1.4 ms per array, this ~0.3 ms."""
    metadata = {name: ArrayV3Metadata.from_dict({**_layout(tuple(shape), dtype, name.rsplit("/", 1)[-1]), "attributes": attrs})
                for name, (shape, dtype, attrs) in specs.items()}
    config = {"write_empty_chunks": True}
    store = group.store_path.store
    if not isinstance(store, LocalStore):
        created = dict(group.create_hierarchy(metadata, overwrite=True))
        return {name: created[name].with_config(config) for name in specs}
    arrays, prototype = {}, default_buffer_prototype()
    base = store.root / group.path
    for name, meta in metadata.items():
        folder = base / name
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        for parent in Path(name).parents[:-1]:  # subgroups named in ``name`` (layer1 of layer1/raw)
            if not (base / parent / "zarr.json").exists():
                (base / parent / "zarr.json").write_bytes(GroupMetadata().to_buffer_dict(prototype)["zarr.json"].to_bytes())
        (folder / "zarr.json").write_bytes(meta.to_buffer_dict(prototype)["zarr.json"].to_bytes())
        path = f"{group.path}/{name}".strip("/")
        arrays[name] = zarr.Array(zarr.AsyncArray(meta, StorePath(store, path), config))
    return arrays


def create_array(group: zarr.Group, name: str, shape: tuple[int, ...], dtype, **attrs) -> zarr.Array:
    """One new array (see ``create_arrays``)."""
    return create_arrays(group, {name: (shape, np.dtype(dtype).name, attrs)})[name]


_layouts: dict[str, str] = {}  # settings of a new array -> its zarr.json without attributes, made by zarr once


def _layout(shape: tuple[int, ...], dtype: str, name: str) -> dict:
    """The metadata of a new array but its attributes: chunks, codecs, chunk keys, dimension names."""
    if len(shape) == 2:
        cols = shape[1] if shape[1] <= WHOLE_LAYER_COLS else CHUNK_COLS
        chunks = (min(CHUNK_ROWS, max(shape[0], 1)), cols)
    elif len(shape) > 2:  # a module's mean output map (units of other networks): one chunk
        chunks = tuple(max(d, 1) for d in shape)
    else:
        chunks = (max(min(shape[0], 100_000), 1),)
    names = ("sample", "neuron") if len(shape) == 2 else (("neuron",) if name.startswith("layer") else ("sample",))
    if len(shape) > 2:
        names = tuple(f"axis{i}" for i in range(len(shape)))
    codecs = compressors(dtype)
    key = json.dumps([shape, dtype, chunks, names, [c.to_dict() for c in codecs], CHUNK_KEY_ENCODING])
    if key not in _layouts:
        template = zarr.create_array(zarr.storage.MemoryStore(), shape=shape, dtype=dtype, chunks=chunks,
                                     compressors=codecs, dimension_names=names, chunk_key_encoding=CHUNK_KEY_ENCODING)
        _layouts[key] = json.dumps(template.metadata.to_dict())
    return json.loads(_layouts[key])


def compressors(dtype) -> list:
    """The codecs after the bytes codec of a new array of ``dtype``: compression, then the checksum."""
    return COMPRESSORS[np.dtype(dtype).name]


@lru_cache(maxsize=1)
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=WRITE_THREADS, thread_name_prefix="activations-write")


class ChunkWriter:
    """Writes chunk-aligned row blocks of arrays: each chunk encoded by the array's own codecs and stored
    from a thread pool, so chunks compress in parallel (zstd releases the GIL) with the caller's work.

    zarr's ``a[rows] = x`` spends more than the zstd encoding itself on asyncio round trips per chunk and
    codec, an empty-chunk scan and copies; a whole-chunk write needs none of that. A block that starts on
    a chunk boundary and ends on one (or at the end of the array) is written here: chunk by chunk, an
    edge chunk padded with the fill value to full size as zarr stores it, so the chunk files are
    byte-identical to zarr's (zarr would skip a chunk that is all fill value; readers see the same
    array). Anything else (or an array with other codecs, e.g. sharded) goes through zarr. Leaving the
    ``with`` block waits for every chunk and re-raises the first error, so nothing is published before
    its data is on disk.

    Why zarr internals (codec ``_encode_sync``, ``metadata.get_chunk_spec``, ``store.set_sync``, and on a local
    store the chunk file at ``metadata.encode_chunk_key``): zarr's public ``array[rows] = x`` from the same pool
    cost 1.2-1.4x the CPU time and 1.4-1.7x the wall time of this path on the same writes
    (bench/bench_capture.py --public, 2026-11-30: over the 10 % allowed for them), each call hopping between
    threads and zarr's event loop. zarr is pinned (pyproject.toml) to the version tests/test_activations_format.py
    checks this path against: byte-identical chunks to zarr's own writes.
    """

    def __init__(self) -> None:
        self.pending: list[Future] = []

    def write(self, arr: zarr.Array, start: int, values: np.ndarray, transform=None) -> None:
        """Store ``transform(values)`` (or ``values``) in rows ``start:start+len(values)`` of ``arr``."""
        rows, stop = arr.chunks[0], start + len(values)
        codecs = arr.metadata.codecs if arr.metadata.zarr_format == 3 else ()
        direct = (
            codecs and isinstance(codecs[0], BytesCodec)  # plain chunks (not sharded), no array-to-array filters
            and all(isinstance(c, SupportsSyncCodec) for c in codecs) and isinstance(arr.store_path.store, SupportsSetSync)
        )
        if not direct or values.ndim != arr.ndim or start % rows or (stop % rows and stop != arr.shape[0]):
            self.flush()
            arr[start:stop] = values if transform is None else transform(values)
            return
        cols = arr.chunks[1] if arr.ndim == 2 else None
        for r in range(start, stop, rows):
            for c in range(0, arr.shape[1], cols) if cols else [None]:
                block = values[r - start : r - start + rows] if cols is None else values[r - start : r - start + rows, c : c + cols]
                coords = (r // rows,) if cols is None else (r // rows, c // cols)
                self.pending.append(_pool().submit(put_chunk, arr, coords, block, transform))
        if len(self.pending) > 32 * WRITE_THREADS:  # bound the memory queued chunks keep alive
            self.flush(keep=4 * WRITE_THREADS)

    def flush(self, keep: int = 0) -> None:
        done, self.pending = self.pending[: len(self.pending) - keep], self.pending[len(self.pending) - keep :]
        wait(done)
        for future in done:
            future.result()

    def __enter__(self) -> ChunkWriter:
        return self

    def __exit__(self, *exc) -> None:
        if exc[0] is None:
            self.flush()
        else:  # an error is already on its way: still wait, so no thread writes after we return
            wait(self.pending)


def put_chunk(arr: zarr.Array, coords: tuple[int, ...], block: np.ndarray, transform) -> None:
    if transform is not None:
        block = transform(block)
    block = np.asarray(block, dtype=arr.dtype)
    if block.shape != arr.chunks:  # edge chunk: stored full size, padded with the fill value
        padded = np.full(arr.chunks, arr.fill_value, dtype=arr.dtype)
        padded[tuple(slice(0, k) for k in block.shape)] = block
        block = padded
    spec = arr.metadata.get_chunk_spec(coords, arr.async_array.config, default_buffer_prototype())
    data = NDBuffer.from_numpy_array(np.ascontiguousarray(block))
    for codec in arr.metadata.codecs:
        data = codec._encode_sync(data, spec)
    _set(arr.store_path.store, f"{arr.path}/{arr.metadata.encode_chunk_key(coords)}".lstrip("/"), data)


def _set(store, key: str, data) -> None:
    """Store one encoded chunk. A local store's chunk file is written in place, its directory made only when
    the file cannot be created: zarr's ``LocalStore.set`` makes the parent directories (``mkdir(exist_ok=True)``,
    a failed syscall and an exception when they exist) and writes a temporary file and renames it for every
    chunk, which took 35-40 % of the chunk writer's time (bench/bench_capture.py). Per-chunk atomicity buys
    nothing here: readers trust a store only once ``complete`` (or, for codes added later, ``bits``) lists it,
    which is written after every chunk, so a torn chunk file is never read as data."""
    if not isinstance(store, LocalStore):
        store.set_sync(key, data)
        return
    path = store.root / key
    try:
        file = open(path, "wb")
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        file = open(path, "wb")
    with file:
        file.write(data.as_buffer_like())


def read_array(arr: zarr.Array, what: str = "") -> np.ndarray:
    """The whole array, read chunk by chunk in the thread pool; a missing chunk or one that fails its
    checksum or decoding is a one-line error naming the array and the chunk."""
    out = np.empty(arr.shape, arr.dtype)
    grid = [range(-(-n // c)) for n, c in zip(arr.shape, arr.chunks)]
    futures = [_pool().submit(get_chunk, arr, coords, what) for coords in itertools.product(*grid)]
    wait(futures)
    for future in futures:  # the first error wins; every future has finished, so nothing writes later
        coords, block = future.result()
        region = tuple(slice(i * c, min((i + 1) * c, n)) for i, c, n in zip(coords, arr.chunks, arr.shape))
        out[region] = block[tuple(slice(0, r.stop - r.start) for r in region)]
    return out


def get_chunk(arr: zarr.Array, coords: tuple[int, ...], what: str) -> tuple[tuple[int, ...], np.ndarray]:
    """One stored chunk decoded, or a one-line error naming it: zarr has no public call that reads one chunk and
    says whether it is stored (its ``array[...]`` reads a missing chunk as the fill value); zarr internals as
    in ``ChunkWriter``, pinned and tested alike."""
    store = arr.store_path.store
    key = f"{arr.path}/{arr.metadata.encode_chunk_key(coords)}".lstrip("/")
    where = f"{what or 'activation store'}: array {arr.path} chunk {'/'.join(map(str, coords))}"
    fix = "run: neuroninfo verify --repair (recomputes activations from the checkpoint)"
    prototype = default_buffer_prototype()
    data = store.get_sync(key, prototype=prototype) if isinstance(store, SupportsGetSync) else sync(store.get(key, prototype))
    if data is None:
        raise NeuronInfoError(f"{where} is missing; {fix}")
    spec = arr.metadata.get_chunk_spec(coords, arr.async_array.config, prototype)
    try:
        for codec in reversed(arr.metadata.codecs):
            data = codec._decode_sync(data, spec)
        block = data.as_numpy_array().reshape(arr.chunks)
    except Exception as e:  # checksum mismatch, truncated zstd frame, wrong size: all mean a damaged file
        reason = "fails its checksum" if "checksum" in str(e) else f"cannot be decoded ({type(e).__name__})"
        raise NeuronInfoError(f"{where} {reason}; {fix}") from None
    return coords, block


def all_arrays(group: zarr.Group) -> list[tuple[str, zarr.Array]]:
    found = list(group.arrays())
    for name, sub in group.groups():
        found += [(f"{name}/{path}", arr) for path, arr in all_arrays(sub)]
    return found


def zarr_store(loc: Location) -> Path | zarr.storage.FsspecStore:
    """What zarr opens at ``loc``: a local path (LocalStore), else an FsspecStore on the URL's filesystem."""
    if not is_url(loc):
        return loc
    fs, path = filesystem(loc)
    return zarr.storage.FsspecStore.from_mapper(fs.get_mapper(path))
