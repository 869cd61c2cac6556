"""The ``neuroninfo`` command line (DESIGN "Commands").

Stage verbs print the run_id they worked on as the last line of standard output; bad input exits
with status 2 and a one-line message. Prefect is imported only by the verbs that run flows.
"""
from __future__ import annotations

import argparse
import json
import sys

from pipeline.errors import NeuronInfoError


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _words(text: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in text.split(",") if v.strip())


def cmd_train(args) -> str:
    from flows.stages import train_run
    from pipeline.data import dataset_shape
    from pipeline.spec import preset_spec

    input_dim, n_classes = dataset_shape(args.dataset)
    spec = preset_spec(
        args.dataset, input_dim, n_classes, activation=args.activation, regularizer=args.regularizer,
        seed=args.seed, preset=args.preset, hidden_sizes=args.hidden, epochs=args.epochs, lr=args.lr,
        n_val=args.n_val,
        **({"dropout": args.dropout} if args.dropout is not None else {}),
        **({"weight_decay": args.weight_decay} if args.weight_decay is not None else {}),
    )
    return train_run(_warehouse(args), spec, args.data_dir)


def cmd_capture(args) -> str:
    from flows.stages import capture_run

    return capture_run(_warehouse(args), args.run_id, args.bits, args.method, args.data_dir, args.splits)


def cmd_sql(args) -> None:
    from store.catalog import query

    table = query(_warehouse(args), args.query)
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


def _warehouse(args):
    from store.paths import open_warehouse

    return open_warehouse(args.warehouse)


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--warehouse", help="warehouse directory (default $NEURONINFO_WAREHOUSE or ./warehouse)")
    common.add_argument("--data-dir", help="directory holding the official dataset files (default $NEURONINFO_DATA)")

    parser = argparse.ArgumentParser(prog="neuroninfo", description="Which neurons of a network matter, and why.")
    verbs = parser.add_subparsers(dest="verb", required=True)

    p = verbs.add_parser("train", parents=[common], help="train one network and register it in `runs`")
    p.add_argument("--dataset", required=True, help="mnist | fashion-mnist | cifar10 | synthetic[-K]")
    p.add_argument("--preset", help="hyper-parameter preset (default: the dataset's own)")
    p.add_argument("--hidden", type=_ints, help="hidden sizes, e.g. 300,100")
    p.add_argument("--activation", default="relu", help="relu | sigmoid")
    p.add_argument("--regularizer", default="none", help="none | l2 | dropout | dropout_bn")
    p.add_argument("--dropout", type=float, help="dropout rate (regularizers dropout, dropout_bn)")
    p.add_argument("--weight-decay", type=float, help="L2 weight decay (regularizer l2)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--lr", type=float)
    p.add_argument("--n-val", type=int, help="validation samples split off the training set (default 10000)")
    p.set_defaults(func=cmd_train)

    p = verbs.add_parser("capture", parents=[common], help="store quantized hidden activations (Zarr)")
    p.add_argument("run_id")
    p.add_argument("--bits", type=_ints, default=(1, 2, 3))
    p.add_argument("--method", default="uniform", help="uniform | quantile")
    p.add_argument("--splits", type=_words, default=("val", "test"))
    p.set_defaults(func=cmd_capture)

    p = verbs.add_parser("sql", parents=[common], help="read-only SQL over the public views")
    p.add_argument("query")
    p.add_argument("--format", choices=("table", "csv", "json"), default="table")
    p.set_defaults(func=cmd_sql)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result = args.func(args)
    except NeuronInfoError as e:
        print(f"neuroninfo {args.verb}: error: {e}", file=sys.stderr)
        return 2
    if isinstance(result, str):
        print(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
