"""Flow `prune-sweep`: the usual pruning criteria, then test error of every criterion's pruned network
at kept fractions 0.9..0.1, without and with fine-tuning (``pruning_curves``), for each run given.

The run must be captured and measured (neuron_stats); baselines are computed when missing.
"""
from __future__ import annotations

from prefect import flow, task
from prefect.task_runners import ThreadPoolTaskRunner

from flows import pruning, stages
from flows.train_and_measure import RETRIES, progress_to_run_log
from pipeline.options import SWEEP
from store.paths import open_warehouse
from store.tables import has_partition


@task(name="baselines", **RETRIES)
def baselines_task(warehouse: str, run_id: str, data_dir: str | None) -> str:
    progress_to_run_log()
    wh = open_warehouse(warehouse)
    return run_id if has_partition(wh, "neuron_baselines", run_id) else stages.baselines_run(wh, run_id, data_dir)


@task(name="prune-sweep", **RETRIES)
def sweep_task(warehouse: str, run_id: str, bits: int, keeps: list[float], scope: str, strategy: str,
               finetune_epochs: list[int], data_dir: str | None) -> str:
    progress_to_run_log()
    return pruning.prune_sweep_run(open_warehouse(warehouse), run_id, None, bits, tuple(keeps), scope, strategy,
                                   tuple(finetune_epochs), data_dir)


@flow(name="prune-sweep", task_runner=ThreadPoolTaskRunner(max_workers=2), log_prints=True)
def prune_sweep(
    run_ids: list[str],
    bits: int = SWEEP.bits,
    keeps: list[float] = list(SWEEP.keeps),
    scope: str = SWEEP.scope,
    strategy: str = SWEEP.strategy,
    finetune_epochs: list[int] = list(SWEEP.finetune_epochs),
    warehouse: str | None = None,
    data_dir: str | None = None,
) -> list[str]:
    """Baselines then a pruning sweep per run; return the run_ids."""
    warehouse = str(open_warehouse(warehouse).root)
    done = [sweep_task.submit(warehouse, baselines_task.submit(warehouse, r, data_dir), bits, keeps, scope, strategy,
                              finetune_epochs, data_dir) for r in run_ids]
    run_ids = [f.result() for f in done]
    print(f"pruning_curves written for {len(run_ids)} run(s)")
    return run_ids
