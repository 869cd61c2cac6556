"""The Fashion-MNIST trajectories behind docs/trajectories.md ("What the trajectories show").

    neuroninfo train-and-measure --activations relu,sigmoid --regularizers none --seeds 0,1,2 \
        --checkpoint-epochs log --measures mutual_info --scopes layer --random-repeats 3 --warehouse W
    python bench/trajectory_science.py --warehouse W

Prints, per activation, layer and bits, the epochs' mean per-unit H(T) and I(T;Y) over the seeds (the
information plane), whether H(T) falls after its peak by more than the seeds spread (a compression phase),
and per epoch the layer-wise ablation gaps at 1 bit: does low-MI-first hurt less than random, high-MI-first
more (bench/trajectory_science.sql)?
"""
from __future__ import annotations

import argparse
from pathlib import Path

from store.paths import open_warehouse
from store.sandbox import query

HERE = Path(__file__).parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--warehouse", required=True)
    args = parser.parse_args()
    rows = query(open_warehouse(args.warehouse, create=False), (HERE / "trajectory_science.sql").read_text()).to_pylist()
    print("| activation | layer | bits | H(T) by epoch (mean over seeds) | I(T;Y) by epoch | peak H(T) after epoch 0 at | "
          "last - that peak (seed range of the last) | compression after fitting? |")
    print("|---|---:|---:|---|---|---:|---:|---|")
    keys = sorted({(r["activation"], r["layer"], r["bits"]) for r in rows})
    for key in keys:
        series = [r for r in rows if (r["activation"], r["layer"], r["bits"]) == key]
        trained = [r for r in series if r["epoch"] > 0] or series
        peak = max(trained, key=lambda r: r["h_t"])  # the end of a fitting phase, if H(T) rises first
        last = series[-1]
        drop = last["h_t"] - peak["h_t"]
        spread = last["h_t_max"] - last["h_t_min"]
        verdict = "yes" if peak is not last and -drop > max(spread, 0.01) else "no"
        print(f"| {key[0]} | {key[1]} | {key[2]} | " + ", ".join(f"{r['epoch']}: {r['h_t']:.3f}" for r in series)
              + " | " + ", ".join(f"{r['epoch']}: {r['i_ty']:.3f}" for r in series)
              + f" | {peak['epoch']} | {drop:+.3f} ({last['h_t_min']:.3f}-{last['h_t_max']:.3f}) | {verdict} |")
    print("\n| activation | layer | epoch | test error | AUC(random) - AUC(low MI first) [seed range] | "
          "AUC(high MI first) - AUC(random) [seed range] |")
    print("|---|---:|---:|---:|---|---|")
    for r in rows:
        if r["bits"] == 1 and r["low_gain"] is not None:
            print(f"| {r['activation']} | {r['layer']} | {r['epoch']} | {r['test_error']:.4f} | {r['low_gain']:+.4f} "
                  f"[{r['low_gain_min']:+.4f}, {r['low_gain_max']:+.4f}] | {r['high_loss']:+.4f} "
                  f"[{r['high_loss_min']:+.4f}, {r['high_loss_max']:+.4f}] |")


if __name__ == "__main__":
    main()
