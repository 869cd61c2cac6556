"""The criterion registry: one declaration per criterion neurons are ranked, ablated, pruned and reported by.

A criterion is a per-neuron value read from one source view. Its declaration says where the value comes
from, whether it depends on the quantizer (one value per ``bits``), its kind, and hence which stage must
have run before a run can be ranked by it. Everything that lists criteria reads this registry: the SQL
views ``criteria``, ``measure_values`` (and through it ``neuron_ranks``, the rankings, ``criterion_damage``
and the report), the ablate and prune-sweep defaults, the report's order and labels, and the docs.

Adding a criterion is one ``register(Criterion(...))`` call: a column of a source view (``expression``
defaults to the criterion's name) or any SQL expression over that view's columns.
"""
from __future__ import annotations

from dataclasses import dataclass

from pipeline.estimators import ESTIMATORS, LABEL_MEASURES, MEASURES as ESTIMATED_MEASURES

KINDS = ("information", "pair_aggregate", "baseline", "random")
FAMILY = {"information": "information", "pair_aggregate": "information", "baseline": "baseline", "random": "random"}


@dataclass(frozen=True)
class Source:
    """A view criterion values are read from, and the verb that fills it."""

    view: str
    verb: str  # neuroninfo <verb> RUN_ID writes it
    has_bits: bool  # the view has a bits column (one row per quantizer resolution)


SOURCES = {
    "neuron_stats": Source("neuron_stats", "measure", True),
    "neuron_redundancy": Source("neuron_redundancy", "pairs", True),
    "neuron_baselines": Source("neuron_baselines", "baselines", False),
}


@dataclass(frozen=True)
class Criterion:
    """One criterion: ``name`` is what ``measure`` columns and ``--measures`` say."""

    name: str
    kind: str  # information | pair_aggregate | baseline | random
    source: str | None  # a key of SOURCES; None for random (a seeded permutation, no values)
    per_bits: bool  # one value per quantizer bits; else one value per neuron (bits NULL)
    expression: str | None = None  # SQL over the source view's columns; default: the column named like the criterion
    meaning: str = ""  # default: the meaning of the source column in its contract
    unit_kinds: tuple[str, ...] = ("linear",)  # the kinds of unit it applies to

    @property
    def family(self) -> str:
        """information (measures and pair aggregates), baseline or random: how reports group criteria."""
        return FAMILY[self.kind]

    @property
    def requires(self) -> str | None:
        """The verb that must have run before a run can be ranked by this criterion."""
        return SOURCES[self.source].verb if self.source else None

    @property
    def estimators(self) -> tuple[str, ...]:
        """The estimators its values come in (an estimator is a parameter of a criterion): every estimator of
        measure_estimates for the information measures of neuron_stats (no shuffle for entropy), else plugin."""
        if self.source != "neuron_stats" or self.name not in ESTIMATED_MEASURES:
            return ("plugin",)
        return tuple(e for e in ESTIMATORS if e != "shuffle" or self.name in LABEL_MEASURES)

    @property
    def sql(self) -> str:
        return self.expression or self.name


CRITERIA: dict[str, Criterion] = {}


def register(criterion: Criterion) -> Criterion:
    """Add a criterion to the registry (a name is declared once)."""
    if criterion.name in CRITERIA:
        raise ValueError(f"criterion {criterion.name!r} is declared twice")
    if criterion.kind not in KINDS:
        raise ValueError(f"criterion {criterion.name!r}: kind {criterion.kind!r} is not one of {KINDS}")
    if (criterion.source is None) != (criterion.kind == "random"):
        raise ValueError(f"criterion {criterion.name!r}: only random has no source")
    if criterion.source is not None and criterion.source not in SOURCES:
        raise ValueError(f"criterion {criterion.name!r}: unknown source {criterion.source!r}")
    CRITERIA[criterion.name] = criterion
    return criterion


def unregister(name: str) -> None:
    """Remove a criterion (for tests that declare a toy one)."""
    CRITERIA.pop(name, None)


for _name in ("entropy", "mutual_info", "kl_selectivity", "labeled_mi", "js_subset_separation"):
    register(Criterion(_name, "information", "neuron_stats", per_bits=True))
register(Criterion("class_selectivity", "information", "neuron_stats", per_bits=False,
                   meaning="Morcos et al. class selectivity index of the raw output (taken once, from the run's smallest bits)"))
for _name in ("unique_min", "max_red_min", "mean_synergy_min", "max_synergy_min"):
    register(Criterion(_name, "pair_aggregate", "neuron_redundancy", per_bits=True))
for _name in ("weight_l1_in", "weight_l2_in", "weight_l1_out", "torch_pruning_magnitude", "act_mean", "act_var",
              "act_abs_mean", "taylor", "conductance"):
    register(Criterion(_name, "baseline", "neuron_baselines", per_bits=False))
register(Criterion("random", "random", None, per_bits=False,
                   meaning="a seeded random permutation of the neurons (the reference every criterion must beat)"))


def names(*kinds: str) -> tuple[str, ...]:
    """The criteria of these kinds (all ranked ones when none given), in declaration order."""
    wanted = kinds or ("information", "pair_aggregate", "baseline")
    return tuple(c.name for c in CRITERIA.values() if c.kind in wanted)


def ranked() -> tuple[str, ...]:
    """Every criterion with values (all but random)."""
    return names()


def per_bits(name: str) -> bool:
    """Does the criterion have one value per quantizer bits? (A one-line error for an unknown name.)"""
    check_names((name,), allow_random=True)
    return CRITERIA[name].per_bits


def check_names(measures: tuple[str, ...], allow_random: bool = False) -> None:
    """A one-line error for a name the registry does not know."""
    from pipeline.errors import NeuronInfoError

    known = ranked() + (("random",) if allow_random else ())
    for m in measures:
        if m not in known:
            hint = " (it uses the test split: a target, not a criterion)" if m.startswith("ablation_damage") else ""
            raise NeuronInfoError(f"unknown measure {m!r}{hint}; use one of {', '.join(known)}")


def check_estimator(estimator: str, measures: tuple[str, ...] = ()) -> None:
    """A one-line error for an unknown estimator, or for a criterion whose values do not come in it."""
    from pipeline.errors import NeuronInfoError

    if estimator not in ESTIMATORS:
        raise NeuronInfoError(f"unknown estimator {estimator!r}; use one of {', '.join(ESTIMATORS)}")
    for m in measures:
        if m in CRITERIA and estimator not in CRITERIA[m].estimators:
            raise NeuronInfoError(f"criterion {m!r} has no {estimator} values (only {', '.join(CRITERIA[m].estimators)}); "
                                  f"leave it out of --measures or use --estimator plugin")


def estimated(estimator: str) -> tuple[str, ...]:
    """The criteria whose values come in this estimator, in declaration order."""
    return tuple(c.name for c in CRITERIA.values() if estimator in c.estimators)


def values_sql() -> str:
    """The body of the ``measure_values`` view: one SELECT per (source, per_bits) group of criteria, each an
    UNPIVOT of the source view's rows (NULL values have no row), joined with UNION ALL; then the corrected
    values of the criteria that have them, from measure_estimates (the plug-in rows are the source's own)."""
    parts = []
    for source in SOURCES.values():
        for quantized in (True, False):
            group = [c for c in CRITERIA.values() if c.source == source.view and c.per_bits == quantized]
            if not group:
                continue
            rows = source.view
            if not quantized and source.has_bits:  # once per neuron: from the run's smallest bits
                rows = f"(SELECT * FROM {source.view} QUALIFY bits = min(bits) OVER (PARTITION BY run_id))"
            bits = "bits" if quantized else "CAST(NULL AS INTEGER) AS bits"
            columns = ", ".join(f'CAST({c.sql} AS DOUBLE) AS "{c.name}"' for c in group)
            on = ", ".join(f'"{c.name}"' for c in group)
            parts.append(
                f"SELECT run_id, layer, neuron, measure, bits, 'plugin' AS estimator, '{source.view}' AS source, value FROM (\n"
                f"    UNPIVOT (SELECT run_id, layer, neuron, {bits}, {columns} FROM {rows})\n"
                f"    ON {on} INTO NAME measure VALUE value)"
            )
    corrected = [c for c in CRITERIA.values() if len(c.estimators) > 1]
    if corrected:
        listed = ", ".join(f"'{c.name}'" for c in corrected)
        parts.append("SELECT run_id, layer, neuron, measure, bits, estimator, 'measure_estimates' AS source, value\n"
                     f"FROM measure_estimates WHERE estimator <> 'plugin' AND measure IN ({listed})")
    return "\nUNION ALL\n".join(parts)


def rows_sql(meanings: dict[str, str] | None = None) -> str:
    """The registry as SQL ``VALUES`` rows: (name, kind, family, source, per_bits, requires, expression,
    estimators, meaning, position); ``meanings`` fills in the meaning of criteria that declare none (their source
    column's meaning in its contract)."""
    def literal(v):
        if v is None:
            return "NULL"
        if isinstance(v, bool) or isinstance(v, int):
            return str(v).lower()
        if isinstance(v, tuple):
            return "[" + ", ".join(map(literal, v)) + "]"
        return "'" + str(v).replace("'", "''") + "'"

    return ",\n    ".join(
        "(" + ", ".join(literal(v) for v in (c.name, c.kind, c.family, c.source, c.per_bits, c.requires,
                                              c.sql if c.source else None, c.estimators,
                                              c.meaning or (meanings or {}).get(c.name), position)) + ")"
        for position, c in enumerate(CRITERIA.values()))


def sql_parameters(meanings: dict[str, str] | None = None) -> dict[str, str]:
    """The template parameters of the SQL models that read the registry."""
    return {"criterion_values": values_sql(), "criterion_rows": rows_sql(meanings)}
