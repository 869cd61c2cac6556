"""The views come from the contracts and sql/views/: every stored table gets its staging and public
view, each view is created after the views it reads, and the measures model writes the contract's columns."""
import re

import duckdb
import numpy as np
import pyarrow as pa

from store.contract import contracts
from store.lifecycle import prepare
from pipeline.measures import LayerInputs, connect, measure_layer
from store.schemas import SCHEMAS
from store.sql_files import SQL
from store.views import create_public_views, memory_connection, view_order, view_sql


def test_every_stored_table_has_its_staging_and_public_view(tmp_path):
    con = memory_connection(prepare(tmp_path / "wh"))  # an empty warehouse: every table is its zero-row file
    views = {r[0] for r in con.sql("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
    con.close()
    stored = [view for view, c in contracts().items() if c.stored]
    assert len(stored) == 15
    for table in stored:
        assert f"stg_{table}" in views and table in views, table
    assert set(view_order()) <= views


def test_each_view_is_created_after_the_views_it_reads():
    """DuckDB binds a view when it is created: each view is created alone, in the derived order, over
    empty staging tables, so one created before a view it reads fails. A plain word match of the other
    view names in each file's SQL (comments dropped) checks the same from the text."""
    order = view_order()
    assert len(set(order)) == len(order)
    assert set(order) == {p.stem for p in (SQL / "views").glob("*.sql")} | set(SCHEMAS)  # a passthrough per table without a file
    con = duckdb.connect()
    con.execute("CREATE SCHEMA staging")
    for table, schema in SCHEMAS.items():
        con.register(f"empty_{table}", pa.schema([("run_id", pa.string()), *zip(schema.names, schema.types)]).empty_table())
        con.execute(f"CREATE TABLE staging.stg_{table} AS SELECT * FROM empty_{table}")
    for view in order:
        create_public_views(con, (view,))
    con.close()
    for i, view in enumerate(order):
        code = re.sub(r"'[^']*'", "", re.sub(r"--[^\n]*", "", view_sql(view)))  # names in strings are values
        later = [v for v in order[i + 1:] if re.search(rf"\b{v}\b", code)]
        assert not later, f"{view} reads {later}, created after it"


def test_measures_model_writes_exactly_the_contract_columns():
    """sql/measures_neuron_stats.sql's final SELECT and sql/contracts/neuron_stats.yml list the same
    columns in the same order (measure_layers selects the contract's, so an undeclared one would be dropped
    without a word)."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 40).astype(np.uint8)
    raw = rng.normal(size=(40, 4)).astype(np.float32)
    layer = LayerInputs(layer=1, codes={1: (raw > 0).astype(np.uint8)}, raw=raw, mean_train=np.zeros(4, np.float32))
    tables = measure_layer(connect(), labels, 3, layer, "val")  # the models' own output
    for table in ("neuron_stats", "specific_info"):
        assert tables[table].column_names == SCHEMAS[table].names, table


def test_a_query_builds_only_the_views_it_reads(tmp_path):
    """Every public view queried alone through the sandbox, which builds only the views its SQL names and what
    they read (and the staging views under them), over an empty warehouse; a query that names none builds all."""
    from store.paths import open_warehouse
    from store.sandbox import query
    from store.views import views_named_in

    wh = open_warehouse(tmp_path / "wh")
    for view in view_order():
        assert query(wh, f"SELECT * FROM {view} LIMIT 0").num_rows == 0, view
    needed = views_named_in("SELECT * FROM neuron_ranks WHERE measure = 'scorecard'")  # a name in a string is a value
    assert needed is not None and "neuron_ranks" in needed and "measure_values" in needed and "scorecard" not in needed
    assert views_named_in("SHOW TABLES") is None and views_named_in("SELECT * FROM warehouse_problems, runs") is None
    assert len(query(wh, "SHOW TABLES")) == len(view_order()) + 1  # every view, and warehouse_problems
