"""Parquet tables: one hive partition per run, each file written atomically (temp file + rename)."""
from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from store.atomic import atomic_path
from store.paths import Warehouse
from store.schemas import SCHEMAS

EMPTY_PARTITION = "__empty__"  # a zero-row file per table, so views bind before any run exists


def write_partition(wh: Warehouse, table: str, run_id: str, data: pa.Table, part: str = "data") -> None:
    """Replace ``tables/<table>/run_id=<run_id>/<part>.parquet`` with ``data`` in one rename."""
    if table in SCHEMAS:
        data = data.select(SCHEMAS[table].names).cast(SCHEMAS[table])
    with atomic_path(wh.partition(table, run_id) / f"{part}.parquet") as tmp:
        pq.write_table(data, tmp, compression="zstd")


def ensure_table(wh: Warehouse, table: str, schema: pa.Schema) -> None:
    """Make sure the table directory holds at least the zero-row schema file."""
    path = wh.partition(table, EMPTY_PARTITION) / "data.parquet"
    if not path.exists():
        with atomic_path(path) as tmp:
            pq.write_table(schema.empty_table(), tmp)


def has_partition(wh: Warehouse, table: str, run_id: str) -> bool:
    return any(wh.partition(table, run_id).glob("*.parquet"))
