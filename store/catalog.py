"""``catalog.duckdb``: the view definitions for users' own DuckDB sessions (local warehouses only).

Writers never hold it: computations use their own in-memory connections and write Parquet; the
catalog file is rebuilt beside the old one and renamed into place, so a reader holding the old file
never blocks a writer. A warehouse on object storage (an fsspec URL) has none.
"""
from __future__ import annotations

import threading

import duckdb

from store.atomic import atomic_path
from store.locks import file_lock
from store.paths import Warehouse
from store.views import create_views

FORMAT_VERSION = 3  # the catalog's own layout; the warehouse's is store.lifecycle.FORMAT_VERSION
_REFRESH_LOCK = threading.Lock()  # one refresh at a time per process (threads share DuckDB's instance)


def refresh_catalog(wh: Warehouse) -> None:
    """Rebuild ``catalog.duckdb`` (views for users' own DuckDB sessions) beside the old one and rename it
    into place: readers keep the file they opened, a corrupt catalog is simply replaced. Local only."""
    if not wh.local:
        return
    with _REFRESH_LOCK, file_lock(wh.root / ".catalog.lock", "the catalog lock"), atomic_path(wh.catalog, sidecars=(".wal",)) as tmp:
        con = duckdb.connect(str(tmp))
        try:
            create_views(con, wh, problems_table="TABLE")
            con.execute("CREATE TABLE catalog_info AS SELECT ? AS root, ? AS format_version, now() AS built_at",
                        [str(wh.root), FORMAT_VERSION])
            con.execute("CHECKPOINT")
        finally:
            con.close()


def ensure_catalog(wh: Warehouse) -> None:
    """Rebuild the catalog when it is missing, unreadable, or was built for another place (a moved warehouse)."""
    if not wh.local:
        return
    try:
        con = duckdb.connect(str(wh.catalog), read_only=True)
        try:
            rows = con.execute("SELECT root, format_version FROM catalog_info").fetchall()
        finally:
            con.close()
        if rows == [(str(wh.root), FORMAT_VERSION)]:
            return
    except duckdb.Error:
        pass
    refresh_catalog(wh)
