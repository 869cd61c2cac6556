"""Whole-file writes: readers see either the old file or the whole new one, never a part.

Local paths: build a temporary sibling (a file, the catalog database, a Zarr store's folder), then
rename it into place (``atomic_path``: the one place that does). Object stores have no rename, but
one PUT of a whole object is atomic: the bytes are built in memory and stored with one ``pipe_file``.

Temporary names say who made them (``.<name>.<host>-<pid>-<random>.tmp``), so a later run can tell a
crashed writer's leftovers from a live writer's work in progress (store.cleanup).
"""
from __future__ import annotations

import os
import shutil
import socket
import uuid
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from store.paths import Location, filesystem, is_url

TMP_SUFFIX = ".tmp"


def temporary_sibling(final: Path, suffix: str = TMP_SUFFIX) -> Path:
    """A hidden sibling name for building ``final``: ``.<name>.<host>-<pid>-<random><suffix>``."""
    return final.with_name(f".{final.name}.{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}{suffix}")


@contextmanager
def atomic_path(final: Path, sidecars: tuple[str, ...] = ()):
    """Yield a temporary sibling path to build ``final`` at (a file or a folder); on success move it onto
    ``final`` (``publish``). Whatever happens, nothing temporary is left: the sibling, and the files
    named after it plus each of ``sidecars`` (e.g. ``".wal"`` of a database), are removed."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_sibling(final)
    try:
        yield tmp
        publish(tmp, final)
    finally:
        for leftover in (tmp, *(tmp.with_name(tmp.name + s) for s in sidecars)):
            remove_path(leftover)


def publish(built: Path, final: Path) -> None:
    """Move ``built`` onto ``final``: a file in one rename; a folder by moving the old one aside first
    (a folder cannot be renamed over a non-empty one), then removing it."""
    if not built.is_dir():
        os.replace(built, final)
        return
    old = temporary_sibling(final, ".old" + TMP_SUFFIX)
    if final.exists():
        final.rename(old)
    built.rename(final)
    remove_path(old)


def remove_path(path: Path) -> None:
    """Remove a file or a folder tree if it is there."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def write_bytes(loc: Location, data: bytes) -> None:
    if is_url(loc):
        fs, path = filesystem(loc)
        fs.pipe_file(path, data)
    else:
        with atomic_path(Path(loc)) as tmp:
            tmp.write_bytes(data)


def parquet_bytes(table: pa.Table, **options) -> bytes:
    """``table`` as the bytes of one Parquet file (``pyarrow.parquet.write_table`` options)."""
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, **options)
    return sink.getvalue().to_pybytes()


def write_parquet(loc: Location, table: pa.Table, **options) -> bytes:
    """Write ``table`` as one Parquet file at ``loc``; return the bytes written (for the integrity record)."""
    data = parquet_bytes(table, **options)
    write_bytes(loc, data)
    return data
