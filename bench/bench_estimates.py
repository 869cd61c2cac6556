"""What the estimators cost: an analysis's measure stage before (measure, then the catalog refreshed) vs now
(measure, then estimate: corrections, analytic intervals, p-values, then the catalog refreshed) on one
network, in one run; and the bootstrap's cost per resample.

    python bench/bench_estimates.py [--repeats 5] [--resamples 50]

Network: the fashion-mnist preset (784-300-100, seeded random weights, so every neuron's table is
non-trivial) on Fashion-MNIST's 10,000 validation samples, bits 1, 2, 3, captured once. Each round times
the reference (``measure_run``: the plug-in measures, as every flow ran them before) and then what the flows
run now (``measure_run(refresh=False)`` + ``estimate_run``, default options); medians (min-max) after a
warm-up. Goal: now <= 2x before. Then ``estimate --intervals bootstrap`` at B = --resamples, timed once:
seconds per resample.
"""
import argparse
from dataclasses import replace
import os
import statistics
import tempfile
import time

import torch

from flows.stages import capture_run, estimate_run, measure_run, register_run
from flows.run_data import data_of
from pipeline.model import MLP
from pipeline.options import EstimateSpec
from pipeline.spec import preset_spec
from store.checkpoints import save_checkpoint
from store.paths import open_warehouse


def timed(fn, *args, **kwargs) -> float:
    started = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--resamples", type=int, default=50)
    args = parser.parse_args()
    # apt-get install dataset-fashion-mnist; [0, 1] inputs: random weights need no input statistics
    spec = replace(preset_spec("fashion-mnist", 784, 10, regularizer="dropout"), inputs="unit")
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        wh = open_warehouse(tmp)
        model = MLP(spec).eval()
        run_id = save_checkpoint(wh, model)
        register_run(wh, run_id, model, data_of(spec, None))
        capture_run(wh, run_id, (1, 2, 3))
        measure_run(wh, run_id, force=True)  # warm-up
        estimate_run(wh, run_id, force=True)
        measure_s, estimate_s = [], []
        for _ in range(args.repeats):
            measure_s.append(timed(measure_run, wh, run_id, force=True))
            estimate_s.append(timed(measure_run, wh, run_id, force=True, refresh=False)
                              + timed(estimate_run, wh, run_id, force=True))
        boot = timed(estimate_run, wh, run_id, EstimateSpec(intervals="bootstrap", resamples=args.resamples), force=True)
    m, e = statistics.median(measure_s), statistics.median(estimate_s)
    print(f"estimators' cost, {spec.name} on fashion-mnist (10,000 validation samples), bits 1-3, "
          f"{args.repeats} rounds, load average {os.getloadavg()[0]:.2f}")
    print(f"  before: measure (plug-in; reference): {m:.3f} s ({min(measure_s):.3f}-{max(measure_s):.3f})")
    print(f"  now: measure + estimate (4 estimators x 5 measures, analytic intervals, p-values): {e:.3f} s "
          f"({min(estimate_s):.3f}-{max(estimate_s):.3f})")
    print(f"  now / before = {e / m:.2f}x (goal <= 2x)")
    print(f"  estimate --intervals bootstrap, B = {args.resamples}: {boot:.1f} s, "
          f"{boot / args.resamples * 1000:.0f} ms per resample (all of it charged to the resamples)")


if __name__ == "__main__":
    main()
