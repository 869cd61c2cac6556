"""The `runs` table: one row per network, written when its checkpoint enters the warehouse."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pyarrow as pa

from pipeline.spec import NetworkSpec
from store.paths import Warehouse, exists
from store.tables import write_partition


def write_run(
    wh: Warehouse,
    run_id: str,
    spec: NetworkSpec,
    sizes: dict[str, int],
    val_error: float,
    test_error: float,
    created_at: datetime | None = None,
    n_params: int | None = None,
    origin: str = "trained",
    lineage: dict | None = None,
    made_by: str | None = None,
    unstated: tuple[str, ...] = (),
) -> None:
    """Record a run (``sizes`` holds n_train, n_val, n_test). Rewriting the same run replaces its row
    (``created_at`` and ``made_by``, the provenance JSON, keep the first registration's when a repair rewrites it).

    ``origin``: 'trained' | 'pruned' | 'imported'. A pruned run's ``lineage`` holds parent_run_id,
    pruned_by, kept_fraction and a name suffix (its name and group get it, so it never joins the group
    of networks trained with its new sizes). An imported run is named ``...-imported-<run_id[:8]>`` and is
    a group of its own (``imported-<run_id>``); its ``unstated`` hyper-parameters (seed, epochs, lr its
    files did not tell) are NULL. All are recorded with the partition for a repair."""
    created_at = created_at or datetime.now(timezone.utc)
    lineage = lineage or {}
    suffix = lineage.get("suffix", "")
    imported = origin == "imported"
    row = {
        "name": f"{spec.dataset}-{spec.shape_label}-{spec.regularizer}-imported-{run_id[:8]}" if imported else spec.name + suffix,
        "group_name": f"imported-{run_id}" if imported else spec.group + suffix,
        "dataset": spec.dataset,
        "input_dim": spec.input_dim,
        "n_classes": spec.n_classes,
        "hidden_sizes": list(spec.hidden_sizes),
        "activation": spec.activation,
        "regularizer": spec.regularizer,
        "weight_decay": spec.weight_decay,
        "dropout": spec.dropout,
        "seed": None if "seed" in unstated else spec.seed,
        "epochs": None if "epochs" in unstated else spec.epochs,
        "lr": None if "lr" in unstated else spec.lr,
        "n_train": sizes["n_train"],
        "n_val": sizes["n_val"],
        "n_test": sizes["n_test"],
        "val_error": val_error,
        "test_error": test_error,
        "spec": spec.to_json(),
        "created_at": created_at,
        "provenance": made_by or json.dumps(provenance(), sort_keys=True),
        "origin": origin,
        "parent_run_id": lineage.get("parent_run_id"),
        "pruned_by": lineage.get("pruned_by"),
        "kept_fraction": lineage.get("kept_fraction"),
        "n_params": n_params,
    }
    params = {"created_at": created_at.isoformat(), "origin": origin, "lineage": lineage or None, "provenance": row["provenance"],
              "unstated": list(unstated) or None}
    write_partition(wh, "runs", run_id, pa.Table.from_pylist([row]), params)


PACKAGES = ("neuroninfo", "torch", "numpy", "duckdb", "zarr", "pyarrow", "prefect")


def provenance() -> dict[str, str | None]:
    """Versions of the packages that make a run, and the project's git commit when it is a checkout."""
    from importlib.metadata import PackageNotFoundError, version

    found: dict[str, str | None] = {}
    for package in PACKAGES:
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = None
    found["git_commit"] = _git_commit()
    found.update(training_conditions())
    return found


def training_conditions() -> dict[str, str]:
    """What a checkpoint's bytes depend on besides the spec and torch's version: the intra-op threads of
    training (fixed, pipeline/train_process.py) and the CPU kernels torch dispatches to (e.g. AVX2, AVX512)."""
    import torch

    from pipeline.train_process import TRAIN_THREADS

    return {"train_threads": str(TRAIN_THREADS), "cpu_capability": torch.backends.cpu.get_cpu_capability()}


def _git_commit() -> str | None:
    import subprocess
    from pathlib import Path

    project = Path(__file__).resolve().parent.parent
    if not (project / ".git").exists():
        return None
    try:
        out = subprocess.run(["git", "-C", str(project), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    dirty = subprocess.run(["git", "-C", str(project), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True, timeout=10).stdout.strip()
    return out.stdout.strip() + ("-dirty" if dirty else "") if out.returncode == 0 else None


def run_id_for_spec(wh: Warehouse, spec: NetworkSpec) -> str | None:
    """The run already trained from exactly this spec (training is deterministic), if its checkpoint exists.
    Pruned and imported runs never count: a pruned 150x50 network is not what training 150x50 gives."""
    return run_ids_for_specs(wh, [spec])[0]


def run_ids_for_specs(wh: Warehouse, specs: list[NetworkSpec]) -> list[str | None]:
    """``run_id_for_spec`` of each spec, in one query."""
    from store.sandbox import query
    from store.sql_files import sql_string

    texts = [spec.to_json() for spec in specs]
    listed = ", ".join(sql_string(t) for t in texts)
    rows = query(wh, f"SELECT spec, run_id FROM runs WHERE spec IN ({listed}) AND origin = 'trained' ORDER BY created_at").to_pylist()
    found: dict[str, str] = {}
    for r in rows:
        if r["spec"] not in found and exists(wh.checkpoint(r["run_id"])):
            found[r["spec"]] = r["run_id"]
    return [found.get(t) for t in texts]
