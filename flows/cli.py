"""The ``neuroninfo`` command line: its parser and ``main`` (the verbs are flows/cli_commands.py).

Stage verbs print the run_id they worked on as the last line of standard output; bad input exits
with status 2 and a one-line message. Prefect is imported only by the verbs that run flows. Every
default comes from pipeline/options.py.
"""
from __future__ import annotations

import argparse
import os
import sys

from flows.cli_args import (DEVICE, arch_arguments, checkpoint_arguments, count, floats, inputs_argument, ints, json_object,
                            positive, unit_arguments, words)
from flows.cli_args import run_id as run_id_arg
from flows.cli_commands import (cmd_ablate, cmd_baselines, cmd_capture, cmd_compact, cmd_export, cmd_gc, cmd_import, cmd_estimate, cmd_measure,
                                cmd_pairs, cmd_paper, cmd_prune, cmd_prune_sweep, cmd_reanalyze, cmd_report, cmd_rm,
                                cmd_serve, cmd_sql, cmd_train, cmd_train_and_measure, cmd_verify)
from pipeline.errors import NeuronInfoError
from pipeline.estimators import ESTIMATORS
from pipeline.options import ANALYSIS, INTERVALS, PAPER_DATASETS, SCOPES, SERVE_CRON, SQL_TIMEOUT_S, STRATEGIES, SWEEP, EstimateSpec


def analysis_arguments(p: argparse.ArgumentParser, bits: bool = True) -> None:
    """--bits, --strategies, --random-repeats and --steps of the verbs that analyse runs."""
    if bits:
        p.add_argument("--bits", type=ints, default=ANALYSIS.bits)
    p.add_argument("--strategies", "--strategy", dest="strategy", type=words, default=ANALYSIS.strategies,
                   help=",".join(STRATEGIES))
    p.add_argument("--random-repeats", type=int, default=ANALYSIS.random_repeats)
    p.add_argument("--steps", type=int, help="evaluate a grid of N+1 k values instead of every k (default: every k; "
                   "30 for the cifar10 preset's network, where every k takes hours; N >= the neurons of a scope gives every k)")


def ranking_arguments(p: argparse.ArgumentParser) -> None:
    """--measures and --scopes: which orderings the ablation curves follow."""
    p.add_argument("--measures", type=words, help="comma-separated criteria (default: every criterion an mlp run has, "
                   "mutual_info,kl_selectivity for other networks; a note names the ones a run lacks and the verb that adds "
                   "them, e.g. pairs or baselines)")
    p.add_argument("--scopes", type=words, default=ANALYSIS.scopes, help="layer, network or both (default): rank "
                   "within each layer, over the whole network")


def build_parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    common.add_argument("--warehouse", help="warehouse directory or fsspec URL, e.g. s3://bucket/prefix (default $NEURONINFO_WAREHOUSE or ./warehouse)")
    common.add_argument("--data-dir", help="directory holding the official dataset files (default $NEURONINFO_DATA)")
    common.add_argument("--verbose", action="store_true", help="show Prefect's own log lines (hidden by default)")
    common.add_argument("--storage-options", type=json_object, help="JSON fsspec options for an object-store warehouse, e.g. "
                        "'{\"endpoint_url\": \"http://127.0.0.1:9000\"}' (default $NEURONINFO_STORAGE_OPTIONS)")

    parser = _Parser(prog="neuroninfo", description="Which neurons of a network matter, and why.")
    verbs = parser.add_subparsers(dest="verb", required=True, parser_class=_Parser)

    def verb(name: str, func, help: str, run_id: bool = False) -> argparse.ArgumentParser:
        """A sub-command with the common options (and a RUN_ID argument when ``run_id``) that ``func`` runs."""
        p = verbs.add_parser(name, parents=[common], help=help)
        if run_id:
            p.add_argument("run_id", type=run_id_arg)
        p.set_defaults(func=func)
        return p

    p = verb("train", cmd_train, "train one network and register it in `runs`")
    p.add_argument("--dataset", required=True, help="mnist | fashion-mnist | cifar10 | synthetic[-K]")
    p.add_argument("--preset", help="hyper-parameter preset (default: the dataset's own)")
    p.add_argument("--hidden", type=ints, help="hidden sizes, e.g. 300,100")
    p.add_argument("--activation", default="relu", help="relu | sigmoid")
    p.add_argument("--regularizer", default="dropout", help="none | l2 | dropout | dropout_bn (default dropout, as train-and-measure)")
    p.add_argument("--dropout", type=float, help="dropout rate (regularizers dropout, dropout_bn)")
    p.add_argument("--weight-decay", type=float, help="L2 weight decay (regularizer l2)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--lr", type=float)
    p.add_argument("--n-val", type=int, help="validation samples split off the training set (default 10000)")
    inputs_argument(p)
    arch_arguments(p)
    p.add_argument("--device", **DEVICE)
    checkpoint_arguments(p)

    p = verb("capture", cmd_capture, "store quantized hidden activations (Zarr)", run_id=True)
    p.add_argument("--bits", type=ints, default=ANALYSIS.bits)
    p.add_argument("--method", default=ANALYSIS.method, help="uniform (default: reduced units of other networks "
                   "take unit_quantile) | quantile | unit_quantile")
    p.add_argument("--splits", type=words, default=("val", "test"))
    unit_arguments(p)
    p.add_argument("--device", **DEVICE)

    verb("measure", cmd_measure, "counts + neuron_stats + specific_info (DuckDB SQL)", run_id=True)

    p = verb("estimate", cmd_estimate, "measure_estimates: bias-corrected measures with intervals and p-values", run_id=True)
    p.add_argument("--intervals", choices=INTERVALS, default=EstimateSpec.intervals,
                   help="analytic (delta method) | bootstrap (multinomial resamples of each joint table)")
    p.add_argument("--resamples", type=int, default=EstimateSpec.resamples, help="bootstrap resamples B per table")
    p.add_argument("--shuffles", type=int, default=EstimateSpec.shuffles, help="label permutations of the shuffle estimator")
    p.add_argument("--permutations", type=int, default=EstimateSpec.permutations,
                   help="permutations behind the p-value of a small-sample table")

    p = verb("pairs", cmd_pairs, "neuron_pairs + neuron_redundancy: redundancy and synergy of neuron pairs (DuckDB SQL)", run_id=True)
    p.add_argument("--bits", type=int, default=ANALYSIS.pair_bits[0], help="quantizer bits of the codes (captured before)")
    p.add_argument("--top", type=int, help="only the N neurons of each layer with the highest mutual_info")
    p.add_argument("--across-layers", action="store_true", help="also pair neurons of different layers")
    p.add_argument("--task-runner", choices=("threads", "dask"), default="threads",
                   help="threads in this process, or the blocks of pairs as tasks on Dask worker processes")
    p.add_argument("--dask-address", help="scheduler address of a running Dask cluster (implies --task-runner dask; "
                   "default: a local one)")
    p.add_argument("--workers", type=count, help="threads, or local Dask worker processes (default: the available cores)")

    p = verb("ablate", cmd_ablate, "cumulative ablation curves on the test split", run_id=True)
    analysis_arguments(p, bits=False)
    ranking_arguments(p)
    p.add_argument("--estimator", choices=ESTIMATORS, default="plugin", help="rank by the values of this estimator "
                   "(measure_estimates, written by neuroninfo estimate): plugin (default) or a bias-corrected one; only the "
                   "information measures come corrected")
    p.add_argument("--device", **DEVICE)

    verb("baselines", cmd_baselines, "the usual pruning criteria per neuron (neuron_baselines)", run_id=True)

    p = verb("prune", cmd_prune, "cut the least important neurons; register the smaller network", run_id=True)
    p.add_argument("--measure", required=True, help="information measure or baseline criterion, e.g. mutual_info, taylor")
    p.add_argument("--bits", type=int, default=SWEEP.bits, help=f"quantizer bits of a per-bits criterion (default {SWEEP.bits})")
    p.add_argument("--keep", type=float, required=True, help="fraction of hidden neurons to keep, e.g. 0.5")
    p.add_argument("--scope", choices=SCOPES, default=SWEEP.scope)
    p.add_argument("--strategy", choices=STRATEGIES, default=SWEEP.strategy)
    p.add_argument("--finetune-epochs", type=int, default=0)

    p = verb("prune-sweep", cmd_prune_sweep, "pruning_curves: test error vs kept fraction per criterion", run_id=True)
    p.add_argument("--measures", type=words, help="criteria (default: every criterion the run has, and random)")
    p.add_argument("--bits", type=int, default=SWEEP.bits)
    p.add_argument("--keeps", type=floats, default=SWEEP.keeps)
    p.add_argument("--scope", choices=SCOPES, default=SWEEP.scope)
    p.add_argument("--strategy", choices=STRATEGIES, default=SWEEP.strategy)
    p.add_argument("--finetune-epochs", type=ints, default=SWEEP.finetune_epochs, help="e.g. 0,1")

    p = verb("train-and-measure", cmd_train_and_measure, "the whole flow over a grid (Prefect)")
    p.add_argument("--preset", default="fashion-mnist")
    p.add_argument("--dataset", help="default: the preset's dataset")
    p.add_argument("--hidden", type=ints)
    p.add_argument("--activations", type=words, default=("relu",))
    p.add_argument("--regularizers", type=words, default=("dropout",))
    p.add_argument("--seeds", type=ints, default=(0,))
    p.add_argument("--epochs", type=int, help="default: the preset's (make run passes 5)")
    p.add_argument("--n-val", type=int)
    analysis_arguments(p)
    ranking_arguments(p)
    p.add_argument("--task-runner", choices=("threads", "dask"), default="threads")
    p.add_argument("--dask-address", help="scheduler address of a running Dask cluster, e.g. tcp://10.0.0.5:8786")
    p.add_argument("--workers", type=count, default=2, help="threads (or local Dask workers)")
    inputs_argument(p)
    arch_arguments(p)
    unit_arguments(p)
    p.add_argument("--device", **DEVICE)
    checkpoint_arguments(p, analysed=True)

    p = verb("paper", cmd_paper, "the paper's whole grid, then its claims scorecard (Prefect)")
    p.add_argument("--datasets", type=words, default=PAPER_DATASETS,
                   help="default mnist,fashion-mnist,cifar10: those whose files are missing are skipped with a line")
    p.add_argument("--seeds", type=ints, default=(0, 1, 2))
    p.add_argument("--quick", action="store_true", help="2 epochs, the first seed, a 20-step k-grid: minutes per dataset")
    p.add_argument("--replicate", action="store_true", help="then run the grid again into a fresh warehouse "
                   "(--replica) and report, cell by cell, whether checkpoints, table files and verdicts are identical")
    p.add_argument("--replica", help="the fresh warehouse of --replicate (default: <warehouse>-replica-<time>)")
    p.add_argument("--archs", type=words, default=("mlp",), help="architectures of the grid: mlp (default, the "
                   "study's), cnn, vit, e.g. mlp,cnn,vit (docs/units.md)")
    p.add_argument("--device", **DEVICE)
    p.add_argument("--task-runner", choices=("threads", "dask"), default="threads")
    p.add_argument("--dask-address", help="scheduler address of a running Dask cluster")
    p.add_argument("--workers", type=count, default=2, help="threads (or local Dask workers)")
    checkpoint_arguments(p, analysed=True)

    p = verb("reanalyze", cmd_reanalyze, "analyse checkpoints dropped into the inbox")
    p.add_argument("--inbox", help="default: <warehouse>/inbox")
    analysis_arguments(p)
    p.add_argument("--full-epochs", type=ints, help="epochs of a trajectory (a sidecar names its training and epoch) that "
                   "also get pairs and ablation (default: 0 and the powers of two); the others are measured only")

    p = verb("import", cmd_import, "register a checkpoint as people save it (.pt/.pth state_dict, safetensors)")
    p.add_argument("file", help="a .safetensors, .pt or .pth file (a sidecar <file>.json or <stem>.json beside it is read)")
    p.add_argument("--dataset", help="the dataset it was trained on (unless its spec metadata or sidecar says)")
    p.add_argument("--activation", help="relu | sigmoid (unless its spec metadata or sidecar says)")
    p.add_argument("--regularizer", help="none | l2 | dropout (dropout_bn is inferred from batch norm tensors)")
    p.add_argument("--input-mean", type=floats, help="per-channel input mean the network was trained with, e.g. 0.1307")
    p.add_argument("--input-std", type=floats, help="per-channel input std, e.g. 0.3081")
    p.add_argument("--arch", help="the architecture whose state_dict it is: cnn, vit, torchvision:NAME (e.g. "
                   "torchvision:resnet18) or package.module:Class (default: an mlp, inferred from the tensors)")
    p.add_argument("--arch-kwargs", type=json_object, help="JSON keyword arguments of the architecture's builder")

    p = verb("export", cmd_export, "write a run as a plain nn.Sequential state_dict", run_id=True)
    p.add_argument("--to", required=True, help="the file to write")
    p.add_argument("--format", choices=("safetensors", "torch"), default="safetensors")

    p = verb("report", cmd_report, "render reports/*.html (one run, one group, or every group)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--run", type=run_id_arg, help="a run_id: its own page, named after the run")
    which.add_argument("--group", help="a runs.group_name: curves averaged over its seeds")
    which.add_argument("--trajectories", action="store_true", help="the trajectory page of every training configuration "
                       "with kept checkpoints (docs/trajectories.md)")

    p = verb("serve", cmd_serve, "serve the Prefect deployments (schedules on)")
    p.add_argument("--cron", default=SERVE_CRON, help="schedule of reanalyze-checkpoints/scheduled")

    p = verb("sql", cmd_sql, "read-only SQL over the public views (sandboxed)")
    p.add_argument("query")
    p.add_argument("--format", choices=("table", "csv", "json"), default="table")
    p.add_argument("--timeout", type=positive, default=SQL_TIMEOUT_S, help=f"stop the query after this many seconds (default {SQL_TIMEOUT_S:g})")

    p = verb("verify", cmd_verify, "check every file against its checksum; --repair recomputes derived data")
    p.add_argument("run_ids", nargs="*", type=run_id_arg, metavar="RUN_ID")
    p.add_argument("--repair", action="store_true", help="recompute damaged derived data (activations, tables)")
    p.add_argument("--data-tests", action="store_true", help="also run the views' data tests (sql/contracts/*.yml)")

    verb("rm", cmd_rm, "delete a run and everything derived from it", run_id=True)

    p = verb("compact", cmd_compact, "move settled per-run table files into compacted segments (docs/scaling.md)")
    p.add_argument("--all", action="store_true", help="move every settled file, however few (default: a table's once it "
                   "has 32; the flows compact that way after their runs)")
    p.add_argument("--settle", type=float, default=None, help="move only files written more than SECONDS ago (default 300: "
                   "a stage may still be writing its run)")
    p.add_argument("--grace", type=float, default=None, help="keep moved files and merged segments SECONDS for readers "
                   "that listed them before (default 600; a later compact or gc deletes them)")

    p = verb("gc", cmd_gc, "remove crash leftovers, old rejected inbox files and retired compacted segments")
    p.add_argument("--older-than", type=positive, default=24.0, help="age in hours (default 24)")
    return parser


class _Parser(argparse.ArgumentParser):
    """Usage mistakes as one line (argparse's default prints the usage block first)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}; see: {self.prog} --help\n")


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
    args = build_parser().parse_args(argv)
    if args.storage_options:  # through the environment: flow subprocesses and Dask workers inherit it
        os.environ["NEURONINFO_STORAGE_OPTIONS"] = args.storage_options
    if args.verb == "serve":  # served flow runs (its subprocesses) log progress to the Prefect UI at INFO
        os.environ.pop("NEURONINFO_CLI", None)
        os.environ["PREFECT_LOGGING_LEVEL"] = "DEBUG" if args.verbose else "INFO"
    else:
        os.environ["NEURONINFO_CLI"] = "1"  # progress lines print here (flows.train_and_measure.progress_to_run_log)
        if not args.verbose:  # Prefect's per-task chatter; its warnings and errors still show
            os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    from store.sandbox import QueryInterrupted

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
