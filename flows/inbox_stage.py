"""One inbox file: import it and analyse it, or reject it with its reason (no Prefect here)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from flows.stages import analyse_run, is_complete, register_import
from pipeline.errors import NeuronInfoError
from pipeline.options import ANALYSIS
from pipeline.trajectory import analysed_in_full
from store.imports import read_import
from store.inbox import InboxFile, finish, reject
from store.lifecycle import remove_run
from store.locks import run_lock
from store.paths import Warehouse, name_of
from store.tables import has_partition
from store.trajectories import link_point


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
    bits: tuple[int, ...] = ANALYSIS.bits,
    strategies: tuple[str, ...] = ANALYSIS.strategies,
    random_repeats: int = ANALYSIS.random_repeats,
    steps: int | None = ANALYSIS.steps,
    full_epochs: tuple[int, ...] | None = None,
) -> InboxOutcome:
    """Import and analyse one inbox file; whatever fails, of whatever type, rejects that file alone. A checkpoint
    a sidecar places in a trajectory gets pairs and ablation only at ``full_epochs``
    (``pipeline.trajectory.analysed_in_full``), its measures always.

    The file then leaves the inbox: to ``done/`` (analysed, or a duplicate of a complete run) or to
    ``rejected/`` with its reason. A run this file created is removed again when its analysis fails."""
    try:
        if item.symlink:
            raise NeuronInfoError("symbolic links are not followed in the inbox; copy the checkpoint file itself in")
        imported = read_import(item.path, sidecars=item.sidecars, folder_spec=item.folder_spec, untrusted=True,
                               data_dir=data_dir)
    except Exception as error:  # noqa: BLE001 - any failure rejects this file, never the batch
        return _rejected(item, None, error)
    with run_lock(wh, imported.run_id):  # copies of one checkpoint in a batch: one analyses, the others see it complete
        full = imported.trajectory is None or analysed_in_full(imported.trajectory[1], full_epochs)
        return _analyse_imported(wh, item, imported, data_dir, bits, strategies, random_repeats, steps, full)


def _analyse_imported(wh: Warehouse, item: InboxFile, imported, data_dir, bits, strategies, random_repeats, steps,
                      full: bool) -> InboxOutcome:
    """Analyse an imported file's run unless it is complete already; a failure removes the run if this file made it."""
    name, run_id, created = name_of(item.path), imported.run_id, False
    try:
        if is_complete(wh, run_id, full):
            if imported.trajectory:  # the same weights from another training (or again): the link still counts
                link_point(wh, run_id, *imported.trajectory)
            finish(item, f"duplicate of run {run_id}")
            return InboxOutcome(name, "duplicate", run_id, f"duplicate of run {run_id}")
        created = not has_partition(wh, "runs", run_id)
        register_import(wh, imported, data_dir)
        analyse_run(wh, run_id, data_dir, bits, strategies, random_repeats, steps, full)
    except Exception as error:  # noqa: BLE001 - any failure rejects this file, never the batch
        if created:
            try:
                remove_run(wh, run_id)
            except Exception:  # noqa: BLE001 - nothing of it may be left, which is fine
                pass
        return _rejected(item, run_id, error)
    finish(item)
    return InboxOutcome(name, "analysed", run_id)


def _rejected(item: InboxFile, run_id: str | None, error: BaseException) -> InboxOutcome:
    reason = one_line(error)
    reject(item, reason)
    return InboxOutcome(name_of(item.path), "rejected", run_id, reason)
