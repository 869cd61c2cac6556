"""Benchmark: the cumulative ablation engine against a competent baseline and a naive one, per k.

    python bench/bench_ablation.py [--quick] [--cifar-samples N] [--skip-grid] [--only mnist|cifar|grid|check]

The work is what ``neuroninfo ablate`` does for one run at full resolution: 6 measures (random
permutations stand in for the SQL rankings), each low_first and high_first (reversed), plus R=5
random orderings, x 2 strategies x (every hidden layer + the network scope).

References, timed in the same process on a strided subset of the same curves (per scope and layer,
since their cost per k differs) and extrapolated to the whole work:
- competent (the main reference): clean hidden outputs cached once; each k starts from the cached
  outputs of the lowest layer its ablated neurons touch and runs the layers above it;
- naive: a full forward pass per k with the first k neuron outputs overwritten.
The engine runs in groups of orderings with the reference points timed in between, so that load from
other processes falls on all alike; its errors are checked against both references on that subset.
Then (not with --skip-grid) the default ablation of one cifar10-preset network on a k-grid
(``--grid-steps``, default the preset's CIFAR10_STEPS) is timed on a subset of its orderings and
extrapolated to all of them.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.ablation import Ordering, ablation_curves, k_grid, random_orderings  # noqa: E402
from pipeline.ablation_schedule import CIFAR10_STEPS  # noqa: E402
from pipeline.criteria import names, per_bits  # noqa: E402
from pipeline.model import MLP  # noqa: E402
from pipeline.spec import NetworkSpec  # noqa: E402

SINGLE_NEURON_MEASURES = names("information")  # the six single-neuron information measures


def make_model(input_dim, hidden, seed=0):
    spec = NetworkSpec(dataset="bench", input_dim=input_dim, n_classes=10, hidden_sizes=hidden,
                       activation="relu", regularizer="dropout", dropout=0.2)
    torch.manual_seed(seed)
    model = MLP(spec).eval()
    with torch.no_grad():
        for lin in model.linear:
            lin.weight.mul_(2.0)
    return model


def measure_orderings(sizes, measures, seed=0):
    """Stand-in rankings: a random permutation per measure and scope, low_first and reversed high_first."""
    rng = np.random.default_rng(1000 + seed)
    flat = np.concatenate([np.stack([np.full(m, l), np.arange(m)], 1) for l, m in enumerate(sizes, start=1)])
    out = []
    for measure in measures:
        scopes = [("layer", l, flat[flat[:, 0] == l]) for l in range(1, len(sizes) + 1)] + [("network", None, flat)]
        for scope, layer, rows in scopes:
            low = rows[rng.permutation(len(rows))].astype(np.int64)
            out.append(Ordering(scope, layer, measure, 1, "low_first", 0, low))
            out.append(Ordering(scope, layer, measure, 1, "high_first", 0, low[::-1].copy()))
    return out


@torch.no_grad()
def naive_errors(model, x, y, rows, ks, means):
    """The naive reference: one full forward pass per k, the first k neuron outputs overwritten."""
    out = []
    for k in ks:
        gone = rows[:k]
        h = x
        for i in range(model.n_hidden):
            h = model.block(i, h)
            sel = torch.from_numpy(gone[gone[:, 0] == i + 1, 1])
            if len(sel):
                h[:, sel] = 0.0 if means is None else means[i][sel]
        out.append(int((model.head(h).argmax(1) != y).sum()) / len(y))
    return np.array(out)


class Competent:
    """The competent reference: clean hidden outputs computed once; each k starts from the lowest
    layer its ablated neurons touch (a clone of that layer's cached outputs) and runs the layers above."""

    @torch.no_grad()
    def __init__(self, model, x, y):
        self.model, self.y = model, y
        self.hidden, h = [], x
        for i in range(model.n_hidden):
            h = model.block(i, h)
            self.hidden.append(h)  # hidden[i] = outputs of hidden layer i + 1
        self.clean_logits = model.head(h)

    @torch.no_grad()
    def logits(self, rows, k, means):
        """The logits (samples x classes) after ablating the first k neurons of ``rows``."""
        gone = rows[:k]
        if k == 0:
            return self.clean_logits
        lowest = int(gone[:, 0].min()) - 1
        h = self.hidden[lowest].clone()
        for i in range(lowest, self.model.n_hidden):
            if i > lowest:
                h = self.model.block(i, h)
            sel = torch.from_numpy(gone[gone[:, 0] == i + 1, 1])
            if len(sel):
                h[:, sel] = 0.0 if means is None else means[i][sel].to(h.dtype)
        return self.model.head(h)

    def errors(self, rows, ks, means):
        return np.array([int((self.logits(rows, k, means).argmax(1) != self.y).sum()) / len(self.y) for k in ks])


def near_ties(reference32: Competent, reference64: Competent, rows, k, means) -> tuple[int, int]:
    """Misclassified samples in float64 at this k, and how many samples float32 rounding could flip: those
    whose float64 margin (label logit against the best other class) is below 4x the largest difference
    between the float32 and float64 logits at this k. A disagreement of the engine with a reference by at
    most that many samples is rounding (the summation order differs), not a wrong result."""
    logits64 = reference64.logits(rows, k, means)
    rounding = float((reference32.logits(rows, k, means).double() - logits64).abs().max())
    y = reference64.y
    at_label = logits64.gather(1, y[:, None])[:, 0]
    others = logits64.scatter(1, y[:, None], float("-inf")).amax(1)
    return int((logits64.argmax(1) != y).sum()), int(((at_label - others).abs() < 4 * rounding).sum())


def rounding_explains(reference32: Competent, reference64: Competent, rows, k, means, engine: int, where: str) -> bool:
    """Whether the engine's error count at this k (which differs from a float32 reference's) is within the
    float32 near-ties of float64's count; prints one line saying so."""
    errors64, ties = near_ties(reference32, reference64, rows, k, means)
    explained = abs(engine - errors64) <= ties
    print(f"  {where}: engine {engine}, float64 {errors64} misclassified; {ties} float32 near-ties there: "
          f"{'rounding' if explained else 'NOT EXPLAINED BY ROUNDING'}", flush=True)
    return explained


def make_data(input_dim, hidden, n_samples):
    g = torch.Generator().manual_seed(1)
    x = torch.rand(n_samples, input_dim, generator=g)
    y = torch.randint(0, 10, (n_samples,), generator=g)
    means = [np.random.default_rng(2 + l).uniform(0, 1, m).astype(np.float32) for l, m in enumerate(hidden)]
    return x, y, means


def run(name, input_dim, hidden, n_samples, measures, repeats, steps, points_per_curve, note, groups=8):
    """Engine vs competent vs naive on the same work; references on a strided subset, extrapolated."""
    model = make_model(input_dim, hidden)
    x, y, means_np = make_data(input_dim, hidden, n_samples)
    means_t = [torch.from_numpy(m) for m in means_np]
    orderings = measure_orderings(hidden, measures) + random_orderings(hidden, repeats)
    strategies = ("zero", "mean")
    competent = Competent(model, x, y)

    # per (scope, layer): k evaluated in the whole work, and a strided subset of one of its orderings
    evals, points = {}, []
    for o in orderings:
        group = (o.scope, o.layer)
        grid = k_grid(len(o.neurons), steps)
        if group not in evals:
            for s in strategies:
                picked = grid[np.linspace(0, len(grid) - 1, points_per_curve).round().astype(int)]
                points += [(o, s, int(k)) for k in picked]
        evals[group] = evals.get(group, 0) + len(strategies) * len(grid)
    points = [points[i] for i in np.random.default_rng(0).permutation(len(points))]
    n_evals = sum(evals.values())

    # engine and references interleaved (engine in groups of orderings, reference points in between)
    groups = min(groups, len(orderings))
    cores = torch.get_num_threads()
    engine_s = 0.0
    spent, cpu, reference = ({"naive": {}, "competent": {}, "competent_1": {}} for _ in range(3))
    engine_cpu = 0.0
    naive_errors(model, x, y, orderings[0].neurons, [1], None)  # warm-up
    competent.errors(orderings[0].neurons, [1], None)
    tables = []
    for gi in range(groups + 1):
        for o, s, k in points[gi * len(points) // (groups + 1) : (gi + 1) * len(points) // (groups + 1)]:
            means = None if s == "zero" else means_t
            for kind, method, threads in (("competent", competent.errors, cores), ("competent_1", competent.errors, 1),
                                          ("naive", lambda *a: naive_errors(model, x, y, *a), cores)):
                torch.set_num_threads(threads)
                t0, c0 = time.perf_counter(), time.process_time()
                reference[kind][(id(o), s, k)] = method(o.neurons, [k], means)[0]
                spent[kind].setdefault((o.scope, o.layer), []).append(time.perf_counter() - t0)
                cpu[kind].setdefault((o.scope, o.layer), []).append(time.process_time() - c0)
            torch.set_num_threads(cores)
        if gi < groups:
            part = orderings[gi * len(orderings) // groups : (gi + 1) * len(orderings) // groups]
            t0, c0 = time.perf_counter(), time.process_time()
            tables.append(ablation_curves(model, x, y, part, strategies, means_np, steps=steps))
            engine_s += time.perf_counter() - t0
            engine_cpu += time.process_time() - c0
    table = pa.concat_tables(tables)
    assert table.num_rows == n_evals

    rows = table.to_pydict()
    mine = {}
    for i in range(table.num_rows):
        key = (rows["scope"][i], rows["layer"][i], rows["measure"][i], rows["ordering"][i], rows["strategy"][i],
               rows["repeat"][i], rows["n_ablated"][i])
        mine[key] = rows["test_error"][i]
    by_id = {id(o): o for o in orderings}

    def engine_errors(oid, s, k):
        o = by_id[oid]
        return round(mine[(o.scope, o.layer, o.measure, o.ordering, s, o.repeat, k)] * n_samples)

    result = dict(name=name, note=note, samples=n_samples, curves=len(orderings) * len(strategies), evals=n_evals,
                  engine_s=engine_s, engine_cpu=engine_cpu, points=len(points), disagreements=[], unexplained=0)
    for kind in ("competent", "competent_1", "naive"):
        differ = {point: engine_errors(*point) - round(e * n_samples) for point, e in reference[kind].items()}
        total = sum(np.mean(spent[kind][group]) * n for group, n in evals.items())
        result[kind] = dict(seconds=total, ratio=total / engine_s, differ=max(map(abs, differ.values())),
                            per_k_ms={group: 1e3 * np.mean(t) for group, t in spent[kind].items()})
        result["disagreements"] += [(kind, point) for point, d in differ.items() if d]
    if result["disagreements"]:  # explained by float32 rounding only if float64 sits within the near-ties
        model64 = make_model(input_dim, hidden).double()
        competent64 = Competent(model64, x.double(), y)
        for kind, (oid, s, k) in result["disagreements"]:
            o = by_id[oid]
            where = (f"{name}: {kind} {round(reference[kind][(oid, s, k)] * n_samples)} at {o.scope} {o.layer or ''} "
                     f"{o.ordering} {s} k={k}")
            result["unexplained"] += not rounding_explains(competent, competent64, o.neurons, k,
                                                            None if s == "zero" else means_t, engine_errors(oid, s, k), where)
    # the competent reference at its best: torch's threads on every core, or one thread per core with
    # the curves split over the cores (perfect scaling assumed: one-thread time / cores)
    best = min(result["competent"]["seconds"], result["competent_1"]["seconds"] / cores)
    result["best"] = dict(seconds=best, ratio=best / engine_s)
    # CPU seconds, which load from other processes inflates far less than wall-clock seconds: the
    # one-thread competent reference against the engine's CPU time (all its threads)
    cpu_1 = sum(np.mean(cpu["competent_1"][group]) * n for group, n in evals.items())
    result["cpu"] = dict(seconds=cpu_1, ratio=cpu_1 / engine_cpu)
    return result


# rankings of the default ablation (flows/stages.rankings): each quantized measure at bits 1-3, the
# unquantized ones once, the pair aggregates at the default pair bits (1)
DEFAULT_RANKINGS = sum(3 if per_bits(m) else 1 for m in names("information")) + len(names("pair_aggregate"))


def default_grid_ablation(n_samples, steps, measure_subset=1):
    """The default ablation of one cifar10-preset network on a k-grid: DEFAULT_RANKINGS (20) rankings x
    low/high + R=5 random, x 2 strategies x (4 layers + network) = 450 curves. Times the orderings of
    ``measure_subset`` rankings (low + high) and one random repeat, per scope and layer, and
    extrapolates to all orderings; full resolution (every k) from the same per-point costs."""
    hidden = (1024, 512, 512, 512)
    model = make_model(3072, hidden)
    x, y, means = make_data(3072, hidden, n_samples)
    timed = measure_orderings(hidden, SINGLE_NEURON_MEASURES[:measure_subset]) + random_orderings(hidden, 1)
    scale = (DEFAULT_RANKINGS * 2 + 5) / (2 * measure_subset + 1)  # all ordering sets / timed ones
    out = dict(seconds=0.0, cpu=0.0, all_seconds=0.0, all_cpu=0.0, full_cpu=0.0, timed=len(timed))
    for group in dict.fromkeys((o.scope, o.layer) for o in timed):
        part = [o for o in timed if (o.scope, o.layer) == group]
        t0, c0 = time.perf_counter(), time.process_time()
        ablation_curves(model, x, y, part, ("zero", "mean"), means, steps=steps)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        n = len(part[0].neurons)
        out["seconds"] += wall
        out["cpu"] += cpu
        out["all_seconds"] += wall * scale
        out["all_cpu"] += cpu * scale
        out["full_cpu"] += cpu * scale * (n + 1) / len(k_grid(n, steps))
    out["orderings"] = (DEFAULT_RANKINGS * 2 + 5) * (len(hidden) + 1)
    return out


def check_every_point(n_samples, steps):
    """Every grid point of the cifar10 case (1 measure x low/high x zero/mean x (4 layers + network)) against the
    float32 competent reference; each difference checked against float64 (``near_ties``). Returns the number of
    points compared, differing, and not explained by float32 rounding."""
    hidden = (1024, 512, 512, 512)
    model = make_model(3072, hidden)
    x, y, means_np = make_data(3072, hidden, n_samples)
    means_t = [torch.from_numpy(m) for m in means_np]
    orderings = measure_orderings(hidden, SINGLE_NEURON_MEASURES[:1])
    table = ablation_curves(model, x, y, orderings, ("zero", "mean"), means_np, steps=steps).to_pydict()
    engine = {key: round(e * n_samples) for key, e in zip(
        zip(table["scope"], table["layer"], table["ordering"], table["strategy"], table["n_ablated"]), table["test_error"])}
    competent, competent64 = Competent(model, x, y), None
    compared = differ = unexplained = 0
    for o in orderings:
        for s in ("zero", "mean"):
            means = None if s == "zero" else means_t
            ks = k_grid(len(o.neurons), steps)
            for k, e in zip(ks, competent.errors(o.neurons, ks, means)):
                compared += 1
                mine, theirs = engine[(o.scope, o.layer, o.ordering, s, int(k))], round(e * n_samples)
                if mine == theirs:
                    continue
                competent64 = competent64 or Competent(make_model(3072, hidden).double(), x.double(), y)
                differ += 1
                where = f"competent {theirs} at {o.scope} {o.layer or ''} {o.ordering} {s} k={k}"
                unexplained += not rounding_explains(competent, competent64, o.neurons, int(k), means, mine, where)
    return compared, differ, unexplained


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small smoke version")
    ap.add_argument("--cifar-samples", type=int, default=None, help="test samples of the cifar10-sized case")
    ap.add_argument("--grid-steps", type=int, default=CIFAR10_STEPS, help="k-grid of the cifar10 cases (default: the preset's)")
    ap.add_argument("--skip-grid", action="store_true", help="skip the default cifar10-preset ablation on a k-grid")
    ap.add_argument("--only", choices=("mnist", "cifar", "grid", "check"), default=None,
                    help="run one of the two ratio cases, only the cifar10-preset k-grid ablation, or only the "
                         "check of every cifar10 grid point against the competent reference and float64")
    args = ap.parse_args(argv)
    torch.set_num_threads(os.cpu_count() or 1)
    cs = args.cifar_samples or (200 if args.quick else 10_000)
    cifar_steps = 16 if args.quick else args.grid_steps
    if args.quick:
        jobs = [
            ("mnist 784-300-100-10", 784, (300, 100), 1000, SINGLE_NEURON_MEASURES[:1], 1, None, 4,
             "quick: 1 measure + R=1, 1,000 samples"),
            ("cifar10 3072-1024-512-512-512-10", 3072, (1024, 512, 512, 512), cs, SINGLE_NEURON_MEASURES[:1], 0, cifar_steps, 3,
             f"quick: 1 measure, steps={cifar_steps} grid"),
        ]
    else:
        jobs = [
            ("mnist 784-300-100-10", 784, (300, 100), 10_000, SINGLE_NEURON_MEASURES, 5, None, 8,
             "full work: 6 measures x 2 orders + R=5, every k"),
            ("cifar10 3072-1024-512-512-512-10", 3072, (1024, 512, 512, 512), cs, SINGLE_NEURON_MEASURES[:1], 0, cifar_steps, 6,
             f"1 measure x 2 orders, no random, steps={cifar_steps} grid"),
        ]
    if args.only == "check":
        compared, differ, unexplained = check_every_point(cs, cifar_steps)
        print(f"cifar10, {cs:,} samples, steps={cifar_steps}: {compared} grid points, {differ} differ from the competent "
              f"reference, {unexplained} not explained by float32 rounding")
        assert unexplained == 0, "the engine disagrees with a reference beyond float32 rounding"
        return
    if args.only:
        jobs = [j for j in jobs if j[0].startswith(args.only)]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f} (other processes slow every side down)")
    results = []
    for job in jobs:
        r = run(*job)
        results.append(r)
        for kind in ("competent", "competent_1", "naive"):
            per_k = ", ".join(f"{s}{'' if l is None else ' ' + str(l)} {t:.1f}" for (s, l), t in r[kind]["per_k_ms"].items())
            print(f"  {r['name']}: {kind} ms per k: {per_k}; extrapolated {r[kind]['seconds']:.1f} s "
                  f"({r[kind]['ratio']:.1f}x)", flush=True)
        print(f"  {r['name']}: engine {r['engine_s']:.1f} s", flush=True)
    if results:
        head = (f"{'net':34s} {'samples':>7s} {'curves':>6s} {'k evals':>8s} {'engine s':>9s} {'competent s':>12s} "
                f"{'ratio':>7s} {'naive s':>8s} {'ratio':>7s} {'engine cpu s':>12s} {'cpu ratio':>9s} {'ref pts':>7s} "
                f"{'differ':>6s}  work")
        print()
        print(head)
        print("-" * len(head))
        for r in results:
            c, n = r["best"], r["naive"]
            differ = max(r[kind]["differ"] for kind in ("competent", "competent_1", "naive"))
            unexplained = r["unexplained"]
            print(f"{r['name']:34s} {r['samples']:>7,d} {r['curves']:>6d} {r['evals']:>8,d} {r['engine_s']:>9.1f} "
                  f"{c['seconds']:>12.1f} {c['ratio']:>6.1f}x {n['seconds']:>8.0f} {n['ratio']:>6.1f}x "
                  f"{r['engine_cpu']:>12.1f} {r['cpu']['ratio']:>8.1f}x {r['points']:>7d} {differ:>6d}  {r['note']}")
            assert unexplained == 0, "the engine disagrees with a reference beyond float32 rounding"
        print(f"\nload average at the end {os.getloadavg()[0]:.2f}. ratio = reference seconds (per k evaluated, per scope "
              "and layer, x k evals) / engine seconds (wall clock; the engine ran in groups of orderings, the reference "
              "points in between); competent = the better of torch's threads and one thread per core. differ: largest disagreement with either reference on its subset, in test samples (each one checked against float64: only samples within float32 rounding of a tie may differ). cpu ratio = "
              "CPU seconds of the one-thread competent reference / CPU seconds of the engine (less sensitive to load).")
    if not args.skip_grid and args.only != "mnist":
        g = default_grid_ablation(cs, cifar_steps)
        cores = os.cpu_count() or 1
        print(f"\ndefault ablation of one cifar10-preset network, {cs:,} test samples, steps={cifar_steps}: "
              f"{g['timed']} of {g['orderings']} orderings x 2 strategies took {g['seconds']:.1f} s "
              f"({g['cpu']:.1f} CPU s). All of them, extrapolated: {g['all_seconds'] / 60:.1f} min at this load, "
              f"{g['all_cpu'] / cores / 60:.1f} min from CPU time / {cores} cores (an idle machine); "
              f"every k instead of the grid: {g['full_cpu'] / cores / 3600:.1f} h from CPU time. "
              f"load average {os.getloadavg()[0]:.2f}")

if __name__ == "__main__":
    main()
