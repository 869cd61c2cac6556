"""The stage registry: what each stage reads and writes, and how it makes its outputs again.

One declaration per stage. ``verify --repair`` finds the stage of each damaged table here and replays it
with the parameters recorded beside the file; ``verify --data-tests`` finds results made from inputs that
have changed since (stale); a test checks that every stored table is the output of exactly one stage, so a
new table cannot be left out of repair. The defaults of a stage's parameters are pipeline/options.py's.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Callable

from flows import pruning, stages
from flows.rankings import available
from flows.run_data import data_of
from pipeline.options import ANALYSIS, EstimateSpec
from pipeline.progress import note
from store import activations as act
from store.checkpoints import load_run
from store.contract import contracts
from store.paths import Warehouse, remove_tree
from store.tables import has_partition, partition_params, remove_partition


@dataclass(frozen=True)
class Stage:
    verb: str  # the CLI verb that runs it
    outputs: tuple[str, ...]  # the tables it writes ('activations': the run's Zarr store)
    inputs: tuple[str, ...]  # what it reads; a result records their fingerprints (flows.stages.fingerprint)
    redo: Callable[[Warehouse, str, str | None], None] | None  # make the outputs again from recorded parameters

    def params(self, wh: Warehouse, run_id: str) -> dict:
        """The parameters recorded beside the first of its outputs that has any."""
        for table in self.outputs:
            if table in contracts() and has_partition(wh, table, run_id):
                found = partition_params(wh, table, run_id)
                if found is not None:
                    return found
        return {}


def _redo_runs(wh: Warehouse, run_id: str, data_dir) -> None:
    model = load_run(wh, run_id)
    params = STAGES["train"].params(wh, run_id)
    created = params.get("created_at")
    stages.register_run(wh, run_id, model, data_of(model.spec, data_dir),
                        datetime.fromisoformat(created) if created else None,
                        params.get("origin", "trained"), params.get("lineage"), params.get("provenance"),
                        tuple(params.get("unstated") or ()))


def _redo_capture(wh: Warehouse, run_id: str, data_dir) -> None:
    params = STAGES["capture"].params(wh, run_id)
    remove_tree(wh.activations(run_id))
    globs = params.get("layer_globs")
    stages.capture_run(wh, run_id, tuple(params.get("bits", ANALYSIS.bits)), params.get("method", ANALYSIS.method),
                       data_dir, tuple(params.get("splits", stages.SPLITS)), layer_globs=tuple(globs) if globs else None,
                       reducer=params.get("reducer"))


def _redo_measure(wh: Warehouse, run_id: str, data_dir) -> None:
    stages.measure_run(wh, run_id, force=True)


def _redo_estimate(wh: Warehouse, run_id: str, data_dir) -> None:
    spec = STAGES["estimate"].params(wh, run_id).get("spec") or {}
    stages.estimate_run(wh, run_id, EstimateSpec(**spec), force=True)


def _redo_pairs(wh: Warehouse, run_id: str, data_dir) -> None:
    sets = stages.pair_sets(STAGES["pairs"].params(wh, run_id)) or {"1": [{}]}
    first = True
    for b, computations in sorted(sets.items()):
        for options in computations:
            stages.pairs_run(wh, run_id, int(b), options.get("top_n"), options.get("across_layers", False), force=True,
                             replace=first)
            first = False


def _redo_baselines(wh: Warehouse, run_id: str, data_dir) -> None:
    stages.baselines_run(wh, run_id, data_dir)


def _redo_ablate(wh: Warehouse, run_id: str, data_dir) -> None:
    computations = stages.ablation_computations(STAGES["ablate"].params(wh, run_id)) or [{}]
    for i, c in enumerate(computations):
        estimator = c.get("estimator", "plugin")
        have = available(wh, run_id, estimator)  # older warehouses recorded every name, whether the run had it or not
        measures = tuple(m for m in c.get("measures") or () if m in have)
        stages.ablate_run(wh, run_id, tuple(c.get("strategies") or ANALYSIS.strategies),
                          ANALYSIS.random_repeats if c.get("random_repeats") is None else c["random_repeats"], c.get("steps"), data_dir,
                          measures or None, force=True, replace=i == 0, scopes=tuple(c.get("scopes") or ANALYSIS.scopes),
                          estimator=estimator)


def _redo_sweep(wh: Warehouse, run_id: str, data_dir) -> None:
    sweeps = STAGES["prune-sweep"].params(wh, run_id).get("sweeps")
    if not sweeps:
        note(f"prune-sweep {run_id}: its pruning_curves recorded no parameters (an older version); made again with the "
             "default sweep, which may differ from the one that was damaged")
        sweeps = [{}]
    remove_partition(wh, "pruning_curves", run_id)  # replayed in order into an empty partition
    for s in sweeps:
        kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in s.items()}
        pruning.prune_sweep_run(wh, run_id, data_dir=data_dir, **kwargs)


STAGES: dict[str, Stage] = {s.verb: s for s in (
    Stage("train", ("runs",), ("checkpoint",), _redo_runs),
    Stage("import", ("imports",), ("checkpoint",), None),  # where a file came from: a fact, not derivable
    Stage("trajectory", ("trajectory_points",), ("checkpoint",), None),  # which training and epoch a run is: a fact
    Stage("capture", ("activations", "quantizers", "unit_layers"), ("checkpoint",), _redo_capture),
    Stage("measure", ("counts", "neuron_stats", "specific_info"), ("activations",), _redo_measure),
    Stage("estimate", ("measure_estimates",), ("counts", "neuron_stats", "specific_info"), _redo_estimate),
    Stage("pairs", ("neuron_pairs", "neuron_redundancy"), ("activations",), _redo_pairs),
    Stage("baselines", ("neuron_baselines",), ("checkpoint", "activations"), _redo_baselines),
    Stage("ablate", ("ablation_curves", "ablation_orderings"),
          ("neuron_stats", "neuron_redundancy", "neuron_baselines", "activations"), _redo_ablate),
    Stage("prune-sweep", ("pruning_curves",), ("neuron_stats", "neuron_redundancy", "neuron_baselines"), _redo_sweep),
)}


def stage_of(output: str) -> Stage:
    """The stage that writes ``output`` (a table or 'activations')."""
    for stage in STAGES.values():
        if output in stage.outputs:
            return stage
    raise KeyError(f"no stage writes {output!r}; declare it in flows/stage_registry.py")


def stale_results(wh: Warehouse, run_id: str) -> list[str]:
    """One line per output of the run made from an input that has changed since (its recorded fingerprint
    differs from the input's now), naming the verb that makes it again."""
    lines = []
    for stage in STAGES.values():
        recorded = stage.params(wh, run_id)
        for source in stage.inputs:
            if source in recorded and recorded[source] != stages.fingerprint(wh, run_id, source):
                lines.append(f"stale: run {run_id}: {', '.join(t for t in stage.outputs if t in contracts())} were made "
                             f"from {source} before it changed; run: neuroninfo {stage.verb} {run_id}")
                break
    return lines
