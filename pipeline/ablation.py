"""The cumulative ablation engine (DESIGN "Definitions": ablation; view ``ablation_curves``).

Ablating neuron j of hidden layer l sets its output (the activation's output) to 0 (``zero``) or to
its training-set mean (``mean``). A curve ablates the first k neurons of an ordering, for every k
of a grid, and records the test error.

Why it is fast. Evaluation is in eval mode (batch norm is an affine map, folded into the Linear
before it; dropout is the identity). The clean outputs and pre-activations of every layer are
computed once. Then, per ordering, the grid points are evaluated in blocks, carrying the state of
the previous grid point:

* The lowest layer l0 that an ordering touches is never recomputed, nor anything below it:
  ablating neuron j of l0 moves the next pre-activation by ``(a_j - H[j]) * W[:, j]`` (a rank-1
  update, ``a_j`` = 0 or the mean), so the pre-activation after k ablations is a running sum.
* Above l0 a layer is recomputed (one matrix product per grid point, or one for the whole block)
  only where its input changed. In network scope a step that ablates a neuron of layer m leaves
  every layer <= m as it was, so it is again a rank-1 update of layer m+1's pre-activation.
* Tensors are feature-major, (width, samples): a neuron is a contiguous row, and the narrow output
  layer is a fast (K x M) @ (M x samples) product; the error count avoids ``argmax``.
* Samples are independent: (curve, chunk of samples) items run on one worker thread per CPU with
  one intra-op thread each (torch releases the GIL), so no operation waits for a straggling
  thread, and each worker's block of pre-activations stays in cache. Memory is bounded by
  ``chunk_budget_mb`` (blocks of grid points x chunks of samples, all workers together).

The results equal a naive full forward pass per k with the neuron outputs overwritten, up to
floating-point rounding (the summation order differs): predicted labels can differ only where two
logits agree to rounding precision. Exact ties are reproduced (argmax takes the first maximum; a
sample whose inputs to a layer are all zero gets exactly that layer's bias, as in the naive pass).
"""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import torch

from pipeline.errors import NeuronInfoError
from pipeline.threads import available_cores
from store.schemas import SCHEMAS

SCOPES = ("layer", "network")
STRATEGIES = ("zero", "mean")
ORDERINGS = ("low_first", "high_first", "random")

_SAMPLE_CHUNK = 2048  # samples per work item
_CACHE_BYTES = 8 * 2**20  # target size of a block of pre-activations (fits in L3 cache)
_MIN_BLOCK = 4  # grid points per block, budget permitting (fewer, larger operations)
_MAX_BLOCK = 256


@dataclass(frozen=True, eq=False)
class Ordering:
    """One ordering of neurons to ablate cumulatively (the first k rows of ``neurons``)."""

    scope: str  # 'layer' | 'network'
    layer: int | None  # 1-based hidden layer for scope 'layer', None for 'network'
    measure: str  # e.g. 'mutual_info'; 'random' for random orderings
    bits: int | None  # None for random orderings
    ordering: str  # 'low_first' | 'high_first' | 'random'
    repeat: int  # random seed for random orderings, else 0
    neurons: np.ndarray  # int64 (n, 2): rows (layer 1-based, neuron 0-based) in ablation order


def random_orderings(hidden_sizes, repeats: int = 5) -> list[Ordering]:
    """Random orderings with seeds 0..repeats-1: per seed, one per hidden layer, then one network-wide.

    Layer l with seed r is ``default_rng(r).permutation(M_l)``; the network ordering is
    ``default_rng(r).permutation(sum M_l)`` over the hidden neurons numbered layer by layer.
    """
    sizes = [int(m) for m in hidden_sizes]
    if repeats < 0:
        raise NeuronInfoError(f"random repeats = {repeats}; use a number >= 0")
    flat = np.concatenate([np.stack([np.full(m, l + 1), np.arange(m)], 1) for l, m in enumerate(sizes)])
    flat = flat.astype(np.int64)
    out = []
    for r in range(repeats):
        for l, m in enumerate(sizes, start=1):
            perm = np.random.default_rng(r).permutation(m)
            rows = np.stack([np.full(m, l), perm], 1).astype(np.int64)
            out.append(Ordering("layer", l, "random", None, "random", r, rows))
        perm = np.random.default_rng(r).permutation(len(flat))
        out.append(Ordering("network", None, "random", None, "random", r, flat[perm]))
    return out


def k_grid(n: int, steps: int | None = None) -> np.ndarray:
    """The numbers of ablated neurons evaluated: 0..n, or steps+1 roughly even integers from 0 to n."""
    if steps is None:
        return np.arange(n + 1, dtype=np.int64)
    return np.unique(np.floor(np.linspace(0, n, steps + 1) + 0.5).astype(np.int64))


# --------------------------------------------------------------------------------------------
# validation


def _bad(what: str, fix: str):
    raise NeuronInfoError(f"ablation: {what}; {fix}")


def _check_ordering(o: Ordering, sizes: list[int], steps: int | None) -> np.ndarray:
    name = f"ordering ({o.scope}, layer={o.layer}, {o.measure}, {o.ordering}, repeat={o.repeat})"
    L = len(sizes)
    if o.scope not in SCOPES:
        _bad(f"unknown scope {o.scope!r} in {name}", f"use one of {', '.join(SCOPES)}")
    if o.ordering not in ORDERINGS:
        _bad(f"unknown ordering {o.ordering!r} in {name}", f"use one of {', '.join(ORDERINGS)}")
    if o.scope == "layer":
        if not isinstance(o.layer, (int, np.integer)) or not 1 <= o.layer <= L:
            _bad(f"{name} names hidden layer {o.layer!r}", f"use a hidden layer 1..{L}")
    elif o.layer is not None:
        _bad(f"{name} has scope 'network' but layer {o.layer!r}", "use layer=None for network scope")
    rows = np.asarray(o.neurons)
    if rows.ndim != 2 or rows.shape[1] != 2 or not np.issubdtype(rows.dtype, np.integer):
        _bad(f"{name}: neurons has shape {rows.shape} and dtype {rows.dtype}",
             "give an int64 array of (layer, neuron) rows, shape (n, 2)")
    if len(rows) == 0:
        _bad(f"{name} has no neurons", "give at least one (layer, neuron) row")
    rows = rows.astype(np.int64)
    layers, idx = rows[:, 0], rows[:, 1]
    if layers.min() < 1 or layers.max() > L:
        _bad(f"{name} has neuron rows in layer {int(layers.min() if layers.min() < 1 else layers.max())}",
             f"use hidden layers 1..{L}")
    width = np.asarray(sizes, dtype=np.int64)[layers - 1]
    out = (idx < 0) | (idx >= width)
    if out.any():
        i = int(np.argmax(out))
        _bad(f"{name} has neuron {int(idx[i])} out of range for layer {int(layers[i])} of width {int(width[i])}",
             "use 0-based neuron indices below the layer width")
    if o.scope == "layer" and (layers != o.layer).any():
        i = int(np.argmax(layers != o.layer))
        _bad(f"{name} contains neuron ({int(layers[i])}, {int(idx[i])}) from another layer",
             f"give only neurons of layer {o.layer} in a layer-scope ordering")
    flat = np.concatenate([[0], np.cumsum(sizes)])[layers - 1] + idx
    if len(np.unique(flat)) != len(flat):
        _, first, counts = np.unique(flat, return_index=True, return_counts=True)
        i = int(first[np.argmax(counts > 1)])
        _bad(f"{name} repeats neuron ({int(layers[i])}, {int(idx[i])})", "list every neuron at most once")
    if steps is not None and steps > len(rows):
        _bad(f"steps={steps} but {name} has only {len(rows)} neurons (k grid larger than the layer)",
             f"use steps <= {len(rows)}, or steps=None for every k")
    return rows


def _check_means(means, sizes: list[int]) -> list[np.ndarray]:
    if means is None:
        _bad("strategy 'mean' needs the training-set means", "pass means=[one array per hidden layer]")
    means = list(means)
    if len(means) != len(sizes):
        _bad(f"means has {len(means)} arrays but the network has {len(sizes)} hidden layers",
             "pass one array of training-set means per hidden layer")
    out = []
    for l, (m, size) in enumerate(zip(means, sizes), start=1):
        arr = np.asarray(m, dtype=np.float64)
        if arr.shape != (size,):
            _bad(f"means for layer {l} has shape {arr.shape} but the layer has {size} neurons",
                 f"pass an array of {size} means for layer {l}")
        if not np.isfinite(arr).all():
            _bad(f"means for layer {l} has non-finite values", "pass finite training-set means")
        out.append(arr)
    return out


# --------------------------------------------------------------------------------------------
# the network in eval mode, batch norm folded


class _Net:
    """Eval-mode weights of linear i, batch norm folded in: ``W[i]`` (out x in), its transpose ``Wt[i]``
    (in x out, contiguous: row j is what neuron j feeds forward) and ``b[i]``."""

    def __init__(self, model):
        spec = model.spec
        self.sizes = [int(m) for m in spec.hidden_sizes]
        self.L = len(self.sizes)
        self.K = int(spec.n_classes)
        self.input_dim = int(spec.input_dim)
        self.relu = spec.activation == "relu"
        p = model.linear[0].weight
        self.dtype = p.dtype if p.dtype in (torch.float32, torch.float64) else torch.float32
        self.W, self.Wt, self.b = [], [], []
        with torch.no_grad():
            for i, lin in enumerate(model.linear):
                w = lin.weight.detach().to("cpu", self.dtype)
                b = lin.bias.detach().to("cpu", self.dtype)
                if model.bn is not None and i < self.L:
                    bn = model.bn[i]
                    scale = bn.weight.detach().to("cpu", self.dtype) / torch.sqrt(
                        bn.running_var.detach().to("cpu", self.dtype) + bn.eps)
                    shift = bn.bias.detach().to("cpu", self.dtype) - bn.running_mean.detach().to("cpu", self.dtype) * scale
                    w = w * scale[:, None]
                    b = b * scale + shift
                self.W.append(w.contiguous())
                self.Wt.append(w.t().contiguous())
                self.b.append(b.contiguous())

    def act_(self, z: torch.Tensor) -> torch.Tensor:
        return z.relu_() if self.relu else z.sigmoid_()

    def width(self, layer: int) -> int:
        """Width of hidden layer ``layer`` (1-based); layer L+1 is the logits."""
        return self.sizes[layer - 1] if layer <= self.L else self.K


class _Cache:
    """Clean hidden outputs ``H[l]`` and pre-activations ``Z[l]`` (l = 1..L, Z[L+1] = the logits),
    feature-major: (width, N). All later tensors are (width, samples) too, so a neuron's outputs
    are a contiguous row and the skinny output layer is a fast (K x M) @ (M x samples) product."""

    def __init__(self, net: _Net, x: torch.Tensor, batch: int = 8192):
        H = {l: [] for l in range(1, net.L + 1)}
        Z = {l: [] for l in range(1, net.L + 2)}
        for s in range(0, len(x), batch):
            h = x[s : s + batch].t()
            for i in range(net.L + 1):
                z = torch.addmm(net.b[i][:, None], net.W[i], h)
                Z[i + 1].append(z)
                if i < net.L:
                    h = net.act_(z.clone())
                    H[i + 1].append(h)
        self.H = {l: torch.cat(v, 1) for l, v in H.items()}
        self.Z = {l: torch.cat(v, 1) for l, v in Z.items()}


# --------------------------------------------------------------------------------------------
# one ordering x one strategy x one chunk of samples


class _Plan:
    """Per ordering: where each layer's steps are, and per grid interval what changes."""

    def __init__(self, net: _Net, rows: np.ndarray, grid: np.ndarray):
        layers, idx = rows[:, 0], rows[:, 1]
        n = len(rows)
        self.l0 = l0 = int(layers.min())  # lowest layer touched: nothing below it is recomputed
        self.grid = grid
        self.pos = {m: np.flatnonzero(layers == m) for m in range(l0, net.L + 1)}  # step positions per layer
        self.neurons = {m: idx[self.pos[m]] for m in range(l0, net.L + 1)}
        self.neuron_list = {m: v.tolist() for m, v in self.neurons.items()}
        # order[m][j] = position of neuron (m, j) in the ordering (n if never ablated)
        self.order = {}
        for m in range(l0 + 1, net.L + 1):
            o = np.full(net.width(m), n, dtype=np.int64)
            o[self.neurons[m]] = self.pos[m]
            self.order[m] = o
        # below[m][k] = number of steps among the first k that are in layers < m
        self.below = {m: np.concatenate([[0], np.cumsum(layers < m)]) for m in range(l0 + 1, net.L + 1)}


class _Workspace:
    """One worker's reused buffers: per layer m, room for (block, width of layer m+1, samples)."""

    def __init__(self, net: _Net, lowest: int, block: int, n_s: int, dtype):
        self.block, self.n_s = block, n_s
        self.flat = {m: torch.empty(block * n_s * net.width(m + 1), dtype=dtype) for m in range(lowest, net.L + 1)}
        self.carry = {m: torch.empty(n_s * net.width(m + 1), dtype=dtype) for m in range(lowest, net.L + 1)}

    def z(self, m: int, nb: int, width: int, ns: int) -> torch.Tensor:
        return self.flat[m][: nb * ns * width].view(nb, width, ns)

    def c(self, m: int, width: int, ns: int) -> torch.Tensor:
        return self.carry[m][: ns * width].view(width, ns)


def _count_wrong(logits: torch.Tensor, y: torch.Tensor, early: torch.Tensor) -> torch.Tensor:
    """Per block row, samples whose argmax over classes (the first maximum) is not y.

    logits (nb, K, ns); early (K, ns) marks the classes c < y. Faster than argmax over dim 1."""
    top = logits.amax(1)
    zy = logits.gather(1, y[None, None, :].expand(len(logits), 1, -1))[:, 0]
    wrong = zy < top
    at_top = logits == top[:, None]
    tied = at_top.sum(1) > 1
    if tied.any():  # several classes share the maximum: argmax picks the first
        wrong |= tied & (at_top & early).any(1)
    return wrong.sum(1)


def _chunk_errors(net: _Net, cache: _Cache, y: torch.Tensor, plan: _Plan, a: dict[int, torch.Tensor] | None,
                  ws: _Workspace, s0: int, ns: int) -> np.ndarray:
    """Misclassified samples s0..s0+ns-1 after ablating the first k steps, for every k of the grid.

    The grid is walked from k = n down to 0, restoring neurons: a running sum then only ever adds
    contributions, so a sample whose remaining inputs are all zero keeps exactly the bias (as in
    the naive pass) rather than the rounding residue of subtracting them. Tensors are
    feature-major: Z (block, width, samples)."""
    L, l0 = net.L, plan.l0
    grid = plan.grid[::-1]
    sl = slice(s0, s0 + ns)
    H0 = cache.H[l0][:, sl]
    Q = H0 if a is None else H0 - a[l0][:, None]  # change of layer l0's outputs when restored (M, ns)
    ysl = y[sl]
    early = torch.arange(net.K)[:, None] < ysl[None, :]
    errors = np.zeros(len(grid), dtype=np.int64)
    for g0 in range(0, len(grid), ws.block):
        ks = grid[g0 : g0 + ws.block]  # grid points of this block, descending
        nb = len(ks)
        # point b follows point nxt[b] > ks[b]: the steps at positions ks[b]..nxt[b]-1 are restored
        nxt = np.concatenate([[grid[g0 - 1] if g0 > 0 else ks[0]], ks[:-1]])
        U = None  # outputs of layer m for the block, (nb, width m, ns)
        for m in range(l0, L + 1):
            width = net.width(m + 1)
            Z, carry = ws.z(m, nb, width, ns), ws.c(m, width, ns)
            W, Wt, bias = net.W[m], net.Wt[m], net.b[m][:, None]
            cut_lo = np.searchsorted(plan.pos[m], ks).tolist()  # layer-m steps restored before point b
            cut_hi = np.searchsorted(plan.pos[m], nxt).tolist()
            if m == l0:  # the input of layer l0 never changes: only its own outputs do
                dense = np.zeros(nb, dtype=bool)
            else:  # the input of layer m changed since the previous point
                dense = plan.below[m][nxt] > plan.below[m][ks]
            if g0 == 0:  # the first point, k = n: from scratch
                dense[0] = True
            if m == l0 and dense[0]:
                h = H0.clone()
                h[torch.from_numpy(plan.neurons[m])] = 0.0 if a is None else a[m][plan.neurons[m], None]
                torch.addmm(bias, W, h, out=Z[0])
            elif m > l0 and cut_lo[0] > 0:  # network scope: overwrite the ablated outputs of layer m
                bi, ji = np.nonzero((plan.order[m][None, :] < ks[:, None]) & dense[:, None])
                if len(bi):  # rows (block, neuron) to overwrite
                    ji = torch.from_numpy(ji)
                    U[torch.from_numpy(bi), ji] = 0.0 if a is None else a[m][ji, None]
            if m > l0 and dense.all():
                torch.matmul(W, U, out=Z)
                Z.add_(bias)
            else:
                neurons = plan.neuron_list[m]
                for b in range(nb):
                    if dense[b]:
                        if m > l0:
                            torch.addmm(bias, W, U[b], out=Z[b])
                        continue
                    # only layer-m outputs changed since the previous point: rank-c update
                    prev = carry if b == 0 else Z[b - 1]
                    c = cut_hi[b] - cut_lo[b]
                    if c == 1:
                        j = neurons[cut_lo[b]]
                        coef = Q[j : j + 1] if m == l0 else U[b][j : j + 1] - (a[m][j] if a is not None else 0.0)
                        torch.addcmul(prev, Wt[j][:, None], coef, out=Z[b])
                    elif c == 0:
                        Z[b].copy_(prev)
                    else:
                        J = torch.from_numpy(plan.neurons[m][cut_lo[b] : cut_hi[b]])
                        coef = Q[J] if m == l0 else U[b][J] - (a[m][J, None] if a is not None else 0.0)
                        torch.addmm(prev, Wt[J].t(), coef, out=Z[b])
            carry.copy_(Z[nb - 1])
            if m < L:
                U = net.act_(Z)
            else:
                errors[g0 : g0 + nb] = _count_wrong(Z, ysl, early).numpy()
    return errors[::-1].copy()


# --------------------------------------------------------------------------------------------
# public entry point


def ablation_curves(
    model,
    x,
    y,
    orderings: list[Ordering],
    strategies=("zero", "mean"),
    means: list[np.ndarray] | None = None,
    steps: int | None = None,
    chunk_budget_mb: int = 256,
) -> pa.Table:
    """Test error after cumulatively ablating each ordering, for each strategy and k in the grid.

    ``x`` (N x input_dim) and ``y`` (N,) are the test split; ``means`` (strategy 'mean') holds one
    array of training-set mean outputs per hidden layer. ``steps=None`` evaluates every k = 0..n,
    ``steps=S`` evaluates S+1 roughly even integers from 0 to n. Returns a table with the columns
    of ``store.schemas.SCHEMAS["ablation_curves"]`` (no run_id), one row per (ordering, strategy, k).

    Samples are independent, so the work is split into (curve, sample chunk) items run by one
    worker thread per CPU, each with one intra-op thread and its own buffers (together at most
    ``chunk_budget_mb``): no synchronisation per operation, and chunks that stay in cache.
    """
    n_cpu = available_cores()
    torch.set_num_threads(n_cpu)
    net = _Net(model)
    sizes = net.sizes
    strategies = tuple(strategies)
    for s in strategies:
        if s not in STRATEGIES:
            _bad(f"unknown strategy {s!r}", f"use one of {', '.join(STRATEGIES)}")
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1):
        _bad(f"steps = {steps!r}", "use an integer >= 1, or steps=None for every k")
    if isinstance(chunk_budget_mb, bool) or not isinstance(chunk_budget_mb, (int, float)) or not chunk_budget_mb > 0:
        _bad(f"chunk_budget_mb = {chunk_budget_mb!r}", "use a positive number of megabytes")
    mean_arrays = _check_means(means, sizes) if "mean" in strategies else None
    rows_of = [_check_ordering(o, sizes, steps) for o in orderings]

    x = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
    y = torch.as_tensor(np.asarray(y) if not isinstance(y, torch.Tensor) else y)
    if x.ndim != 2 or x.shape[1] != net.input_dim:
        _bad(f"x has shape {tuple(x.shape)}", f"pass test inputs of shape (N, {net.input_dim})")
    if y.ndim != 1 or len(y) != len(x) or len(y) == 0:
        _bad(f"y has shape {tuple(y.shape)} for x of shape {tuple(x.shape)}", "pass one label per test sample (N >= 1)")
    x = x.detach().to("cpu", net.dtype).contiguous()
    y = y.detach().to("cpu", torch.int64)
    N = len(y)

    schema = SCHEMAS["ablation_curves"]
    if not orderings or not strategies:
        return schema.empty_table()

    with torch.no_grad():
        cache = _Cache(net, x)
    a = {s: None for s in strategies}
    if mean_arrays is not None:
        a["mean"] = {l: torch.as_tensor(m, dtype=net.dtype) for l, m in enumerate(mean_arrays, start=1)}
    plans = [_Plan(net, rows, k_grid(len(rows), steps)) for rows in rows_of]
    jobs = [(p, s) for p in plans for s in strategies]

    # sample chunks and blocks of grid points: per (grid point, sample) a worker holds the
    # pre-activations of every layer above the lowest one touched; blocks of about _CACHE_BYTES
    # stay in cache from one layer to the next
    lowest = min(p.l0 for p in plans)
    itemsize = torch.empty(0, dtype=net.dtype).element_size()
    per = itemsize * sum(net.width(m + 1) for m in range(lowest, net.L + 1))
    workers = max(1, min(n_cpu, len(jobs) * -(-N // 64)))
    budget = chunk_budget_mb * 2**20 / workers  # bytes per worker
    max_grid = max(len(p.grid) for p in plans)
    n_s = int(min(_SAMPLE_CHUNK, N, max(1, budget // per)))
    if len(jobs) < workers:  # too few curves to keep every worker busy: split the samples finer
        n_s = min(n_s, -(-N // workers))
    fit = budget // (n_s * per)
    block = int(max(1, min(fit, max_grid, _MAX_BLOCK, max(_MIN_BLOCK, _CACHE_BYTES // (n_s * per)))))
    items = [(i, s0) for i in range(len(jobs)) for s0 in range(0, N, n_s)]
    errors = [np.zeros(len(p.grid), dtype=np.int64) for p, _ in jobs]
    lock = threading.Lock()

    def work(ws: _Workspace, item) -> None:
        i, s0 = item
        plan, s = jobs[i]
        e = _chunk_errors(net, cache, y, plan, a[s], ws, s0, min(n_s, N - s0))
        with lock:
            errors[i] += e

    with torch.no_grad():
        if workers == 1:
            ws = _Workspace(net, lowest, block, n_s, net.dtype)
            for item in items:
                work(ws, item)
        else:
            _run_parallel(work, items, workers, lambda: _Workspace(net, lowest, block, n_s, net.dtype), n_cpu)

    cols = {name: [] for name in schema.names}
    for (plan, s), o, err in zip(jobs, [o for o in orderings for _ in strategies], errors):
        grid, g, n = plan.grid, len(plan.grid), int(plan.grid[-1])
        cols["scope"] += [o.scope] * g
        cols["layer"] += [None if o.scope == "network" else int(o.layer)] * g
        cols["measure"] += [o.measure] * g
        cols["bits"] += [None if o.bits is None else int(o.bits)] * g
        cols["ordering"] += [o.ordering] * g
        cols["strategy"] += [s] * g
        cols["repeat"] += [int(o.repeat)] * g
        cols["n_ablated"].append(grid)
        cols["frac_ablated"].append(grid / n)
        cols["test_error"].append(err / N)
    for name in ("n_ablated", "frac_ablated", "test_error"):
        cols[name] = np.concatenate(cols[name])
    return pa.table({name: pa.array(cols[name], type=schema.field(name).type) for name in schema.names}, schema=schema)


def _run_parallel(work, items, workers: int, make_workspace, n_cpu: int) -> None:
    """Run ``work(workspace, item)`` for every item on ``workers`` threads, one intra-op thread each."""
    queue = list(reversed(items))
    lock = threading.Lock()

    def loop():
        ws = make_workspace()
        while True:
            with lock:
                if not queue:
                    return
                item = queue.pop()
            try:
                work(ws, item)
            except BaseException:
                with lock:
                    queue.clear()  # the other workers stop too
                raise

    torch.set_num_threads(1)  # torch ops release the GIL: the workers run in parallel
    try:
        with ThreadPoolExecutor(workers, thread_name_prefix="ablation") as pool:
            for f in [pool.submit(loop) for _ in range(workers)]:
                f.result()
    finally:
        torch.set_num_threads(n_cpu)
