"""The views on a DuckDB connection: staging views over the checked Parquet files, then the public views.

Every stored table (a contract in ``sql/contracts/`` whose storage is not 'none') gets ``staging.stg_<table>``
from the one template ``sql/staging.sql``: in a schema of its own, so ``SHOW TABLES`` lists the public views
alone. A public view is ``sql/views/<view>.sql`` when it does work; a stored table without such a file gets
the passthrough of its contract (its columns from ``staging.stg_<table>``, their meaning as comments). Views are created in ``view_order()``: each after the views
its SQL names.

A warehouse on object storage (an fsspec URL) has its views read through the fsspec filesystem, which
must be registered on each connection (``memory_connection`` does).
"""
from __future__ import annotations

from collections.abc import Collection
from dataclasses import astuple, fields
from functools import lru_cache

import duckdb
import pyarrow as pa

from pipeline.criteria import sql_parameters
from pipeline.errors import NeuronInfoError
from store.contract import Contract, contracts, criterion_meanings
from store.integrity import Problem
from store.partitions import TableFiles, scan_tables
from store.readonly_fs import ReadOnlyFileSystem, readonly_url
from store.paths import Warehouse, name_of, parent_of
from store.schemas import SCHEMAS
from store.sql_files import SQL, claims_sql, early_claims_sql, macros_sql, sql_string, sql_text, sql_words
from store.tables import EMPTY_PARTITION, ensure_table

STAGING = "staging"  # the schema of the staging views: internal, out of SHOW TABLES
PROBLEMS_SCHEMA = pa.schema([(f.name, pa.string()) for f in fields(Problem)])


def passthrough_sql(contract: Contract) -> str:
    """The public view of a stored table that only passes its staging rows on: the contract's columns (a column
    with a default reads it in rows of partitions written before the column existed)."""
    names = [f'coalesce("{c.name}", {sql_string(c.default)}) AS "{c.name}",' if c.default else f'"{c.name}",'
             for c in contract.columns]
    names[-1] = names[-1].rstrip(",")
    width = max(map(len, names))
    lines = [f"-- {contract.view}: {contract.grain} (generated from sql/contracts/{contract.view}.yml)", "SELECT"]
    lines += [f"    {name.ljust(width)}  -- {' '.join(c.meaning.split())}" for name, c in zip(names, contract.columns)]
    return "\n".join(lines + [f"FROM {STAGING}.stg_{contract.view}\n"])


def public_views() -> list[str]:
    """Every public view by name: the files of ``sql/views/`` and every stored table."""
    return sorted({p.stem for p in (SQL / "views").glob("*.sql")} | set(SCHEMAS))


def view_sql(view: str) -> str:
    """The ``SELECT`` that defines a public view, its parameters filled in (the criterion registry's as it is now)."""
    if not (SQL / "views" / f"{view}.sql").exists():
        return passthrough_sql(contracts()[view])
    parameters = dict(sql_parameters(criterion_meanings()), up_to="1.0")
    if view == "claim_statistics":
        parameters.update(claims=claims_sql(), early_claims=early_claims_sql())
    return sql_text(f"views/{view}", **parameters)


def reads(view: str, sql: str, views: list[str]) -> set[str]:
    """The other public views that ``sql`` names (``staging.stg_`` names are staging, created before them all)."""
    return (sql_words(sql) & set(views)) - {view}


@lru_cache(maxsize=1)
def dependencies() -> dict[str, set[str]]:
    """Each public view's reads: the other public views its SQL names."""
    views = public_views()
    return {view: reads(view, view_sql(view), views) for view in views}


@lru_cache(maxsize=1)
def view_order() -> tuple[str, ...]:
    """The public views in creation order: each after the views it reads, ties by name."""
    needs = dependencies()
    order: list[str] = []
    while len(order) < len(needs):
        ready = [v for v in sorted(needs) if v not in order and needs[v] <= set(order)]
        if not ready:
            raise NeuronInfoError(f"the views {sorted(set(needs) - set(order))} read each other in a cycle; "
                                  "break it in sql/views/")
        order.append(ready[0])
    return tuple(order)


def views_for(targets: tuple[str, ...], given: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The views ``targets`` need, themselves included, in creation order; the ``given`` ones (which a
    test stands in with tables) and what only they need are left out."""
    needed, todo = set(), [t for t in targets if t not in given]
    while todo:
        view = todo.pop()
        needed.add(view)
        todo += [v for v in dependencies()[view] if v not in needed and v not in given]
    return tuple(v for v in view_order() if v in needed)


def create_public_views(con: duckdb.DuckDBPyConnection, views: tuple[str, ...] | None = None) -> None:
    """The macros, then these public views (default: all) in ``view_order()`` (over the staging views; a
    test may pass the later ones only, over tables standing in for the earlier)."""
    con.execute(macros_sql())
    order = view_order()
    unknown = set(views or ()) - set(order)
    if unknown:
        raise NeuronInfoError(f"no public view named {sorted(unknown)}; the views are {', '.join(order)}")
    for view in order:
        if views is None or view in views:
            con.execute(f"CREATE OR REPLACE VIEW {view} AS\n" + view_sql(view))


def views_named_in(sql: str) -> tuple[str, ...] | None:
    """The public views ``sql`` needs (those it names, and what they read), or None for every view: when it names
    none (SHOW TABLES, information_schema, SELECT 1) or reads warehouse_problems (which lists every table's)."""
    words = sql_words(sql)
    named = tuple(sorted(words & set(public_views())))
    if not named or "warehouse_problems" in words:
        return None
    return views_for(named)


def staging_tables(views: tuple[str, ...]) -> list[str]:
    """The stored tables whose staging views these public views read (directly, or by their passthrough), and
    `runs` (a run's rows of any table count only while its runs partition passes: store.partitions)."""
    words = set(views).union(*(sql_words(view_sql(v)) for v in views)) | {"runs"}
    return [t for t in SCHEMAS if t in words or f"stg_{t}" in words]


def staging_sql(table: str, files: TableFiles, runs: Collection[str] | None, read_only: bool) -> str:
    """``staging.stg_<table>`` over these files (``runs``: of these runs only; ``read_only``: through the read-only
    filesystem): the tail files of the current schema as one read, those of older schemas as another, the segments
    as one read per schema and set of runs left out."""
    spell = readonly_url if read_only else str
    tails, older = files.tails, files.older
    if runs is not None:  # only these runs' files: damage inside another run's file never reaches them
        wanted = {f"run_id={r}" for r in (*runs, EMPTY_PARTITION)}
        tails, older = ([f for f in listed if name_of(parent_of(f)) in wanted] for listed in (tails, older))
    groups: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    for path, schema, hidden in files.segments:
        groups.setdefault((schema, hidden), []).append(path)
    parts = [sql_text("staging", table=table, files=_file_list(listed, spell), by_name=by_name)
             for listed, by_name in ((tails, "false"), (older, "true")) if listed]
    parts += [sql_text("staging_segments", table=table, files=_file_list(paths, spell),
                       hidden=", ".join(sql_string(r) for r in (*hidden, EMPTY_PARTITION)))
              for (_, hidden), paths in groups.items()]
    if not parts:
        raise NeuronInfoError(f"the table {table} has no readable file, not even its zero-row schema file; run: neuroninfo verify --repair")
    sql = "UNION ALL BY NAME\n".join(parts)
    if runs is not None and groups:  # a segment holds other runs too: their row groups are skipped by run_id
        sql = f"SELECT * FROM (\n{sql}\n) WHERE run_id IN ({', '.join(sql_string(r) for r in runs) or 'NULL'})"
    return sql


def _file_list(paths: list[str], spell) -> str:
    return "[" + ", ".join(sql_string(spell(f)) for f in paths) + "]"


def create_views(con: duckdb.DuckDBPyConnection, wh: Warehouse, problems_table: str = "TEMP TABLE",
                 read_only: bool = False, runs: Collection[str] | None = None,
                 views: tuple[str, ...] | None = None) -> list[str]:
    """Create the staging and public views and ``warehouse_problems`` on ``con``; return the files they read.
    ``read_only``: the views read through ``ReadOnlyFileSystem`` (store.readonly_fs), and the files returned are
    spelled that way. ``runs``: the views read only these runs' files, so damage inside another run's file (which
    the cheap check cannot see) never reaches a computation about these. ``views``: only these public views
    (``views_for``: with what they read) and the tables under them, checked and listed; default every one
    (binding them all costs about a second on every connection)."""
    tables = list(SCHEMAS) if views is None else staging_tables(views)
    for table in tables:
        ensure_table(wh, table, SCHEMAS[table])
    if not wh.local:  # DuckDB reads the URLs in read_parquet through the fsspec filesystem
        wh.fs.invalidate_cache()  # object-store listings are cached per process; other processes write too
        if not read_only:
            con.register_filesystem(wh.fs)
    if read_only:
        con.register_filesystem(ReadOnlyFileSystem(wh.fs))
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {STAGING}")
    for attempt in range(3):  # a concurrent `rm` (or a rejected inbox run) may remove a listed file before the views bind
        files, problems = scan_tables(wh, tables)
        try:
            for table in tables:
                con.execute(f"CREATE OR REPLACE VIEW {STAGING}.stg_{table} AS\n" + staging_sql(table, files[table], runs, read_only))
            create_public_views(con, views)
            break
        except duckdb.IOException as e:
            if "No files found that match" not in str(e) or attempt == 2:
                raise
    con.register("problems_arrow", pa.Table.from_pylist([dict(zip(PROBLEMS_SCHEMA.names, astuple(p))) for p in problems],
                                                        schema=PROBLEMS_SCHEMA))
    con.execute(f"CREATE OR REPLACE {problems_table} warehouse_problems AS SELECT * FROM problems_arrow")
    con.unregister("problems_arrow")
    return [readonly_url(f) if read_only else f for listed in files.values() for f in listed.paths()]


def memory_connection(wh: Warehouse, runs: Collection[str] | None = None) -> duckdb.DuckDBPyConnection:
    """A private in-memory connection with every view (over ``runs`` only, when given): never blocks on, or
    blocks, other processes."""
    con = duckdb.connect()
    create_views(con, wh, runs=runs)
    return con
