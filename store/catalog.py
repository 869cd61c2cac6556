"""The DuckDB side: load ``sql/`` files, create the views, run queries.

Writers never hold ``catalog.duckdb``: computations use their own in-memory connections and write
Parquet; the catalog file only holds view definitions, refreshed briefly with retries. So many
writers and readers can work at once.

A warehouse on object storage (an fsspec URL) has no ``catalog.duckdb``: its views read through the
fsspec filesystem, which must be registered on each connection (``memory_connection`` does), so a
saved view definition would not work in users' own sessions.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path

import duckdb

from pipeline.errors import NeuronInfoError
from store.paths import Warehouse
from store.schemas import SCHEMAS
from store.tables import ensure_table

SQL = Path(__file__).resolve().parent.parent / "sql"  # installed beside store/ (package data)


def sql_text(name: str, **params) -> str:
    """The text of ``sql/<name>.sql`` with ``${key}`` replaced by ``params[key]``."""
    text = (SQL / f"{name}.sql").read_text()
    for key, value in params.items():
        text = text.replace("${" + key + "}", str(value))
    return text


def staging_models() -> list[str]:
    return sorted(p.name[:-4] for p in SQL.iterdir() if p.name.startswith("staging_") and p.name.endswith(".sql"))


def create_views(con: duckdb.DuckDBPyConnection, wh: Warehouse) -> None:
    """Create the staging and public views on ``con`` (idempotent)."""
    for table, schema in SCHEMAS.items():
        ensure_table(wh, table, schema)
    if not wh.local:  # DuckDB reads the URLs in read_parquet through the fsspec filesystem
        wh.fs.invalidate_cache()  # object-store listings are cached per process; other processes write too
        con.register_filesystem(wh.fs)
    tables = str(wh.tables).replace("'", "''")
    for model in staging_models():
        con.execute(sql_text(model, tables=tables))
    con.execute(sql_text("views"))


def memory_connection(wh: Warehouse) -> duckdb.DuckDBPyConnection:
    """A private in-memory connection with every view: never blocks on, or blocks, other processes."""
    con = duckdb.connect()
    create_views(con, wh)
    return con


_REFRESH_LOCK = threading.Lock()  # one refresh at a time per process (threads share DuckDB's instance)


def refresh_catalog(wh: Warehouse, attempts: int = 50) -> None:
    """Re-create the views in ``catalog.duckdb`` for users' own DuckDB sessions (retries while locked).

    Only for local warehouses: see the module docstring.
    """
    if not wh.local:
        return
    for attempt in range(attempts):
        try:
            with _REFRESH_LOCK:
                con = duckdb.connect(str(wh.catalog))
                try:
                    create_views(con, wh)
                finally:
                    con.close()
            return
        except (duckdb.IOException, duckdb.TransactionException):  # another process holds the file
            time.sleep(0.1 + 0.02 * attempt)
    raise NeuronInfoError(f"{wh.catalog} stayed locked by another process; close other DuckDB sessions on it and retry")


READ_ONLY_STATEMENTS = {"SELECT", "EXPLAIN", "PRAGMA", "RELATION"}


def query(wh: Warehouse, sql: str):
    """Run read-only SQL against the views; return a pyarrow Table. Write statements are refused."""
    con = memory_connection(wh)
    try:
        try:
            statements = con.extract_statements(sql)
        except duckdb.Error as e:
            raise NeuronInfoError(f"SQL does not parse: {str(e).splitlines()[0]}") from None
        if not statements:
            raise NeuronInfoError("no SQL statement given; pass a query such as \"SELECT * FROM runs\"")
        for statement in statements:
            kind = statement.type.name
            if kind not in READ_ONLY_STATEMENTS:
                raise NeuronInfoError(f"neuroninfo sql is read-only: a {kind} statement is refused; use SELECT (write with the stage verbs)")
        try:
            for statement in statements[:-1]:
                con.sql(statement.query)
            return con.sql(statements[-1].query).to_arrow_table()
        except duckdb.Error as e:
            raise NeuronInfoError(f"query failed: {str(e).splitlines()[0]}") from None
    finally:
        con.close()
