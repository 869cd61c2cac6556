"""The ``neuron_baselines`` table: torch-computed criteria joined with activation statistics in SQL."""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from store.measures import connect
from store.paths import Warehouse
from store.sql_files import sql_text
from store.tables import write_partition

TORCH_COLUMNS = ("weight_l1_in", "weight_l2_in", "weight_l1_out", "torch_pruning_magnitude", "taylor", "conductance",
                 "ablation_damage", "ablation_damage_mean")


def baselines_table(torch_values: list[dict[str, np.ndarray | None]], raw: list[np.ndarray]) -> pa.Table:
    """Run ``sql/measures_baselines.sql`` over one dict of torch measures and the raw validation outputs
    (N, M) per hidden layer; a measure given as None is NULL."""
    torch_rows, raw_rows = [], []
    for layer, (values, outputs) in enumerate(zip(torch_values, raw), start=1):
        m = outputs.shape[1]
        cols = {"layer": pa.array(np.full(m, layer, np.int32)), "neuron": pa.array(np.arange(m, dtype=np.int32))}
        for name in TORCH_COLUMNS:
            v = values.get(name)
            cols[name] = pa.array(np.asarray(v, np.float64)) if v is not None else pa.nulls(m, pa.float64())
        torch_rows.append(pa.table(cols))
        raw_rows.append(pa.table({
            "layer": pa.array(np.full(outputs.size, layer, np.int32)),
            "neuron": pa.array(np.repeat(np.arange(m, dtype=np.int32), outputs.shape[0])),
            "value": pa.array(np.ascontiguousarray(outputs.T).ravel()),
        }))
    con = connect()
    try:
        con.register("torch_baselines", pa.concat_tables(torch_rows))
        con.register("raw_outputs", pa.concat_tables(raw_rows))
        return con.sql(sql_text("measures_baselines")).to_arrow_table()
    finally:
        con.close()


def write_baselines(wh: Warehouse, run_id: str, table: pa.Table) -> None:
    write_partition(wh, "neuron_baselines", run_id, table)
