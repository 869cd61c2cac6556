"""Parquet tables: one hive partition per run, each file written atomically (store.atomic) and recorded
with its size, checksum and the parameters that made it (store.integrity).

A stage writes a run's partition as its own file (the tail); compaction later moves it into a segment of many
runs (store.segments). The functions here read a run's partition wherever it is: its tail file when there is one
(it replaces the run's rows in segments), else the newest segment holding the run."""
from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from store.atomic import write_parquet
from store.integrity import read_record, record, schema_id, sha256_hex
from store.paths import Warehouse, exists, join, list_files, read_bytes, remove_tree
from store.segments import read_index, segment_records, segment_rows
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
    record(path, write_parquet(path, data, compression="zstd"), params, schema_id(data.schema))


def partition_params(wh: Warehouse, table: str, run_id: str) -> dict | None:
    """The parameters recorded with a partition (None without a readable record)."""
    entry = partition_record(wh, table, run_id)
    return None if entry is None else entry.get("params", {})


def ensure_table(wh: Warehouse, table: str, schema: pa.Schema) -> None:
    """Make sure the table directory holds the zero-row schema file of the current schema (so views bind
    a column that newer code added even while only older partitions exist)."""
    path = partition_file(wh, table, EMPTY_PARTITION)
    if exists(path):
        try:
            data = read_bytes(path)
            entry = read_record(path)  # a write stopped between the file and its record leaves them apart
            if (entry and entry["sha256"] == sha256_hex(data) and entry.get("schema") == schema_id(schema)
                    and pq.read_schema(pa.BufferReader(data)).equals(schema, check_metadata=False)):
                return
        except (pa.ArrowInvalid, OSError):
            pass  # damaged: written again below
    record(path, write_parquet(path, schema.empty_table()), schema=schema_id(schema))


def has_tail(wh: Warehouse, table: str, run_id: str) -> bool:
    """Does the run have its own file in ``table`` (not yet compacted, or written since)?"""
    return DATA_FILE in list_files(wh.partition(table, run_id))


def has_partition(wh: Warehouse, table: str, run_id: str) -> bool:
    """Does the run have rows of ``table`` stored: its own file, or in a segment?"""
    return has_tail(wh, table, run_id) or read_index(wh).holder(table, run_id) is not None


def partition_record(wh: Warehouse, table: str, run_id: str) -> dict | None:
    """The integrity record of the run's partition: ``sha256`` (of its file as a stage wrote it; a segment keeps it),
    ``params``; None without a partition or a readable record."""
    if has_tail(wh, table, run_id):
        return read_record(partition_file(wh, table, run_id))
    segment = read_index(wh).holder(table, run_id)
    return None if segment is None else segment_records(wh, segment).get(run_id)


def read_partition(wh: Warehouse, table: str, run_id: str) -> pa.Table | None:
    """The rows of a run's partition as stored (None without one); a one-line error when the file does not
    match its integrity record (a damaged file is never merged into a new one and blessed with a new checksum)."""
    if not has_tail(wh, table, run_id):
        segment = read_index(wh).holder(table, run_id)
        return None if segment is None else with_defaults(table, segment_rows(wh, segment, [run_id]).drop_columns(["run_id"]))
    return read_tail(wh, table, run_id)


def read_tail(wh: Warehouse, table: str, run_id: str, entry: dict | None = None) -> pa.Table:
    """The rows of the run's tail file, checked against its record (``entry``, when the caller read it already);
    a one-line error when they differ."""
    path = partition_file(wh, table, run_id)
    data, entry = read_bytes(path), entry or read_record(path)
    if entry is None or entry.get("sha256") != sha256_hex(data):
        from pipeline.errors import NeuronInfoError

        raise NeuronInfoError(f"{path} does not match its integrity record; run: neuroninfo verify --repair {run_id}")
    return with_defaults(table, pq.read_table(pa.BufferReader(data)))


def remove_partition(wh: Warehouse, table: str, run_id: str) -> None:
    """Leave the run without rows of ``table``: its file removed, and when a segment holds its rows, a zero-row
    file in their place (a tail file replaces the run's rows in segments)."""
    remove_tree(wh.partition(table, run_id))
    if read_index(wh).holder(table, run_id) is not None:
        write_partition(wh, table, run_id, SCHEMAS[table].empty_table())


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
