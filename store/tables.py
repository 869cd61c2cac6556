"""Parquet tables: one hive partition per run, each file written atomically (store.atomic) and recorded
with its size, checksum and the parameters that made it (store.integrity)."""
from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from store.atomic import write_parquet
from store.integrity import read_record, record
from store.paths import Warehouse, exists, join, list_files, read_bytes
from store.schemas import SCHEMAS

EMPTY_PARTITION = "__empty__"  # a zero-row file per table, so views bind before any run exists
DATA_FILE = "data.parquet"


def partition_file(wh: Warehouse, table: str, run_id: str):
    return join(wh.partition(table, run_id), DATA_FILE)


def write_partition(wh: Warehouse, table: str, run_id: str, data: pa.Table, params: dict | None = None) -> None:
    """Replace ``tables/<table>/run_id=<run_id>/data.parquet`` with ``data`` in one rename (or one PUT),
    then record its size, checksum and ``params`` (what verify --repair needs to make it again)."""
    if table in SCHEMAS:
        data = data.select(SCHEMAS[table].names).cast(SCHEMAS[table])
    path = partition_file(wh, table, run_id)
    record(path, write_parquet(path, data, compression="zstd"), params)


def partition_params(wh: Warehouse, table: str, run_id: str) -> dict | None:
    """The parameters recorded with a partition (None without a readable record)."""
    entry = read_record(partition_file(wh, table, run_id))
    return None if entry is None else entry.get("params", {})


def ensure_table(wh: Warehouse, table: str, schema: pa.Schema) -> None:
    """Make sure the table directory holds the zero-row schema file of the current schema (so views bind
    a column that newer code added even while only older partitions exist)."""
    path = partition_file(wh, table, EMPTY_PARTITION)
    if exists(path):
        try:
            if pq.read_schema(pa.BufferReader(read_bytes(path))).equals(schema, check_metadata=False):
                return
        except (pa.ArrowInvalid, OSError):
            pass  # damaged: written again below
    record(path, write_parquet(path, schema.empty_table()))


def has_partition(wh: Warehouse, table: str, run_id: str) -> bool:
    return DATA_FILE in list_files(wh.partition(table, run_id))
