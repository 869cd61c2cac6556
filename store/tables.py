"""Parquet tables: one hive partition per run, each file written atomically (store.atomic)."""
from __future__ import annotations

import pyarrow as pa

from store.atomic import write_parquet
from store.paths import Warehouse, exists, join, list_files
from store.schemas import SCHEMAS

EMPTY_PARTITION = "__empty__"  # a zero-row file per table, so views bind before any run exists


def write_partition(wh: Warehouse, table: str, run_id: str, data: pa.Table) -> None:
    """Replace ``tables/<table>/run_id=<run_id>/data.parquet`` with ``data`` in one rename (or one PUT)."""
    if table in SCHEMAS:
        data = data.select(SCHEMAS[table].names).cast(SCHEMAS[table])
    write_parquet(join(wh.partition(table, run_id), "data.parquet"), data, compression="zstd")


def ensure_table(wh: Warehouse, table: str, schema: pa.Schema) -> None:
    """Make sure the table directory holds at least the zero-row schema file."""
    path = join(wh.partition(table, EMPTY_PARTITION), "data.parquet")
    if not exists(path):
        write_parquet(path, schema.empty_table())


def has_partition(wh: Warehouse, table: str, run_id: str) -> bool:
    return any(name.endswith(".parquet") for name in list_files(wh.partition(table, run_id)))
