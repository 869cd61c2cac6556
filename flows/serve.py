"""Serve the deployments `train-and-measure/default`, `reanalyze-checkpoints/scheduled` and `prune-sweep/default` and `paper/grid`.

Needs a Prefect API (PREFECT_API_URL); `make serve` (flows/serve_local.py) starts one when none answers.
"""
from __future__ import annotations

import asyncio
import os

from prefect.runner import Runner

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
    deployments = [
        # the main job: 5 epochs (quick); pass -p epochs=15 (or null) for the preset's full training
        train_and_measure.to_deployment(name="default", parameters={"warehouse": root, "epochs": 5}, tags=["neuroninfo"]),
        reanalyze_checkpoints.to_deployment(name="scheduled", cron=cron, parameters={"warehouse": root}, tags=["neuroninfo"]),
        prune_sweep.to_deployment(name="default", parameters={"warehouse": root}, tags=["neuroninfo"]),
        paper_grid.to_deployment(name="grid", parameters={"warehouse": root}, tags=["neuroninfo"]),
    ]
    runner = _Runner(pause_on_shutdown=True)
    for deployment in deployments:
        runner.add_deployment(deployment)
    names = ", ".join(f"{d.flow_name}/{d.name}" for d in deployments)
    print(f"serving {names}; start a run with: prefect deployment run NAME (its logs go to the Prefect UI)", flush=True)
    try:
        asyncio.run(runner.start())
    except KeyboardInterrupt:  # Ctrl-C: asyncio cancels the runner, which pauses the schedules on its way out
        pass


class _Runner(Runner):
    """Prefect's Runner, stopped on SIGTERM by awaiting its stop on its own event loop (Prefect's handler
    calls ``stop()`` inside that loop, which makes the coroutine and never awaits it)."""

    def handle_sigterm(self, *args, **kwargs) -> None:
        self._logger.info("SIGTERM received, stopping (the deployments' schedules are paused)")
        loop = asyncio.get_running_loop()
        loop.call_soon_threadsafe(lambda: setattr(self, "_stop_task", loop.create_task(self.astop())))
