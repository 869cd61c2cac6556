"""Pruning stages: cut a run's least important neurons by a criterion, optionally fine-tune, and
register the smaller network (``prune``) or tabulate many prunings (``prune_sweep`` -> ``pruning_curves``).

Plain functions over a warehouse, like flows/stages.py; no Prefect here.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow as pa

from flows.stages import BASELINES, MEASURES, data_of, register_run, rankings
from pipeline.errors import NeuronInfoError
from pipeline.model import MLP, error_rate
from pipeline.prune import kept_neurons, n_params, prune_model
from pipeline.train import finetune
from store import activations as act
from store.catalog import refresh_catalog
from store.checkpoints import load_run, save_checkpoint
from store.paths import Warehouse
from store.tables import has_partition, write_partition

SWEEP_FRACTIONS = (0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1)
UNQUANTIZED = ("class_selectivity",) + BASELINES  # criteria without a bits value


def ranking_of(wh: Warehouse, run_id: str, measure: str, bits: int | None) -> np.ndarray:
    """(layer, neuron) rows of every hidden neuron, least important first by ``measure`` at ``bits``."""
    want = None if measure in UNQUANTIZED else bits
    for o in rankings(wh, run_id, (measure,)):
        if o.scope == "network" and o.ordering == "low_first" and o.bits == want:
            return o.neurons
    have = sorted({o.bits for o in rankings(wh, run_id, (measure,))} - {None})
    raise NeuronInfoError(f"run {run_id} has no {measure} at {bits} bits (stored: {have}); capture and measure with --bits {bits}")


def pruned_network(model: MLP, ranking: np.ndarray, keep: float, scope: str, strategy: str,
                   means: list[np.ndarray] | None, finetune_epochs: int, data) -> tuple[MLP, list[str]]:
    """The network without its least important neurons, fine-tuned for ``finetune_epochs``; and notes."""
    if finetune_epochs < 0:
        raise NeuronInfoError(f"--finetune-epochs {finetune_epochs}; give 0 or more epochs")
    kept, notes = kept_neurons(ranking, model.spec.hidden_sizes, keep, scope)
    pruned = prune_model(model, kept, strategy, means)
    if finetune_epochs:
        finetune(pruned, data, finetune_epochs)
    return pruned.eval(), notes


def _inputs(wh: Warehouse, run_id: str, strategy: str, data_dir):
    model = load_run(wh, run_id)
    means = None
    if strategy == "mean":
        store = act.open_activations(wh, run_id)
        means = [store.train_mean(layer) for layer in store.layers]
    return model, means, data_of(model.spec, data_dir)


def criterion_label(measure: str, bits: int | None) -> str:
    return measure if measure in UNQUANTIZED else f"{measure}@{bits}b"


def prune_run(wh: Warehouse, run_id: str, measure: str, keep: float, bits: int | None = 1, scope: str = "network",
              strategy: str = "mean", finetune_epochs: int = 0, data_dir: str | Path | None = None) -> tuple[str, list[str]]:
    """Prune a run, save the smaller network as a new checkpoint and register it (origin 'pruned'); return (run_id, notes)."""
    model, means, data = _inputs(wh, run_id, strategy, data_dir)
    pruned, notes = pruned_network(model, ranking_of(wh, run_id, measure, bits), keep, scope, strategy, means,
                                   finetune_epochs, data)
    pruned.spec = replace(pruned.spec, epochs=model.spec.epochs + finetune_epochs)  # epochs trained in all
    new_id = save_checkpoint(wh, pruned)
    label = f"{criterion_label(measure, bits)}/{scope}/{strategy}/ft{finetune_epochs}"
    kept_fraction = sum(pruned.spec.hidden_sizes) / sum(model.spec.hidden_sizes)
    lineage = {"parent_run_id": run_id, "pruned_by": label, "kept_fraction": kept_fraction,
               "suffix": f"-pruned-{criterion_label(measure, bits)}-{scope}-{strategy}-k{keep:g}-ft{finetune_epochs}"}
    register_run(wh, new_id, pruned, data, origin="pruned", lineage=lineage)
    return new_id, notes


def sweep_criteria(wh: Warehouse, run_id: str) -> tuple[str, ...]:
    """Every information measure and baseline criterion the run has (baselines only once computed), then 'random'."""
    found = MEASURES if has_partition(wh, "neuron_stats", run_id) else ()
    if has_partition(wh, "neuron_baselines", run_id):
        have = {o.measure for o in rankings(wh, run_id, BASELINES)}  # conductance is absent without captum
        found += tuple(b for b in BASELINES if b in have)
    return found + ("random",)


def prune_sweep_run(wh: Warehouse, run_id: str, measures: tuple[str, ...] | None = None, bits: int = 1,
                    keeps: tuple[float, ...] = SWEEP_FRACTIONS, scope: str = "network", strategy: str = "mean",
                    finetune_epochs: tuple[int, ...] = (0, 1), data_dir: str | Path | None = None) -> str:
    """Test error of the run pruned by every criterion at every kept fraction, without and with fine-tuning
    (``pruning_curves``); the pruned networks are not registered. 'random' ranks by a seed-0 permutation."""
    from pipeline.ablation import random_orderings
    from store.schemas import SCHEMAS

    model, means, data = _inputs(wh, run_id, strategy, data_dir)
    measures = tuple(measures) if measures else sweep_criteria(wh, run_id)
    total = sum(model.spec.hidden_sizes)
    rows = []
    for measure in measures:
        if measure == "random":
            ranking = next(o.neurons for o in random_orderings(model.spec.hidden_sizes, 1) if o.scope == "network")
        else:
            ranking = ranking_of(wh, run_id, measure, bits)
        for keep in keeps:
            for epochs in finetune_epochs:
                pruned, notes = pruned_network(model, ranking, keep, scope, strategy, means, epochs, data)
                rows.append({
                    "measure": measure, "bits": None if measure in UNQUANTIZED + ("random",) else bits,
                    "scope": scope, "strategy": strategy, "finetune_epochs": epochs, "keep": keep,
                    "kept_fraction": sum(pruned.spec.hidden_sizes) / total,
                    "hidden_sizes": list(pruned.spec.hidden_sizes), "n_params": n_params(pruned),
                    "val_error": error_rate(pruned, data.val.x, data.val.y),
                    "test_error": error_rate(pruned, data.test.x, data.test.y),
                    "note": "; ".join(notes) or None,
                })
    new = pa.Table.from_pylist(rows, schema=SCHEMAS["pruning_curves"])
    write_partition(wh, "pruning_curves", run_id, _merged(wh, run_id, new))
    refresh_catalog(wh)
    return run_id


SWEEP_KEY = ("measure", "bits", "scope", "strategy", "finetune_epochs", "keep")


def _merged(wh: Warehouse, run_id: str, new: pa.Table) -> pa.Table:
    """The run's stored pruning_curves rows that ``new`` does not recompute, plus ``new``: sweeps with
    other options (scope, strategy, bits, fractions) add to the table instead of replacing it."""
    from store.sandbox import query

    if not has_partition(wh, "pruning_curves", run_id):
        return new
    old = query(wh, f"SELECT * EXCLUDE (run_id) FROM pruning_curves WHERE run_id = '{run_id}'").to_pylist()
    redone = {tuple(r[k] for k in SWEEP_KEY) for r in new.to_pylist()}
    kept = [r for r in old if tuple(r[k] for k in SWEEP_KEY) not in redone]
    return pa.concat_tables([pa.Table.from_pylist(kept, schema=new.schema), new])
