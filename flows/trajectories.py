"""Training with checkpoints kept along the way: one run per kept epoch, linked in `trajectory_points`."""
from __future__ import annotations

from pathlib import Path

from flows.run_data import data_of, resolve_inputs
from flows.stages import register_run
from pipeline.progress import note
from pipeline.spec import check_trainable
from pipeline.train_process import model_from_bytes, run_isolated
from pipeline.trajectory import snapshot_spec, training_id
from store.catalog import refresh_catalog
from store.checkpoints import save_checkpoint
from store.paths import Warehouse
from store.runs import run_ids_for_specs
from store.tables import has_partition
from store.trajectories import link_point


def kept_runs(wh: Warehouse, training: str) -> dict[int, str]:
    """{epoch: run_id} of a training's kept checkpoints (trajectory_points)."""
    from store.sandbox import query
    from store.sql_files import sql_string

    rows = query(wh, f"SELECT epoch, run_id FROM trajectory_points WHERE training_id = {sql_string(training)}").to_pylist()
    return {r["epoch"]: r["run_id"] for r in rows}


def train_trajectory(wh: Warehouse, spec, epochs: tuple[int, ...], data_dir: str | Path | None = None,
                     progress: bool = True, device: str = "cpu") -> dict[int, str]:
    """Train ``spec``, keeping the network after each of ``epochs`` (pipeline.trajectory.checkpoint_epochs:
    the last included) as a run of its own, linked to the training in `trajectory_points`; {epoch: run_id}.

    A kept epoch is the run training that many epochs makes, so epochs the warehouse holds already are reused
    and the training runs only as far as the last missing one; the catalog is refreshed once."""
    check_trainable(spec)
    spec = resolve_inputs(spec, data_dir)
    runs = dict(zip(epochs, run_ids_for_specs(wh, [snapshot_spec(spec, e) for e in epochs])))
    missing = sorted(e for e, run_id in runs.items() if run_id is None)
    data = data_of(spec, data_dir)
    if missing:
        longest = snapshot_spec(spec, missing[-1])
        kept = run_isolated("flows.run_data:train_snapshots_job", longest.to_json(), str(data_dir) if data_dir else None,
                            device, progress, missing)
        for epoch in missing:
            model = model_from_bytes(kept[epoch])
            runs[epoch] = save_checkpoint(wh, model)
            if not has_partition(wh, "runs", runs[epoch]):
                register_run(wh, runs[epoch], model, data, refresh=False)
    name = training_id(spec)
    steps_per_epoch = -(-len(data.train.y) // spec.batch_size)
    for epoch, run_id in runs.items():
        link_point(wh, run_id, name, epoch, epoch * steps_per_epoch)
    refresh_catalog(wh)
    reused = len(epochs) - len(missing)
    note(f"train: {name} kept after epochs {', '.join(map(str, epochs))}: {len(missing)} run(s) trained"
         + (f", {reused} reused" if reused else "") + f"; trajectory {name} (SELECT * FROM trajectory_points)")
    return runs
