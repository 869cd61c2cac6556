"""The Python API for notebooks and scripts (docs/python.md): the CLI's verbs as functions, no Prefect.

    from flows import api
    con = api.connect("warehouse")                     # read-only, sandboxed DuckDB with every view
    stats = con.sql("SELECT * FROM neuron_stats").df()  # or .arrow(); .pl() needs polars
    model = api.load_model("warehouse", run_id)        # torch.nn.Module in eval mode, on [0, 1] inputs
    data = api.load_data("warehouse", run_id)          # [0, 1] inputs: model(data.test.x) are the run's logits
    run_id = api.analyse_checkpoint("warehouse", "net.pt", dataset="mnist", activation="relu")
"""
from __future__ import annotations

import os
from pathlib import Path

import duckdb
from torch import nn

from pipeline.options import ANALYSIS

WarehouseLocation = str | os.PathLike


def _open(warehouse: WarehouseLocation, create: bool = True):
    from store.catalog import ensure_catalog
    from store.lifecycle import prepare

    wh = prepare(warehouse, create=create)
    ensure_catalog(wh)
    return wh


def connect(warehouse: WarehouseLocation, allowed_paths: tuple[str, ...] | list[str] = ()) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with every public view, sandboxed: it reads only the warehouse's checked
    files (through a read-only filesystem: nothing on it writes the warehouse) and ``allowed_paths`` (your own
    files or folders to join, which DuckDB can also write), no network, no extension installs, no temporary
    files, settings locked."""
    from store.sandbox import sandboxed_connection

    return sandboxed_connection(_open(warehouse, create=False), tuple(str(p) for p in allowed_paths))


def load_model(warehouse: WarehouseLocation, run_id: str) -> nn.Module:
    """The run's network in eval mode, taking the dataset's [0, 1] inputs as ``load_data`` and the exported
    ``nn.Sequential`` do (the spec's standardization is its first step); ``model.spec`` is its spec and
    ``model.network`` the ``pipeline.model.MLP`` behind it, which takes standardized inputs."""
    from pipeline.standardize import OnDatasetInputs
    from store.checkpoints import load_run

    return OnDatasetInputs(load_run(_open(warehouse, create=False), run_id)).eval()


def load_data(warehouse: WarehouseLocation, run_id: str, data_dir: str | os.PathLike | None = None):
    """The run's dataset split as its analysis used it (``.train``, ``.val``, ``.test``, each with float32
    ``x`` of shape (N, input_dim) and int64 labels ``y``), its inputs in [0, 1] as every model here takes them."""
    from flows.run_data import data_of

    return data_of(load_model(warehouse, run_id).spec, data_dir, standardized=False)


def import_checkpoint(
    warehouse: WarehouseLocation,
    path: str | os.PathLike,
    data_dir: str | os.PathLike | None = None,
    **spec: object,
) -> str:
    """Register a checkpoint file in any supported form (docs/python.md) and return its run_id. ``spec``
    holds what the file does not say: ``dataset``, ``activation``, ``regularizer``, ``input_mean``, ...
    (a sidecar or the file's own metadata wins over them)."""
    from flows.stages import import_checkpoint as register
    from store.paths import location

    return register(_open(warehouse), location(path), data_dir, options=spec)


def analyse_checkpoint(
    warehouse: WarehouseLocation,
    path: str | os.PathLike,
    data_dir: str | os.PathLike | None = None,
    bits: tuple[int, ...] = ANALYSIS.bits,
    strategies: tuple[str, ...] = ANALYSIS.strategies,
    random_repeats: int = ANALYSIS.random_repeats,
    steps: int | None = ANALYSIS.steps,
    **spec: object,
) -> str:
    """Import a checkpoint and run the inbox flow's stages on it (capture, measure, ablate) in this process;
    return its run_id."""
    from flows.stages import analyse_run

    run_id = import_checkpoint(warehouse, path, data_dir, **spec)
    return analyse_run(_open(warehouse), run_id, data_dir, tuple(bits), tuple(strategies), random_repeats, steps)


def export_model(warehouse: WarehouseLocation, run_id: str, to: str | os.PathLike, format: str = "safetensors") -> Path | str:
    """Write the run as a plain ``nn.Sequential`` state_dict (``format`` safetensors or torch); return the path.
    ``layers(warehouse, run_id)`` lists the layers that load it."""
    from store.imports import export_run

    return export_run(_open(warehouse, create=False), run_id, to, format)


def layers(warehouse: WarehouseLocation, run_id: str) -> nn.Sequential:
    """An ``nn.Sequential`` of the documented layers for ``export_model``'s state_dict (Linear, activation
    per hidden layer, then the output Linear), ready for ``load_state_dict``; it takes [0, 1] inputs."""
    from pipeline.convert import sequential_modules
    from pipeline.errors import NeuronInfoError

    spec = load_model(warehouse, run_id).spec
    if spec.arch != "mlp":
        raise NeuronInfoError(f"run {run_id} is a {spec.arch}: its export is its network's own state_dict; load it "
                              "into pipeline.architectures.build(spec).network (it takes standardized inputs)")
    return sequential_modules(spec)
