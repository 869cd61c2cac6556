"""Whole-file writes: readers see either the old file or the whole new one, never a part.

Local paths: write a temporary sibling, then rename it into place. Object stores have no rename, but
one PUT of a whole object is atomic: the bytes are built in memory and stored with one ``pipe_file``.

Temporary names say who made them (``.<name>.<host>-<pid>-<random>.tmp``), so a later run can tell a
crashed writer's leftovers from a live writer's work in progress (store.cleanup).
"""
from __future__ import annotations

import os
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
def atomic_path(final: Path):
    """Yield a temporary sibling path; on success rename it onto ``final``, on error delete it."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_sibling(final)
    try:
        yield tmp
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            tmp.unlink()


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
