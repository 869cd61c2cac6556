"""``neuroninfo verify --repair``: recompute what a run's damaged files derive from.

Everything downstream of a checkpoint is deterministic, so a damaged activation store is captured
again from the checkpoint, damaged tables are computed again from the activations, each with the
parameters recorded beside the original file. A damaged checkpoint is not derivable: it is reported.
"""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

from flows import stages
from store import activations as act
from store.catalog import refresh_catalog
from store.checkpoints import load_run, store_checkpoint
from store.integrity import Problem
from store.paths import Warehouse, read_bytes, remove_tree
from store.tables import partition_params
from store.verify import verify_run

MEASURE_TABLES = {"counts", "neuron_stats", "specific_info"}
PAIR_TABLES = {"neuron_pairs", "neuron_redundancy"}


def repair_run(wh: Warehouse, run_id: str, problems: list[Problem], data_dir: str | Path | None = None) -> list[str]:
    """Fix the run's problems where they are derivable; return one line per action (or per loss)."""
    kinds = {p.kind for p in problems}
    if any(p.kind == "checkpoint" and "not derivable" in p.fix for p in problems):
        return [f"run {run_id}: checkpoint is damaged or missing and cannot be recomputed; restore it from a backup or: neuroninfo rm {run_id}"]
    done = []
    if "checkpoint" in kinds:  # whole, only its record was missing
        store_checkpoint(wh, run_id, read_bytes(wh.checkpoint(run_id)))
        done.append(f"run {run_id}: checkpoint re-recorded")
    if "runs" in kinds:
        model = load_run(wh, run_id)
        params = partition_params(wh, "runs", run_id) or {}
        created = params.get("created_at")
        stages.register_run(wh, run_id, model, stages.data_of(model.spec, data_dir),
                            datetime.fromisoformat(created) if created else None,
                            params.get("origin", "trained"), params.get("lineage"), params.get("provenance"),
                            tuple(params.get("unstated") or ()))
        done.append(f"run {run_id}: runs row recomputed")
    if "activations" in kinds:
        params = partition_params(wh, "quantizers", run_id) or {}
        remove_tree(wh.activations(run_id))
        stages.capture_run(wh, run_id, tuple(params.get("bits", (1, 2, 3))), params.get("method", "uniform"), data_dir,
                           tuple(params.get("splits", stages.SPLITS)))
        done.append(f"run {run_id}: activations captured again from the checkpoint")
    elif "quantizers" in kinds:
        act.write_quantizers(wh, act.open_activations(wh, run_id))
        done.append(f"run {run_id}: quantizers rewritten from the activation store")
    if kinds & MEASURE_TABLES:
        stages.measure_run(wh, run_id, force=True)
        done.append(f"run {run_id}: counts, neuron_stats, specific_info recomputed")
    if kinds & PAIR_TABLES:  # every bits value with the options recorded beside the files
        params = partition_params(wh, "neuron_redundancy", run_id) or partition_params(wh, "neuron_pairs", run_id) or {}
        for b, options in sorted((params.get("bits") or {"1": {}}).items()):
            stages.pairs_run(wh, run_id, int(b), options.get("top_n"), options.get("across_layers", False), force=True)
        done.append(f"run {run_id}: neuron_pairs, neuron_redundancy recomputed")
    if kinds & {"ablation_curves", "ablation_orderings"}:
        params = partition_params(wh, "ablation_curves", run_id) or partition_params(wh, "ablation_orderings", run_id) or {}
        stages.ablate_run(wh, run_id, tuple(params.get("strategies", ("zero", "mean"))), params.get("random_repeats", 5),
                          params.get("steps"), data_dir, tuple(params.get("measures", stages.MEASURES)), force=True)
        done.append(f"run {run_id}: ablation curves recomputed")
    refresh_catalog(wh)
    left = verify_run(wh, run_id)
    return done + [f"still damaged: {p.line()}" for p in left]
