"""Parquet tables: one hive partition per run, each file written atomically (store.atomic) and recorded
with its size, checksum and the parameters that made it (store.integrity)."""
from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from store.atomic import write_parquet
from store.integrity import read_record, record, sha256_hex
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
            data = read_bytes(path)
            entry = read_record(path)  # a write stopped between the file and its record leaves them apart
            if (entry and entry["sha256"] == sha256_hex(data)
                    and pq.read_schema(pa.BufferReader(data)).equals(schema, check_metadata=False)):
                return
        except (pa.ArrowInvalid, OSError):
            pass  # damaged: written again below
    record(path, write_parquet(path, schema.empty_table()))


def has_partition(wh: Warehouse, table: str, run_id: str) -> bool:
    return DATA_FILE in list_files(wh.partition(table, run_id))


def read_partition(wh: Warehouse, table: str, run_id: str) -> pa.Table | None:
    """The rows of a run's partition as stored (None without one); a one-line error when the file does not
    match its integrity record (a damaged file is never merged into a new one and blessed with a new checksum)."""
    if not has_partition(wh, table, run_id):
        return None
    path = partition_file(wh, table, run_id)
    data, entry = read_bytes(path), read_record(path)
    if entry is None or entry.get("sha256") != sha256_hex(data):
        from pipeline.errors import NeuronInfoError

        raise NeuronInfoError(f"{path} does not match its integrity record; run: neuroninfo verify --repair {run_id}")
    return with_defaults(table, pq.read_table(pa.BufferReader(data)))


def with_defaults(table: str, rows: pa.Table) -> pa.Table:
    """``rows`` of a partition written before a column with a default (its contract) existed, with that column."""
    from store.contract import contracts

    contract = contracts().get(table)
    for column in contract.columns if contract else ():
        if column.default is not None and column.name not in rows.column_names:
            rows = rows.append_column(column.name, pa.array([column.default] * rows.num_rows, SCHEMAS[table].field(column.name).type))
    return rows


def merged_rows(stored: pa.Table | None, new: pa.Table, key: list[str]) -> pa.Table:
    """``new`` plus the ``stored`` rows whose ``key`` (NULLs compare equal) ``new`` does not have: results made
    with other parameters stay beside the new ones instead of being replaced."""
    if stored is None or stored.num_rows == 0:
        return new
    import duckdb

    con = duckdb.connect()
    try:
        con.register("stored_rows", stored.select(new.schema.names).cast(new.schema))
        con.register("new_rows", new)
        same = " AND ".join(f'n."{k}" IS NOT DISTINCT FROM s."{k}"' for k in key)
        kept = con.sql(f"SELECT s.* FROM stored_rows AS s WHERE NOT EXISTS (SELECT 1 FROM new_rows AS n WHERE {same})").to_arrow_table()
    finally:
        con.close()
    return pa.concat_tables([kept.cast(new.schema), new])


def merge_partition(wh: Warehouse, table: str, run_id: str, new: pa.Table, params: dict | None = None) -> None:
    """Write the run's partition as its stored rows merged with ``new`` by the table's key (its contract):
    rows ``new`` recomputes are replaced, every other stored row stays."""
    from store.contract import contracts

    key = [k for k in contracts()[table].key if k != "run_id"]
    new = new.select(SCHEMAS[table].names).cast(SCHEMAS[table])
    write_partition(wh, table, run_id, merged_rows(read_partition(wh, table, run_id), new, key), params)
