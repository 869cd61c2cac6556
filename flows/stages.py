"""The pipeline stages as plain functions over a warehouse: train, capture, measure, ablate.

Each stage takes run_ids and paths, reads its inputs from the warehouse and writes its outputs
there, so it can run from the CLI, inside a Prefect task, or on a Dask worker alike. No Prefect here.
"""
from __future__ import annotations

import functools
import itertools
import re
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pyarrow as pa

from pipeline import baselines as bl  # torch; captum and torch_pruning stay lazy inside it
from pipeline.ablation import STRATEGIES, Ordering, ablation_curves, random_orderings
from pipeline.ablation_schedule import default_steps
from pipeline.activations import hidden_outputs
from pipeline.criteria import BASELINES, CRITERIA, MEASURES, PAIR_AGGREGATES, sql_parameters
from pipeline.data import DEFAULT_N_VAL, Dataset, Split, check_available, dataset_shape, input_channels, load_dataset
from pipeline.errors import NeuronInfoError
from pipeline.model import MLP, error_rate
from pipeline.progress import Progress, note
from pipeline.prune import n_params
from pipeline.quantize import check_bits
from pipeline.report import write_report
from pipeline.report_scorecard import write_scorecard
from pipeline.spec import NetworkSpec, preset_spec
from pipeline.standardize import standardize, with_input_stats
from pipeline.train import train
from store import activations as act
from store.atomic import write_bytes
from store.baselines import baselines_table, write_baselines
from store.catalog import query, refresh_catalog, sql_text
from store.checkpoints import load_run, save_checkpoint, store_checkpoint
from store.imports import Imported, import_rows, read_import, record_import
from store.inbox import InboxFile, finish, reject
from store.integrity import read_record
from store.lifecycle import remove_run
from store.measures import LayerInputs
from store.measures import measure_run as write_measures
from store.pairs import LayerCodes, pair_tables, write_pairs
from store.paths import Location, Warehouse, join, name_of
from store.report_data import groups_of_runs, report_tables
from store.runs import run_id_for_spec, write_run
from store.schemas import SCHEMAS
from store.tables import has_partition, partition_file, partition_params, write_partition

SPLITS = ("val", "test")


@functools.lru_cache(maxsize=4)
def dataset_for(name: str, data_dir: str | None, seed: int, n_val: int, input_mean: tuple | None = None,
                input_std: tuple | None = None) -> Dataset:
    """Load (and keep a few in memory) the dataset a spec was trained on, standardized by ``input_mean/std`` if given."""
    if input_mean is None:
        return load_dataset(name, data_dir=data_dir, seed=seed, n_val=n_val)
    data = dataset_for(name, data_dir, seed, n_val)
    scale = lambda split: Split(standardize(split.x, input_mean, input_std), split.y)  # noqa: E731
    return replace(data, train=scale(data.train), val=scale(data.val), test=scale(data.test))


def data_of(spec: NetworkSpec, data_dir: str | Path | None) -> Dataset:
    """The dataset ``spec`` was trained on, its inputs as the network takes them (standardized by the spec's stats)."""
    data = dataset_for(spec.dataset, str(data_dir) if data_dir else None, spec.seed, spec.n_val, spec.input_mean,
                       spec.input_std)
    if (data.input_dim, data.n_classes) != (spec.input_dim, spec.n_classes):
        raise NeuronInfoError(
            f"network {spec.name} takes {spec.input_dim} inputs and {spec.n_classes} classes but {spec.dataset} has "
            f"{data.input_dim} and {data.n_classes}; the checkpoint's spec does not match its dataset"
        )
    return data


def resolve_inputs(spec: NetworkSpec, data_dir: str | Path | None) -> NetworkSpec:
    """``spec`` with its input statistics: a ``standardized`` spec without them gets the training split's
    per-channel mean and std; a ``unit`` spec (or one that has them) is returned as it is."""
    if spec.inputs == "unit" or spec.input_mean is not None:
        return spec
    train_x = data_of(spec, data_dir).train.x  # [0, 1]: this spec has no stats yet
    return with_input_stats(spec, train_x, input_channels(spec.dataset))


def grid_specs(
    preset: str,
    dataset: str | None,
    hidden_sizes: list[int] | None,
    activations: list[str],
    regularizers: list[str],
    seeds: list[int],
    epochs: int | None,
    n_val: int | None,
    bits: list[int],
    strategies: list[str],
    data_dir: str | Path | None = None,
    inputs: str = "standardized",
) -> list[NetworkSpec]:
    """Every network of the grid, each choice checked (a one-line error) before any work or server starts."""
    dataset = dataset or preset
    input_dim, n_classes = dataset_shape(dataset)
    for name, values in (("activations", activations), ("regularizers", regularizers), ("seeds", seeds), ("bits", bits),
                         ("strategies", strategies)):
        if not values:
            raise NeuronInfoError(f"no {name} given; pass at least one, e.g. --{name} {dict(activations='relu', regularizers='dropout', seeds='0', bits='1,2,3', strategies='zero,mean')[name]}")
    for b in bits:
        check_bits(b)
    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown:
        raise NeuronInfoError(f"unknown strategy {unknown[0]!r}; use one of {', '.join(STRATEGIES)}")
    specs = [
        preset_spec(dataset, input_dim, n_classes, activation=a, regularizer=r, seed=s, preset=preset,
                    hidden_sizes=hidden_sizes, epochs=epochs, n_val=n_val, inputs=inputs)
        for a, r, s in itertools.product(dict.fromkeys(activations), dict.fromkeys(regularizers), dict.fromkeys(seeds))
    ]
    check_available(dataset, data_dir, specs[0].n_val)
    say_adapted_n_val(specs[0], n_val)
    return specs


def say_adapted_n_val(spec: NetworkSpec, given: int | None) -> None:
    """Tell the user when the validation split was shrunk to fit a small training set."""
    if given is None and spec.n_val < DEFAULT_N_VAL:
        note(f"{spec.dataset}: validation split of {spec.n_val} samples (a sixth of its training set; "
             f"the default {DEFAULT_N_VAL:,} does not fit); pass --n-val to choose")


def register_run(wh: Warehouse, run_id: str, model: MLP, data: Dataset, created_at=None, origin: str = "trained",
                 lineage: dict | None = None, made_by: str | None = None, unstated: tuple[str, ...] = ()) -> None:
    """Evaluate the unablated network and write its `runs` row (``lineage``, ``made_by``, ``unstated``: see
    store.runs.write_run)."""
    sizes = {"n_train": len(data.train.y), "n_val": len(data.val.y), "n_test": len(data.test.y)}
    val_error = error_rate(model, data.val.x, data.val.y)
    test_error = error_rate(model, data.test.x, data.test.y)
    write_run(wh, run_id, model.spec, sizes, val_error, test_error, created_at, n_params(model), origin, lineage, made_by,
              unstated)
    refresh_catalog(wh)


def train_run(wh: Warehouse, spec: NetworkSpec, data_dir: str | Path | None = None, progress: bool = True,
              device: str = "cpu") -> str:
    """Train a network (unless this spec was trained before: the warehouse is the cache); return run_id."""
    spec = resolve_inputs(spec, data_dir)
    known = run_id_for_spec(wh, spec)
    if known:
        return known
    data = data_of(spec, data_dir)
    model = train(spec, data, progress=progress, device=device)
    run_id = save_checkpoint(wh, model)
    if not has_partition(wh, "runs", run_id):
        register_run(wh, run_id, model, data)
    return run_id


def capture_run(
    wh: Warehouse,
    run_id: str,
    bits: tuple[int, ...] = (1, 2, 3),
    method: str = "uniform",
    data_dir: str | Path | None = None,
    splits: tuple[str, ...] = SPLITS,
    device: str = "cpu",
) -> str:
    """Store the run's hidden outputs and codes; with a complete store, only add codes for new bits."""
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
    if store is not None and set(splits) <= set(store.splits) and store.method == method:
        new_bits = [b for b in bits if b not in store.bits]
        act.write_codes(store.root, store.splits, store.layers, new_bits, spec.activation, method)
        act.publish_bits(store, new_bits)
    else:
        data = data_of(spec, data_dir)
        steps = len(splits) + 2  # raw outputs per split, training means, codes
        attrs = {"splits": list(splits), "layer_sizes": list(spec.hidden_sizes), "bits": sorted(bits), "method": method}
        with act.building_store(wh, run_id, attrs) as root, Progress(f"capture {run_id}", steps, "steps") as progress:
            for split in splits:
                x, y = getattr(data, split).x, getattr(data, split).y
                act.write_raw(root, split, y.numpy(), list(spec.hidden_sizes), hidden_outputs(model, x, device=device))
                progress.advance()
            act.write_train_mean(root, hidden_outputs(model, data.train.x, device=device))
            progress.advance()
            act.write_codes(root, list(splits), list(range(1, model.n_hidden + 1)), list(bits), spec.activation, method)
            progress.advance()
        store = act.open_activations(wh, run_id)
    act.write_quantizers(wh, store)
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
        register_run(wh, run_id, imported.model, data, origin="imported", unstated=imported.unstated)
        record_import(wh, imported)
    elif import_rows(wh, run_id):
        record_import(wh, imported)  # another file of the same imported run
    refresh_catalog(wh)
    return run_id


def analyse_run(wh: Warehouse, run_id: str, data_dir: str | Path | None = None, bits: tuple[int, ...] = (1, 2, 3),
                strategies: tuple[str, ...] = ("zero", "mean"), random_repeats: int = 5, steps: int | None = None) -> str:
    """Capture, measure and ablate a registered run (the stages after training or import)."""
    capture_run(wh, run_id, bits, data_dir=data_dir)
    measure_run(wh, run_id)
    if 1 in bits:  # pairs at 1 bit within layers, before ablate: its aggregates are ranked too
        pairs_run(wh, run_id, 1)
    ablate_run(wh, run_id, strategies, random_repeats, steps, data_dir)
    return run_id


def stored_bits(wh: Warehouse, table: str, run_id: str) -> set[int]:
    """The quantizer bits a run's rows of ``table`` cover (empty without a partition)."""
    if not has_partition(wh, table, run_id):
        return set()
    rows = query(wh, f"SELECT DISTINCT bits FROM {table} WHERE run_id = '{run_id}' AND bits IS NOT NULL").to_pylist()
    return {r["bits"] for r in rows}


def is_complete(wh: Warehouse, run_id: str) -> bool:
    """Has every stage of the run written its output?"""
    return all(has_partition(wh, t, run_id) for t in ("runs", "quantizers", "neuron_stats", "ablation_curves"))


PAIR_MEASURES = PAIR_AGGREGATES  # the name tests and callers know


def measure_run(wh: Warehouse, run_id: str, force: bool = False) -> str:
    """Counts, neuron_stats and specific_info of a run from its stored validation codes (DuckDB SQL)."""
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

        write_measures(wh, run_id, store.labels("val"), n_classes, layers(), made_from)
    refresh_catalog(wh)
    return run_id


def pairs_run(wh: Warehouse, run_id: str, bits: int = 1, top_n: int | None = None, across_layers: bool = False,
              force: bool = False) -> str:
    """neuron_pairs and neuron_redundancy of a run at one bits value (DuckDB SQL over its validation codes)."""
    store = act.open_activations(wh, run_id)
    if bits not in store.bits:
        raise NeuronInfoError(f"run {run_id} has no {bits}-bit codes; run: neuroninfo capture {run_id} --bits {bits}")
    if top_n is not None and top_n < 2:
        raise NeuronInfoError(f"--top must be at least 2 (neurons per layer to pair up), got {top_n}")
    made_from = {"activations": store.fingerprint()}  # the quantizers the codes come from
    recorded = partition_params(wh, "neuron_redundancy", run_id) or {}
    fresh = recorded.get("activations") == made_from["activations"]
    if not force and fresh and bits in stored_bits(wh, "neuron_redundancy", run_id):
        return run_id
    selected = {layer: np.arange(size) for layer, size in zip(store.layers, store.layer_sizes)}
    if top_n is not None:
        if bits not in stored_bits(wh, "neuron_stats", run_id):
            raise NeuronInfoError(f"--top ranks by mutual_info, which run {run_id} lacks at {bits} bits; run: neuroninfo measure {run_id}")
        top = query(wh, sql_text("pairs_top_neurons", run_id=run_id, bits=bits, top_n=top_n)).to_pydict()
        selected = {l: np.array([n for tl, n in zip(top["layer"], top["neuron"]) if tl == l]) for l in selected}
    layers = [LayerCodes(l, store.codes("val", l, bits)[:, neurons], neurons) for l, neurons in selected.items()]
    n_classes = load_run(wh, run_id).spec.n_classes
    options = {**(recorded.get("bits", {}) if fresh else {}), str(bits): {"top_n": top_n, "across_layers": across_layers}}
    tables = pair_tables(store.labels("val"), n_classes, layers, bits, across_layers)
    write_pairs(wh, run_id, tables, bits, keep_other_bits=fresh, params={**made_from, "bits": options})
    refresh_catalog(wh)
    return run_id


def baselines_run(wh: Warehouse, run_id: str, data_dir: str | Path | None = None) -> str:
    """The usual pruning criteria per neuron (``neuron_baselines``): torch on the validation split, ablation damage on the test split."""
    model = load_run(wh, run_id)
    store = act.open_activations(wh, run_id)
    data = data_of(model.spec, data_dir)
    means = [store.train_mean(layer) for layer in store.layers]
    norms = bl.weight_norms(model)
    taylor = bl.taylor(model, data.val.x, data.val.y)
    conductance = bl.conductance(model, data.val.x, data.val.y)
    if conductance is None:
        print("baselines: conductance skipped (captum is not installed; pip install 'neuroninfo[baselines]')", file=sys.stderr)
    group = bl.torch_pruning_magnitude(model)
    if group is None:
        print("baselines: torch_pruning_magnitude skipped (torch-pruning is not installed; pip install 'neuroninfo[baselines]')", file=sys.stderr)
    damage = bl.ablation_damage(model, data.test.x, data.test.y, "zero")
    damage_mean = bl.ablation_damage(model, data.test.x, data.test.y, "mean", means)
    values = [{**norms[i], "taylor": taylor[i], "conductance": None if conductance is None else conductance[i],
               "torch_pruning_magnitude": None if group is None else group[i],
               "ablation_damage": damage[i], "ablation_damage_mean": damage_mean[i]} for i in range(model.n_hidden)]
    write_baselines(wh, run_id, baselines_table(values, [store.raw("val", layer) for layer in store.layers]))
    refresh_catalog(wh)
    return run_id


def rankings(wh: Warehouse, run_id: str, measures: tuple[str, ...] = MEASURES) -> list:
    """The low-first and high-first orderings of every measure or baseline criterion (and bits), layer by
    layer and network-wide."""
    unknown = [m for m in measures if m not in CRITERIA]
    if unknown:
        hint = " (it uses the test split: a target, not a criterion)" if unknown[0].startswith("ablation_damage") else ""
        raise NeuronInfoError(f"unknown measure {unknown[0]!r}{hint}; use one of {', '.join(CRITERIA)}")
    columns = _ranking_columns(wh, run_id, measures)
    bits = np.array([-1 if b is None else b for b in columns.pop("bits")])
    columns = {k: np.asarray(v) for k, v in columns.items()}
    orderings = []
    for measure in measures:
        for b in sorted(set(bits[columns["measure"] == measure])):
            rows = (columns["measure"] == measure) & (bits == b)
            layer, neuron = columns["layer"][rows], columns["neuron"][rows]
            for ordering in ("low_first", "high_first"):
                scopes = [("network", None, np.ones(len(layer), bool))]
                scopes += [("layer", int(l), layer == l) for l in sorted(set(layer))]
                for scope, which, keep in scopes:
                    position = columns[f"{scope}_{ordering}"][rows][keep]
                    order = np.argsort(position, kind="stable")
                    neurons = np.stack([layer[keep][order], neuron[keep][order]], axis=1).astype(np.int64)
                    orderings.append(Ordering(scope, which, measure, None if b < 0 else int(b), ordering, 0, neurons))
    return orderings


def _ranking_columns(wh: Warehouse, run_id: str, measures) -> dict[str, list]:
    """Rows of sql/rankings.sql and/or sql/rankings_baselines.sql, whichever these measures need."""
    out = {}
    for names, table, model, what, verb in ((MEASURES, "neuron_stats", "rankings", "measures", "measure"),
                                            (BASELINES, "neuron_baselines", "rankings_baselines", "baselines", "baselines")):
        if not any(m in names for m in measures):
            continue
        if not has_partition(wh, table, run_id):
            raise NeuronInfoError(f"run {run_id} has no {what} yet; run: neuroninfo {verb} {run_id}")
        for key, values in query(wh, sql_text(model, run_id=run_id, **sql_parameters())).to_pydict().items():
            out.setdefault(key, []).extend(values)
    return out


def ablate_run(
    wh: Warehouse,
    run_id: str,
    strategies: tuple[str, ...] = ("zero", "mean"),
    random_repeats: int = 5,
    steps: int | None = None,
    data_dir: str | Path | None = None,
    measures: tuple[str, ...] = MEASURES,
    force: bool = False,
    device: str = "cpu",
) -> str:
    """Cumulative ablation curves on the test split for every ranking and random orderings; ``steps=None``
    means the network's default k-grid (``default_steps``: every k, a grid for the cifar10 preset)."""
    done = has_partition(wh, "ablation_curves", run_id)
    made_from = read_record(partition_file(wh, "neuron_stats", run_id))  # the rankings come from this file
    made_from = {"neuron_stats": made_from["sha256"] if made_from else None}
    if not force and done and stored_bits(wh, "neuron_stats", run_id) <= stored_bits(wh, "ablation_curves", run_id):
        if {k: v for k, v in (partition_params(wh, "ablation_curves", run_id) or {}).items() if k in made_from} == made_from:
            return run_id
        note(f"run {run_id}: its measures changed since its curves were computed; ablating again")
    model = load_run(wh, run_id)
    steps = default_steps(model.spec) if steps is None else steps
    orderings = rankings(wh, run_id, measures) + random_orderings(list(model.spec.hidden_sizes), random_repeats)
    store = act.open_activations(wh, run_id)
    means = [store.train_mean(layer) for layer in store.layers]
    test = data_of(model.spec, data_dir).test
    with Progress(f"ablate {run_id}", len(orderings) * len(strategies), "curves") as progress:
        curves = ablation_curves(model, test.x, test.y, orderings, strategies, means, steps, on_curve=progress.advance,
                                device=device)
    params = {"strategies": list(strategies), "random_repeats": random_repeats, "steps": steps, "measures": list(measures),
              **made_from}
    write_partition(wh, "ablation_orderings", run_id, ordering_positions([o for o in orderings if o.ordering == "random"]), params)
    write_partition(wh, "ablation_curves", run_id, curves, params)  # params: what verify --repair re-runs
    refresh_catalog(wh)
    return run_id


def summary(wh: Warehouse, run_ids: list[str]) -> list[dict]:
    """Headline numbers of these runs (sql/summary_runs.sql) with the path of each one's group report."""
    if not run_ids:
        return []
    listed = "(" + ", ".join(f"'{r}'" for r in run_ids) + ")"  # run_ids are 16 hex digits
    rows = query(wh, sql_text("summary_runs", run_ids=listed)).to_pylist()
    for row in rows:
        row["report"] = str(report_path(wh, row["group_name"]))
    return rows


def report_path(wh: Warehouse, name: str) -> Location:
    """Where the report page named ``name`` (a group or run name) is written."""
    return join(wh.reports, re.sub(r"[^A-Za-z0-9._-]+", "_", name) + ".html")


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


def report_runs(wh: Warehouse, run_ids: list[str], png: bool = True) -> list[Location]:
    """Write ``reports/<group>.html`` (+ a PNG per chart with ``png``) for each group among these runs;
    return the pages."""
    return [write_report_of(wh, ids, group, png) for group, ids in groups_of_runs(wh, run_ids).items()]


def write_report_of(wh: Warehouse, run_ids: list[str], name: str, png: bool = True) -> Location:
    """One report page over ``run_ids`` (curves averaged over them), named ``reports/<name>.html``; with
    ``png`` a PNG of every chart beside it (rendering them takes most of a page's time: the flows leave
    them to ``neuroninfo report``, and the page exports any chart as PNG or SVG from its menu)."""
    tables = report_tables(wh, run_ids)
    return publish_page(wh, name_of(report_path(wh, name)), lambda out: write_report(tables, out, title=name, png=png))


def scorecard_page(wh: Warehouse) -> Location:
    """Write ``reports/scorecard.html`` from the ``scorecard`` view: every claim on every configuration."""
    rows = query(wh, "SELECT * FROM scorecard ORDER BY claim, group_name").to_pylist()
    link = lambda page, chart: f"{name_of(report_path(wh, page))}#chart-{chart}"  # noqa: E731
    return publish_page(wh, "scorecard.html", lambda out: write_scorecard(rows, out, link))


def publish_page(wh: Warehouse, filename: str, write) -> Location:
    """``write(path)`` a page (and the PNGs beside it) into a local temporary folder, then store each file in
    ``reports/`` whole (``store.atomic``), the page last; the page's PNGs that this write did not make are
    removed. A crash while writing leaves the old page and no temporary file (``gc`` removes a killed one's)."""
    from pipeline.report import page_files
    from store.paths import list_files, remove_tree

    with tempfile.TemporaryDirectory() as tmp:
        write(Path(tmp) / filename)
        made = {file.name: file for file in Path(tmp).iterdir()}
        stale = set(page_files(filename)) & set(list_files(wh.reports)) - made.keys()
        for name in sorted(made, key=lambda name: (name == filename, name)):  # the page last
            write_bytes(join(wh.reports, name), made[name].read_bytes())
    for name in sorted(stale):
        remove_tree(join(wh.reports, name))
    return join(wh.reports, filename)


@dataclass(frozen=True)
class InboxOutcome:
    file: str  # the file's name in the inbox
    status: str  # 'analysed' | 'duplicate' | 'rejected'
    run_id: str | None
    reason: str = ""


def one_line(error: BaseException) -> str:
    """An exception as one line: the project's own message as it is, anything else with its type."""
    text = (str(error).strip().splitlines() or [""])[0]
    return text if isinstance(error, NeuronInfoError) else f"{type(error).__name__}: {text or 'no message'}"


def analyse_inbox_file(
    wh: Warehouse,
    item: InboxFile,
    data_dir: str | Path | None = None,
    bits: tuple[int, ...] = (1, 2, 3),
    strategies: tuple[str, ...] = ("zero", "mean"),
    random_repeats: int = 5,
    steps: int | None = None,
) -> InboxOutcome:
    """Import and analyse one inbox file; whatever fails, of whatever type, rejects that file alone.

    The file then leaves the inbox: to ``done/`` (analysed, or a duplicate of a complete run) or to
    ``rejected/`` with its reason. A run this file created is removed again when its analysis fails."""
    name, run_id, created = name_of(item.path), None, False
    try:
        if item.symlink:
            raise NeuronInfoError("symbolic links are not followed in the inbox; copy the checkpoint file itself in")
        imported = read_import(item.path, sidecars=item.sidecars, folder_spec=item.folder_spec)
        run_id = imported.run_id
        if is_complete(wh, run_id):
            finish(item, f"duplicate of run {run_id}")
            return InboxOutcome(name, "duplicate", run_id, f"duplicate of run {run_id}")
        created = not has_partition(wh, "runs", run_id)
        register_import(wh, imported, data_dir)
        analyse_run(wh, run_id, data_dir, bits, strategies, random_repeats, steps)
    except Exception as error:  # noqa: BLE001 - any failure rejects this file, never the batch
        reason = one_line(error)
        if created and run_id:
            try:
                remove_run(wh, run_id)
            except Exception:  # noqa: BLE001 - nothing of it may be left, which is fine
                pass
        reject(item, reason)
        return InboxOutcome(name, "rejected", run_id, reason)
    finish(item)
    return InboxOutcome(name, "analysed", run_id)
