"""The `trajectory_points` table: which run a training's checkpoint after each epoch became."""
from __future__ import annotations

import pyarrow as pa

from store.paths import Warehouse
from store.schemas import SCHEMAS
from store.tables import merge_partition


def link_point(wh: Warehouse, run_id: str, training_id: str, epoch: int, step: int | None = None) -> None:
    """Record that ``run_id`` is ``training_id`` after ``epoch`` epochs (``step`` optimizer steps): the run's
    other links stay, the same (training, epoch) is written again."""
    row = pa.table({"training_id": [training_id], "epoch": [epoch], "step": [step]}, schema=SCHEMAS["trajectory_points"])
    merge_partition(wh, "trajectory_points", run_id, row)
