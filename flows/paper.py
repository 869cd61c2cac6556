"""Flow `paper`: the paper's whole grid, then its claims scorecard (docs/scorecard.md).

For each dataset whose files are present: activation {relu, sigmoid} x regularizer {none, l2, dropout,
dropout_bn} x seeds, preset sizes and epochs, bits 1..3, ablation to zero and to the mean, layer and
network scope. Everything is content-addressed, so a rerun skips finished work.
"""
from __future__ import annotations

import time

from prefect import flow
from prefect.task_runners import ThreadPoolTaskRunner

from flows.paper_plan import grid_progress, paper_plan
from pipeline.options import PAPER_DATASETS
from flows.train_and_measure import (analyse, analyse_checkpoints, chain_result, compact_after, kept_epochs, progress_to_run_log,
                                     report_task, scorecard_task, stage_times, train_and_analyse, trained_already)
from pipeline.progress import note
from store.paths import open_warehouse


@flow(name="paper", task_runner=ThreadPoolTaskRunner(max_workers=2), log_prints=True)
def paper_grid(
    datasets: list[str] = list(PAPER_DATASETS),
    seeds: list[int] = [0, 1, 2],
    quick: bool = False,
    warehouse: str | None = None,
    data_dir: str | None = None,
    device: str = "cpu",
    archs: list[str] = ["mlp"],
    checkpoint_epochs: list[int] | str | None = None,
    checkpoint_every: int | None = None,
    full_epochs: list[int] | None = None,
) -> list[str]:
    """Train and analyse the paper's grid on every available dataset (per architecture of ``archs``: mlp, cnn,
    vit); write the report pages and the scorecard. ``checkpoint_epochs``, ``checkpoint_every`` and
    ``full_epochs`` keep and analyse checkpoints on the way, as train-and-measure's do (docs/trajectories.md);
    they stay out of the scorecard."""
    progress_to_run_log()
    plan = paper_plan(datasets, seeds, quick, data_dir, tuple(archs))
    for line in plan.skipped:
        note(line)
    warehouse = str(open_warehouse(warehouse).root)
    print(f"paper: {len(plan.specs)} network(s) into warehouse {warehouse}")
    found = trained_already(warehouse, plan.specs, data_dir)
    kept = kept_epochs(plan.specs, checkpoint_epochs, checkpoint_every)
    chains = train_and_analyse(warehouse, plan.specs, data_dir, device, lambda run_id: analyse(
        warehouse, run_id, plan.bits, plan.strategies, plan.random_repeats, plan.steps, data_dir, pair_bits=[],
        device=device), kept)
    analyse_checkpoints(warehouse, plan.specs, chains, kept, plan.bits, plan.strategies, plan.random_repeats, plan.steps,
                        data_dir, full_epochs)
    started, run_ids = time.monotonic(), []
    for chain in chains:
        run_ids.append(chain_result(chain))
        note(grid_progress(len(run_ids), len(chains), time.monotonic() - started))
    report = report_task.submit(warehouse, run_ids)
    for page in report.result():
        print(f"report: {page}")
    scorecard = scorecard_task.submit(warehouse)
    print(f"scorecard: {scorecard.result()}")
    futures = [f for chain in chains for f in chain] + [report, scorecard]
    note(f"paper: {time.monotonic() - started:.0f} s wall; task time by stage: {stage_times(futures, found)}")
    compact_after(warehouse)
    return run_ids

