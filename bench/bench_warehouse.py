"""A warehouse that grows: query, verify and report times at 1, 100, 1,000 and 10,000 runs, locally and on S3.

The run timed is real: the fashion-mnist preset's 784-300-100 network (seeded random weights), registered on
Fashion-MNIST, captured, measured and estimated at bits 1-3 and ablated (10 steps, for its report's curves), with
its checkpoint and activations. Every other run is synthetic:
the real run's table rows with the measures perturbed and names of their own, written through the store's own
writer (``write_partition``, one file and record per table, as the stages write them) and compacted as a daily
schedule would (``compact`` with the default policy, no settle time, after every 32 runs). The reference is the
1-run warehouse, timed in alternation with the big one (medians of ``--repeats``):

- point query: ``neuroninfo sql "SELECT * FROM neuron_stats WHERE run_id = X"`` (the CLI, a fresh process) and the
  same through the Python API (``api.connect``, every view bound, in this process);
- aggregate: mean I(T;Y) per layer and bits over every run, CLI and API;
- ``neuroninfo verify X`` and ``neuroninfo report --group G`` (the real run's group), CLI.

On S3 (moto's server on loopback: the client path, not a network) the same at 1, 100 and 1,000 runs.
Goals (issue 29): the point query at 10,000 runs within 1.5x of 1 run locally; at 1,000 runs on S3 within 2x of
1 run on S3. ``--uncompacted`` also times the largest local size before compaction (what every query paid before).
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch

TABLES = ("runs", "quantizers", "unit_layers", "counts", "neuron_stats", "specific_info")  # train + capture + measure
POINT = "SELECT * FROM neuron_stats WHERE run_id = '{run}'"
AGGREGATE = "SELECT layer, bits, avg(mutual_info) AS mean_mi, count(*) AS n FROM neuron_stats GROUP BY ALL ORDER BY ALL"
CLI = str(Path(sys.executable).with_name("neuroninfo"))


def real_run(wh) -> str:
    """The run timed: registered, captured and measured for real."""
    from flows.run_data import data_of, resolve_inputs
    from flows.stages import ablate_run, capture_run, estimate_run, measure_run, register_run
    from pipeline.model import MLP
    from pipeline.spec import preset_spec
    from store.checkpoints import save_checkpoint

    spec = resolve_inputs(preset_spec("fashion-mnist", 784, 10, regularizer="dropout"), None)
    torch.manual_seed(0)
    model = MLP(spec).eval()
    run_id = save_checkpoint(wh, model)
    register_run(wh, run_id, model, data_of(spec, None))
    capture_run(wh, run_id, (1, 2, 3))
    measure_run(wh, run_id)
    estimate_run(wh, run_id)
    ablate_run(wh, run_id, random_repeats=1, steps=10)  # the report draws its curves
    return run_id


def templates(wh, run_id: str) -> dict[str, tuple[pa.Table, dict]]:
    from store.tables import partition_params, read_partition

    return {t: (read_partition(wh, t, run_id), partition_params(wh, t, run_id)) for t in TABLES}


def synthetic(rows: pa.Table, table: str, i: int) -> pa.Table:
    """The template's rows for synthetic run ``i``: DOUBLE columns scaled by 1 +- 1 %, names of its own."""
    rng = np.random.default_rng(i)
    columns = []
    for field, column in zip(rows.schema, rows.columns):
        if pa.types.is_float64(field.type) and column.null_count == 0:
            values = column.to_numpy() * (1 + 0.01 * rng.standard_normal(len(column)))
            column = pa.array(values)
        columns.append(column)
    out = pa.table(columns, schema=rows.schema)
    if table == "runs":
        name = f"synthetic{i // 3:05d}-784x300x100-relu-dropout"
        out = out.set_column(out.schema.get_field_index("name"), "name", pa.array([f"{name}-s{i % 3}"]))
        out = out.set_column(out.schema.get_field_index("group_name"), "group_name", pa.array([name]))
        out = out.set_column(out.schema.get_field_index("seed"), "seed", pa.array([i], pa.int64()))
    return out


def grow(wh, shapes, start: int, stop: int, compact_every: int = 32) -> float:
    """Write synthetic runs start..stop-1 (compacting every ``compact_every``); return the seconds it took."""
    from store.compaction import Policy, compact
    from store.tables import write_partition

    began = time.perf_counter()
    policy = replace(Policy(), settle_s=0.0, grace_s=0.0)  # as if each compaction ran after the last one's grace period
    for i in range(start, stop):
        run_id = f"{i:016x}"
        for table, (rows, params) in shapes.items():
            write_partition(wh, table, run_id, synthetic(rows, table, i), params)
        if (i + 1) % compact_every == 0:
            compact(wh, policy)
    compact(wh, policy)
    return time.perf_counter() - began


def cli(warehouse: str, *args: str) -> float:
    began = time.perf_counter()
    done = subprocess.run([CLI, *args, "--warehouse", warehouse], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"neuroninfo {' '.join(args)} failed: {done.stderr.strip().splitlines()[-1:]}")
    return time.perf_counter() - began


def api_query(warehouse: str, sql: str) -> float:
    from flows import api

    began = time.perf_counter()
    con = api.connect(warehouse)
    con.sql(sql).to_arrow_table()
    con.close()
    return time.perf_counter() - began


def measurements(warehouse: str, run_id: str, group: str, s3: bool) -> dict[str, callable]:
    point = POINT.format(run=run_id)
    timed = {"point query (CLI)": lambda: cli(warehouse, "sql", point),
             "point query (API)": lambda: api_query(warehouse, point),
             "aggregate (CLI)": lambda: cli(warehouse, "sql", AGGREGATE),
             "aggregate (API)": lambda: api_query(warehouse, AGGREGATE),
             "verify one run": lambda: cli(warehouse, "verify", run_id)}
    if not s3:  # report pages are written to the warehouse's reports/ (local here; on S3 the same code path writes objects)
        timed["group report"] = lambda: cli(warehouse, "report", "--group", group)
    return timed


def compare(reference: str, big: str, run_id: str, group: str, repeats: int, s3: bool) -> dict[str, tuple[float, float]]:
    """Median seconds of each measurement on the reference and the big warehouse, in alternation."""
    ref, other = measurements(reference, run_id, group, s3), measurements(big, run_id, group, s3)
    times = {k: ([], []) for k in ref}
    for name in ref:
        ref[name](), other[name]()  # warm-up (page cache, imports)
        for i in range(repeats):
            pair = (0, 1) if i % 2 == 0 else (1, 0)
            for which in pair:
                times[name][which].append((ref, other)[which][name]())
    return {k: (statistics.median(a), statistics.median(b)) for k, (a, b) in times.items()}


def report(label: str, size: int, results: dict[str, tuple[float, float]], files: int) -> None:
    print(f"{label}: {size:,} runs ({files:,} files under tables/) against 1 run")
    for name, (one, big) in results.items():
        print(f"  {name:<20} 1 run {one:6.3f} s   {size:>6,} runs {big:6.3f} s   ratio {big / one:5.2f}x")


def count_files(wh) -> int:
    from store.integrity import file_sizes

    return len(file_sizes(wh.tables))


def run_sizes(root: str, sizes: list[int], repeats: int, s3: bool, uncompacted: bool) -> None:
    from store.paths import open_warehouse

    one_path, big_path = f"{root}/one", f"{root}/big"
    one, big = open_warehouse(one_path), open_warehouse(big_path)
    run_id = real_run(one)
    real_run(big)
    shapes = templates(one, run_id)
    group = shapes["runs"][0]["group_name"][0].as_py()
    have = 1
    for size in sizes:
        if size > have:
            if uncompacted and size == max(sizes) and not s3:
                from store.tables import write_partition

                for i in range(have, size):
                    for table, (rows, params) in shapes.items():
                        write_partition(big, table, f"{i:016x}", synthetic(rows, table, i), params)
                report("uncompacted", size, compare(one_path, big_path, run_id, group, repeats, s3), count_files(big))
                from store.compaction import Policy, compact

                took = time.perf_counter()
                compact(big, replace(Policy(), settle_s=0.0, grace_s=0.0))
                print(f"  (compacting {size - have:,} runs' files took {time.perf_counter() - took:.0f} s)")
            else:
                print(f"  (writing {size - have:,} synthetic runs took {grow(big, shapes, have, size):.0f} s)", flush=True)
            have = size
        report("S3 (moto)" if s3 else "local", size, compare(one_path, big_path, run_id, group, repeats, s3), count_files(big))
        sys.stdout.flush()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1,100,1000,10000")
    parser.add_argument("--s3-sizes", default="1,100,1000", help="empty: skip S3")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--work", default="bench-warehouse", help="a scratch folder (emptied first)")
    parser.add_argument("--uncompacted", action="store_true", help="also time the largest local size before compaction")
    args = parser.parse_args()
    work = Path(args.work).resolve()
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; repeats {args.repeats}")
    run_sizes(str(work), [int(s) for s in args.sizes.split(",")], args.repeats, False, args.uncompacted)
    if args.s3_sizes:
        import boto3
        from moto.server import ThreadedMotoServer

        server = ThreadedMotoServer(ip_address="127.0.0.1", port=5392, verbose=False)
        server.start()
        os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1",
                          FSSPEC_S3_ENDPOINT_URL="http://127.0.0.1:5392", AWS_ENDPOINT_URL="http://127.0.0.1:5392")
        boto3.client("s3", endpoint_url="http://127.0.0.1:5392").create_bucket(Bucket="bench")
        try:
            run_sizes("s3://bench", [int(s) for s in args.s3_sizes.split(",")], args.repeats, True, False)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
