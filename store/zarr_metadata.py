"""The activation store's metadata under a checksum: every ``zarr.json`` (shapes, codecs, attributes).

Chunks carry their own CRC-32C (store.zarr_format); the metadata that says how to read them does not. So when a
store is complete, and whenever its metadata changes later (codes for new bits), the SHA-256 of every
``zarr.json`` in it is recorded in the sidecar ``<run_id>.zarr.manifest.json`` (store.integrity's record).
Readers check the recorded files before zarr parses any of them: a garbage, altered (a shape of 10^12 rows)
or deleted ``zarr.json`` is a one-line problem naming the file, never a JSON traceback or an 87 TiB allocation.
Stores written before the record existed are recorded once by the format upgrade, after ``legacy_problems``.
"""
from __future__ import annotations

import json

from store.integrity import manifest_path, read_record, record, sha256_hex
from store.paths import Location, filesystem, join, read_bytes

METADATA = "zarr.json"


def metadata_files(store: Location) -> dict[str, bytes]:
    """Every ``zarr.json`` under ``store`` (its path relative to the store, ``/``-separated) -> its bytes."""
    fs, root = filesystem(store)
    fs.invalidate_cache(root)
    base = root.rstrip("/") + "/"
    names = [n for n in fs.find(root) if n.rsplit("/", 1)[-1] == METADATA]
    return {n[len(base):]: fs.cat_file(n) for n in names}


def record_metadata(store: Location) -> None:
    """Record the checksum of every ``zarr.json`` of ``store`` as it is now."""
    files = {name: sha256_hex(data) for name, data in sorted(metadata_files(store).items())}
    record(store, json.dumps(files, sort_keys=True).encode(), {"metadata": files})


def recorded_metadata(store: Location) -> dict[str, str] | None:
    """The recorded ``zarr.json`` checksums of ``store`` (None without a readable record)."""
    entry = read_record(store)
    files = None if entry is None else entry.get("params", {}).get("metadata")
    if not isinstance(files, dict) or METADATA not in files:
        return None
    return files


def metadata_problems(store: Location) -> list[str]:
    """Why the store's metadata cannot be trusted, one line per file (empty when every recorded file matches)."""
    files = recorded_metadata(store)
    if files is None:
        return [f"its metadata has no integrity record ({manifest_path(store)} is missing or unreadable)"]
    found = []
    for name, digest in sorted(files.items()):
        path = join(store, *name.split("/"))
        try:
            data = read_bytes(path)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            found.append(f"{path} is missing")
            continue
        if sha256_hex(data) != digest:
            found.append(f"{path} differs from its recorded checksum (changed or damaged)")
    return found


def legacy_problems(store: Location) -> list[str]:
    """Why an unrecorded store's metadata cannot be recorded as it is: a ``zarr.json`` that is not a JSON object,
    or an array whose chunk grid has more chunks than files are stored for it (a shape that promises more rows
    than were ever written)."""
    fs, root = filesystem(store)
    found = []
    listing = [n[len(root.rstrip("/")) + 1:] for n in fs.find(root)]
    for name, data in metadata_files(store).items():
        try:
            meta = json.loads(data)
            if meta.get("node_type") == "array":
                chunks = meta["chunk_grid"]["configuration"]["chunk_shape"]
                grid = 1
                for n, c in zip(meta["shape"], chunks, strict=True):
                    grid *= -(-int(n) // int(c))
                folder = name[: -len(METADATA)]
                stored = sum(1 for n in listing if n.startswith(folder) and n.rsplit("/", 1)[-1] != METADATA)
                if grid > stored:
                    found.append(f"{join(store, *name.split('/'))} promises {grid} chunks, {stored} are stored")
        except (ValueError, KeyError, TypeError, AttributeError, ZeroDivisionError):
            found.append(f"{join(store, *name.split('/'))} is not valid array or group metadata")
    return found
