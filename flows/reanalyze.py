"""Flow `reanalyze-checkpoints`: analyse every checkpoint dropped into the inbox that is not complete yet.

A file that is not a valid checkpoint (or does not fit its dataset) is moved to ``inbox/rejected/``
with a ``.reason.txt`` beside it; it never stops the others.
"""
from __future__ import annotations

from prefect import flow, task
from prefect.task_runners import ThreadPoolTaskRunner

from flows import stages
from flows.train_and_measure import RETRIES, analyse, report_task
from pipeline.errors import NeuronInfoError
from store.inbox import pending_files, reject
from store.paths import location, name_of, open_warehouse


@task(name="import-checkpoint", **RETRIES)
def import_task(warehouse: str, path: str, data_dir: str | None) -> str | None:
    """The run_id of a valid checkpoint (``path``: a local path or fsspec URL), or None after moving a bad file to rejected/."""
    try:
        return stages.import_checkpoint(open_warehouse(warehouse), location(path), data_dir)
    except NeuronInfoError as e:
        print(f"rejected {name_of(path)}: {e}")
        reject(location(path), str(e))
        return None


@flow(name="reanalyze-checkpoints", task_runner=ThreadPoolTaskRunner(max_workers=2), log_prints=True)
def reanalyze_checkpoints(
    inbox: str | None = None,
    warehouse: str | None = None,
    bits: list[int] = [1, 2, 3],
    strategies: list[str] = ["zero", "mean"],
    random_repeats: int = 5,
    steps: int | None = None,
    data_dir: str | None = None,
) -> list[str]:
    """Import and analyse the checkpoints in ``inbox`` (default ``<warehouse>/inbox``); return their run_ids."""
    wh = open_warehouse(warehouse)
    folder = location(inbox) if inbox else wh.inbox
    imported = [import_task.submit(str(wh.root), str(p), data_dir) for p in pending_files(folder)]
    run_ids = sorted({r for r in (f.result() for f in imported) if r})
    todo = [r for r in run_ids if not stages.is_complete(wh, r)]
    print(f"{len(run_ids)} valid checkpoint(s) in {folder}, {len(todo)} to analyse")
    chains = [analyse(str(wh.root), r, bits, strategies, random_repeats, steps, data_dir) for r in todo]
    done = [chain.result() for chain in chains]
    if done:
        report_task.submit(str(wh.root), done).result()
    return run_ids
