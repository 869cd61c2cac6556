"""The pipeline stages as plain functions over a warehouse: train, capture, measure, estimate, pairs, baselines,
ablate.

Each stage takes run_ids and paths, reads its inputs from the warehouse and writes its outputs there, so it
can run from the CLI, inside a Prefect task, or on a Dask worker alike. No Prefect here. What each stage
reads and writes, and how its outputs are made again, is declared in flows/stage_registry.py.

A stage never silently replaces results made with other parameters: ablation curves of another k-grid,
strategy, criterion or random repeat, and pairs of another --top or --across-layers stay beside the new
ones (merged by the table's key); only results made from inputs that have since changed are replaced.
"""
from __future__ import annotations

import uuid
from concurrent.futures import Executor, as_completed
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute  # noqa: F401  (pa.compute)
import pyarrow.parquet as pq

from flows.rankings import default_criteria, rankings
from flows.run_data import data_of, resolve_inputs
from pipeline import baselines as bl  # torch; captum and torch_pruning stay lazy inside it
from pipeline.ablation import ablation_curves, random_orderings
from pipeline.ablation_checks import check_options, check_random_repeats, check_scopes
from pipeline.ablation_schedule import default_criteria_of, default_steps
from pipeline.activations import hidden_outputs
from pipeline.criteria import CRITERIA, check_estimator, check_names
from pipeline.data import Dataset
from pipeline.errors import NeuronInfoError
from pipeline.estimates import run_estimates
from pipeline.measures import LayerInputs, measure_layers
from pipeline import network_units as units
from pipeline.model import MLP, error_rate
from pipeline.options import ANALYSIS, SCOPES, EstimateSpec
from pipeline.pairs import LayerCodes, pair_ranges, pair_rows, pair_tables, redundancy_of
from pipeline.progress import Progress, note
from pipeline.prune import n_params
from pipeline.quantize import check_bits
from pipeline.spec import check_trainable
from pipeline.train_process import model_from_bytes, run_isolated
from store import activations as act
from store.baselines import baselines_table, write_baselines
from store.catalog import refresh_catalog
from store.sandbox import query
from store.sql_files import sql_text
from store.checkpoints import load_run, save_checkpoint, store_checkpoint
from store.imports import Imported, import_rows, read_import, record_import
from store.measures import write_measures
from store.pairs import write_pairs
from store.atomic import parquet_bytes, write_bytes
from store.paths import Location, Warehouse, join, location, open_warehouse, read_bytes, remove_tree
from store.runs import run_id_for_spec, write_run
from store.schemas import SCHEMAS
from store.tables import has_partition, merge_partition, partition_params, partition_record, read_partition, write_partition
from store.trajectories import link_point

SPLITS = ("val", "test")


def register_run(wh: Warehouse, run_id: str, model: MLP, data: Dataset, created_at=None, origin: str = "trained",
                 lineage: dict | None = None, made_by: str | None = None, unstated: tuple[str, ...] = (),
                 refresh: bool = True) -> float:
    """Evaluate the unablated network and write its `runs` row (``lineage``, ``made_by``, ``unstated``: see
    store.runs.write_run); return its test error. ``refresh=False`` leaves the catalog to the caller (a batch)."""
    sizes = {"n_train": len(data.train.y), "n_val": len(data.val.y), "n_test": len(data.test.y)}
    val_error = error_rate(model, data.val.x, data.val.y)
    test_error = error_rate(model, data.test.x, data.test.y)
    write_run(wh, run_id, model.spec, sizes, val_error, test_error, created_at, n_params(model), origin, lineage, made_by,
              unstated)
    if refresh:
        refresh_catalog(wh)
    return test_error


def train_run(wh: Warehouse, spec, data_dir: str | Path | None = None, progress: bool = True, device: str = "cpu") -> str:
    """Train a network (unless this spec was trained before: the warehouse is the cache); return run_id."""
    check_trainable(spec)
    spec = resolve_inputs(spec, data_dir)
    known = run_id_for_spec(wh, spec)
    if known:
        note(f"train: {spec.name} was trained before: run {known} reused (neuroninfo rm {known} to train it again)")
        return known
    # in a worker process with a fixed thread count: the same bytes whatever else runs (pipeline/train_process.py)
    model = model_from_bytes(run_isolated("flows.run_data:train_job", spec.to_json(), str(data_dir) if data_dir else None,
                                          device, progress))
    data = data_of(spec, data_dir)
    run_id = save_checkpoint(wh, model)
    if not has_partition(wh, "runs", run_id):
        test_error = register_run(wh, run_id, model, data)
        note(f"train: {spec.name} trained for {spec.epochs} epoch(s): run {run_id}, test error {test_error:.2%}")
    return run_id


def trained_before(wh: Warehouse, spec, data_dir: str | Path | None = None) -> str | None:
    """The run_id of ``spec`` when the warehouse holds it trained already (``train_run`` then reuses it)."""
    return run_id_for_spec(wh, resolve_inputs(spec, data_dir))


def capture_run(
    wh: Warehouse,
    run_id: str,
    bits: tuple[int, ...] = ANALYSIS.bits,
    method: str = ANALYSIS.method,
    data_dir: str | Path | None = None,
    splits: tuple[str, ...] = SPLITS,
    device: str = "cpu",
    layer_globs: tuple[str, ...] | None = None,
    reducer: str | None = None,
    refresh: bool = True,
) -> str:
    """Store the run's unit outputs and codes; with a complete store, only add codes for new bits.

    The units are an MLP's hidden neurons, or for other networks the default layers of the architecture or
    the modules ``layer_globs`` match (pipeline/units.py), reduced by ``reducer`` (default: each kind's own).
    ``refresh=False`` leaves the catalog to the caller (a batch)."""
    bits = tuple(sorted(set(bits)))
    if not bits:
        raise NeuronInfoError("no quantizer bits given; pass e.g. --bits 1,2,3")
    for b in bits:
        check_bits(b, method)
    splits = tuple(dict.fromkeys(splits))
    unknown = [s for s in splits if s not in SPLITS]
    if unknown:
        raise NeuronInfoError(f"unknown split {unknown[0]!r}; use val and/or test (e.g. --splits val,test)")
    if "val" not in splits:
        raise NeuronInfoError("--splits must include val: the quantizers are fitted on the validation outputs")
    model = load_run(wh, run_id)
    spec = model.spec
    try:
        store = act.open_activations(wh, run_id)
    except NeuronInfoError:
        store = None
    same_units = layer_globs is None and reducer is None  # else the units are chosen anew
    if store is not None and set(splits) <= set(store.splits) and store.method == method and same_units:
        new_bits = [b for b in bits if b not in store.bits]
        layers = units.recorded_layers(store.units(), [store.train_mean_map(l).shape for l in store.layers])
        act.write_codes(store.root, store.splits, store.layers, new_bits, spec.activation, method,
                        units.quantizers(model, layers, method))
        act.publish_bits(store, new_bits)
    else:
        data = data_of(spec, data_dir)
        layers = units.layers_of(model, data.val.x[:2], layer_globs, reducer)
        sizes = [layer.units for layer in layers]
        steps = len(splits) + 2  # raw outputs per split, training means, codes
        attrs = {"splits": list(splits), "layer_sizes": sizes, "bits": sorted(bits), "method": method}
        if not isinstance(model, MLP):  # which module each layer reads, its kind and reducer
            attrs["units"] = [layer.describe() for layer in layers]
        with act.building_store(wh, run_id, attrs) as root, Progress(f"capture {run_id}", steps, "steps") as progress:
            for split in splits:
                x, y = getattr(data, split).x, getattr(data, split).y
                act.write_raw(root, split, y.numpy(), sizes, units.outputs(model, layers, x, device=device))
                progress.advance()
            if isinstance(model, MLP):
                act.write_train_mean(root, hidden_outputs(model, data.train.x, device=device))
            else:
                act.write_train_means(root, *units.means(model, layers, data.train.x))
            progress.advance()
            act.write_codes(root, list(splits), list(range(1, len(layers) + 1)), list(bits), spec.activation, method,
                            units.quantizers(model, layers, method))
            progress.advance()
        store = act.open_activations(wh, run_id)
    recorded = (partition_params(wh, "quantizers", run_id) or {}) if same_units and has_partition(wh, "quantizers", run_id) else {}
    act.write_quantizers(wh, store, {"layer_globs": list(layer_globs or recorded.get("layer_globs") or []),
                                     "reducer": reducer or recorded.get("reducer")})
    if refresh:
        refresh_catalog(wh)
    return run_id


def import_checkpoint(wh: Warehouse, path: Location, data_dir: str | Path | None = None, options: dict | None = None,
                      sidecars: tuple[Location, ...] | None = None, folder_spec: Location | None = None) -> str:
    """Read a checkpoint file from outside (a path or URL; any form store.imports reads), store it in the
    public format and register it; return run_id."""
    return register_import(wh, read_import(path, options, sidecars, folder_spec), data_dir)


def register_import(wh: Warehouse, imported: Imported, data_dir: str | Path | None = None) -> str:
    """Store an ``store.imports.Imported`` checkpoint, register its run (origin 'imported', unless the run
    is already known) and record where it came from; return run_id."""
    run_id = imported.run_id
    data = data_of(imported.model.spec, data_dir)
    store_checkpoint(wh, run_id, imported.data)
    if not has_partition(wh, "runs", run_id):
        test_error = register_run(wh, run_id, imported.model, data, origin="imported", unstated=imported.unstated)
        record_import(wh, imported)
        note(f"import: registered as run {run_id} ({imported.model.spec.name}), test error {test_error:.2%}")
    else:
        if import_rows(wh, run_id):
            record_import(wh, imported)  # another file of the same imported run
        note(f"import: the warehouse holds these weights already: run {run_id}")
    if imported.trajectory:
        link_point(wh, run_id, *imported.trajectory)
    refresh_catalog(wh)
    return run_id


def analyse_run(wh: Warehouse, run_id: str, data_dir: str | Path | None = None, bits: tuple[int, ...] = ANALYSIS.bits,
                strategies: tuple[str, ...] = ANALYSIS.strategies, random_repeats: int = ANALYSIS.random_repeats,
                steps: int | None = ANALYSIS.steps, full: bool = True) -> str:
    """Capture, measure, pair up and ablate a registered run (the stages after training or import); without
    ``full``, capture and measure only (a trajectory checkpoint between the epochs analysed in full)."""
    capture_run(wh, run_id, bits, data_dir=data_dir, refresh=False)
    measure_run(wh, run_id, refresh=False)  # estimate refreshes the catalog
    estimate_run(wh, run_id)
    if not full:
        return run_id
    for b in ANALYSIS.pair_bits:  # pairs before ablate: their aggregates are ranked too
        if b in bits:
            pairs_run(wh, run_id, b)
    ablate_run(wh, run_id, strategies, random_repeats, steps, data_dir)
    return run_id


def stored_bits(wh: Warehouse, table: str, run_id: str) -> set[int]:
    """The quantizer bits a run's rows of ``table`` cover (empty without a partition)."""
    if not has_partition(wh, table, run_id):
        return set()
    rows = query(wh, f"SELECT DISTINCT bits FROM {table} WHERE run_id = '{run_id}' AND bits IS NOT NULL").to_pylist()
    return {r["bits"] for r in rows}


def is_complete(wh: Warehouse, run_id: str, full: bool = True) -> bool:
    """Has every stage of the run written its output (without ``full``: up to its measures)?"""
    tables = ("runs", "quantizers", "neuron_stats", "measure_estimates") + (("ablation_curves",) if full else ())
    return all(has_partition(wh, t, run_id) for t in tables)


def fingerprint(wh: Warehouse, run_id: str, source: str) -> str | None:
    """What a result made from ``source`` (a table, or 'activations': the quantizers) depends on: its
    checksum now (None when absent). A result records the fingerprints of its inputs; they differ once an
    input has been made again with other values."""
    if source == "activations":
        try:
            return act.open_activations(wh, run_id).fingerprint()
        except NeuronInfoError:
            return None
    entry = partition_record(wh, source, run_id)  # a segment keeps the checksum of the file the run's rows came from
    return entry["sha256"] if entry else None


def fresh_inputs(wh: Warehouse, run_id: str, recorded: dict | None, sources: set[str]) -> tuple[bool, dict]:
    """Are results recorded with ``recorded`` still fresh (every input fingerprint they recorded equals that
    input's now)? And the fingerprints to record for results made from the tables ``sources`` (with, while
    fresh, those recorded before: the stored results kept beside the new ones came from them)."""
    keys = set(sources) | {k for k in (recorded or {}) if k in SCHEMAS}
    now = {k: fingerprint(wh, run_id, k) for k in sorted(keys)}
    fresh = recorded is not None and all(recorded.get(k, now[k]) == now[k] for k in keys)
    return fresh, {k: v for k, v in now.items() if k in sources or (fresh and k in recorded)}


def measure_run(wh: Warehouse, run_id: str, force: bool = False, refresh: bool = True) -> str:
    """Counts, neuron_stats and specific_info of a run from its stored validation codes (DuckDB SQL).
    ``refresh=False`` leaves the catalog to the next stage (an analysis's estimate stage refreshes it)."""
    store = act.open_activations(wh, run_id)
    made_from = {"activations": store.fingerprint()}  # the quantizers (method, thresholds) the measures come from
    if not force and set(store.bits) <= stored_bits(wh, "neuron_stats", run_id):  # measured for every stored bits
        if partition_params(wh, "neuron_stats", run_id) == made_from:
            return run_id
        note(f"run {run_id}: its quantizers changed since it was measured; measuring again")
    n_classes = load_run(wh, run_id).spec.n_classes
    with Progress(f"measure {run_id}", len(store.layers), "layers") as progress:
        def layers():
            for layer in store.layers:
                yield LayerInputs(
                    layer=layer,
                    codes={b: store.codes("val", layer, b) for b in store.bits},
                    raw=store.raw("val", layer),
                    mean_train=store.train_mean(layer).astype("float32"),
                )
                progress.advance()

        write_measures(wh, run_id, measure_layers(store.labels("val"), n_classes, layers()), made_from)
    if refresh:
        refresh_catalog(wh)
    return run_id


def estimate_run(wh: Warehouse, run_id: str, spec: EstimateSpec = EstimateSpec(), force: bool = False,
                 refresh: bool = True) -> str:
    """measure_estimates of a measured run: every measure under every estimator, with intervals, p-values and
    small-sample flags (docs/measures.md, "Estimators"), from its stored counts, neuron_stats and specific_info.
    ``refresh=False`` leaves the catalog to the next stage."""
    if not has_partition(wh, "neuron_stats", run_id):
        raise NeuronInfoError(f"run {run_id} is not measured yet; run: neuroninfo measure {run_id}")
    sources = ("counts", "neuron_stats", "specific_info")
    params = {**{k: fingerprint(wh, run_id, k) for k in sources}, "spec": asdict(spec)}
    if not force and partition_params(wh, "measure_estimates", run_id) == params:
        return run_id
    stored = {k: read_partition(wh, k, run_id) for k in sources}  # checked against their checksums
    missing = [k for k, table in stored.items() if table is None]
    if missing:
        raise NeuronInfoError(f"run {run_id} has no {', '.join(missing)}; run: neuroninfo measure {run_id}")
    counts = stored["counts"]
    with Progress(f"estimate {run_id}", 1, "runs") as progress:
        table = run_estimates(
            run_id,
            counts.filter(pa.compute.equal(counts.column("split"), "val")),
            stored["neuron_stats"],
            stored["specific_info"],
            load_run(wh, run_id).spec.n_classes, spec)
        progress.advance()
    write_partition(wh, "measure_estimates", run_id, table, params)
    if refresh:
        refresh_catalog(wh)
    return run_id


def pair_sets(params: dict | None) -> dict[str, list[dict]]:
    """The pair computations recorded with neuron_redundancy, per bits: a list of {top_n, across_layers}
    (older warehouses recorded one dict per bits)."""
    sets = (params or {}).get("bits") or {}
    return {b: (v if isinstance(v, list) else [v]) for b, v in sets.items()}


def covers(a: dict, b: dict) -> bool:
    """Do pairs computed with options ``a`` include every pair of options ``b``?"""
    wider = a.get("top_n") is None or (b.get("top_n") is not None and a["top_n"] >= b["top_n"])
    return wider and (a.get("across_layers", False) or not b.get("across_layers", False))


def pairs_run(wh: Warehouse, run_id: str, bits: int = 1, top_n: int | None = None, across_layers: bool = False,
              force: bool = False, replace: bool = False, executor: Executor | None = None, workers: int | None = None) -> str:
    """neuron_pairs and neuron_redundancy of a run at one bits value (DuckDB SQL over its validation codes).
    ``executor`` (a ``concurrent.futures.Executor``: a Dask client's ``get_executor()``, a process pool) computes
    the blocks of pairs as tasks (``pair_block_task``: paths in, a Parquet file out), committed as one partition;
    without one, ``workers`` threads compute them (default the available cores). The rows are the same bits either way.

    Pairs already stored stay: new pairs are added beside them (a pair's values do not depend on which other
    pairs were computed), and neuron_redundancy keeps, per bits, the aggregates over the widest set of pairs
    (all neurons over --top N). ``replace`` starts the run's partitions afresh (repair)."""
    store = act.open_activations(wh, run_id)
    if bits not in store.bits:
        raise NeuronInfoError(f"run {run_id} has no {bits}-bit codes; run: neuroninfo capture {run_id} --bits {bits}")
    if top_n is not None and top_n < 2:
        raise NeuronInfoError(f"--top must be at least 2 (neurons per layer to pair up), got {top_n}")
    made_from = {"activations": store.fingerprint()}  # the quantizers the codes come from
    recorded = partition_params(wh, "neuron_redundancy", run_id) or {}
    fresh = not replace and recorded.get("activations") == made_from["activations"]
    sets = pair_sets(recorded) if fresh else {}
    options = {"top_n": top_n, "across_layers": across_layers}
    done = sets.get(str(bits), [])
    if fresh and any(covers(d, options) for d in done) and (not force or options in done):
        if options not in done:
            note(f"pairs {run_id}: the stored pairs at {bits} bits already include these; neuron_redundancy keeps the "
                 f"aggregates over all of them")
        return run_id
    selected = {layer: np.arange(size) for layer, size in zip(store.layers, store.layer_sizes)}
    if top_n is not None:
        if bits not in stored_bits(wh, "neuron_stats", run_id):
            raise NeuronInfoError(f"--top ranks by mutual_info, which run {run_id} lacks at {bits} bits; run: neuroninfo measure {run_id}")
        top = query(wh, sql_text("pairs_top_neurons", run_id=run_id, bits=bits, top_n=top_n)).to_pydict()
        selected = {l: np.array([n for tl, n in zip(top["layer"], top["neuron"]) if tl == l]) for l in selected}
    n_classes = load_run(wh, run_id).spec.n_classes
    if executor is None:
        layers = [LayerCodes(l, store.codes("val", l, bits)[:, neurons], neurons) for l, neurons in selected.items()]
        with Progress(f"pairs {run_id}", len(pair_ranges(layers, n_classes, bits, across_layers)), "blocks") as progress:
            tables = pair_tables(store.labels("val"), n_classes, layers, bits, across_layers, workers, progress)
    else:
        tables = pairs_on(executor, wh, run_id, bits, selected, across_layers, n_classes)
    widest_before = any(covers(d, {**options, "across_layers": False}) and d not in (options,) for d in done)
    sets[str(bits)] = [d for d in done if d != options] + [options]
    write_pairs(wh, run_id, tables, keep_stored=fresh, keep_stored_aggregates=widest_before,
                params={**made_from, "bits": sets})
    refresh_catalog(wh)
    return run_id


PAIR_TASKS = 16  # the blocks of a run's pairs are grouped into at most this many tasks (2-8 workers stay busy)


def pairs_on(executor: Executor, wh: Warehouse, run_id: str, bits: int, selected: dict[int, np.ndarray],
             across_layers: bool, n_classes: int) -> dict[str, pa.Table]:
    """neuron_pairs and neuron_redundancy computed block by block as ``pair_block_task``s on ``executor``: each
    reads the codes itself and writes its rows to a scratch Parquet file; the rows are concatenated in block
    order (the same rows as one process), then the aggregates computed over them here."""
    store = act.open_activations(wh, run_id)
    shapes = [LayerCodes(l, np.zeros((0, len(n)), np.uint8), n) for l, n in selected.items()]
    ranges = pair_ranges(shapes, n_classes, bits, across_layers)
    groups = np.array_split(np.arange(len(ranges)), min(len(ranges), PAIR_TASKS)) if ranges else []
    scratch = join(wh.root, ".work", f"pairs-{run_id}-{bits}-{uuid.uuid4().hex[:8]}")
    chosen = {int(l): [int(n) for n in neurons] for l, neurons in selected.items()}
    futures = [executor.submit(pair_block_task, str(wh.root), run_id, bits, chosen, across_layers,
                               [ranges[i] for i in group], str(join(scratch, f"{k:05d}.parquet")))
               for k, group in enumerate(groups)]
    landed = {}
    try:
        with Progress(f"pairs {run_id}", len(futures), "tasks") as progress:
            for future in as_completed(futures):  # each part read as it lands: gc may take an idle scratch folder
                landed[future] = pq.read_table(pa.BufferReader(read_bytes(future.result())))
                progress.advance()
    finally:
        for future in futures:
            future.cancel()  # after a failure, the tasks not yet started
        remove_tree(scratch)
    parts = [landed[f] for f in futures]  # block order
    pairs = pa.concat_tables(parts) if parts else pair_rows(store.labels("val"), n_classes, [], bits, across_layers, [])
    return {"neuron_pairs": pairs, "neuron_redundancy": redundancy_of(pairs)}


def pair_block_task(root: str, run_id: str, bits: int, selected: dict[int, list[int]], across_layers: bool,
                    ranges: list[tuple[int, int]], out: str) -> str:
    """One task of ``pairs_on``: the neuron_pairs rows of these blocks, read from the run's activation store
    (one thread: the workers share the cores), written to ``out``; returns ``out``."""
    wh = open_warehouse(root, create=False)
    store = act.open_activations(wh, run_id)
    n_classes = load_run(wh, run_id).spec.n_classes
    layers = [LayerCodes(l, store.codes("val", l, bits)[:, neurons], np.asarray(neurons)) for l, neurons in selected.items()]
    rows = pair_rows(store.labels("val"), n_classes, layers, bits, across_layers, [tuple(r) for r in ranges])
    write_bytes(location(out), parquet_bytes(rows))
    return out


def baselines_run(wh: Warehouse, run_id: str, data_dir: str | Path | None = None) -> str:
    """The usual pruning criteria per neuron (``neuron_baselines``): torch on the validation split, ablation damage on the test split."""
    model = load_run(wh, run_id)
    store = act.open_activations(wh, run_id)
    data = data_of(model.spec, data_dir)
    if not isinstance(model, MLP):  # channels, tokens, neurons of any network: hooks on model.network
        return unit_baselines_run(wh, run_id, model, store, data)
    means = [store.train_mean(layer) for layer in store.layers]
    with Progress(f"baselines {run_id}", 4, "criteria groups") as progress:
        norms = bl.weight_norms(model)
        taylor = bl.taylor(model, data.val.x, data.val.y)
        progress.advance()
        conductance = bl.conductance(model, data.val.x, data.val.y)
        if conductance is None:
            note("baselines: conductance skipped (captum is not installed; pip install 'neuroninfo[baselines]')")
        group = bl.torch_pruning_magnitude(model)
        if group is None:
            note("baselines: torch_pruning_magnitude skipped (torch-pruning is not installed; pip install 'neuroninfo[baselines]')")
        progress.advance()
        damage = bl.ablation_damage(model, data.test.x, data.test.y, "zero")
        progress.advance()
        damage_mean = bl.ablation_damage(model, data.test.x, data.test.y, "mean", means)
        progress.advance()
    values = [{**norms[i], "taylor": taylor[i], "conductance": None if conductance is None else conductance[i],
               "torch_pruning_magnitude": None if group is None else group[i],
               "ablation_damage": damage[i], "ablation_damage_mean": damage_mean[i]} for i in range(model.n_hidden)]
    write_baselines(wh, run_id, baselines_table(values, [store.raw("val", layer) for layer in store.layers]))
    refresh_catalog(wh)
    note(f"baselines {run_id}: the pruning criteria of its {sum(model.spec.hidden_sizes)} hidden neurons written to "
         f"neuron_baselines (neuroninfo sql \"SELECT * FROM neuron_baselines WHERE run_id = '{run_id}'\")")
    return run_id


def unit_baselines_run(wh: Warehouse, run_id: str, model, store, data: Dataset) -> str:
    """``baselines_run`` for a network other than an MLP: the criteria of every captured unit layer
    (``pipeline.unit_baselines``); a criterion that does not apply to a layer is NULL."""
    from importlib.util import find_spec

    from pipeline.unit_baselines import unit_baselines

    maps = [store.train_mean_map(layer) for layer in store.layers]
    layers = units.recorded_layers(store.units(), [m.shape for m in maps])
    with Progress(f"baselines {run_id}", 4, "criteria groups") as progress:
        values = unit_baselines(model, layers, data.val.x, data.val.y, data.test.x, data.test.y, maps,
                                on_step=progress.advance)
    if find_spec("captum") is None:
        note("baselines: conductance skipped (captum is not installed; pip install 'neuroninfo[baselines]')")
    if find_spec("torch_pruning") is None:
        note("baselines: torch_pruning_magnitude skipped (torch-pruning is not installed; pip install 'neuroninfo[baselines]')")
    unwired = [layer.path for layer, v in zip(layers, values) if v["weight_l1_in"] is None]
    if unwired:
        note(f"baselines {run_id}: weight criteria NULL for {len(unwired)} of {len(layers)} layers ({', '.join(unwired[:3])}"
             f"{', ...' if len(unwired) > 3 else ''}): no Conv/Linear makes their units in their parent Sequential")
    write_baselines(wh, run_id, baselines_table(values, [store.raw("val", layer) for layer in store.layers]))
    refresh_catalog(wh)
    note(f"baselines {run_id}: the pruning criteria of its {sum(layer.units for layer in layers)} units in {len(layers)} "
         f"layers written to neuron_baselines (neuroninfo sql \"SELECT * FROM neuron_baselines WHERE run_id = '{run_id}'\")")
    return run_id


def ablation_computations(params: dict | None) -> list[dict]:
    """The ablate calls recorded with ablation_curves, oldest first (older warehouses recorded one)."""
    params = params or {}
    if "computations" in params:
        return list(params["computations"])
    keys = ("strategies", "random_repeats", "steps", "measures")
    return [{k: params.get(k) for k in keys}] if "strategies" in params else []


def ablate_run(
    wh: Warehouse,
    run_id: str,
    strategies: tuple[str, ...] = ANALYSIS.strategies,
    random_repeats: int = ANALYSIS.random_repeats,
    steps: int | None = ANALYSIS.steps,
    data_dir: str | Path | None = None,
    measures: tuple[str, ...] | None = None,
    force: bool = False,
    device: str = "cpu",
    replace: bool = False,
    scopes: tuple[str, ...] = ANALYSIS.scopes,
    estimator: str = "plugin",
) -> str:
    """Cumulative ablation curves on the test split for the rankings of ``measures`` (default: every criterion
    an mlp run has; mutual_info and kl_selectivity for other networks, ``default_criteria_of``) and random orderings, in
    each of ``scopes`` (layer, network); ``steps=None`` means the network's default k-grid (``default_steps``:
    every k, a grid for the cifar10 preset and for other networks). ``estimator`` ranks by the values of that
    estimator (measure_estimates; default plugin): only criteria whose values come in it.

    Curves stored from other calls (another k-grid, strategy, criterion or repeat) stay beside the new ones
    while the values they were ranked by are unchanged; ``replace`` starts afresh (repair)."""
    if not has_partition(wh, "neuron_stats", run_id):
        raise NeuronInfoError(f"run {run_id} has no measures yet; run: neuroninfo measure {run_id}")
    check_names(tuple(measures or ()))
    check_estimator(estimator, tuple(measures or ()))
    if estimator != "plugin" and not has_partition(wh, "measure_estimates", run_id):
        raise NeuronInfoError(f"run {run_id} has no {estimator} values yet; run: neuroninfo estimate {run_id}")
    check_options(tuple(strategies), steps, 1)  # bad options are one line before any note or work
    check_random_repeats(random_repeats)
    check_scopes(tuple(scopes))
    model = load_run(wh, run_id)
    measures = tuple(measures) if measures else default_criteria(wh, run_id, "ablate", within=default_criteria_of(model.spec),
                                                                 estimator=estimator)
    recorded = None if replace or not has_partition(wh, "ablation_curves", run_id) else partition_params(wh, "ablation_curves", run_id)
    sources = {CRITERIA[m].source for m in measures} | {"neuron_stats"} | ({"measure_estimates"} if estimator != "plugin" else set())
    fresh, inputs = fresh_inputs(wh, run_id, recorded, sources)
    computation = {"strategies": list(strategies), "random_repeats": random_repeats, "steps": steps, "measures": list(measures)}
    if tuple(scopes) != SCOPES:  # recorded only when narrowed: the params of earlier curves keep their bytes
        computation["scopes"] = list(scopes)
    if estimator != "plugin":  # likewise
        computation["estimator"] = estimator
    done = ablation_computations(recorded) if fresh else []
    if not force and fresh and stored_bits(wh, "neuron_stats", run_id) <= stored_bits(wh, "ablation_curves", run_id):
        if any(covers_ablation(d, computation) for d in done):
            return run_id
    if recorded is not None and not fresh:
        note(f"run {run_id}: its measures changed since its curves were computed; ablating again")
    grid = default_steps(model.spec) if steps is None else steps
    store = act.open_activations(wh, run_id)
    orderings = [o for o in rankings(wh, run_id, measures, estimator) + random_orderings(store.layer_sizes, random_repeats)
                 if o.scope in scopes]
    test = data_of(model.spec, data_dir).test
    with Progress(f"ablate {run_id}", len(orderings) * len(strategies), "curves") as progress:
        if isinstance(model, MLP):  # the incremental kernel of fully-connected networks
            means = [store.train_mean(layer) for layer in store.layers]
            curves = ablation_curves(model, test.x, test.y, orderings, strategies, means, grid,
                                     on_curve=progress.advance, device=device)
        else:  # hooks on any network: a unit's whole output map is replaced
            from pipeline.hooked_ablation import hooked_ablation_curves

            maps = [store.train_mean_map(layer) for layer in store.layers]
            layers = units.recorded_layers(store.units(), [m.shape for m in maps])
            curves = hooked_ablation_curves(model, model.network, layers, test.x, test.y, orderings, strategies, maps,
                                            grid, on_curve=progress.advance)
    params = {"computations": [d for d in done if d != computation] + [computation], **inputs}
    randoms = ordering_positions([o for o in orderings if o.ordering == "random"])
    write = merge_partition if fresh else write_partition
    write(wh, "ablation_orderings", run_id, randoms, params)
    write(wh, "ablation_curves", run_id, curves, params)  # params: what verify --repair re-runs
    refresh_catalog(wh)
    return run_id


def covers_ablation(done: dict, wanted: dict) -> bool:
    """Whether stored curves made with ``done`` hold every curve ``wanted`` asks for (same k-grid and estimator; the strategies,
    criteria and scopes among those made; as many random repeats or more). Older records without a field
    cover it."""
    def among(key, default):
        return done.get(key) is None or set(wanted.get(key, default)) <= set(done.get(key))

    return (done.get("steps") == wanted["steps"] and done.get("estimator", "plugin") == wanted.get("estimator", "plugin")
            and among("strategies", ()) and among("measures", ())
            and among("scopes", SCOPES)
            and (done.get("random_repeats") is None or done["random_repeats"] >= wanted["random_repeats"]))


def ordering_positions(orderings: list) -> pa.Table:
    """The rows of `ablation_orderings`: each ordering's neurons, position by position."""
    parts = []
    for o in orderings:
        n = len(o.neurons)
        parts.append(pa.table({
            "scope": [o.scope] * n, "layer": pa.array([o.layer] * n, pa.int32()), "repeat": pa.array([o.repeat] * n, pa.int32()),
            "position": np.arange(n, dtype=np.int64), "neuron_layer": o.neurons[:, 0].astype(np.int32),
            "neuron": o.neurons[:, 1].astype(np.int32),
        }))
    return pa.concat_tables(parts) if parts else SCHEMAS["ablation_orderings"].empty_table()
