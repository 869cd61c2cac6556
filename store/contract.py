"""The column contract of every public view: ``sql/contracts/<view>.yml``.

Each file states the view's grain and key, every column's type, unit and meaning, and data tests (SQL
that returns the rows breaking a rule). One source for three readers: the Parquet storage schemas
(``store.schemas``), the column reference ``docs/warehouse.md`` (generated: ``python -m store.contract``)
and the data tests (``run_data_tests``, used by the test suite and ``neuroninfo verify --data-tests``).
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import pyarrow as pa
import yaml

CONTRACTS = Path(__file__).resolve().parent.parent / "sql" / "contracts"

ARROW_TYPES = {
    "VARCHAR": pa.string(),
    "INTEGER": pa.int32(),
    "BIGINT": pa.int64(),
    "DOUBLE": pa.float64(),
    "BOOLEAN": pa.bool_(),
    "INTEGER[]": pa.list_(pa.int32()),
    "VARCHAR[]": pa.list_(pa.string()),
    "DOUBLE[]": pa.list_(pa.float64()),
    "TIMESTAMP WITH TIME ZONE": pa.timestamp("us", tz="UTC"),
}


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # DuckDB type name
    meaning: str
    unit: str = ""
    derived: bool = False  # computed by the view, not stored in its Parquet partitions
    default: str | None = None  # the value read where a partition written before the column existed lacks it


@dataclass(frozen=True)
class DataTest:
    name: str
    fails_when: str  # SQL returning one row (with run_id) per violation


@dataclass(frozen=True)
class Contract:
    view: str
    grain: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    tests: tuple[DataTest, ...] = field(default=())
    nullable: tuple[str, ...] = field(default=())  # key columns that may be NULL (e.g. ablation_curves.layer)
    stored: bool = True  # a Parquet table (run_id its partition key) backs the view

    def storage_schema(self) -> pa.Schema:
        """The Arrow schema of the view's Parquet partitions (run_id is the hive partition key, not stored)."""
        return pa.schema([(c.name, ARROW_TYPES[c.type]) for c in self.columns if c.name != "run_id" and not c.derived])


@lru_cache(maxsize=1)
def contracts() -> dict[str, Contract]:
    """Every contract by view name."""
    found = {}
    for path in sorted(CONTRACTS.glob("*.yml")):
        data = yaml.safe_load(path.read_text())
        found[data["view"]] = Contract(
            view=data["view"],
            grain=data["grain"],
            key=tuple(data["key"]),
            columns=tuple(Column(c["name"], c["type"], c["meaning"], str(c.get("unit", "")), bool(c.get("derived")),
                                 c.get("default")) for c in data["columns"]),
            tests=tuple(DataTest(t["name"], t["fails_when"]) for t in data.get("tests") or []),
            nullable=tuple(data.get("nullable") or ()),
            stored=data.get("storage", "parquet") != "none",
        )
    return {v: found[v] for v in sorted(found)}


@dataclass(frozen=True)
class Failure:
    """A data test that found rows breaking its rule."""

    view: str
    test: str  # the test's name in the contract
    rows: int  # rows that break the rule
    run_ids: tuple[str, ...]  # the runs they belong to

    def line(self) -> str:
        runs = ", ".join(self.run_ids[:3]) + (" ..." if len(self.run_ids) > 3 else "")
        return f"data test failed: {self.view}: {self.test}: {self.rows} row(s) (runs {runs})"


def checks_of(contract: Contract) -> list[DataTest]:
    """The generic tests every stored view gets (key unique and not null; run_id known to runs) plus its own."""
    key = ", ".join(f'"{k}"' for k in contract.key)
    required = [k for k in contract.key if k not in contract.nullable]
    checks = [DataTest(f"key ({', '.join(contract.key)}) is unique",
                       f"SELECT any_value(run_id) AS run_id FROM {contract.view} GROUP BY {key} HAVING count(*) > 1")]
    if required:
        nulls = " OR ".join(f'"{c}" IS NULL' for c in required)
        checks.append(DataTest(f"{', '.join(required)} not null", f"SELECT run_id FROM {contract.view} WHERE {nulls}"))
    if contract.view != "runs":
        checks.append(DataTest("every run_id is in runs",
                               f"SELECT run_id FROM {contract.view} WHERE run_id NOT IN (SELECT run_id FROM runs)"))
    return checks + list(contract.tests)


def run_data_tests(con, views: list[str] | None = None) -> list[Failure]:
    """Run every data test of the contracts on a connection with the views; return the failures."""
    failures = []
    for contract in contracts().values():
        if not contract.stored or (views and contract.view not in views):
            continue
        for check in checks_of(contract):
            rows = con.sql(f"SELECT run_id FROM ({check.fails_when})").fetchall()
            if rows:
                ids = tuple(sorted({str(r[0]) for r in rows}))
                failures.append(Failure(contract.view, check.name, len(rows), ids))
    return failures


def criterion_meanings() -> dict[str, str]:
    """The meaning of each registered criterion's source column (for the ``criteria`` view)."""
    from pipeline.criteria import CRITERIA

    meanings = {}
    for c in CRITERIA.values():
        source = contracts().get(c.source or "")
        column = next((col for col in source.columns if col.name == c.sql), None) if source else None
        if column:
            meanings[c.name] = column.meaning
    return meanings


INTRO = """\
# The warehouse: layout, checkpoint format, views and columns

<!-- generated from sql/contracts/*.yml by `python -m store.contract > docs/warehouse.md`; edit those files -->

Everything neuroninfo makes lives in one warehouse: a folder (default `./warehouse`, or
`--warehouse DIR`, or `$NEURONINFO_WAREHOUSE`) or an fsspec URL such as `s3://bucket/prefix`.

```
warehouse/
  warehouse.json                       format version (4)
  catalog.duckdb                       views over everything below, for your own DuckDB sessions (rebuilt at will)
  checkpoints/<run_id>.safetensors     weights + the spec JSON in the safetensors metadata (+ .manifest.json)
  activations/<run_id>.zarr/           Zarr v3: per split (val, test) labels, raw outputs and codes per layer; train_mean
  tables/<table>/run_id=<id>/data.parquet   one run's rows as a stage wrote them (+ data.parquet.manifest.json: size, SHA-256,
                                       parameters, schema): the tail, until compaction moves it into a segment
  tables/<table>/_segments/L<level>-<version>-<random>.parquet   compacted: many runs' rows, run_id a column, sorted by it
                                       (+ .manifest.json: each run's own record, so its checksum and parameters survive)
  tables/_index/<version>.json         the compaction commits: every table's segments (file, size, SHA-256, runs)
  reports/<name>.html (+ .png)         self-contained reports (open offline)
  inbox/                               drop checkpoints here for reanalyze; inbox/done/ and inbox/rejected/ are reserved;
                                       a sub-folder inbox/<name>/ with a spec.json is a batch of its own
```

`run_id` is the first 16 hex digits of the SHA-256 of the checkpoint file's bytes: the same weights
always get the same id, so every step is idempotent and re-analysis never duplicates rows.

A run's rows of a table are its tail file when it has one (a stage that writes the run again writes a
new tail file, which replaces the run's rows in segments), else the newest segment holding the run.
`neuroninfo compact` (and every flow, once a table has 32 settled tail files) moves tail files into
segments, so a query lists, checks and binds about the same number of files at 10,000 runs as at one;
`neuroninfo rm`, `verify [--repair]` and `gc` work on compacted runs as on the others. How, and what it
costs: [scaling.md](scaling.md#a-warehouse-that-grows).

## Checkpoint format (public: drop your own into `inbox/`)

A safetensors file whose tensors are `linear.{i}.weight` (shape out × in) and `linear.{i}.bias` for
the i-th Linear layer (0-based; the last one is the output layer) and, with batch norm,
`bn.{i}.weight|bias|running_mean|running_var` for the norm after linear i. Its metadata key `spec`
is JSON with at least `dataset`, `input_dim`, `n_classes`, `hidden_sizes`, and optionally
`activation` (`relu`|`sigmoid`), `regularizer` (`none`|`l2`|`dropout`|`dropout_bn`), `dropout`,
`weight_decay`, `seed`, `epochs`, `lr`, `momentum`, `batch_size`, `n_val`. Hidden layer l (1-based) is
the output of linear l-1 after its (batch norm and) activation. The spec is checked against the
tensor shapes before anything is loaded. Checkpoints as people save them (a `torch.save`d state_dict,
safetensors without the metadata, layers named `0.`, `fc1`, `layers.0`, ...) are converted into this
format by `neuroninfo import` and the inbox ([python.md](python.md)); the `imports` view records where
they came from.

## Views

Layers are numbered 1..L over hidden layers, neurons 0..M-1 within a layer, classes 0..K-1.
Information measures are in bits (log base 2), estimated on the **validation** split; ablation curves
use the **test** split. Exact definitions: [measures.md](measures.md). Each view lists its grain,
its key and the data tests that `neuroninfo verify --data-tests` (and the test suite) run on it; a
stored view also gets: key unique, key not null, every run_id in `runs`.
"""


def markdown() -> str:
    """docs/warehouse.md: the fixed introduction, then one section per view from its contract, ``runs``
    first and then in the views' creation order."""
    from store.views import view_order  # store.views reads the contracts

    found = contracts()
    order = ["runs", *view_order(), *found]
    parts = [INTRO]
    for c in (found[v] for v in dict.fromkeys(order) if v in found):
        parts.append(f"\n### `{c.view}`\n\nGrain: {c.grain}. Key: ({', '.join(c.key)}).\n\n"
                     "| column | type | unit | meaning |\n|---|---|---|---|\n")
        parts.append("".join(f"| {col.name} | {col.type} | {col.unit} | {col.meaning} |\n" for col in c.columns))
        if c.tests:
            parts.append("\nData tests: " + "; ".join(t.name for t in c.tests) + ".\n")
    return "".join(parts) + criteria_markdown()


def criteria_markdown() -> str:
    """The criterion registry (pipeline/criteria.py) as a table: what ``measure`` may say everywhere."""
    from pipeline.criteria import CRITERIA

    meanings = criterion_meanings()
    rows = "".join(f"| {c.name} | {c.kind} | {c.source or ''} | {'yes' if c.per_bits else 'no'} | {c.requires or ''} | "
                   f"{(c.meaning or meanings.get(c.name, '')).replace('|', chr(92) + '|')} |\n" for c in CRITERIA.values())
    return ("\n## Criteria\n\nThe criteria neurons are ranked, ablated and pruned by (the view `criteria`; declared once each in "
            "`pipeline/criteria.py`). `requires`: the verb that must have run on a run before it can be ranked by the "
            "criterion; `ablate` and `prune-sweep` take every criterion a run has unless `--measures` says otherwise.\n\n"
            "| measure | kind | source | per bits | requires | meaning |\n|---|---|---|---|---|---|\n" + rows)


if __name__ == "__main__":
    sys.stdout.write(markdown())
