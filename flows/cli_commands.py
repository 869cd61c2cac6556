"""The CLI's verbs: each ``cmd_<verb>(args)`` runs one stage, flow or query (imports stay inside: a verb
loads only what it needs, and Prefect only when it runs a flow). A verb's return value is printed: a run_id
last, or an exit status."""
from __future__ import annotations

import json
import sys
from contextlib import contextmanager

from flows.cli_output import format_table, print_summary, print_verdicts
from flows.serve_local import private_server
from pipeline.errors import NeuronInfoError


def cmd_train(args) -> str:
    from flows.grid import say_adapted_n_val
    from flows.stages import train_run
    from pipeline.data import dataset_shape
    from pipeline.spec import preset_spec

    input_dim, n_classes = dataset_shape(args.dataset)
    spec = preset_spec(
        args.dataset, input_dim, n_classes, activation=args.activation, regularizer=args.regularizer,
        seed=args.seed, preset=args.preset, hidden_sizes=args.hidden, epochs=args.epochs, lr=args.lr,
        n_val=args.n_val, inputs=args.inputs, arch=args.arch,
        arch_kwargs=json.loads(args.arch_kwargs) if args.arch_kwargs else None,
        **({"dropout": args.dropout} if args.dropout is not None else {}),
        **({"weight_decay": args.weight_decay} if args.weight_decay is not None else {}),
    )
    wh = _warehouse(args)  # a bad --warehouse is the one line, before any note
    device = _device(args)
    say_adapted_n_val(spec, args.n_val)
    if args.checkpoint_epochs or args.checkpoint_every:
        from flows.trajectories import train_trajectory
        from pipeline.trajectory import checkpoint_epochs

        kept = checkpoint_epochs(spec.epochs, args.checkpoint_epochs or (), args.checkpoint_every)
        return train_trajectory(wh, spec, kept, args.data_dir, device=device)[spec.epochs]
    return train_run(wh, spec, args.data_dir, device=device)


def cmd_capture(args) -> str:
    from flows.stages import capture_run

    return capture_run(_warehouse(args), args.run_id, args.bits, args.method, args.data_dir, args.splits, _device(args),
                       args.layers, args.reducer)


def cmd_measure(args) -> str:
    from flows.stages import measure_run

    return measure_run(_warehouse(args), args.run_id, force=True)


def cmd_estimate(args) -> str:
    from flows.stages import estimate_run
    from pipeline.options import EstimateSpec

    try:
        spec = EstimateSpec(args.intervals, args.resamples, args.shuffles, args.permutations)
    except ValueError as e:
        raise NeuronInfoError(f"estimate: {e}") from None
    return estimate_run(_warehouse(args), args.run_id, spec, force=True)


def cmd_pairs(args) -> str:
    from flows.stages import pairs_run

    wh = _warehouse(args)
    if args.task_runner == "threads" and not args.dask_address:
        return pairs_run(wh, args.run_id, args.bits, args.top, args.across_layers, force=True, workers=args.workers)
    with dask_client(args.dask_address, args.workers) as client:
        return pairs_run(wh, args.run_id, args.bits, args.top, args.across_layers, force=True,
                         executor=client.get_executor())


@contextmanager
def dask_client(address: str | None, workers: int | None):
    """A Dask client of the cluster at ``address``, or of a local cluster of ``workers`` single-threaded processes."""
    from distributed import Client, LocalCluster

    if address:
        if workers:
            from pipeline.progress import note

            note(f"pairs: --workers {workers} is not used with --dask-address (the cluster has its own workers)")
        try:
            client = Client(address, timeout="20s")
        except OSError as e:
            raise NeuronInfoError(f"cannot reach the Dask scheduler at {address} ({e}); start one (dask scheduler) "
                                  "or leave out --dask-address for a local cluster") from None
        with client:
            yield client
        return
    from pipeline.cores import available_cores

    with LocalCluster(n_workers=workers or available_cores(), threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        yield client


def cmd_ablate(args) -> str:
    from flows.stages import ablate_run

    return ablate_run(_warehouse(args), args.run_id, args.strategy, args.random_repeats, args.steps, args.data_dir,
                      args.measures, force=True, device=_device(args), scopes=tuple(args.scopes), estimator=args.estimator)


def cmd_baselines(args) -> str:
    from flows.stages import baselines_run

    return baselines_run(_warehouse(args), args.run_id, args.data_dir)


def cmd_prune(args) -> str:
    from flows.pruning import prune_run

    run_id, notes = prune_run(_warehouse(args), args.run_id, args.measure, args.keep, args.bits, args.scope,
                              args.strategy, args.finetune_epochs, args.data_dir)
    for note in notes:
        print(f"prune: {note}", file=sys.stderr)
    return run_id


def cmd_prune_sweep(args) -> str:
    from flows.pruning import prune_sweep_run

    return prune_sweep_run(_warehouse(args), args.run_id, args.measures, args.bits, args.keeps, args.scope,
                           args.strategy, args.finetune_epochs, args.data_dir)


def cmd_train_and_measure(args) -> None:
    from flows.grid import grid_specs
    from pipeline.ablation_checks import check_scopes
    from pipeline.criteria import check_names

    wh = _warehouse(args)  # every mistake is one line before any server starts: the warehouse, the device, the grid
    if not args.dask_address:  # a remote cluster's workers may have the GPU this machine lacks
        _device(args)
    specs = grid_specs(args.preset, args.dataset, list(args.hidden) if args.hidden else None, list(args.activations),
                       list(args.regularizers), list(args.seeds), args.epochs, args.n_val, list(args.bits),
                       list(args.strategy), args.data_dir, args.inputs, args.arch, args.arch_kwargs)
    check_names(tuple(args.measures or ()))
    check_scopes(tuple(args.scopes))
    with private_server(while_starting=_first_training(wh, specs, args)):
        return _train_and_measure(args, wh)


def _first_training(wh, specs, args):
    """Train the grid's first network while the Prefect server boots: the flow then finds it in the
    warehouse (its cache), so the server's start-up costs no wall time. Not with a remote Dask cluster."""
    from flows.stages import train_run

    if args.task_runner == "dask" or not specs:
        return None
    return lambda: train_run(wh, specs[0], args.data_dir, device=args.device)


def _train_and_measure(args, wh):
    from flows.train_and_measure import task_runner_for, train_and_measure

    flow = train_and_measure.with_options(task_runner=task_runner_for(args.task_runner, args.dask_address, args.workers))
    run_ids = flow(
        preset=args.preset, dataset=args.dataset, hidden_sizes=list(args.hidden) if args.hidden else None,
        activations=list(args.activations), regularizers=list(args.regularizers), seeds=list(args.seeds),
        epochs=args.epochs, n_val=args.n_val, bits=list(args.bits), strategies=list(args.strategy),
        random_repeats=args.random_repeats, steps=args.steps, warehouse=str(wh.root), data_dir=args.data_dir,
        inputs=args.inputs,
        device=args.device, arch=args.arch, arch_kwargs=args.arch_kwargs,
        layers=list(args.layers) if args.layers else None, reducer=args.reducer,
        measures=list(args.measures) if args.measures else None, scopes=list(args.scopes),
        checkpoint_epochs=_listed(args.checkpoint_epochs), checkpoint_every=args.checkpoint_every,
        full_epochs=_listed(args.full_epochs),
    )
    print_summary(wh, run_ids)
    return run_ids[-1] if run_ids else None


def _listed(value):
    """A parsed comma list as a flow parameter (a list; 'log' and None as they are)."""
    return list(value) if isinstance(value, tuple) else value


def cmd_paper(args) -> str:
    from flows.paper_plan import paper_plan

    wh = _warehouse(args)
    if not args.dask_address:
        _device(args)
    plan = paper_plan(list(args.datasets), list(args.seeds), args.quick, args.data_dir, tuple(args.archs))  # one line before any server
    replica = fresh_replica(wh, args.replica) if args.replicate else None
    with private_server(while_starting=_first_training(wh, plan.specs, args)):
        from flows.paper import paper_grid
        from flows.train_and_measure import task_runner_for

        flow = paper_grid.with_options(task_runner=task_runner_for(args.task_runner, args.dask_address, args.workers))
        grid = dict(datasets=list(args.datasets), seeds=list(args.seeds), quick=args.quick, data_dir=args.data_dir,
                    device=args.device, archs=list(args.archs), checkpoint_epochs=_listed(args.checkpoint_epochs),
                    checkpoint_every=args.checkpoint_every, full_epochs=_listed(args.full_epochs))
        run_ids = flow(warehouse=str(wh.root), **grid)
        if replica is not None:
            print(f"replicate: the same grid again, into the fresh warehouse {replica.root}")
            flow(warehouse=str(replica.root), **grid)
    print_summary(wh, run_ids)
    print_verdicts(wh)
    if replica is not None:
        from flows.pages import replication_page
        from store.replication import compare

        replication = compare(wh, replica)
        for line in replication.summary():
            print(f"replicate: {line}")
        print(f"replication page: {replication_page(wh, replica, replication)}")
    return run_ids[-1] if run_ids else None


def fresh_replica(wh, path: str | None):
    """The warehouse ``--replicate`` runs the grid into: ``path`` or ``<warehouse>-replica-<UTC time>``, which
    must not hold anything yet (a one-line error before any work)."""
    import time

    from store.paths import exists, list_dirs, list_files, location, open_warehouse

    path = path or f"{str(wh.root).rstrip('/')}-replica-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}"
    root = location(path)
    if exists(root) and (list_files(root) or list_dirs(root)):
        raise NeuronInfoError(f"--replica {path} is not empty: a replication needs a fresh warehouse; give a new path")
    return open_warehouse(path)


def cmd_import(args) -> str:
    from flows.api import import_checkpoint

    spec = {"dataset": args.dataset, "activation": args.activation, "regularizer": args.regularizer,
            "input_mean": args.input_mean, "input_std": args.input_std, "arch": args.arch,
            "arch_kwargs": args.arch_kwargs}
    return import_checkpoint(args.warehouse, args.file, args.data_dir, **{k: v for k, v in spec.items() if v is not None})


def cmd_export(args) -> None:
    from flows.api import export_model

    print(export_model(args.warehouse, args.run_id, args.to, args.format))


REJECTED_EXIT = 3  # reanalyze: some inbox files were rejected; verify: problems were found


def cmd_reanalyze(args) -> int:
    wh = _warehouse(args)
    with private_server():
        from flows.reanalyze import reanalyze_checkpoints

        outcomes = reanalyze_checkpoints(inbox=args.inbox, warehouse=str(wh.root), data_dir=args.data_dir, bits=list(args.bits),
                                         strategies=list(args.strategy), random_repeats=args.random_repeats, steps=args.steps,
                                         full_epochs=_listed(args.full_epochs))
    rejected = [o for o in outcomes if o["status"] == "rejected"]
    for o in rejected:
        print(f"rejected {o['file']}: {o['reason']}", file=sys.stderr)
    analysed = sum(o["status"] == "analysed" for o in outcomes)
    print(f"{analysed} analysed, {len(rejected)} rejected")
    return REJECTED_EXIT if rejected else 0


def cmd_verify(args) -> int:
    from store.verify import verify

    wh = _warehouse(args, create=False)
    found = verify(wh, list(args.run_ids) or None)
    for problem in found:
        print(problem.line())
    if args.data_tests:
        failed = data_test_failures(wh, list(args.run_ids))
        for line in failed:
            print(line)
        if failed and not found:
            print(f"{len(failed)} data test(s) failed (the files are whole: recompute the run, or report a bug)")
            return REJECTED_EXIT
    if found and args.repair:
        from flows.repair import repair_run

        by_run: dict = {}
        for problem in found:
            by_run.setdefault(problem.run_id, []).append(problem)
        left = 0
        for run_id, problems in by_run.items():
            if run_id is None:
                continue
            for line in repair_run(wh, run_id, problems, args.data_dir):
                print(line)
                left += line.startswith("still damaged") or "cannot be recomputed" in line
        print(f"{len(found)} problem(s) found, {left} left after repair")
        return REJECTED_EXIT if left else 0
    print(f"{len(found)} problem(s) found" + ("; fix derivable ones with: neuroninfo verify --repair" if found else ""))
    return REJECTED_EXIT if found else 0


def data_test_failures(wh, run_ids: list[str]) -> list[str]:
    """One line per failed data test of the column contracts (store.contract) over the views, and per result made
    from inputs that have changed since (flows.stage_registry), for these runs or all of them."""
    from flows.stage_registry import stale_results
    from store.views import memory_connection
    from store.contract import run_data_tests
    from store.verify import run_ids as all_run_ids

    con = memory_connection(wh)
    try:
        failures = run_data_tests(con)
    finally:
        con.close()
    lines = [f.line() for f in failures if not run_ids or set(f.run_ids) & set(run_ids)]
    return lines + [line for r in (run_ids or all_run_ids(wh)) for line in stale_results(wh, r)]


def cmd_rm(args) -> None:
    from store.lifecycle import remove_run

    for path in remove_run(_warehouse(args, create=False), args.run_id):
        print(f"removed {path}")


def cmd_compact(args) -> None:
    from dataclasses import replace

    from store.compaction import Policy, compact

    for name in ("settle", "grace"):
        if getattr(args, name) is not None and getattr(args, name) < 0:
            raise NeuronInfoError(f"--{name} {getattr(args, name):g} is negative; pass seconds, e.g. 300")
    policy = replace(Policy(), **{f"{name}_s": getattr(args, name) for name in ("settle", "grace") if getattr(args, name) is not None})
    lines = compact(_warehouse(args, create=False), policy, force=args.all)
    for line in lines:
        print(line)
    print(f"{len(lines)} table(s) compacted")


def cmd_gc(args) -> None:
    from store.lifecycle import gc

    removed = gc(_warehouse(args, create=False), args.older_than * 3600)
    for path in removed:
        print(f"removed {path}")
    print(f"{len(removed)} item(s) removed")


def cmd_report(args) -> None:
    from flows.pages import report_runs, write_report_of
    from store.sandbox import query
    from store.report_data import runs_of_group

    wh = _warehouse(args, create=False)
    if args.run:
        rows = query(wh, f"SELECT name FROM runs WHERE run_id = '{args.run}'").to_pylist()
        if not rows:
            raise NeuronInfoError(f"unknown run_id {args.run!r}; list runs with: neuroninfo sql \"SELECT run_id, name FROM runs\"")
        pages = [write_report_of(wh, [args.run], rows[0]["name"])]
    elif args.group:
        pages = [write_report_of(wh, runs_of_group(wh, args.group), args.group)]
    elif args.trajectories:
        from flows.pages import trajectory_pages

        pages = trajectory_pages(wh)
        if not pages:
            raise NeuronInfoError("no training has measured checkpoints yet; run: neuroninfo train --checkpoint-epochs log "
                                  "..., then capture and measure its runs (docs/trajectories.md)")
    else:
        complete = query(wh, "SELECT DISTINCT run_id FROM ablation_curves ORDER BY run_id").to_pylist()
        if not complete:
            raise NeuronInfoError("no run has ablation curves yet; run: neuroninfo train-and-measure (or ablate RUN_ID)")
        pages = report_runs(wh, [r["run_id"] for r in complete])
    for page in pages:
        print(page)


def cmd_serve(args) -> None:
    from flows.serve import serve_deployments

    serve_deployments(cron=args.cron, warehouse=args.warehouse, data_dir=args.data_dir)


def cmd_sql(args) -> None:
    from store.partitions import problems
    from store.sandbox import query

    wh = _warehouse(args, create=False)
    table = query(wh, args.query, timeout=args.timeout)
    found = problems(wh)
    if found:
        print(f"warning: {len(found)} damaged file(s) left out of the views (first: {found[0].line()}); "
              "see SELECT * FROM warehouse_problems", file=sys.stderr)
    rows = table.to_pylist()
    if args.format == "json":
        print(json.dumps(rows, default=str, indent=1))
    elif args.format == "csv":
        import pyarrow.csv as pacsv

        pacsv.write_csv(table, sys.stdout.buffer)
    else:
        print(format_table(table.column_names, rows))


def _device(args) -> str:
    """``--device`` checked against what torch has here (a one-line error otherwise), as a string."""
    from pipeline.device import resolve_device

    return str(resolve_device(args.device))


def _warehouse(args, create: bool = True):
    """The warehouse of ``--warehouse``: upgraded, crash leftovers removed, catalog current. Read verbs
    pass ``create=False`` and never make one."""
    from store.catalog import ensure_catalog
    from store.lifecycle import prepare

    wh = prepare(args.warehouse, create=create)
    ensure_catalog(wh)
    return wh
