"""Whole-file writes: readers see either the old file or the whole new one, never a part.

Local paths: write a temporary sibling, then rename it into place. Object stores have no rename, but
one PUT of a whole object is atomic: the bytes are built in memory and stored with one ``pipe_file``.
"""
from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from store.paths import Location, filesystem, is_url


@contextmanager
def atomic_path(final: Path):
    """Yield a temporary sibling path; on success rename it onto ``final``, on error delete it."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.{uuid.uuid4().hex[:8]}.tmp")
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


def write_parquet(loc: Location, table: pa.Table, **options) -> None:
    """``pyarrow.parquet.write_table`` to ``loc`` (local: streamed to the temporary file)."""
    if is_url(loc):
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, **options)
        write_bytes(loc, sink.getvalue().to_pybytes())
    else:
        with atomic_path(Path(loc)) as tmp:
            pq.write_table(table, tmp, **options)
