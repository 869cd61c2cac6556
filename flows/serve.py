"""Serve the deployments `train-and-measure/default`, `reanalyze-checkpoints/scheduled` and `prune-sweep/default` and `paper/grid`.

Needs a Prefect API (PREFECT_API_URL); `make serve` (flows/serve_local.py) starts one when none answers.
"""
from __future__ import annotations

import os

from prefect import serve

from flows.paper import paper_grid
from flows.prune_sweep import prune_sweep
from flows.reanalyze import reanalyze_checkpoints
from flows.train_and_measure import train_and_measure
from pipeline.options import SERVE_CRON
from store.paths import open_warehouse


def serve_deployments(cron: str = SERVE_CRON, warehouse: str | None = None, data_dir: str | None = None) -> None:
    """Register the deployments and run their flow runs here until stopped (schedules on)."""
    root = str(open_warehouse(warehouse).root)
    os.environ["NEURONINFO_WAREHOUSE"] = root  # flow runs are subprocesses: they inherit it
    if data_dir:
        os.environ["NEURONINFO_DATA"] = str(data_dir)
    serve(
        # the main job: 5 epochs (quick); pass -p epochs=15 (or null) for the preset's full training
        train_and_measure.to_deployment(name="default", parameters={"warehouse": root, "epochs": 5}, tags=["neuroninfo"]),
        reanalyze_checkpoints.to_deployment(name="scheduled", cron=cron, parameters={"warehouse": root}, tags=["neuroninfo"]),
        prune_sweep.to_deployment(name="default", parameters={"warehouse": root}, tags=["neuroninfo"]),
        paper_grid.to_deployment(name="grid", parameters={"warehouse": root}, tags=["neuroninfo"]),
    )
