"""Flow `reanalyze-checkpoints`: analyse every checkpoint dropped into the inbox.

Each file is handled on its own (one task per file): any failure of any kind moves that file to
``inbox/rejected/`` with its reason and the batch goes on; analysed files and duplicates go to
``inbox/done/``. The flow run completes and publishes a table artifact of every outcome.
"""
from __future__ import annotations

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner

from flows import inbox_stage
from flows.train_and_measure import compact_after, progress_to_run_log, report_task
from pipeline.options import ANALYSIS
from store.inbox import pending_files
from store.paths import location, open_warehouse


@task(name="analyse-inbox-file", cache_policy=NO_CACHE)  # no retries: a bad file fails the same way every time
def analyse_file_task(warehouse: str, path: str, symlink: bool, sidecars: list[str], data_dir: str | None, bits: list[int],
                      strategies: list[str], random_repeats: int, steps: int | None, folder_spec: str | None = None,
                      full_epochs: list[int] | None = None) -> dict:
    from store.inbox import InboxFile

    progress_to_run_log()
    item = InboxFile(location(path), tuple(location(s) for s in sidecars), symlink,
                     location(folder_spec) if folder_spec else None)
    outcome = inbox_stage.analyse_inbox_file(open_warehouse(warehouse), item, data_dir, tuple(bits), tuple(strategies),
                                             random_repeats, steps, None if full_epochs is None else tuple(full_epochs))
    if outcome.status == "rejected":
        get_run_logger().warning(f"rejected {outcome.file}: {outcome.reason}")
    return outcome.__dict__


@flow(name="reanalyze-checkpoints", task_runner=ThreadPoolTaskRunner(max_workers=2), log_prints=True)
def reanalyze_checkpoints(
    inbox: str | None = None,
    warehouse: str | None = None,
    bits: list[int] = list(ANALYSIS.bits),
    strategies: list[str] = list(ANALYSIS.strategies),
    random_repeats: int = ANALYSIS.random_repeats,
    steps: int | None = ANALYSIS.steps,
    data_dir: str | None = None,
    full_epochs: list[int] | None = None,
) -> list[dict]:
    """Analyse the checkpoints in ``inbox`` (default ``<warehouse>/inbox``); return one outcome per file. Checkpoints
    of a trajectory (a sidecar names the training and epoch) get pairs and ablation at ``full_epochs`` only
    (default: epoch 0 and the powers of two), their measures always."""
    progress_to_run_log()
    wh = open_warehouse(warehouse)
    folder = location(inbox) if inbox else wh.inbox
    files = pending_files(folder)
    futures = [analyse_file_task.submit(str(wh.root), str(f.path), f.symlink, [str(s) for s in f.sidecars], data_dir,
                                        bits, strategies, random_repeats, steps,
                                        str(f.folder_spec) if f.folder_spec else None, full_epochs) for f in files]
    outcomes = [f.result() for f in futures]
    analysed = sorted({o["run_id"] for o in outcomes if o["status"] == "analysed"})
    if analysed:
        try:
            report_task.submit(str(wh.root), analysed).result()
        except Exception as error:  # noqa: BLE001 - the runs are analysed; only their page is missing
            get_run_logger().warning(f"report failed: {inbox_stage.one_line(error)}; rerun: neuroninfo report")
    rejected = [o for o in outcomes if o["status"] == "rejected"]
    print(f"{len(analysed)} analysed, {len(rejected)} rejected, "
          f"{sum(o['status'] == 'duplicate' for o in outcomes)} duplicate(s) in {folder}")
    if outcomes:
        create_table_artifact(key="inbox-outcomes", table=outcomes, description=f"Inbox {folder}: one row per file")
    compact_after(str(wh.root))
    return outcomes
