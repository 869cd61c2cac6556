"""``neuroninfo verify --repair``: recompute what a run's damaged files derive from.

Everything downstream of a checkpoint is deterministic, so each damaged output is made again by the stage
that writes it (flows/stage_registry.py), replaying the parameters recorded beside the original file. A
damaged checkpoint, or a table no stage can derive (imports), is reported.
"""
from __future__ import annotations

from pathlib import Path

from flows.stage_registry import STAGES
from store import activations as act
from store.catalog import refresh_catalog
from store.checkpoints import store_checkpoint
from store.integrity import Problem
from store.paths import Warehouse, read_bytes
from store.verify import verify_run


def repair_run(wh: Warehouse, run_id: str, problems: list[Problem], data_dir: str | Path | None = None) -> list[str]:
    """Fix the run's problems where they are derivable; return one line per action (or per loss)."""
    kinds = {p.kind for p in problems}
    if any(p.kind == "checkpoint" and "not derivable" in p.fix for p in problems):
        return [f"run {run_id}: checkpoint is damaged or missing and cannot be recomputed; restore it from a backup or: neuroninfo rm {run_id}"]
    done = []
    if "checkpoint" in kinds:  # whole, only its record was missing
        store_checkpoint(wh, run_id, read_bytes(wh.checkpoint(run_id)))
        done.append(f"run {run_id}: checkpoint re-recorded")
    if kinds & {"quantizers", "unit_layers"} and "activations" not in kinds:  # the store is whole: it says it all
        act.write_quantizers(wh, act.open_activations(wh, run_id), STAGES["capture"].params(wh, run_id))
        done.append(f"run {run_id}: quantizers and unit_layers rewritten from the activation store")
        kinds -= {"quantizers", "unit_layers"}
    for stage in STAGES.values():  # in dependency order
        damaged = [t for t in stage.outputs if t in kinds]
        if not damaged:
            continue
        if stage.redo is None:
            done.append(f"run {run_id}: {', '.join(damaged)} cannot be recomputed (not derivable); restore it from a backup")
            continue
        stage.redo(wh, run_id, data_dir)
        done.append(f"run {run_id}: {', '.join(stage.outputs)} made again by {stage.verb} with its recorded parameters")
    refresh_catalog(wh)
    left = verify_run(wh, run_id)
    return done + [f"still damaged: {p.line()}" for p in left]
