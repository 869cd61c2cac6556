"""Users' read-only SQL: a sandboxed connection that reads only the warehouse's checked files, the
statements it accepts, and a query run that stops on timeout or Ctrl-C."""
from __future__ import annotations

import os
import re
import threading
import time

import duckdb
import pyarrow as pa

from pipeline.errors import NeuronInfoError
from pipeline.options import SQL_TIMEOUT_S
from store.paths import Warehouse
from store.sql_files import sql_string, sql_words
from store.views import create_views, views_named_in

DEFAULT_TIMEOUT_S = SQL_TIMEOUT_S


def sandboxed_connection(wh: Warehouse, allowed_paths: tuple[str, ...] = (),
                         views: tuple[str, ...] | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory connection with the views (``views``, with what they read; default every one) that can read
    only the warehouse's checked files (and ``allowed_paths``): no other file, no network, no extension installs,
    no temporary files, settings locked. The warehouse's files are read through a filesystem that refuses every
    write (store.readonly_fs): DuckDB lets a connection write (COPY TO) wherever it may read, so their own paths
    are never allowed."""
    con = duckdb.connect()
    con.execute("SET parquet_metadata_cache = true")  # the views read a file's footer once, not once per view
    files = create_views(con, wh, read_only=True, views=views)
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
    for setting in ("temp_directory = ''", "enable_external_access = false", "autoinstall_known_extensions = false",
                    "autoload_known_extensions = false", "enable_progress_bar = false", "lock_configuration = true"):
        con.execute(f"SET {setting}")
    return con


def check_statements(con: duckdb.DuckDBPyConnection, sql: str) -> list[str]:
    """The statements of ``sql`` if every one is a query; else a one-line error.

    Accepted: SELECT / WITH / VALUES / FROM / DESCRIBE / SHOW / SUMMARIZE / PIVOT ... IN (...) / UNPIVOT (parsed as
    queries) and a plain EXPLAIN (which plans without running). Refused: EXPLAIN ANALYZE (it runs its statement),
    a PIVOT without IN (it creates a type first), COPY, ATTACH, SET, PRAGMA, INSTALL/LOAD, CREATE and every other
    statement."""
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as e:
        raise NeuronInfoError(f"SQL does not parse: {duckdb_message(e)}") from None
    if not statements:
        raise NeuronInfoError("no SQL statement given; pass a query such as \"SELECT * FROM runs\"")
    for statement in statements:
        kind = statement.type.name
        if kind == "SET" and _sets_a_variable(statement.query):
            continue  # session state the views may read (scorecard_estimator), nothing written
        if kind == "EXPLAIN" and _mentions_analyze(statement.query):
            raise NeuronInfoError("neuroninfo sql is read-only: EXPLAIN ANALYZE runs its statement and is refused; use plain EXPLAIN")
        if kind == "MULTI":
            raise NeuronInfoError("neuroninfo sql is read-only: a PIVOT without IN (...) creates a type first and is refused; "
                                  "list the pivoted values: PIVOT ... ON column IN (value, ...) USING ...")
        if kind not in ("SELECT", "EXPLAIN"):
            kind = "INSTALL or LOAD" if kind == "LOAD" else kind
            article = "an" if kind[0] in "AEIOU" else "a"
            raise NeuronInfoError(f"neuroninfo sql is read-only: {article} {kind} statement is refused; use SELECT (write with the stage verbs)")
    if statements[-1].type.name == "SET":
        raise NeuronInfoError("neuroninfo sql needs a query after SET VARIABLE; end with a SELECT, e.g. "
                              "SET VARIABLE scorecard_estimator = 'miller_madow'; SELECT * FROM scorecard")
    return [s.query for s in statements]


def _sets_a_variable(text: str) -> bool:
    """Is the statement ``SET VARIABLE name = ...`` or ``RESET VARIABLE name`` (a session variable)?"""
    return bool(re.match(r"\s*(SET|RESET)\s+VARIABLE\s", text, re.IGNORECASE))


def duckdb_message(error: duckdb.Error) -> str:
    """DuckDB's message on one line, its hints kept ('Did you mean "neuron_stats"?', 'Candidate bindings: ...');
    the echo of the query and its caret marker (``LINE 1: ...``, ``^^^``) left out."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    kept = [line for line in lines if not line.startswith("LINE ") and set(line) != {"^"}]
    return " ".join(kept) or type(error).__name__


def _mentions_analyze(text: str) -> bool:
    return bool({w.upper() for w in sql_words(text)} & {"ANALYZE", "ANALYSE"})


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
            raise NeuronInfoError(f"query failed: {duckdb_message(error)}") from None
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
    views = views_named_in(sql)  # only what the query reads: binding every view costs about a second
    for attempt in range(attempts):
        con = sandboxed_connection(wh, views=views)
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
