"""Where everything lives in a warehouse (docs/warehouse.md), locally or on object storage.

A location is a local ``Path`` or an fsspec URL string (``s3://bucket/prefix``, ``gs://...``,
``memory://wh``, ``file:///tmp/wh``). A plain path keeps the fast local code (real atomic renames,
zarr's LocalStore, DuckDB reading files directly); a URL goes through its fsspec filesystem.
``file://`` URLs take the object-store code path on a local directory (that is how it is tested).
"""
from __future__ import annotations

import os
import posixpath
import time
from dataclasses import dataclass
from pathlib import Path

import fsspec
from fsspec import AbstractFileSystem

DEFAULT_WAREHOUSE = "warehouse"

Location = Path | str  # a local Path, or an fsspec URL


def is_url(loc: Location) -> bool:
    return isinstance(loc, str) and "://" in loc


def location(path: str | os.PathLike) -> Location:
    """``path`` as a location: a URL string stays one (without a trailing slash), anything else is a local Path."""
    text = os.fspath(path)
    if "://" not in text:
        return Path(text).expanduser()
    protocol, rest = text.split("://", 1)
    return f"{protocol}://{rest.rstrip('/')}"


def join(loc: Location, *parts: str) -> Location:
    return loc.joinpath(*parts) if isinstance(loc, Path) else "/".join([loc, *parts])


def name_of(loc: Location) -> str:
    return posixpath.basename(os.fspath(loc))


def parent_of(loc: Location) -> Location:
    return loc.parent if isinstance(loc, Path) else posixpath.dirname(loc)


# Object stores retry transient failures (a restarting endpoint, throttling, dropped connections) with
# exponential backoff before an error reaches a stage: botocore's "standard" mode for S3.
DEFAULT_STORAGE_OPTIONS = {"s3": {"config_kwargs": {"retries": {"max_attempts": 10, "mode": "standard"}}}}


def storage_options(protocol: str) -> dict:
    """fsspec options for ``protocol``: the defaults above, overridden by ``$NEURONINFO_STORAGE_OPTIONS``
    (JSON, e.g. ``{"endpoint_url": "http://127.0.0.1:9000", "anon": false}``; the CLI's
    ``--storage-options`` sets it, so flows' subprocesses and Dask workers inherit it)."""
    import json

    options = dict(DEFAULT_STORAGE_OPTIONS.get(protocol, {}))
    text = os.environ.get("NEURONINFO_STORAGE_OPTIONS", "").strip()
    if text:
        from pipeline.errors import NeuronInfoError

        try:
            given = json.loads(text)
        except ValueError as e:
            raise NeuronInfoError(f"storage options are not JSON ({e}); pass e.g. --storage-options '{{\"anon\": true}}'") from None
        if not isinstance(given, dict):
            raise NeuronInfoError("storage options must be a JSON object, e.g. {\"endpoint_url\": \"http://host:9000\"}")
        options.update(given)
    return options


def filesystem(loc: Location) -> tuple[AbstractFileSystem, str]:
    """The fsspec filesystem holding ``loc`` and the path within it (local ones make directories on write)."""
    url = os.fspath(loc)
    protocol = fsspec.core.split_protocol(url)[0]
    if protocol in (None, "file", "local"):
        return fsspec.core.url_to_fs(url, auto_mkdir=True)
    return fsspec.core.url_to_fs(url, **storage_options(protocol))


def exists(loc: Location) -> bool:
    fs, path = filesystem(loc)
    return fs.exists(path)


def read_bytes(loc: Location) -> bytes:
    fs, path = filesystem(loc)
    return fs.cat_file(path)


def entries(folder: Location) -> dict[str, dict]:
    """What is directly in ``folder``: name -> fsspec's detail (``type``, ``size``, ``islink``...); {} if it does not exist."""
    fs, path = filesystem(folder)
    fs.invalidate_cache(path)  # object-store listings are cached per process; other processes write too
    try:
        found = fs.ls(path, detail=True)
    except FileNotFoundError:
        return {}
    return {posixpath.basename(e["name"].rstrip("/")): e for e in found}


def age_of(loc: Location) -> float:
    """Seconds since ``loc`` was last modified (0.0, i.e. new, when it is gone or the filesystem cannot say)."""
    fs, path = filesystem(loc)
    try:
        modified = fs.modified(path)
    except (FileNotFoundError, NotImplementedError):
        return 0.0
    return time.time() - modified.timestamp()


def list_files(folder: Location) -> list[str]:
    """Names of the files directly in ``folder``, sorted ([] if it does not exist)."""
    return sorted(name for name, e in entries(folder).items() if e["type"] == "file")


def list_dirs(folder: Location) -> list[str]:
    """Names of the folders directly in ``folder``, sorted ([] if it does not exist)."""
    return sorted(name for name, e in entries(folder).items() if e["type"] == "directory")


def makedirs(loc: Location) -> None:
    fs, path = filesystem(loc)
    fs.makedirs(path, exist_ok=True)


def move(src: Location, dst: Location) -> None:
    """Rename within one filesystem (object stores: copy, then delete)."""
    fs, path = filesystem(src)
    fs.mv(path, filesystem(dst)[1])


def remove_tree(loc: Location) -> None:
    fs, path = filesystem(loc)
    if fs.exists(path):
        fs.rm(path, recursive=True)


def _under(name: str) -> property:
    """A read-only attribute of a Warehouse: the location ``name`` under its root."""
    return property(lambda wh: join(wh.root, name))


@dataclass(frozen=True)
class Warehouse:
    root: Location  # local: an absolute Path; else the fsspec URL (``str(root)`` reopens the same warehouse)

    @property
    def local(self) -> bool:
        return not is_url(self.root)

    @property
    def fs(self) -> AbstractFileSystem:
        return filesystem(self.root)[0]

    catalog = _under("catalog.duckdb")
    checkpoints = _under("checkpoints")
    tables = _under("tables")
    reports = _under("reports")
    inbox = _under("inbox")

    def checkpoint(self, run_id: str) -> Location:
        return join(self.checkpoints, f"{run_id}.safetensors")

    def activations(self, run_id: str) -> Location:
        return join(self.root, "activations", f"{run_id}.zarr")

    def partition(self, table: str, run_id: str) -> Location:
        """The hive partition directory of one run in one table."""
        return join(self.tables, table, f"run_id={run_id}")


FOLDERS = ("checkpoints", "tables", "activations", "reports", "inbox")


def open_warehouse(path: str | os.PathLike | None = None, create: bool = True) -> Warehouse:
    """The warehouse at ``path`` (a directory or an fsspec URL), else ``$NEURONINFO_WAREHOUSE``, else ``./warehouse``.

    With ``create`` its folders are made if missing (on object stores, where folders do not exist, this
    does nothing); without, a place that holds no warehouse is an error (read verbs never create one).
    """
    from pipeline.errors import NeuronInfoError

    given = path or os.environ.get("NEURONINFO_WAREHOUSE") or DEFAULT_WAREHOUSE
    root = location(given)
    if isinstance(root, Path):
        root = root.resolve()
        if root.exists() and not root.is_dir():
            raise NeuronInfoError(f"warehouse {root} is a file, not a folder; pass --warehouse DIR (a folder, new or existing)")
    try:
        found = any(exists(join(root, sub)) for sub in ("tables", "checkpoints"))
        if not found and not create:
            raise NeuronInfoError(
                f"no warehouse at {root}; check --warehouse (or $NEURONINFO_WAREHOUSE), or make one with: neuroninfo train-and-measure"
            )
        if create:
            for sub in FOLDERS:
                makedirs(join(root, sub))
    except NeuronInfoError:
        raise
    except Exception as e:  # noqa: BLE001 - unknown protocol, missing backend, unreachable endpoint, no permission
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise NeuronInfoError(f"cannot open warehouse {given}: {first}; check the path or URL and its credentials") from None
    return Warehouse(root)
