"""A run's orderings by its criteria (sql/rankings.sql over the view neuron_ranks), and which criteria it has.

Which criteria exist, where their values come from and which verb provides them is the criterion
registry's (pipeline/criteria.py); this module only asks the warehouse which of them a run has.
"""
from __future__ import annotations

import numpy as np

from pipeline.ablation import Ordering
from pipeline.criteria import CRITERIA, check_estimator, check_names, names
from pipeline.errors import NeuronInfoError
from pipeline.progress import note
from store.sandbox import query
from store.sql_files import sql_text
from store.paths import Warehouse


def ranking_rows(wh: Warehouse, run_id: str, estimator: str = "plugin") -> dict[str, np.ndarray]:
    """Every ranked (criterion, bits, neuron) row of the run under ``estimator``, as columns (bits -1 where NULL)."""
    columns = query(wh, sql_text("rankings", run_id=run_id, estimator=estimator)).to_pydict()
    columns["bits"] = [-1 if b is None else b for b in columns["bits"]]
    return {k: np.asarray(v) for k, v in columns.items()}


def available(wh: Warehouse, run_id: str, estimator: str = "plugin") -> dict[str, list[int | None]]:
    """The criteria the run can be ranked by under ``estimator``, each with its bits values (None for criteria
    without bits)."""
    ranked = sql_text("rankings", run_id=run_id, estimator=estimator)
    rows = query(wh, f"SELECT DISTINCT measure, bits FROM ({ranked}) ORDER BY ALL").to_pylist()
    found: dict[str, list[int | None]] = {}
    for r in rows:
        found.setdefault(r["measure"], []).append(r["bits"])
    return found


def default_criteria(wh: Warehouse, run_id: str, verb: str, kinds: tuple[str, ...] = (),
                     within: tuple[str, ...] | None = None, estimator: str = "plugin") -> tuple[str, ...]:
    """Every criterion (of these kinds, or of ``within``, whose values come in ``estimator``) the run has, in
    registry order; a one-line note names the ones it lacks and the verb that adds them."""
    have = available(wh, run_id, estimator)
    wanted = tuple(n for n in names(*kinds) if (within is None or n in within) and estimator in CRITERIA[n].estimators)
    missing: dict[str, list[str]] = {}
    for name in wanted:
        if name not in have:
            missing.setdefault(requires(name, estimator), []).append(name)
    if missing:
        skipped = "; ".join(f"{len(ms)} from {v} ({', '.join(ms[:2])}{', ...' if len(ms) > 2 else ''}; run: neuroninfo {v} {run_id})"
                            for v, ms in missing.items())
        note(f"{verb} {run_id}: without the criteria the run has no values for yet: {skipped}")
    return tuple(n for n in wanted if n in have)


def requires(measure: str, estimator: str = "plugin") -> str:
    """The verb that gives a run the criterion's values under ``estimator``."""
    return CRITERIA[measure].requires if estimator == "plugin" else "estimate"


def rankings(wh: Warehouse, run_id: str, measures: tuple[str, ...], estimator: str = "plugin") -> list[Ordering]:
    """The low-first and high-first orderings of each criterion (at each of its bits, its values under
    ``estimator``), layer by layer and network-wide; a one-line error for a criterion the run does not have,
    naming the verb that adds it."""
    check_names(measures)
    check_estimator(estimator, measures)
    columns = ranking_rows(wh, run_id, estimator)
    present = set(columns["measure"].tolist())
    for m in measures:
        if m not in present:
            values = "" if estimator == "plugin" else f" {estimator}"
            raise NeuronInfoError(f"run {run_id} has no{values} {m} values for every neuron yet; "
                                  f"run: neuroninfo {requires(m, estimator)} {run_id}")
    orderings = []
    for measure in measures:
        of_measure = columns["measure"] == measure
        for b in sorted(set(columns["bits"][of_measure].tolist())):
            rows = of_measure & (columns["bits"] == b)
            layer, neuron = columns["layer"][rows], columns["neuron"][rows]
            for ordering in ("low_first", "high_first"):
                scopes = [("network", None, np.ones(len(layer), bool))]
                scopes += [("layer", int(l), layer == l) for l in sorted(set(layer.tolist()))]
                for scope, which, keep in scopes:
                    position = columns[f"{scope}_{ordering}"][rows][keep]
                    order = np.argsort(position, kind="stable")
                    neurons = np.stack([layer[keep][order], neuron[keep][order]], axis=1).astype(np.int64)
                    orderings.append(Ordering(scope, which, measure, None if b < 0 else int(b), ordering, 0, neurons,
                                              estimator))
    return orderings
