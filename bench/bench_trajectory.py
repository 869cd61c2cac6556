"""What a trajectory costs (issue 28): 10 kept checkpoints of a 784-300-100 network against one checkpoint alone.

    python bench/bench_trajectory.py [--dataset fashion-mnist] [--epochs 9] [--bits 1,2,3]

The reference is what a user without trajectories would do for the final network: train it, capture and
measure it (fresh warehouse). The trajectory keeps epochs 0..E (E + 1 checkpoints) from the one training, then
captures and measures every one, refreshing the catalog once. Goal: trajectory <= alone + E x 1.2 x (capture
+ measure of one checkpoint). Each part is timed in the same run; the ratio is printed.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace

from flows.stages import capture_run, measure_run, train_run
from flows.trajectories import train_trajectory
from pipeline.data import dataset_shape
from pipeline.spec import preset_spec
from store.catalog import refresh_catalog
from store.paths import open_warehouse


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--epochs", type=int, default=9)
    parser.add_argument("--bits", default="1,2,3")
    args = parser.parse_args()
    bits = tuple(int(b) for b in args.bits.split(","))
    input_dim, n_classes = dataset_shape(args.dataset)
    spec = replace(preset_spec(args.dataset, input_dim, n_classes, activation="relu", regularizer="none",
                               hidden_sizes=(300, 100)), epochs=args.epochs)
    with tempfile.TemporaryDirectory() as tmp:
        alone = open_warehouse(f"{tmp}/alone")
        started = time.perf_counter()
        run_id = train_run(alone, spec, progress=False)
        trained = time.perf_counter()
        capture_run(alone, run_id, bits)
        measure_run(alone, run_id)
        done = time.perf_counter()
        t_alone, t_one = done - started, done - trained

        whole = open_warehouse(f"{tmp}/trajectory")
        started = time.perf_counter()
        runs = train_trajectory(whole, spec, tuple(range(args.epochs + 1)), progress=False)
        kept = time.perf_counter()
        for kept_run in runs.values():
            capture_run(whole, kept_run, bits, refresh=False)
            measure_run(whole, kept_run, refresh=False)
        refresh_catalog(whole)
        t_trajectory = time.perf_counter() - started
        assert runs[args.epochs] == run_id  # the last kept checkpoint is the network trained alone

    goal = t_alone + args.epochs * 1.2 * t_one
    print(f"{spec.name}, bits {args.bits}: alone {t_alone:.1f} s (train {t_alone - t_one:.1f} s, capture + measure "
          f"{t_one:.1f} s); trajectory of {len(runs)} checkpoints {t_trajectory:.1f} s (train and keep "
          f"{kept - started:.1f} s); goal {goal:.1f} s; ratio trajectory / goal {t_trajectory / goal:.2f}")


if __name__ == "__main__":
    main()
