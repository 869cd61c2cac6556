"""The activation store's on-disk format: codecs, stores written with the earlier codecs, and zarr's private
chunk path used by store.zarr_format (pinned zarr version; checked here against zarr's public API)."""
import itertools
import re
from pathlib import Path

import numpy as np
import pytest
import zarr
from zarr.codecs import BloscCodec, Crc32cCodec, ZstdCodec

from store import activations as act
from store import zarr_format as zf
from store.paths import open_warehouse

ROWS, SIZES = 6_000, [600, 40]  # an edge chunk in rows (2,500-row chunks) and, for 600 > 512 neurons, in columns
OLD_CODECS = {"float32": [ZstdCodec(level=1), Crc32cCodec()], "uint8": [ZstdCodec(level=1), Crc32cCodec()],
              "float64": [ZstdCodec(level=1), Crc32cCodec()]}  # every array before 2026-11-30


def outputs(seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [np.maximum(rng.normal(size=(ROWS, m)), 0).astype(np.float32) for m in SIZES]


def build(wh, run_id: str, raw: list[np.ndarray], labels: np.ndarray) -> act.ActivationStore:
    """A store of one split written by the store's own writers, in batches of 5,000 rows (as hidden_outputs)."""
    batches = [(s, [a[s : s + 5000] for a in raw]) for s in range(0, ROWS, 5000)]
    attrs = {"splits": ["val"], "layer_sizes": SIZES, "bits": [1, 3], "method": "uniform"}
    with act.building_store(wh, run_id, attrs) as root:
        act.write_raw(root, "val", labels, SIZES, batches)
        act.write_train_mean(root, batches)
        act.write_codes(root, ["val"], [1, 2], [1, 3], "relu", "uniform")
    return act.open_activations(wh, run_id)


def check_reads(store: act.ActivationStore, raw: list[np.ndarray], labels: np.ndarray) -> None:
    """Every array reads back equal to numpy's own computation, through the store and zarr's public API."""
    np.testing.assert_array_equal(store.labels("val"), labels)
    for layer, values in enumerate(raw, start=1):
        np.testing.assert_array_equal(store.raw("val", layer), values)
        np.testing.assert_array_equal(store.root[f"val/layer{layer}/raw"][...], values)
        np.testing.assert_allclose(store.train_mean(layer), values.mean(0, dtype=np.float64), rtol=1e-12)
        for bits in (1, 3):
            edges = np.linspace(0, values.max(), 2**bits)[:-1]  # uniform bins of (0, max], as docs/measures.md defines them
            expected = (values[:, :, None] > edges).sum(-1)
            np.testing.assert_array_equal(store.codes("val", layer, bits), expected)
            np.testing.assert_array_equal(store.root[f"val/layer{layer}/codes_b{bits}"][...], expected)


def test_codecs_chosen_per_dtype(tmp_path):
    raw, labels = outputs(0), np.arange(ROWS, dtype=np.uint8) % 10
    store = build(open_warehouse(tmp_path), "r1", raw, labels)
    check_reads(store, raw, labels)
    raw_codecs, code_codecs = store.root["val/layer1/raw"].compressors, store.root["val/layer1/codes_b1"].compressors
    assert [type(c) for c in raw_codecs] == [type(c) for c in code_codecs] == [BloscCodec, Crc32cCodec]
    assert (raw_codecs[0].cname.value, raw_codecs[0].shuffle.value, raw_codecs[0].typesize) == ("lz4", "bitshuffle", 4)
    assert (code_codecs[0].cname.value, code_codecs[0].shuffle.value, code_codecs[0].typesize) == ("zstd", "bitshuffle", 1)


def test_stores_in_the_earlier_format_read_identically(tmp_path, monkeypatch):
    """A store written before the format changes (zstd everywhere, 1,000-row chunks, nested chunk keys c/i/j)
    reads as before, and new bits added to it later use the new codecs, chunks and flat chunk keys (c.i.j)."""
    raw, labels = outputs(1), np.arange(ROWS, dtype=np.uint8) % 7
    wh = open_warehouse(tmp_path)
    with monkeypatch.context() as m:
        m.setattr(zf, "COMPRESSORS", OLD_CODECS)
        m.setattr(zf, "CHUNK_KEY_ENCODING", {"name": "default", "separator": "/"})
        m.setattr(zf, "CHUNK_ROWS", 1000)
        old = build(wh, "old", raw, labels)
    assert all(type(arr.compressors[0]) is ZstdCodec for _, arr in zf.all_arrays(old.root))
    assert (wh.activations("old") / "val" / "layer1" / "raw" / "c" / "5" / "1").is_file()
    old = act.open_activations(wh, "old")  # opened fresh, by the current code
    check_reads(old, raw, labels)
    act.write_codes(old.root, ["val"], [1], [2], "relu", "uniform")  # as capture_run adds bits to a store
    old = act.open_activations(wh, "old")
    assert type(old.root["val/layer1/codes_b2"].compressors[0]) is BloscCodec
    assert (wh.activations("old") / "val" / "layer1" / "codes_b2" / "c.2.1").is_file()
    edges = np.linspace(0, raw[0].max(), 4)[:-1]
    np.testing.assert_array_equal(old.read("val/layer1/codes_b2"), (raw[0][:, :, None] > edges).sum(-1))
    new = build(wh, "new", raw, labels)
    for path in new.arrays():
        np.testing.assert_array_equal(old.read(path), new.read(path))


def test_zarr_is_pinned_where_the_private_chunk_path_was_checked(tmp_path):
    """store.zarr_format's chunk writer and reader call zarr internals: pyproject pins the version they were
    checked with. A different zarr must be re-checked (this module) before the pin moves."""
    pyproject = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    assert re.search(r'"zarr==([^"]+)"', pyproject).group(1) == zarr.__version__
    from zarr.abc.codec import SupportsSyncCodec
    from zarr.abc.store import SupportsGetSync, SupportsSetSync
    from zarr.core.buffer import default_buffer_prototype
    from zarr.core.buffer.cpu import NDBuffer  # noqa: F401
    from zarr.core.sync import sync  # noqa: F401

    arr = zarr.create_array(tmp_path / "a.zarr", shape=(4, 4), chunks=(2, 2), dtype="uint8")
    assert all(isinstance(codec, SupportsSyncCodec) for codec in arr.metadata.codecs)
    assert arr.metadata.get_chunk_spec((0, 0), arr.async_array.config, default_buffer_prototype()).shape == (2, 2)
    assert arr.metadata.encode_chunk_key((1, 0)) == "c/1/0"
    assert isinstance(arr.store_path.store, SupportsGetSync) and isinstance(arr.store_path.store, SupportsSetSync)


@pytest.mark.parametrize("dtype", ["float32", "uint8", "float64"])
def test_chunk_writer_and_chunk_reader_agree_with_zarr(tmp_path, dtype):
    """ChunkWriter's chunk files (zarr internals) are byte-identical to zarr's public ``array[...] = values``;
    read_array and the one-chunk reader (get_chunk) return the values written, as zarr's public reader does."""
    rng = np.random.default_rng(2)
    values = (rng.normal(size=(ROWS, 600)) * 50).astype(dtype) if dtype != "uint8" else rng.integers(0, 8, (ROWS, 600), dtype=np.uint8)
    root = zarr.open_group(tmp_path / "s.zarr", mode="w", zarr_format=3)
    mine, theirs = (zf.create_array(root, name, values.shape, dtype) for name in ("mine", "theirs"))
    rows = zf.CHUNK_ROWS
    with zf.ChunkWriter() as writer:
        for start in range(0, ROWS, rows):
            writer.write(mine, start, values[start : start + rows])
    theirs[...] = values
    for arr in (mine, theirs):
        np.testing.assert_array_equal(arr[...], values)
        np.testing.assert_array_equal(zf.read_array(arr), values)
        for i, j in itertools.product(range(3), range(3)):  # 3 x 3 chunks of 2500 x 256, the last ones padded
            block = values[i * rows : (i + 1) * rows, j * 256 : (j + 1) * 256]
            padded = np.zeros((rows, 256), dtype)
            padded[: block.shape[0], : block.shape[1]] = block
            np.testing.assert_array_equal(zf.get_chunk(arr, (i, j), "test")[1], padded)
    files = sorted(p.relative_to(tmp_path / "s.zarr" / "mine") for p in (tmp_path / "s.zarr" / "mine").glob("c.*"))
    assert len(files) == 3 * 3
    for f in files:
        assert (tmp_path / "s.zarr" / "mine" / f).read_bytes() == (tmp_path / "s.zarr" / "theirs" / f).read_bytes()


def test_arrays_written_directly_match_zarrs_own(tmp_path):
    """On a local store create_arrays writes each zarr.json itself: the same metadata (and subgroups) as zarr's
    create_hierarchy on another store, and an earlier array of the same name is replaced, chunks and all."""
    specs = {"layer1/raw": ((6000, 600), "float32", {"split": "val", "layer": 1}),
             "layer1/codes_b2": ((6000, 600), "uint8", {"thresholds": [0.0, 0.5, 1.0]}), "labels": ((6000,), "uint8", {})}
    local = zarr.open_group(tmp_path / "s.zarr", mode="w", zarr_format=3).require_group("val")
    elsewhere = zarr.open_group(zarr.storage.MemoryStore(), mode="w", zarr_format=3).require_group("val")
    mine, theirs = zf.create_arrays(local, specs), zf.create_arrays(elsewhere, specs)
    for name in specs:
        assert mine[name].metadata.to_dict() == theirs[name].metadata.to_dict()
        assert mine[name].config.write_empty_chunks and theirs[name].config.write_empty_chunks
    reopened = zarr.open_group(tmp_path / "s.zarr", mode="r")
    assert sorted(reopened["val"].group_keys()) == ["layer1"] and sorted(reopened["val/layer1"].array_keys()) == ["codes_b2", "raw"]
    mine["layer1/raw"][...] = np.ones((6000, 600), np.float32)
    again = zf.create_arrays(local, {"layer1/raw": ((100, 4), "float32", {})})["layer1/raw"]
    assert sorted(p.name for p in (tmp_path / "s.zarr" / "val" / "layer1" / "raw").iterdir()) == ["zarr.json"]
    assert zarr.open_array(tmp_path / "s.zarr" / "val" / "layer1" / "raw").shape == again.shape == (100, 4)
