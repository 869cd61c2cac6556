"""The ``neuroninfo`` command line (README.md, "Commands").

Stage verbs print the run_id they worked on as the last line of standard output; bad input exits
with status 2 and a one-line message. Prefect is imported only by the verbs that run flows.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

from flows.serve_local import private_server
from pipeline.errors import NeuronInfoError


def _ints(text: str) -> tuple[int, ...]:
    """Comma-separated integers, duplicates dropped (order kept); an empty list is an error."""
    try:
        values = tuple(dict.fromkeys(int(v) for v in text.split(",") if v.strip()))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError(f"expected at least one integer, got {text!r}")
    return values


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def _run_id(text: str) -> str:
    """A run_id: 16 lowercase hex digits (so it is safe in paths and SQL)."""
    if len(text) != 16 or any(c not in "0123456789abcdef" for c in text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a run_id (16 hex digits); list them with: neuroninfo sql \"SELECT run_id, name FROM runs\"")
    return text


def _words(text: str) -> tuple[str, ...]:
    """Comma-separated words, duplicates dropped (order kept); an empty list is an error."""
    values = tuple(dict.fromkeys(v.strip() for v in text.split(",") if v.strip()))
    if not values:
        raise argparse.ArgumentTypeError(f"expected at least one comma-separated value, got {text!r}")
    return values


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def cmd_train(args) -> str:
    from flows.stages import say_adapted_n_val, train_run
    from pipeline.data import dataset_shape
    from pipeline.spec import preset_spec

    input_dim, n_classes = dataset_shape(args.dataset)
    spec = preset_spec(
        args.dataset, input_dim, n_classes, activation=args.activation, regularizer=args.regularizer,
        seed=args.seed, preset=args.preset, hidden_sizes=args.hidden, epochs=args.epochs, lr=args.lr,
        n_val=args.n_val, inputs=args.inputs,
        **({"dropout": args.dropout} if args.dropout is not None else {}),
        **({"weight_decay": args.weight_decay} if args.weight_decay is not None else {}),
    )
    wh = _warehouse(args)  # a bad --warehouse is the one line, before any note
    device = _device(args)
    say_adapted_n_val(spec, args.n_val)
    return train_run(wh, spec, args.data_dir, device=device)


def cmd_capture(args) -> str:
    from flows.stages import capture_run

    return capture_run(_warehouse(args), args.run_id, args.bits, args.method, args.data_dir, args.splits, _device(args))


def cmd_measure(args) -> str:
    from flows.stages import measure_run

    return measure_run(_warehouse(args), args.run_id, force=True)


def cmd_pairs(args) -> str:
    from flows.stages import pairs_run

    return pairs_run(_warehouse(args), args.run_id, args.bits, args.top, args.across_layers, force=True)


def cmd_ablate(args) -> str:
    from flows.stages import ablate_run, MEASURES

    return ablate_run(_warehouse(args), args.run_id, args.strategy, args.random_repeats, args.steps, args.data_dir,
                      args.measures or MEASURES, force=True, device=_device(args))


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
    from flows.stages import grid_specs

    wh = _warehouse(args)  # every mistake is one line before any server starts: the warehouse, the device, the grid
    if not args.dask_address:  # a remote cluster's workers may have the GPU this machine lacks
        _device(args)
    specs = grid_specs(args.preset, args.dataset, list(args.hidden) if args.hidden else None, list(args.activations),
                       list(args.regularizers), list(args.seeds), args.epochs, args.n_val, list(args.bits),
                       list(args.strategy), args.data_dir, args.inputs)
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
        device=args.device,
    )
    print_summary(wh, run_ids)
    return run_ids[-1] if run_ids else None


def cmd_paper(args) -> str:
    from flows.paper_plan import paper_plan

    wh = _warehouse(args)
    if not args.dask_address:
        _device(args)
    plan = paper_plan(list(args.datasets), list(args.seeds), args.quick, args.data_dir)  # one line before any server
    with private_server(while_starting=_first_training(wh, plan.specs, args)):
        from flows.paper import paper_grid
        from flows.train_and_measure import task_runner_for

        flow = paper_grid.with_options(task_runner=task_runner_for(args.task_runner, args.dask_address, args.workers))
        run_ids = flow(datasets=list(args.datasets), seeds=list(args.seeds), quick=args.quick, warehouse=str(wh.root),
                       data_dir=args.data_dir, device=args.device)
    print_summary(wh, run_ids)
    print_verdicts(wh)
    return run_ids[-1] if run_ids else None


def print_verdicts(wh) -> None:
    """How many claim x configuration cells hold, are contradicted, inconclusive, or rest on one seed."""
    from store.catalog import query

    rows = query(wh, "SELECT verdict, count(*) AS n FROM scorecard GROUP BY verdict ORDER BY verdict").to_pylist()
    print("scorecard: " + ", ".join(f"{r['n']} {r['verdict']}" for r in rows))
    print(f"scorecard page: {wh.reports}/scorecard.html; table: neuroninfo sql \"SELECT * FROM scorecard\"")


def print_summary(wh, run_ids: list[str]) -> None:
    """What was made, where, and commands that run as printed, about these runs only."""
    import shlex

    from flows.stages import summary

    rows = summary(wh, run_ids)
    print(f"\ndone: {len(rows)} run(s) in {wh.root}")
    for r in rows:
        medians = ", ".join(f"{m:.3f}" for m in r["median_mi_by_layer"] or [])
        print(f"  {r['name']}  run {r['run_id']}  test error {r['test_error']:.1%}  median I(T;Y) by layer (1 bit): {medians}")
    for page in dict.fromkeys(r["report"] for r in rows):
        print(f"report: {page}")
    me = shlex.quote(sys.argv[0]) if sys.argv[0].endswith("neuroninfo") else f"{shlex.quote(sys.executable)} -m flows.cli"
    where = "" if str(wh.root) == os.path.abspath(os.environ.get("NEURONINFO_WAREHOUSE") or "warehouse") else f" --warehouse {shlex.quote(str(wh.root))}"
    ids = ", ".join(f"'{r}'" for r in run_ids)
    print("try:")
    print(f"  {me} sql \"SELECT layer, neuron, round(mutual_info, 3) AS mi, kl_class FROM neuron_stats WHERE run_id IN ({ids}) AND bits = 1 ORDER BY mutual_info DESC LIMIT 10\"{where}")
    print(f"  {me} sql \"SELECT measure, ordering, round(avg(test_error), 3) AS mean_error FROM ablation_curves WHERE run_id IN ({ids}) AND scope = 'network' AND strategy = 'zero' GROUP BY ALL ORDER BY ALL\"{where}")


def cmd_import(args) -> str:
    from flows.api import import_checkpoint

    spec = {"dataset": args.dataset, "activation": args.activation, "regularizer": args.regularizer,
            "input_mean": args.input_mean, "input_std": args.input_std}
    return import_checkpoint(args.warehouse, args.file, args.data_dir, **{k: v for k, v in spec.items() if v is not None})


def cmd_export(args) -> None:
    from flows.api import export_model

    print(export_model(args.warehouse, args.run_id, args.to, args.format))


def _floats(text: str) -> tuple[float, ...]:
    """Comma-separated numbers (one per input channel)."""
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError(f"expected at least one number, got {text!r}")
    return values


def _inputs_argument(p) -> None:
    p.add_argument("--inputs", choices=("standardized", "unit"), default="standardized",
                   help="standardized (default): per-channel mean/std of the training split, stored in the spec; "
                        "unit: the [0, 1] pixels as loaded")


REJECTED_EXIT = 3  # reanalyze: some inbox files were rejected; verify: problems were found


def cmd_reanalyze(args) -> int:
    wh = _warehouse(args)
    with private_server():
        from flows.reanalyze import reanalyze_checkpoints

        outcomes = reanalyze_checkpoints(inbox=args.inbox, warehouse=str(wh.root), data_dir=args.data_dir, bits=list(args.bits),
                                         strategies=list(args.strategy), random_repeats=args.random_repeats, steps=args.steps)
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
        for failure in failed:
            print(failure.line())
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


def data_test_failures(wh, run_ids: list[str]) -> list:
    """The column contracts' data tests (store.contract) over the views, for these runs or all of them."""
    from store.catalog import memory_connection
    from store.contract import run_data_tests

    con = memory_connection(wh)
    try:
        failures = run_data_tests(con)
    finally:
        con.close()
    return [f for f in failures if not run_ids or set(f.run_ids) & set(run_ids)]


def cmd_rm(args) -> None:
    from store.lifecycle import remove_run

    for path in remove_run(_warehouse(args, create=False), args.run_id):
        print(f"removed {path}")


def cmd_gc(args) -> None:
    from store.lifecycle import gc

    removed = gc(_warehouse(args, create=False), args.older_than * 3600)
    for path in removed:
        print(f"removed {path}")
    print(f"{len(removed)} item(s) removed")


def cmd_report(args) -> None:
    from flows.stages import report_runs, write_report_of
    from store.catalog import query
    from store.report_data import runs_of_group

    wh = _warehouse(args, create=False)
    if args.run:
        rows = query(wh, f"SELECT name FROM runs WHERE run_id = '{args.run}'").to_pylist()
        if not rows:
            raise NeuronInfoError(f"unknown run_id {args.run!r}; list runs with: neuroninfo sql \"SELECT run_id, name FROM runs\"")
        pages = [write_report_of(wh, [args.run], rows[0]["name"])]
    elif args.group:
        pages = [write_report_of(wh, runs_of_group(wh, args.group), args.group)]
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
    from store.catalog import problems, query

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


def format_table(names: list[str], rows: list[dict]) -> str:
    """A plain aligned text table."""
    def cell(v):
        return f"{v:.6g}" if isinstance(v, float) else ("NULL" if v is None else str(v))

    cells = [[cell(r[n]) for n in names] for r in rows]
    widths = [max([len(n)] + [len(c[i]) for c in cells]) for i, n in enumerate(names)]
    lines = ["  ".join(n.ljust(w) for n, w in zip(names, widths)), "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in cells]
    lines.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(lines)


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


DEVICE = dict(default="cpu", help="torch device for training, capture and ablation: cpu (default), cuda, cuda:N or mps "
              "(not part of a run's identity)")


def build_parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    common.add_argument("--warehouse", help="warehouse directory or fsspec URL, e.g. s3://bucket/prefix (default $NEURONINFO_WAREHOUSE or ./warehouse)")
    common.add_argument("--data-dir", help="directory holding the official dataset files (default $NEURONINFO_DATA)")
    common.add_argument("--verbose", action="store_true", help="show Prefect's own log lines (hidden by default)")
    common.add_argument("--storage-options", help="JSON fsspec options for an object-store warehouse, e.g. "
                        "'{\"endpoint_url\": \"http://127.0.0.1:9000\"}' (default $NEURONINFO_STORAGE_OPTIONS)")

    parser = _Parser(prog="neuroninfo", description="Which neurons of a network matter, and why.")
    verbs = parser.add_subparsers(dest="verb", required=True, parser_class=_Parser)

    def verb(name: str, func, help: str, run_id: bool = False) -> argparse.ArgumentParser:
        """A sub-command with the common options (and a RUN_ID argument when ``run_id``) that ``func`` runs."""
        p = verbs.add_parser(name, parents=[common], help=help)
        if run_id:
            p.add_argument("run_id", type=_run_id)
        p.set_defaults(func=func)
        return p

    p = verb("train", cmd_train, "train one network and register it in `runs`")
    p.add_argument("--dataset", required=True, help="mnist | fashion-mnist | cifar10 | synthetic[-K]")
    p.add_argument("--preset", help="hyper-parameter preset (default: the dataset's own)")
    p.add_argument("--hidden", type=_ints, help="hidden sizes, e.g. 300,100")
    p.add_argument("--activation", default="relu", help="relu | sigmoid")
    p.add_argument("--regularizer", default="dropout", help="none | l2 | dropout | dropout_bn (default dropout, as train-and-measure)")
    p.add_argument("--dropout", type=float, help="dropout rate (regularizers dropout, dropout_bn)")
    p.add_argument("--weight-decay", type=float, help="L2 weight decay (regularizer l2)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--lr", type=float)
    p.add_argument("--n-val", type=int, help="validation samples split off the training set (default 10000)")
    _inputs_argument(p)
    p.add_argument("--device", **DEVICE)

    p = verb("capture", cmd_capture, "store quantized hidden activations (Zarr)", run_id=True)
    p.add_argument("--bits", type=_ints, default=(1, 2, 3))
    p.add_argument("--method", default="uniform", help="uniform | quantile")
    p.add_argument("--splits", type=_words, default=("val", "test"))
    p.add_argument("--device", **DEVICE)

    verb("measure", cmd_measure, "counts + neuron_stats + specific_info (DuckDB SQL)", run_id=True)

    p = verb("pairs", cmd_pairs, "neuron_pairs + neuron_redundancy: redundancy and synergy of neuron pairs (DuckDB SQL)", run_id=True)
    p.add_argument("--bits", type=int, default=1, help="quantizer bits of the codes (captured before)")
    p.add_argument("--top", type=int, help="only the N neurons of each layer with the highest mutual_info")
    p.add_argument("--across-layers", action="store_true", help="also pair neurons of different layers")

    p = verb("ablate", cmd_ablate, "cumulative ablation curves on the test split", run_id=True)
    p.add_argument("--strategies", "--strategy", dest="strategy", type=_words, default=("zero", "mean"), help="zero,mean")
    p.add_argument("--random-repeats", type=int, default=5)
    p.add_argument("--steps", type=int, help="evaluate a grid of N+1 k values instead of every k (default: every k; "
                   "30 for the cifar10 preset's network, where every k takes hours; N >= the neurons of a scope gives every k)")
    p.add_argument("--measures", type=_words, help="comma-separated measures (default: the information measures, and the pair "
                   "aggregates once `pairs` has run; baseline criteria such as taylor need: neuroninfo baselines RUN_ID)")
    p.add_argument("--device", **DEVICE)

    verb("baselines", cmd_baselines, "the usual pruning criteria per neuron (neuron_baselines)", run_id=True)

    p = verb("prune", cmd_prune, "cut the least important neurons; register the smaller network", run_id=True)
    p.add_argument("--measure", required=True, help="information measure or baseline criterion, e.g. mutual_info, taylor")
    p.add_argument("--bits", type=int, default=1, help="quantizer bits of an information measure (default 1)")
    p.add_argument("--keep", type=float, required=True, help="fraction of hidden neurons to keep, e.g. 0.5")
    p.add_argument("--scope", choices=("layer", "network"), default="network")
    p.add_argument("--strategy", choices=("zero", "mean"), default="mean")
    p.add_argument("--finetune-epochs", type=int, default=0)

    p = verb("prune-sweep", cmd_prune_sweep, "pruning_curves: test error vs kept fraction per criterion", run_id=True)
    p.add_argument("--measures", type=_words, help="criteria (default: every information measure and baseline, and random)")
    p.add_argument("--bits", type=int, default=1)
    p.add_argument("--keeps", type=_floats, default=(0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1))
    p.add_argument("--scope", choices=("layer", "network"), default="network")
    p.add_argument("--strategy", choices=("zero", "mean"), default="mean")
    p.add_argument("--finetune-epochs", type=_ints, default=(0, 1), help="e.g. 0,1")

    p = verb("train-and-measure", cmd_train_and_measure, "the whole flow over a grid (Prefect)")
    p.add_argument("--preset", default="fashion-mnist")
    p.add_argument("--dataset", help="default: the preset's dataset")
    p.add_argument("--hidden", type=_ints)
    p.add_argument("--activations", type=_words, default=("relu",))
    p.add_argument("--regularizers", type=_words, default=("dropout",))
    p.add_argument("--seeds", type=_ints, default=(0,))
    p.add_argument("--epochs", type=int, help="default: the preset's (make run passes 5)")
    p.add_argument("--n-val", type=int)
    p.add_argument("--bits", type=_ints, default=(1, 2, 3))
    p.add_argument("--strategies", "--strategy", dest="strategy", type=_words, default=("zero", "mean"))
    p.add_argument("--random-repeats", type=int, default=5)
    p.add_argument("--steps", type=int)
    p.add_argument("--task-runner", choices=("threads", "dask"), default="threads")
    p.add_argument("--dask-address", help="scheduler address of a running Dask cluster, e.g. tcp://10.0.0.5:8786")
    p.add_argument("--workers", type=int, default=2, help="threads (or local Dask workers)")
    _inputs_argument(p)
    p.add_argument("--device", **DEVICE)

    p = verb("paper", cmd_paper, "the paper's whole grid, then its claims scorecard (Prefect)")
    p.add_argument("--datasets", type=_words, default=("mnist", "fashion-mnist", "cifar10"),
                   help="default mnist,fashion-mnist,cifar10: those whose files are missing are skipped with a line")
    p.add_argument("--seeds", type=_ints, default=(0, 1, 2))
    p.add_argument("--quick", action="store_true", help="2 epochs, the first seed, a 20-step k-grid: minutes per dataset")
    p.add_argument("--device", **DEVICE)
    p.add_argument("--task-runner", choices=("threads", "dask"), default="threads")
    p.add_argument("--dask-address", help="scheduler address of a running Dask cluster")
    p.add_argument("--workers", type=int, default=2, help="threads (or local Dask workers)")

    p = verb("reanalyze", cmd_reanalyze, "analyse checkpoints dropped into the inbox")
    p.add_argument("--inbox", help="default: <warehouse>/inbox")
    p.add_argument("--bits", type=_ints, default=(1, 2, 3))
    p.add_argument("--strategies", "--strategy", dest="strategy", type=_words, default=("zero", "mean"))
    p.add_argument("--random-repeats", type=int, default=5)
    p.add_argument("--steps", type=int)

    p = verb("import", cmd_import, "register a checkpoint as people save it (.pt/.pth state_dict, safetensors)")
    p.add_argument("file", help="a .safetensors, .pt or .pth file (a sidecar <file>.json or <stem>.json beside it is read)")
    p.add_argument("--dataset", help="the dataset it was trained on (unless its spec metadata or sidecar says)")
    p.add_argument("--activation", help="relu | sigmoid (unless its spec metadata or sidecar says)")
    p.add_argument("--regularizer", help="none | l2 | dropout (dropout_bn is inferred from batch norm tensors)")
    p.add_argument("--input-mean", type=_floats, help="per-channel input mean the network was trained with, e.g. 0.1307")
    p.add_argument("--input-std", type=_floats, help="per-channel input std, e.g. 0.3081")

    p = verb("export", cmd_export, "write a run as a plain nn.Sequential state_dict", run_id=True)
    p.add_argument("--to", required=True, help="the file to write")
    p.add_argument("--format", choices=("safetensors", "torch"), default="safetensors")

    p = verb("report", cmd_report, "render reports/*.html (one run, one group, or every group)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--run", type=_run_id, help="a run_id: its own page, named after the run")
    which.add_argument("--group", help="a runs.group_name: curves averaged over its seeds")

    p = verb("serve", cmd_serve, "serve the Prefect deployments (schedules on)")
    p.add_argument("--cron", default="*/15 * * * *", help="schedule of reanalyze-checkpoints/scheduled")

    p = verb("sql", cmd_sql, "read-only SQL over the public views (sandboxed)")
    p.add_argument("query")
    p.add_argument("--format", choices=("table", "csv", "json"), default="table")
    p.add_argument("--timeout", type=_positive, default=300.0, help="stop the query after this many seconds (default 300)")

    p = verb("verify", cmd_verify, "check every file against its checksum; --repair recomputes derived data")
    p.add_argument("run_ids", nargs="*", type=_run_id, metavar="RUN_ID")
    p.add_argument("--repair", action="store_true", help="recompute damaged derived data (activations, tables)")
    p.add_argument("--data-tests", action="store_true", help="also run the views' data tests (sql/contracts/*.yml)")

    verb("rm", cmd_rm, "delete a run and everything derived from it", run_id=True)

    p = verb("gc", cmd_gc, "remove crash leftovers and old rejected inbox files")
    p.add_argument("--older-than", type=_positive, default=24.0, help="age in hours (default 24)")
    return parser


class _Parser(argparse.ArgumentParser):
    """Usage mistakes as one line (argparse's default prints the usage block first)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}; see: {self.prog} --help\n")


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ["NEURONINFO_CLI"] = "1"  # progress lines print here (flows.train_and_measure.progress_to_run_log)
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
    args = build_parser().parse_args(argv)
    if args.storage_options:  # through the environment: flow subprocesses and Dask workers inherit it
        os.environ["NEURONINFO_STORAGE_OPTIONS"] = args.storage_options
    if not args.verbose:  # Prefect's per-task chatter; its warnings and errors still show
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    from store.catalog import QueryInterrupted

    try:
        result = args.func(args)
    except NeuronInfoError as e:
        print(f"neuroninfo {args.verb}: error: {e}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, QueryInterrupted):
        print(f"neuroninfo {args.verb}: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # a bug or an unexpected failure: one line, the traceback on request
        if os.environ.get("NEURONINFO_DEBUG"):
            raise
        text = (str(e).strip().splitlines() or [""])[0]
        print(f"neuroninfo {args.verb}: unexpected error: {type(e).__name__}: {text} (rerun with NEURONINFO_DEBUG=1 for the traceback)",
              file=sys.stderr)
        return 1
    if isinstance(result, str):
        print(result)
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
