"""The measures' tables: counts, neuron_stats and specific_info of a run (computed by pipeline.measures)."""
from __future__ import annotations

import pyarrow as pa

from store.paths import Warehouse
from store.tables import write_partition


def write_measures(wh: Warehouse, run_id: str, tables: dict[str, pa.Table], made_from: dict | None = None) -> None:
    """Write the run's counts, specific_info and neuron_stats partitions (``made_from``: recorded with them,
    what they were computed from), each cast to its contract's schema.

    neuron_stats is written last: its presence marks the run as measured (a crash before it redoes all)."""
    for name in ("counts", "specific_info", "neuron_stats"):
        write_partition(wh, name, run_id, tables[name], made_from)
