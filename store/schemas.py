"""Arrow schemas of the warehouse tables, read from the views' column contracts (``sql/contracts/*.yml``,
``store.contract``): the one place a column is declared.

``run_id`` is not stored in the files: it is the hive partition key (``run_id=<id>/``).
"""
import pyarrow as pa

from store.contract import contracts

SCHEMAS: dict[str, pa.Schema] = {view: c.storage_schema() for view, c in contracts().items() if c.stored}
