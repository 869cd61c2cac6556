"""The ``sql/`` folder (installed beside ``store/`` as package data): a model's text with its parameters."""
from __future__ import annotations

import math
import os
import re

import duckdb

from pipeline.sql_files import SQL, sql_text  # noqa: F401 - the one loader, re-exported for store's modules


def macros_sql() -> str:
    """The macros every connection's views use (``sql/macros.sql``), the estimator names filled in."""
    from pipeline.estimators import ESTIMATORS

    return sql_text("macros", estimators=", ".join(sql_string(e) for e in ESTIMATORS), estimator_names=", ".join(ESTIMATORS))


def claims_sql() -> str:
    """Every claim model of ``sql/claims/`` (one SELECT each), joined for ``sql/views/claim_statistics.sql``."""
    files = sorted((SQL / "claims").glob("claim_*.sql"))
    return "\nUNION ALL BY NAME\n".join(f"({p.read_text().strip().rstrip(';')}\n)" for p in files)


EARLY_FRACTION = 0.5  # the scorecard's early-curve statistic reads the curves up to this fraction ablated


def early_fraction() -> float:
    """How much of each ablation curve the early-curve statistics read: ``$NEURONINFO_EARLY_FRACTION`` (a
    fraction ablated in (0, 1]) or ``EARLY_FRACTION``."""
    from pipeline.errors import NeuronInfoError

    raw = os.environ.get("NEURONINFO_EARLY_FRACTION", "").strip()
    if not raw:
        return EARLY_FRACTION
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not 0 < value <= 1:
        raise NeuronInfoError(f"NEURONINFO_EARLY_FRACTION={raw!r} is not a fraction ablated in (0, 1]; set e.g. 0.5 or unset it")
    return value


def early_claims_sql() -> str:
    """The claims again, over the early part of every ablation curve: ``ablation_auc`` and ``scorecard_auc``
    shadowed by common table expressions of their own SQL over the points with frac_ablated <= early_fraction()."""
    early_areas = sql_text("views/ablation_auc", up_to=repr(early_fraction()))
    return (f"WITH ablation_auc AS (\n{early_areas}\n), scorecard_auc AS (\n{sql_text('views/scorecard_auc')}\n)\n"
            f"SELECT * FROM ({claims_sql()})")


def sql_string(text: str) -> str:
    """``text`` as a SQL string literal."""
    return "'" + str(text).replace("'", "''") + "'"


def sql_words(text: str) -> set[str]:
    """The words of SQL ``text`` outside its comments and string literals."""
    data = text.encode()  # the tokenizer's offsets count bytes (a non-ASCII comment shifts characters)
    tokens = duckdb.tokenize(text)
    ends = [start for start, _ in tokens[1:]] + [len(data)]
    code = b" ".join(data[start:end] for (start, kind), end in zip(tokens, ends)
                     if kind not in (duckdb.token_type.comment, duckdb.token_type.string_const))
    return set(re.findall(r"\w+", code.decode()))
