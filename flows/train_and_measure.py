"""Flow `train-and-measure`: expand a grid of networks and run train -> capture -> measure -> pairs -> ablate -> report.

Tasks are coarse (one per network and stage) and pass run_ids, never arrays. The warehouse is the
cache: a spec trained before is not retrained, and a stage whose output exists for a run_id is skipped.
"""
from __future__ import annotations

import os
from contextlib import contextmanager

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner

from flows import grid, pages, stages
from pipeline.errors import NeuronInfoError
from pipeline.ablation_checks import check_scopes
from pipeline.criteria import check_names
from pipeline.options import ANALYSIS
from pipeline.progress import note, set_sink
from store.paths import open_warehouse


def transient(task, task_run, state) -> bool:
    """Retry only failures that may pass (I/O, a busy resource), never the project's own errors: bad
    input or a broken file fails the same way every time."""
    try:
        state.result()
    except NeuronInfoError:
        return False
    except Exception:  # noqa: BLE001 - anything else may be transient
        return True
    return True


def progress_to_run_log() -> None:
    """In served and deployment runs, progress lines go to the flow run's log (the Prefect UI); the CLI
    (``NEURONINFO_CLI``) prints them itself while Prefect's own lines stay quiet."""
    if not os.environ.get("NEURONINFO_CLI"):
        set_sink(get_run_logger().info)


RETRIES = dict(retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE, retry_condition_fn=transient)


@task(name="train", **RETRIES)
def train_task(warehouse: str, spec_json: str, data_dir: str | None, device: str = "cpu",
               kept: dict | None = None) -> str:
    """The trained network's run_id; with ``kept`` ({"listed": epochs or 'log', "every": N}: pipeline.trajectory
    .checkpoint_epochs) also the runs kept on the way."""
    from pipeline.spec import NetworkSpec

    progress_to_run_log()
    spec = NetworkSpec.from_json(spec_json)
    if not kept:
        return stages.train_run(open_warehouse(warehouse), spec, data_dir, device=device)
    from flows.trajectories import train_trajectory
    from pipeline.trajectory import checkpoint_epochs

    epochs = checkpoint_epochs(spec.epochs, kept["listed"] or (), kept["every"])
    return train_trajectory(open_warehouse(warehouse), spec, epochs, data_dir, device=device)[spec.epochs]


@task(name="checkpoints", **RETRIES)
def checkpoints_task(warehouse: str, run_id: str, spec_json: str, bits: list[int], strategies: list[str],
                     random_repeats: int, steps: int | None, data_dir: str | None,
                     full_epochs: list[int] | None = None) -> list[str]:
    """Analyse the checkpoints a training kept on the way to ``run_id`` (its last epoch's run, analysed by its
    own chain): measures always, pairs and ablation at ``full_epochs`` (pipeline.trajectory.analysed_in_full)."""
    from flows.trajectories import kept_runs
    from pipeline.spec import NetworkSpec
    from pipeline.trajectory import analysed_in_full, training_id

    progress_to_run_log()
    wh = open_warehouse(warehouse)
    full = None if full_epochs is None else tuple(full_epochs)
    kept = {epoch: kept_run for epoch, kept_run in kept_runs(wh, training_id(NetworkSpec.from_json(spec_json))).items()
            if kept_run != run_id}
    for epoch, kept_run in sorted(kept.items()):
        stages.analyse_run(wh, kept_run, data_dir, tuple(bits), tuple(strategies), random_repeats, steps,
                           analysed_in_full(epoch, full))
    return sorted(kept.values())


@task(name="capture", **RETRIES)
def capture_task(warehouse: str, run_id: str, bits: list[int], data_dir: str | None, device: str = "cpu",
                 layers: list[str] | None = None, reducer: str | None = None) -> str:
    progress_to_run_log()
    return stages.capture_run(open_warehouse(warehouse), run_id, tuple(bits), data_dir=data_dir, device=device,
                              layer_globs=tuple(layers) if layers else None, reducer=reducer)


@task(name="measure", **RETRIES)
def measure_task(warehouse: str, run_id: str) -> str:
    progress_to_run_log()
    return stages.measure_run(open_warehouse(warehouse), run_id, refresh=False)  # the estimate task refreshes the catalog


@task(name="estimate", **RETRIES)
def estimate_task(warehouse: str, run_id: str) -> str:
    progress_to_run_log()
    return stages.estimate_run(open_warehouse(warehouse), run_id)


@task(name="pairs", **RETRIES)
def pairs_task(warehouse: str, run_id: str, pair_bits: list[int]) -> str:
    progress_to_run_log()
    with cluster_executor() as executor:  # on Dask, the blocks of pairs spread over the cluster's workers
        for b in pair_bits:
            stages.pairs_run(open_warehouse(warehouse), run_id, b, executor=executor)
    return run_id


@contextmanager
def cluster_executor():
    """An Executor over the Dask cluster this task runs on (``distributed.worker_client``), or None off Dask
    (threads: pairs_run then uses the available cores of this process)."""
    try:
        from distributed import get_worker, worker_client

        get_worker()
        on_dask = True
    except (ImportError, ValueError):  # not on a Dask worker
        on_dask = False
    if not on_dask:
        yield None
        return
    with worker_client() as client:
        yield client.get_executor()


@task(name="ablate", **RETRIES)
def ablate_task(warehouse: str, run_id: str, strategies: list[str], random_repeats: int, steps: int | None, data_dir: str | None,
                device: str = "cpu", measures: list[str] | None = None, scopes: list[str] = list(ANALYSIS.scopes)) -> str:
    progress_to_run_log()
    return stages.ablate_run(open_warehouse(warehouse), run_id, tuple(strategies), random_repeats, steps, data_dir,
                             tuple(measures) if measures else None, device=device, scopes=tuple(scopes))


@task(name="report", **RETRIES)
def report_task(warehouse: str, run_ids: list[str]) -> list[str]:
    progress_to_run_log()
    return [str(page) for page in pages.pages_of_runs(open_warehouse(warehouse), run_ids, png=False)]  # PNGs: neuroninfo report


@task(name="scorecard", **RETRIES)
def scorecard_task(warehouse: str) -> str:
    progress_to_run_log()
    return str(pages.scorecard_page(open_warehouse(warehouse)))


@task(name="compact", **RETRIES)
def compact_task(warehouse: str) -> list[str]:
    """Move settled per-run table files into segments once a table has enough (store.compaction's policy)."""
    from store.compaction import compact

    return compact(open_warehouse(warehouse))


def compact_after(warehouse: str) -> None:
    """A flow's last step: compaction (a failure is a warning: the runs are whole without it)."""
    try:
        for line in compact_task.submit(warehouse).result():
            print(f"compact: {line}")
    except Exception as error:  # noqa: BLE001
        get_run_logger().warning(f"compaction failed: {str(error).splitlines()[0] if str(error) else type(error).__name__}; "
                                 "rerun: neuroninfo compact")


def analyse(warehouse: str, run_id_future, bits, strategies, random_repeats, steps, data_dir, pair_bits=ANALYSIS.pair_bits,
            device: str = "cpu", layers: list[str] | None = None, reducer: str | None = None,
            measures: list[str] | None = None, scopes: list[str] = list(ANALYSIS.scopes)) -> list:
    """Chain capture -> measure -> estimate -> pairs -> ablate for one run (futures wait on each other); return the chain's futures.

    pairs (within layers, at each of ``pair_bits`` that is captured) runs before ablate, so its per-neuron
    aggregates get ablation curves too."""
    captured = capture_task.submit(warehouse, run_id_future, bits, data_dir, device, layers, reducer)
    measured = measure_task.submit(warehouse, captured)
    estimated = estimate_task.submit(warehouse, measured)
    paired = pairs_task.submit(warehouse, estimated, [b for b in pair_bits if b in bits])
    ablated = ablate_task.submit(warehouse, paired, strategies, random_repeats, steps, data_dir, device, measures, scopes)
    return [run_id_future, captured, measured, estimated, paired, ablated]


def kept_epochs(specs: list, listed: list[int] | str | None, every: int | None) -> dict | None:
    """The ``kept`` parameter of train_task for a grid that keeps checkpoints (None: it does not), checked
    against every spec first (a bad epoch list is one line before anything trains)."""
    if not listed and not every:
        return None
    from pipeline.trajectory import checkpoint_epochs

    for spec in specs:
        checkpoint_epochs(spec.epochs, listed or (), every)
    return {"listed": listed, "every": every}


def analyse_checkpoints(warehouse: str, specs: list, chains: list[list], kept: dict | None, bits, strategies,
                        random_repeats, steps, data_dir, full_epochs) -> None:
    """With ``kept``, add to each training's chain the analysis of its kept checkpoints (beside its last epoch's
    chain, before its last task: chain_result still returns that one's run_id)."""
    if not kept:
        return
    for spec, chain in zip(specs, chains):
        chain.insert(-1, checkpoints_task.submit(warehouse, chain[0], spec.to_json(), list(bits), list(strategies),
                                                 random_repeats, steps, data_dir, full_epochs))


def train_and_analyse(warehouse: str, specs: list, data_dir: str | None, device: str, analyse_run,
                      kept: dict | None = None) -> list[list]:
    """Submit each network's training, then ``analyse_run(its run_id future)`` (a chain); return the chains.

    The next network's training is submitted before this one's analysis: with two workers the first two
    networks train at once, then one trains beside the analysis of the one before. Trainings run in worker
    processes of their own (pipeline/train_process.py), so running several at once changes no bytes."""
    trained = [train_task.submit(warehouse, spec.to_json(), data_dir, device, kept) for spec in specs[:1]]
    chains = []
    for i, spec in enumerate(specs):
        if i + 1 < len(specs):
            trained.append(train_task.submit(warehouse, specs[i + 1].to_json(), data_dir, device, kept))
        chains.append(analyse_run(trained[i]))
    return chains


def chain_result(chain: list):
    """The last task's result, or the first failed task's own error (not a later task's 'upstream not ready')."""
    for future in chain:
        future.wait()
        if not future.state.is_completed():
            return future.result()  # raises the root cause
    return chain[-1].result()


@flow(name="train-and-measure", task_runner=ThreadPoolTaskRunner(max_workers=2), log_prints=True)
def train_and_measure(
    preset: str = "fashion-mnist",
    dataset: str | None = None,
    hidden_sizes: list[int] | None = None,
    activations: list[str] = ["relu"],
    regularizers: list[str] = ["dropout"],
    seeds: list[int] = [0],
    epochs: int | None = None,
    n_val: int | None = None,
    bits: list[int] = list(ANALYSIS.bits),
    strategies: list[str] = list(ANALYSIS.strategies),
    random_repeats: int = ANALYSIS.random_repeats,
    steps: int | None = ANALYSIS.steps,
    warehouse: str | None = None,
    data_dir: str | None = None,
    pair_bits: list[int] = list(ANALYSIS.pair_bits),
    inputs: str = "standardized",
    device: str = "cpu",
    arch: str = "mlp",
    arch_kwargs: str | None = None,
    layers: list[str] | None = None,
    reducer: str | None = None,
    measures: list[str] | None = None,
    scopes: list[str] = list(ANALYSIS.scopes),
    checkpoint_epochs: list[int] | str | None = None,
    checkpoint_every: int | None = None,
    full_epochs: list[int] | None = None,
) -> list[str]:
    """Train and analyse every network of activations x regularizers x seeds; return their run_ids.

    ``checkpoint_epochs`` (epochs, or 'log': 0, 1, 2, 4, ... and the last) and ``checkpoint_every`` (N: every N
    epochs) also keep each network after those epochs as a run of its own (docs/trajectories.md), measured always, given pairs and ablation at ``full_epochs``
    (default: epoch 0 and the powers of two).

    ``arch`` (mlp, cnn, vit, torchvision:NAME, package.module:Class) with ``arch_kwargs`` (JSON) chooses the
    network; ``layers`` (globs over module paths) and ``reducer`` which units capture reads (pipeline/units.py);
    ``measures`` the criteria the curves rank by (default: every one an mlp has; mutual_info and kl_selectivity for
    other networks) and ``scopes`` which curves are made (layer, network).

    ``device`` (cpu, cuda, cuda:N, mps) runs training, capture and ablation there, checked by each task where it
    runs (a Dask worker may have the GPU the flow's machine lacks); it is not part of a run's identity."""
    progress_to_run_log()
    specs = grid.grid_specs(preset, dataset, hidden_sizes, activations, regularizers, seeds, epochs, n_val, bits,
                              strategies, data_dir, inputs, arch, arch_kwargs)
    check_names(tuple(measures or ()))
    check_scopes(tuple(scopes))
    warehouse = str(open_warehouse(warehouse).root)
    print(f"{len(specs)} network(s) into warehouse {warehouse}")
    found = trained_already(warehouse, specs, data_dir)
    kept = kept_epochs(specs, checkpoint_epochs, checkpoint_every)
    chains = train_and_analyse(warehouse, specs, data_dir, device, lambda run_id: analyse(
        warehouse, run_id, bits, strategies, random_repeats, steps, data_dir, pair_bits, device, layers, reducer,
        measures, scopes), kept)
    analyse_checkpoints(warehouse, specs, chains, kept, bits, strategies, random_repeats, steps, data_dir, full_epochs)
    run_ids = [chain_result(chain) for chain in chains]
    report = report_task.submit(warehouse, run_ids)
    for path in report.result():
        print(f"report: {path}")
    note(f"time by stage (task time, summed): {stage_times([f for chain in chains for f in chain] + [report], found)}")
    publish_summary(open_warehouse(warehouse), run_ids)
    compact_after(warehouse)
    return run_ids


def stage_times(futures: list, trained_before: int = 0) -> str:
    """Seconds spent in each kind of task (train, capture, measure, ...), summed over the grid, from Prefect's
    own task-run records (tasks run two at a time: the sums exceed the wall time). ``trained_before``: how
    many networks the train tasks found trained already (their training is not in these times)."""
    from prefect.client.orchestration import get_client

    totals: dict[str, float] = {}
    with get_client(sync_client=True) as client:
        for task_run_id in dict.fromkeys(f.task_run_id for f in futures):
            run = client.read_task_run(task_run_id)
            stage = run.name.rsplit("-", 1)[0]
            totals[stage] = totals.get(stage, 0.0) + run.total_run_time.total_seconds()
    return ", ".join(f"{stage} {seconds:.0f} s{_reused(trained_before) if stage == 'train' else ''}"
                     for stage, seconds in totals.items())


def trained_already(warehouse: str, specs: list, data_dir: str | None) -> int:
    """How many of ``specs`` the warehouse holds trained already (the CLI trains the first one while the
    Prefect server starts): their train tasks only find them."""
    wh = open_warehouse(warehouse)
    return sum(stages.trained_before(wh, spec, data_dir) is not None for spec in specs)


def _reused(networks: int) -> str:
    return (f" ({networks} network(s) trained before the flow started, by the CLI while the Prefect server started "
            "or by an earlier run: not timed here)") if networks else ""


def publish_summary(wh, run_ids: list[str]) -> None:
    """A Prefect artifact of the runs' headline numbers and report paths: the UI answers "what came out"."""
    rows = pages.summary(wh, run_ids)
    lines = ["| run | run_id | test error | median I(T;Y) by layer (1 bit) | report |", "|---|---|---|---|---|"]
    lines += [f"| {r['name']} | `{r['run_id']}` | {r['test_error']:.1%} | "
              f"{', '.join(f'{m:.3f}' for m in r['median_mi_by_layer'] or [])} | `{r['report']}` |" for r in rows]
    create_markdown_artifact(markdown="\n".join(lines), key="train-and-measure-summary",
                             description=f"{len(rows)} run(s) in {wh.root}")


def task_runner_for(kind: str, dask_address: str | None = None, workers: int = 2):
    """The task runner by name: bounded threads (default) or a Dask cluster via prefect-dask."""
    if kind == "dask":
        from prefect_dask import DaskTaskRunner

        if dask_address:
            return DaskTaskRunner(address=dask_address)
        # the workers share this machine's cores: each tells pipeline.threads how many of them there are
        return DaskTaskRunner(cluster_kwargs={"n_workers": workers, "threads_per_worker": 1, "processes": True,
                                              "env": {"NEURONINFO_WORKERS": str(workers)}})
    return ThreadPoolTaskRunner(max_workers=workers)
