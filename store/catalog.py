"""The DuckDB side: load ``sql/`` files, create the views, run users' queries in a sandbox.

Views are built over the partition files that pass the cheap integrity check (store.integrity): a
damaged file hides its own run, which ``warehouse_problems`` names, and never breaks other runs. A
run's rows in any table show only while its ``runs`` partition is whole, so deleting that one file
(``neuroninfo rm``) removes the run from every view at once.

Writers never hold ``catalog.duckdb``: computations use their own in-memory connections and write
Parquet; the catalog file (view definitions for users' own DuckDB sessions) is rebuilt beside the old
one and renamed into place, so a reader holding the old file never blocks a writer.

A warehouse on object storage (an fsspec URL) has no ``catalog.duckdb``: its views read through the
fsspec filesystem, which must be registered on each connection (``memory_connection`` does).
"""
from __future__ import annotations

import fcntl
import os
import threading
import time
from contextlib import contextmanager
from dataclasses import astuple, fields
from pathlib import Path

import duckdb
import pyarrow as pa

from pipeline.criteria import sql_parameters
from pipeline.errors import NeuronInfoError
from pipeline.options import SQL_TIMEOUT_S
from pipeline.sql_files import SQL, sql_text
from store.atomic import atomic_path
from store.contract import criterion_meanings
from store.integrity import MANIFEST_SUFFIX, Problem, cheap_parquet_problem, file_sizes, parse_record
from store.paths import Warehouse, filesystem, join
from store.schemas import SCHEMAS
from store.tables import DATA_FILE, EMPTY_PARTITION, ensure_table

# the public views, one model each (sql/views/<view>.sql), in dependency order
VIEWS = ("runs", "quantizers", "counts", "neuron_stats", "specific_info", "ablation_curves", "imports",
         "ablation_orderings", "neuron_pairs", "neuron_redundancy", "neuron_baselines", "pruning_curves",
         "criteria", "measure_values", "criterion_damage", "pruning_summary", "neuron_ranks",
         "layer_stats", "ablation_auc", "scorecard_runs", "scorecard_auc", "claim_statistics", "scorecard")
FORMAT_VERSION = 3  # the catalog's own layout; the warehouse's is store.lifecycle.FORMAT_VERSION
DEFAULT_TIMEOUT_S = SQL_TIMEOUT_S


def claims_sql() -> str:
    """Every claim model of ``sql/claims/`` (one SELECT each), joined for ``sql/views/claim_statistics.sql``."""
    files = sorted((SQL / "claims").glob("claim_*.sql"))
    return "\nUNION ALL BY NAME\n".join(f"({p.read_text().strip().rstrip(';')}\n)" for p in files)


def create_public_views(con: duckdb.DuckDBPyConnection, views: tuple[str, ...] = VIEWS) -> None:
    """The macros, then these public views of ``sql/views/`` in ``VIEWS`` order (over the staging views; a
    test may pass the later ones only, over tables standing in for the earlier)."""
    con.execute(sql_text("macros"))
    parameters = {**sql_parameters(criterion_meanings()), "claims": claims_sql()}
    for view in views:
        con.execute(f"CREATE OR REPLACE VIEW {view} AS\n" + sql_text(f"views/{view}", **parameters))


def staging_models() -> list[str]:
    return sorted(p.name[:-4] for p in SQL.iterdir() if p.name.startswith("staging_") and p.name.endswith(".sql"))


def sql_string(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def scan_tables(wh: Warehouse, tables: list[str]) -> tuple[dict[str, list[str]], list[Problem]]:
    """The partition files of each table that pass the cheap check, and the problems of the others.

    One recursive listing of ``tables/`` plus each partition's small integrity record. A run's files
    of any table are kept only while its ``runs`` partition passes.
    """
    sizes = file_sizes(wh.tables)
    records = _records(wh, [name for name in sizes if name.endswith(DATA_FILE + MANIFEST_SUFFIX)])
    good: dict[str, dict[str, str]] = {t: {} for t in tables}
    problems: list[Problem] = []
    for table in tables:
        partitions = {name.split("/")[1] for name in sizes if name.startswith(f"{table}/run_id=") and name.count("/") == 2}
        for part in sorted(partitions):
            run_id = part[len("run_id="):]
            name = f"{table}/{part}/{DATA_FILE}"
            entry = parse_record(records.get(name + MANIFEST_SUFFIX))
            if name not in sizes and name + MANIFEST_SUFFIX not in sizes:
                continue  # a partition folder with neither file: nothing was ever published there
            problem = cheap_parquet_problem(join(wh.tables, *name.split("/")), sizes.get(name), entry)
            if problem:
                problems.append(Problem(None if run_id == EMPTY_PARTITION else run_id, table, str(join(wh.tables, *name.split("/"))),
                                        problem, "run: neuroninfo verify --repair"))
            else:
                good[table][run_id] = str(join(wh.tables, *name.split("/")))
    whole_runs = set(good.get("runs", {}))
    files: dict[str, list[str]] = {}
    for table in tables:
        kept = []
        for run_id, path in sorted(good[table].items()):
            if run_id == EMPTY_PARTITION or table == "runs" or run_id in whole_runs:
                kept.append(path)
            elif not any(p.run_id == run_id and p.kind == "runs" for p in problems):
                problems.append(Problem(run_id, table, path, "rows of a run that has no `runs` row (a removal or registration was interrupted)",
                                        f"run: neuroninfo rm {run_id} (or verify --repair to register its checkpoint)"))
        files[table] = kept
    return files, problems


def _records(wh: Warehouse, names: list[str]) -> dict[str, bytes]:
    """The bytes of these integrity records (relative to ``tables/``); unreadable ones are left out."""
    paths = {str(join(wh.tables, *n.split("/"))): n for n in names}
    if wh.local:
        out = {}
        for path, name in paths.items():
            try:
                out[name] = Path(path).read_bytes()
            except OSError:
                pass
        return out
    fs, _ = filesystem(wh.root)
    fetched = fs.cat([filesystem(p)[1] for p in paths], on_error="omit") if paths else {}
    by_fs_path = {filesystem(p)[1]: n for p, n in paths.items()}
    return {by_fs_path[k]: v for k, v in fetched.items() if k in by_fs_path and isinstance(v, bytes)}


PROBLEMS_SCHEMA = pa.schema([(f.name, pa.string()) for f in fields(Problem)])


def create_views(con: duckdb.DuckDBPyConnection, wh: Warehouse, problems_table: str = "TEMP TABLE") -> list[str]:
    """Create the staging and public views and ``warehouse_problems`` on ``con``; return the files they read."""
    tables = [m[len("staging_"):] for m in staging_models()]
    for table in tables:
        if table in SCHEMAS:
            ensure_table(wh, table, SCHEMAS[table])
    if not wh.local:  # DuckDB reads the URLs in read_parquet through the fsspec filesystem
        wh.fs.invalidate_cache()  # object-store listings are cached per process; other processes write too
        con.register_filesystem(wh.fs)
    for attempt in range(3):  # a concurrent `rm` (or a rejected inbox run) may remove a listed file before the views bind
        files, problems = scan_tables(wh, tables)
        try:
            for table in tables:
                listed = "[" + ", ".join(sql_string(f) for f in files[table]) + "]"
                con.execute(f"CREATE OR REPLACE VIEW stg_{table} AS\n" + sql_text(f"staging_{table}", files=listed))
            create_public_views(con)
            break
        except duckdb.IOException as e:
            if "No files found that match" not in str(e) or attempt == 2:
                raise
    con.register("problems_arrow", pa.Table.from_pylist([dict(zip(PROBLEMS_SCHEMA.names, astuple(p))) for p in problems],
                                                        schema=PROBLEMS_SCHEMA))
    con.execute(f"CREATE OR REPLACE {problems_table} warehouse_problems AS SELECT * FROM problems_arrow")
    con.unregister("problems_arrow")
    return [f for fs_ in files.values() for f in fs_]


def memory_connection(wh: Warehouse) -> duckdb.DuckDBPyConnection:
    """A private in-memory connection with every view: never blocks on, or blocks, other processes."""
    con = duckdb.connect()
    create_views(con, wh)
    return con


def sandboxed_connection(wh: Warehouse, allowed_paths: tuple[str, ...] = ()) -> duckdb.DuckDBPyConnection:
    """An in-memory connection with every view that can read only the warehouse's checked files (and
    ``allowed_paths``): no other file, no network, no extension installs, settings locked."""
    con = duckdb.connect()
    files = create_views(con, wh)
    allowed = []
    for f in files + [os.path.abspath(p) if "://" not in p else p for p in allowed_paths]:
        allowed.append(f)
        if "://" in f:  # DuckDB asks a registered filesystem for both spellings
            proto, rest = f.split("://", 1)
            allowed.append(f"{proto}:///{rest.lstrip('/')}")
    dirs = [a for a in allowed if a.endswith("/") or os.path.isdir(a)]
    paths = [a for a in allowed if a not in dirs]
    con.execute(f"SET allowed_paths = [{', '.join(sql_string(p) for p in paths)}]")
    if dirs:
        con.execute(f"SET allowed_directories = [{', '.join(sql_string(d.rstrip('/') + '/') for d in dirs)}]")
    for setting in ("enable_external_access = false", "autoinstall_known_extensions = false",
                    "autoload_known_extensions = false", "enable_progress_bar = false", "lock_configuration = true"):
        con.execute(f"SET {setting}")
    return con


_REFRESH_LOCK = threading.Lock()  # one refresh at a time per process (threads share DuckDB's instance)


@contextmanager
def _file_lock(path: Path):
    """An exclusive advisory lock between processes (released when the process dies)."""
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def refresh_catalog(wh: Warehouse) -> None:
    """Rebuild ``catalog.duckdb`` (views for users' own DuckDB sessions) beside the old one and rename it
    into place: readers keep the file they opened, a corrupt catalog is simply replaced. Local only."""
    if not wh.local:
        return
    with _REFRESH_LOCK, _file_lock(wh.root / ".catalog.lock"), atomic_path(wh.catalog, sidecars=(".wal",)) as tmp:
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


def check_statements(con: duckdb.DuckDBPyConnection, sql: str) -> list[str]:
    """The statements of ``sql`` if every one is a query; else a one-line error.

    Accepted: SELECT / WITH / VALUES / FROM / DESCRIBE / SHOW / SUMMARIZE / PIVOT (parsed as queries) and
    a plain EXPLAIN (which plans without running). Refused: EXPLAIN ANALYZE (it runs its statement),
    COPY, ATTACH, SET, PRAGMA, INSTALL/LOAD, CREATE and every other statement."""
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as e:
        raise NeuronInfoError(f"SQL does not parse: {str(e).splitlines()[0]}") from None
    if not statements:
        raise NeuronInfoError("no SQL statement given; pass a query such as \"SELECT * FROM runs\"")
    for statement in statements:
        kind = statement.type.name
        if kind == "EXPLAIN" and _mentions_analyze(statement.query):
            raise NeuronInfoError("neuroninfo sql is read-only: EXPLAIN ANALYZE runs its statement and is refused; use plain EXPLAIN")
        if kind not in ("SELECT", "EXPLAIN"):
            raise NeuronInfoError(f"neuroninfo sql is read-only: a {kind} statement is refused; use SELECT (write with the stage verbs)")
    return [s.query for s in statements]


def _mentions_analyze(text: str) -> bool:
    tokens = duckdb.tokenize(text)
    words = []
    for (start, kind), nxt in zip(tokens, tokens[1:] + [(len(text), None)]):
        if kind not in (duckdb.token_type.string_const, duckdb.token_type.comment):
            words.append(text[start:nxt[0]].strip().strip("()").upper())
    return any(w in ("ANALYZE", "ANALYSE") for w in words)


class QueryInterrupted(Exception):
    """The user pressed Ctrl-C during a query (the CLI exits 130)."""


def run_sandboxed(con: duckdb.DuckDBPyConnection, statements: list[str], timeout: float | None) -> pa.Table:
    """Run the statements (returning the last one's rows) on a worker thread, interrupting DuckDB on
    timeout or Ctrl-C."""
    outcome: dict = {}

    def work():
        try:
            for statement in statements[:-1]:
                con.sql(statement)
            outcome["table"] = con.sql(statements[-1]).to_arrow_table()
        except BaseException as e:  # handed to the caller's thread
            outcome["error"] = e

    worker = threading.Thread(target=work, name="neuroninfo-sql", daemon=True)
    worker.start()
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        while worker.is_alive() and (deadline is None or time.monotonic() < deadline):
            worker.join(0.2 if deadline is None else max(0.0, min(0.2, deadline - time.monotonic())))
    except KeyboardInterrupt:
        _stop(con, worker)
        raise QueryInterrupted() from None
    if worker.is_alive():
        _stop(con, worker)
        raise NeuronInfoError(f"query stopped after the {timeout:g} s timeout; narrow it (WHERE run_id = ..., LIMIT) or pass --timeout SECONDS")
    if "error" in outcome:
        error = outcome["error"]
        if isinstance(error, duckdb.Error):
            raise NeuronInfoError(f"query failed: {str(error).splitlines()[0]}") from None
        raise error
    return outcome["table"]


def _stop(con: duckdb.DuckDBPyConnection, worker: threading.Thread, patience_s: float = 30.0) -> None:
    """Interrupt the running query until its thread has returned (an interrupt can land before it starts)."""
    deadline = time.monotonic() + patience_s
    while worker.is_alive() and time.monotonic() < deadline:
        con.interrupt()
        worker.join(0.1)



def query(wh: Warehouse, sql: str, timeout: float | None = DEFAULT_TIMEOUT_S, attempts: int = 3) -> pa.Table:
    """Run read-only SQL against the views in the sandbox; return a pyarrow Table. When a concurrent
    ``rm`` removes a file the views list, the views are rebuilt and the query runs again."""
    for attempt in range(attempts):
        con = sandboxed_connection(wh)
        try:
            statements = check_statements(con, sql)
            try:
                return run_sandboxed(con, statements, timeout)
            except NeuronInfoError as e:
                if "No files found that match" not in str(e) or attempt == attempts - 1:
                    raise
        finally:
            try:
                con.close()
            except duckdb.Error:  # an interrupted result may still hold it: the process is about to end anyway
                pass
    raise AssertionError("unreachable")


def problems(wh: Warehouse) -> list[Problem]:
    """The cheap-check problems of the warehouse's tables (what ``warehouse_problems`` shows)."""
    return scan_tables(wh, [m[len("staging_"):] for m in staging_models()])[1]
