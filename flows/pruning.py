"""Pruning stages: cut a run's least important neurons by a criterion, optionally fine-tune, and
register the smaller network (``prune``) or tabulate many prunings (``prune_sweep`` -> ``pruning_curves``).

Plain functions over a warehouse, like flows/stages.py; no Prefect here.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow as pa

from flows.rankings import default_criteria, rankings
from flows.run_data import data_of
from flows.stages import fresh_inputs, register_run
from pipeline.criteria import CRITERIA, check_names, per_bits
from pipeline.errors import NeuronInfoError
from pipeline.options import SWEEP
from pipeline.progress import note
from pipeline.model import MLP, error_rate
from pipeline.prune import kept_neurons, n_params, prune_model
from pipeline.prune_channels import masked_error, prune_cnn
from pipeline.train import finetune
from store import activations as act
from store.catalog import refresh_catalog
from store.checkpoints import load_run, save_checkpoint
from store.paths import Warehouse
from store.tables import has_partition, merge_partition, partition_params, write_partition


def ranking_of(wh: Warehouse, run_id: str, measure: str, bits: int | None) -> np.ndarray:
    """(layer, neuron) rows of every hidden neuron, least important first by ``measure`` at ``bits``."""
    want = bits if per_bits(measure) else None
    orderings = rankings(wh, run_id, (measure,))
    for o in orderings:
        if o.scope == "network" and o.ordering == "low_first" and o.bits == want:
            return o.neurons
    have = sorted({o.bits for o in orderings} - {None})
    raise NeuronInfoError(f"run {run_id} has no {measure} at {bits} bits (stored: {have}); run: neuroninfo capture {run_id} "
                          f"--bits {bits}, then neuroninfo {CRITERIA[measure].requires} {run_id}")


def pruned_network(model: MLP, ranking: np.ndarray, keep: float, scope: str, strategy: str,
                   means: list[np.ndarray] | None, finetune_epochs: int, data) -> tuple[MLP, list[str], list[np.ndarray]]:
    """The network without its least important neurons, fine-tuned for ``finetune_epochs``; notes; and the
    indices kept of each layer."""
    if finetune_epochs < 0:
        raise NeuronInfoError(f"--finetune-epochs {finetune_epochs}; give 0 or more epochs")
    kept, notes = kept_neurons(ranking, model.spec.hidden_sizes, keep, scope)
    pruned = prune_model(model, kept, strategy, means) if isinstance(model, MLP) else prune_cnn(model, kept, strategy, means)
    if finetune_epochs:
        finetune(pruned, data, finetune_epochs)
    return pruned.eval(), notes, kept


def _inputs(wh: Warehouse, run_id: str, strategy: str, data_dir):
    model = load_run(wh, run_id)
    if not isinstance(model, MLP) and model.spec.arch != "cnn":
        raise NeuronInfoError(f"run {run_id} is a {model.spec.arch}: pruning cuts the neurons of an mlp and the "
                              "channels of the cnn preset; its ablation curves show the same cumulative removal "
                              "without fine-tuning (neuroninfo ablate)")
    means = None
    if strategy == "mean":
        store = act.open_activations(wh, run_id)
        means = [store.train_mean(layer) if isinstance(model, MLP) else store.train_mean_map(layer) for layer in store.layers]
    return model, means, data_of(model.spec, data_dir)


def criterion_label(measure: str, bits: int | None) -> str:
    return f"{measure}@{bits}b" if per_bits(measure) else measure


def prune_run(wh: Warehouse, run_id: str, measure: str, keep: float, bits: int | None = 1, scope: str = "network",
              strategy: str = "mean", finetune_epochs: int = 0, data_dir: str | Path | None = None) -> tuple[str, list[str]]:
    """Prune a run, save the smaller network as a new checkpoint and register it (origin 'pruned'); return (run_id, notes)."""
    model, means, data = _inputs(wh, run_id, strategy, data_dir)
    parent_error = error_rate(model, data.test.x, data.test.y)
    ranking = ranking_of(wh, run_id, measure, bits)
    pruned, notes, kept_units = pruned_network(model, ranking, keep, scope, strategy, means, finetune_epochs, data)
    pruned.spec = replace(pruned.spec, epochs=model.spec.epochs + finetune_epochs)  # epochs trained in all
    new_id = save_checkpoint(wh, pruned)
    label = f"{criterion_label(measure, bits)}/{scope}/{strategy}/ft{finetune_epochs}"
    kept_fraction = sum(pruned.spec.hidden_sizes) / sum(model.spec.hidden_sizes)
    lineage = {"parent_run_id": run_id, "pruned_by": label, "kept_fraction": kept_fraction,
               "suffix": f"-pruned-{criterion_label(measure, bits)}-{scope}-{strategy}-k{keep:g}-ft{finetune_epochs}"}
    test_error = register_run(wh, new_id, pruned, data, origin="pruned", lineage=lineage)
    kept = f"{sum(pruned.spec.hidden_sizes)} of {sum(model.spec.hidden_sizes)} hidden {'neurons' if isinstance(model, MLP) else 'units'} kept"
    note(f"prune: run {run_id} pruned by {label}: new run {new_id} ({kept}), test error {parent_error:.2%} -> {test_error:.2%}")
    if strategy == "mean" and not isinstance(model, MLP) and not finetune_epochs:  # the bias fold into a conv is approximate
        removed = [np.setdiff1d(np.arange(m), k) for m, k in zip(model.spec.hidden_sizes, kept_units)]
        ablated = masked_error(model, removed, "mean", means, data.test.x, data.test.y)
        note(f"prune: strategy mean on conv channels folds each removed channel's mean map into the next conv's bias "
             f"by its spatial mean (approximate): the ablated network's test error is {ablated:.2%}, the pruned one's "
             f"{test_error:.2%} ({test_error - ablated:+.2%})")
    return new_id, notes


def prune_sweep_run(wh: Warehouse, run_id: str, measures: tuple[str, ...] | None = None, bits: int = SWEEP.bits,
                    keeps: tuple[float, ...] = SWEEP.keeps, scope: str = SWEEP.scope, strategy: str = SWEEP.strategy,
                    finetune_epochs: tuple[int, ...] = SWEEP.finetune_epochs, data_dir: str | Path | None = None) -> str:
    """Test error of the run pruned by every criterion at every kept fraction, without and with fine-tuning
    (``pruning_curves``); the pruned networks are not registered. 'random' ranks by a seed-0 permutation.
    ``measures`` defaults to every criterion the run has, then random. Rows of sweeps with other options stay."""
    from pipeline.ablation import random_orderings
    from store.schemas import SCHEMAS

    if measures:
        check_names(tuple(measures), allow_random=True)
    model, means, data = _inputs(wh, run_id, strategy, data_dir)
    measures = tuple(measures) if measures else default_criteria(wh, run_id, "prune-sweep") + ("random",)
    total = sum(model.spec.hidden_sizes)
    rows = []
    for measure in measures:
        if measure == "random":
            ranking = next(o.neurons for o in random_orderings(model.spec.hidden_sizes, 1) if o.scope == "network")
        else:
            ranking = ranking_of(wh, run_id, measure, bits)
        for keep in keeps:
            for epochs in finetune_epochs:
                pruned, notes, _ = pruned_network(model, ranking, keep, scope, strategy, means, epochs, data)
                rows.append({
                    "measure": measure, "bits": bits if per_bits(measure) else None,
                    "scope": scope, "strategy": strategy, "finetune_epochs": epochs, "keep": keep,
                    "kept_fraction": sum(pruned.spec.hidden_sizes) / total,
                    "hidden_sizes": list(pruned.spec.hidden_sizes), "n_params": n_params(pruned),
                    "val_error": error_rate(pruned, data.val.x, data.val.y),
                    "test_error": error_rate(pruned, data.test.x, data.test.y),
                    "note": "; ".join(notes) or None,
                })
    sweep = {"measures": list(measures), "bits": bits, "keeps": list(keeps), "scope": scope, "strategy": strategy,
             "finetune_epochs": list(finetune_epochs)}
    recorded = partition_params(wh, "pruning_curves", run_id) if has_partition(wh, "pruning_curves", run_id) else None
    fresh, inputs = fresh_inputs(wh, run_id, recorded, {CRITERIA[m].source for m in measures if CRITERIA[m].source})
    if recorded is not None and not fresh:
        note(f"prune-sweep {run_id}: the criteria changed since the stored sweeps; they are replaced by this one")
    done = [d for d in (recorded or {}).get("sweeps", []) if d != sweep] if fresh else []
    write = merge_partition if fresh else write_partition
    write(wh, "pruning_curves", run_id, pa.Table.from_pylist(rows, schema=SCHEMAS["pruning_curves"]),
          {"sweeps": done + [sweep], **inputs})  # the sweeps verify --repair makes again, in order
    refresh_catalog(wh)
    note(f"prune-sweep {run_id}: {len(rows)} pruned networks ({len(measures)} criteria x {len(keeps)} kept fractions x "
         f"{len(finetune_epochs)} fine-tunings) written to pruning_curves")
    return run_id
