"""Cumulative ablation of any ``nn.Module`` by hooks: the same curves as ``pipeline.ablation`` for networks
whose units are channels, tokens or neurons of named modules (``pipeline.units``).

Ablating unit u of a unit layer replaces every element of its output that belongs to u (the channel map at
every position, the neuron at every token) by 0 or by the training-set mean map, with a forward hook. The plain
way, one full forward pass per grid point, recomputes everything before the first ablated module although
ablation cannot change it. Here:

* **Trace.** One clean pass over a few samples records, for every module, when its forward call starts and
  ends (a counter of hook events), how often it runs, and whether its output can be replayed: a tensor (or a
  tuple of tensors and None) with the samples on dim 0, from a forward that did not modify its inputs in place
  (an in-place ReLU runs again, on the replayed copy of its input), and not sharing memory with an input that
  is modified in place later.
* **Cut.** For a set of ablated layers let E be the moment the first of them returns. A replayable module that
  starts before E and contains no other ablated layer computes exactly what it computed in the clean pass: every
  value that exists before E is clean. The outermost such modules are the cut. In an ablated pass their
  ``forward`` is replaced by one that returns a fresh copy of the clean output cached for the current sample
  batch, so nothing inside them runs (an ablated layer in the cut is replayed, then masked). Residual graphs need
  nothing special: a module's execution interval, not the module tree, decides. A module of the cut whose output
  goes only to the next module of a stock ``nn.Sequential``, itself in the cut, returns a zero-stride stand-in
  instead: nothing reads it (an in-place write into it would raise), so it is neither stored nor copied.
* **Replicas.** Several grid points run in one forward: the samples are stacked P times along dim 0 and the
  hooks mask replica p with its own units (masks broadcast per replica; a replayed ablated layer is masked as
  it is copied). A pass takes as many samples of the batch, then as many replicas, as fit in PASS_BYTES (its
  tensors then stay in cache: measured faster than larger passes) and the memory budget.
* **Samples.** Sample batches are independent work items on worker threads (one intra-op thread each, as in
  ``pipeline.ablation_schedule``): per batch a clean pass records the cut outputs and the k = 0 errors, then
  every grid point with k >= 1 runs from its cut.

The results are those of a plain masked forward pass per k up to floating-point rounding: the same operations
run on the same values, only batched differently (a matrix product may round differently for another batch
size), so a predicted label can differ only where two logits agree to rounding precision.

Limits: samples must not interact within a batch (true of eval-mode networks; replicas and windows change the
batch); control flow must not depend on the data (checked: a module of the cut that does not run exactly once in a
batch's clean pass is an error); modules that keep state between calls or modify tensors other than their inputs
are outside the contract; a module that runs several times per forward (a shared block) is never cached but runs
again; ``model`` returns a logits tensor; unit layers return tensors.
"""
from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import torch
from torch import nn

from pipeline.ablation import Ordering, curve_table, k_grid
from pipeline.ablation_checks import ablation_error, check_data, check_means, check_options, check_ordering
from pipeline.ablation_schedule import run_items
from pipeline.threads import stage_threads
from pipeline.units import UnitLayer, hooked

__all__ = ["hooked_ablation_curves"]

TRACE_SIZES = (2, 3)  # batch sizes of the two trace passes: an output is batch-major if dim 0 follows both
MAX_REPLICAS = 16  # grid points per forward pass at most
PASS_BYTES = 16 * 2**20  # per worker: a pass's tensors stay in cache (bench/bench_hooked_ablation.py)
LIVE_OUTPUTS = 3  # a pass holds about this many of its largest module outputs at once (input, output, mask)


@dataclass
class ModuleCall:
    """A module's forward call in the traced clean pass."""

    path: str
    start: int = -1  # hook event number when its (first) call starts
    end: int = -1  # ... and when its (last) call returns
    calls: int = 0
    replayable: bool = True  # batch-major tensor output(s), inputs not modified in place, one call
    bytes_per_sample: float = 0.0  # of its output
    shape: tuple[int, ...] | None = None  # per-sample shape of a tensor output (None: a tuple)
    dtype: torch.dtype | None = None

    def contains(self, other: ModuleCall) -> bool:
        return self.start < other.start and other.end < self.end


@dataclass(frozen=True)
class Cut:
    """The outermost modules whose clean outputs an ablated pass reuses."""

    replayed: tuple[str, ...]  # return their cached clean output (one copy per replica)
    stand_ins: tuple[str, ...]  # return a stand-in: only the next (cut) module of a Sequential gets it


@dataclass(frozen=True)
class Curve:
    ordering: Ordering
    rows: np.ndarray  # (n, 2): (layer 1-based, unit 0-based)
    grid: np.ndarray
    strategy: str

    def units(self, k: int, layer: int) -> np.ndarray:
        """The units of ``layer`` among the first k rows."""
        first = self.rows[:k]
        return first[first[:, 0] == layer, 1]


Point = tuple[int, int]  # (curve index, grid position)


def hooked_ablation_curves(
    model: nn.Module,
    network: nn.Module,
    layers: list[UnitLayer],
    x,
    y,
    orderings: list[Ordering],
    strategies=("zero", "mean"),
    means: list[np.ndarray] | None = None,
    steps: int | None = None,
    batch_size: int = 256,
    on_curve: Callable[[], None] | None = None,
    chunk_budget_mb: float = 256,
) -> pa.Table:
    """Test error after cumulatively ablating each ordering, for each strategy and k in the grid: the table of
    ``pipeline.ablation.ablation_curves`` (columns ``CURVE_COLUMNS``), for any ``model``.

    ``model(x_batch)`` gives logits; ``network`` is the part of it whose module paths ``layers`` name (often
    ``model`` itself). ``x`` (N, ...) and ``y`` (N,) are the test split; ordering rows are (1-based index into
    ``layers``, unit). ``means[l-1]`` is layer l's training-set mean output map (``pipeline.units.output_means``, its second list)
    for strategy 'mean'. Runs in eval mode (the modules' training flags are restored after), on the device of
    the model's parameters, ``x`` cast to their dtype.

    ``batch_size``: samples per work item at most (fewer when their cached clean outputs would take more than half
    of a worker's share of ``chunk_budget_mb``, which bounds the cached outputs and passes of all workers together,
    though a pass of one sample and one grid point always runs). ``on_curve()`` is called as each (ordering,
    strategy) curve is finished (in its last sample batch), from a worker thread. Threads:
    ``pipeline.threads.stage_threads`` (worker threads with one torch thread each), torch's count restored after.
    """
    strategies = tuple(strategies)
    check_options(strategies, steps, chunk_budget_mb)
    _check_layers(layers, batch_size)
    mean_maps = check_means(means, [tuple(layer.shape) for layer in layers]) if "mean" in strategies else None
    rows_of = [check_ordering(o, [layer.units for layer in layers], steps) for o in orderings]
    x = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
    y = torch.as_tensor(np.asarray(y) if not isinstance(y, torch.Tensor) else y)
    check_data(x, y)
    if not orderings or not strategies:
        return curve_table([], [], 0)
    curves = [Curve(o, rows, k_grid(len(rows), steps), s) for o, rows in zip(orderings, rows_of) for s in strategies]
    parameter = next(itertools.chain(model.parameters(), model.buffers()), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    if parameter is not None and x.is_floating_point() and parameter.is_floating_point():
        x = x.to(parameter.dtype)
    x, y = x.to(device), y.to(device, torch.int64)
    with _eval_mode(model), torch.no_grad():
        trace = Trace(model, network, layers, x)
        fills = None if mean_maps is None else [torch.as_tensor(m, dtype=x.dtype if x.is_floating_point() else None)
                                                .to(device) for m in mean_maps]
        # independent workers that never wait for each other: the cores are not given up to other load
        with stage_threads(load_aware=False) as cores:
            errors = _count_errors(model, network, layers, trace, x, y, curves, fills, cores, batch_size,
                                   chunk_budget_mb, on_curve)
    return curve_table([(c.ordering, c.grid, c.strategy) for c in curves], errors, len(y))


def _check_layers(layers: list[UnitLayer], batch_size) -> None:
    if not layers:
        raise ablation_error("no unit layers", "pass the layers of pipeline.units.unit_layers(network, sample)")
    paths = [layer.path for layer in layers]
    if len(set(paths)) != len(paths):
        twice = next(p for p in paths if paths.count(p) > 1)
        raise ablation_error(f"unit layer {twice!r} is listed twice", "list every module path once")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ablation_error(f"batch_size = {batch_size!r}", "use a positive number of samples")


@contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for module, training in modes:
            module.training = training


# --- the trace: execution intervals, and which outputs can be replayed ----------------------------------------


class Trace:
    """Every module call of ``network`` (path "" is ``network`` itself) in a clean pass of ``model``."""

    def __init__(self, model: nn.Module, network: nn.Module, layers: list[UnitLayer], x: torch.Tensor):
        first, *others = [_traced_calls(model, network, x[:1].repeat(n, *[1] * (x.dim() - 1)))
                          for n in TRACE_SIZES]
        for call in first.values():
            call.replayable &= all(call.path in o and o[call.path].replayable for o in others)
        self.calls = first
        self.input_bytes = x[:1].nbytes
        self.next_in_sequential = _next_in_sequential(network, first)
        self._cuts: dict[frozenset[str], Cut] = {}
        for layer in layers:
            self._check_layer(layer)

    def _check_layer(self, layer: UnitLayer) -> None:
        call = self.calls.get(layer.path)
        if call is not None and call.calls == 1 and call.shape == tuple(layer.shape):
            return
        found = ("never runs" if call is None else f"runs {call.calls} times" if call.calls != 1 else
                 "returns a tuple, not a tensor," if call.shape is None else f"outputs per-sample shape {call.shape}")
        raise ablation_error(f"unit layer {layer.path!r} {found} when model runs on x (expected once, shape "
                             f"{tuple(layer.shape)})", "describe the layers with pipeline.units.unit_layers(network, "
                             "x[:2]) on the network that model calls")

    def cut(self, ablated: frozenset[str]) -> Cut:
        """The cut for the ablated module paths (memoized)."""
        if ablated not in self._cuts:
            self._cuts[ablated] = self._outermost_clean(ablated)
        return self._cuts[ablated]

    def _outermost_clean(self, ablated: frozenset[str]) -> Cut:
        hit = [self.calls[p] for p in ablated]
        first_return = min(call.end for call in hit)
        clean = [c for c in self.calls.values() if c.path and c.replayable and c.start < first_return
                 and not any(c.contains(a) for a in hit)]
        outermost, reach = [], -1
        for call in sorted(clean, key=lambda c: c.start):
            if call.start > reach:  # not inside the previous outermost call
                outermost.append(call.path)
                reach = call.end
        skipped = set(outermost)
        stand_ins = tuple(p for p in outermost if self.next_in_sequential.get(p) in skipped
                          and self.calls[p].shape is not None)
        return Cut(tuple(p for p in outermost if p not in stand_ins), stand_ins)

    def pass_bytes(self, cut: Cut) -> float:
        """Memory of one replica of an ablated pass from ``cut``, per sample: the replayed outputs, the input
        and LIVE_OUTPUTS times the largest output of a module that runs."""
        skipped = [self.calls[p] for p in cut.replayed + cut.stand_ins]
        running = [c.bytes_per_sample for c in self.calls.values()
                   if not any(s.start <= c.start and c.end <= s.end for s in skipped)]
        replayed = sum(self.calls[p].bytes_per_sample for p in cut.replayed)
        return replayed + self.input_bytes + LIVE_OUTPUTS * max(running, default=0.0)


@torch.no_grad()
def _traced_calls(model: nn.Module, network: nn.Module, sample: torch.Tensor) -> dict[str, ModuleCall]:
    """Each module's call in one pass of ``model`` over ``sample``. Not replayable: several calls, outputs not
    batch-major, inputs modified in place by the call, or outputs that share memory with an input modified in
    place later (a replayed copy would not see the change)."""
    calls: dict[str, ModuleCall] = {}
    clock = itertools.count()
    pending: dict[str, list] = {}  # per path, a stack of (input tensors, their version counters) at call start
    aliases = []  # (call, [(output tensor sharing memory with an input, its version counter at return)])
    n = len(sample)

    def before(path, module, args, kwargs):
        call = calls.setdefault(path, ModuleCall(path))
        call.calls += 1
        if call.calls == 1:
            call.start = next(clock)
        inputs = list(_tensors((args, kwargs)))
        pending.setdefault(path, []).append((inputs, [t._version for t in inputs]))

    def after(path, module, args, output):
        call = calls[path]
        call.end = next(clock)
        inputs, versions = pending[path].pop()
        unmodified = all(t._version == v for t, v in zip(inputs, versions))
        call.replayable &= call.calls == 1 and unmodified and _batch_major(output, n)
        call.bytes_per_sample = sum(t.nbytes for t in _tensors(output)) / n
        if isinstance(output, torch.Tensor):
            call.shape, call.dtype = tuple(output.shape[1:]), output.dtype
        memory = {t.untyped_storage().data_ptr() for t in inputs}
        shared = [(t, t._version) for t in _tensors(output) if t.untyped_storage().data_ptr() in memory]
        if shared:
            aliases.append((call, shared))

    handles = []
    try:
        for path, module in network.named_modules():
            handles.append(module.register_forward_pre_hook(
                lambda m, a, k, path=path: before(path, m, a, k), with_kwargs=True))
            handles.append(module.register_forward_hook(lambda m, a, o, path=path: after(path, m, a, o)))
        model(sample)
    finally:
        for handle in handles:
            handle.remove()
    for call, shared in aliases:
        call.replayable &= all(t._version == v for t, v in shared)
    return calls


def _tensors(value) -> Iterator[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, (tuple, list)):
        for item in value:
            yield from _tensors(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _tensors(item)


def _batch_major(output, n: int) -> bool:
    """A tensor, or a plain tuple/list of tensors and None, with the samples along dim 0."""
    items = [output] if isinstance(output, torch.Tensor) else output if type(output) in (tuple, list) else None
    if not items or not any(isinstance(i, torch.Tensor) for i in items):
        return False
    return all(i is None or (isinstance(i, torch.Tensor) and i.dim() > 0 and i.shape[0] == n) for i in items)


def _map_tensors(output, fn):
    """``output`` (as ``_batch_major`` accepts) with ``fn`` applied to each tensor."""
    if isinstance(output, torch.Tensor):
        return fn(output)
    return type(output)(None if item is None else fn(item) for item in output)


def _next_in_sequential(network: nn.Module, calls: dict[str, ModuleCall]) -> dict[str, str]:
    """path -> the path of the module that a stock ``nn.Sequential`` (run once) calls right after it, with
    its output as the only input."""
    following = {}
    for parent_path, parent in network.named_modules():
        stock = type(parent).forward is nn.Sequential.forward and "forward" not in vars(parent)
        parent_call = calls.get(parent_path)
        if not stock or parent_call is None or parent_call.calls != 1:
            continue
        prefix = f"{parent_path}." if parent_path else ""
        names = [name for name, child in parent._modules.items() if child is not None]
        for name, after in zip(names, names[1:]):
            call, next_call = calls.get(prefix + name), calls.get(prefix + after)
            if call and next_call and parent_call.contains(call) and parent_call.contains(next_call):
                following[prefix + name] = prefix + after
    return following


# --- the passes ----------------------------------------------------------------------------------------------


@dataclass
class Group:
    """Grid points with the same cut, evaluated ``replicas`` points x ``samples`` samples per forward pass."""

    cut: Cut
    points: list[Point]
    fusable: dict[str, int]  # replayed unit layers (path -> index): masked as they are replayed
    replicas: int = 1
    samples: int = 1


class PassState(threading.local):
    """What the installed forwards and mask hooks do in this thread's current pass."""

    def __init__(self):
        self.clean()

    def clean(self, record: frozenset[str] = frozenset()) -> None:
        """A clean pass that caches the outputs of the ``record`` paths."""
        self.record, self.cache = record, {}
        self.replayed, self.stand_ins, self.window, self.replicas = frozenset(), {}, slice(None), 1
        self.masks, self.fused, self.fused_indices = {}, {}, frozenset()

    def ablated(self, group: Group, stand_ins: dict[str, torch.Tensor], window: slice, replicas: int,
                masks: dict) -> None:
        """A pass of ``replicas`` stacked grid points over the cached samples ``window``, from the group's cut,
        with the points' masks per unit layer index."""
        self.record, self.replayed, self.stand_ins = frozenset(), frozenset(group.cut.replayed), stand_ins
        self.window, self.replicas, self.masks = window, replicas, masks
        self.fused = {path: index for path, index in group.fusable.items() if index in masks}
        self.fused_indices = frozenset(self.fused.values())


def _dispatching_forward(path: str, original: Callable, state: PassState) -> Callable:
    def forward(*args, **kwargs):
        if path in state.stand_ins:
            return state.stand_ins[path]
        if path in state.replayed:
            cached, replicas = _map_tensors(state.cache[path], lambda t: t[state.window]), state.replicas
            if path in state.fused:  # a replayed ablated layer: mask while copying (its hook then does nothing)
                return _replace(cached[None], *state.masks[state.fused[path]]).flatten(0, 1)
            return _map_tensors(cached, lambda t: t.repeat(replicas, *[1] * (t.dim() - 1)))
        output = original(*args, **kwargs)
        if path in state.record:
            if path in state.cache:
                raise ablation_error(f"module {path!r} ran twice in a clean pass but once when traced",
                                     "ablate networks whose control flow does not depend on the data")
            state.cache[path] = _map_tensors(output, torch.clone)
        return output
    return forward


def _replace(stacked: torch.Tensor, mask: torch.Tensor, fill: torch.Tensor | None) -> torch.Tensor:
    """``stacked`` (replicas or 1, samples, *shape) with replica p's masked elements set to its fill (P, *shape)."""
    return torch.where(mask[:, None], 0.0 if fill is None else fill.to(stacked.dtype)[:, None], stacked)


def _masked(state: PassState, index: int, output):
    """The unit layer's output with each replica's ablated elements replaced (None: unchanged)."""
    if index not in state.masks or index in state.fused_indices:
        return None
    return _replace(output.reshape(state.replicas, -1, *output.shape[1:]), *state.masks[index]).reshape(output.shape)


@contextmanager
def _installed(network: nn.Module, layers: list[UnitLayer], paths: set[str], state: PassState) -> Iterator[None]:
    """Dispatching forwards on the modules at ``paths`` and mask hooks on the unit layers; all removed on exit."""
    patched = []
    try:
        for path in sorted(paths):
            module = network.get_submodule(path)
            patched.append((module, vars(module).get("forward")))
            module.forward = _dispatching_forward(path, module.forward, state)
        with hooked(network, layers, lambda index, output: _masked(state, index, output)):
            yield
    finally:
        for module, own in patched:
            if own is None:
                del module.forward
            else:
                module.forward = own


def _groups(trace: Trace, layers: list[UnitLayer], curves: list[Curve]) -> tuple[list[Point], list[Group]]:
    """The k = 0 points (from the clean pass) and the other points grouped by cut."""
    clean, by_cut = [], {}
    for c, curve in enumerate(curves):
        for g, k in enumerate(curve.grid):
            if k == 0:
                clean.append((c, g))
                continue
            ablated = frozenset(layers[l - 1].path for l in np.unique(curve.rows[:k, 0]))
            cut = trace.cut(ablated)
            if cut not in by_cut:
                fusable = {layer.path: i for i, layer in enumerate(layers) if layer.path in cut.replayed}
                by_cut[cut] = Group(cut, [], fusable)
            by_cut[cut].points.append((c, g))
    return clean, list(by_cut.values())


def _pass_size(pass_bytes: float, batch: int, n_points: int, budget: float) -> tuple[int, int]:
    """(replicas, samples) of a pass: as many samples of the batch, then as many replicas, as fit in
    PASS_BYTES and the budget (a pass's tensors then stay in cache; copies per replica cost more than samples)."""
    room = min(PASS_BYTES, budget)
    samples = int(max(1, min(batch, room // pass_bytes)))
    return int(max(1, min(MAX_REPLICAS, n_points, room // (samples * pass_bytes)))), samples


def _pass_masks(points: list[Point], curves: list[Curve], layers: list[UnitLayer], fills, device) -> dict:
    """Per unit layer index touched by the points: (mask (P, *shape), fill (P, *shape) or None for zeros)."""
    masks = {}
    for index, layer in enumerate(layers):
        units = [curves[c].units(int(curves[c].grid[g]), index + 1) for c, g in points]
        if not any(len(u) for u in units):
            continue
        mask = torch.stack([layer.mask(u) for u in units]).to(device)
        means = [curves[c].strategy == "mean" and len(u) > 0 for (c, _), u in zip(points, units)]
        fill = None
        if any(means):
            fill = torch.stack([fills[index] if m else torch.zeros_like(fills[index]) for m in means])
        masks[index] = (mask, fill)
    return masks


@dataclass
class Plan:
    """The sample batches and the passes of each."""

    batch: int  # samples per work item
    clean_points: list[Point]  # k = 0: errors of the clean pass
    groups: list[Group]
    record: frozenset[str]  # modules whose clean outputs the groups replay
    clean_samples: int  # samples per clean pass

    @classmethod
    def of(cls, trace: Trace, layers, curves: list[Curve], n_samples: int, batch_size: int, cores: int,
           budget: float) -> Plan:
        """``budget`` bytes for all workers: a batch's cached outputs may take half of a worker's share."""
        clean_points, groups = _groups(trace, layers, curves)
        record = frozenset(p for group in groups for p in group.cut.replayed)
        cached_per_sample = sum(trace.calls[p].bytes_per_sample for p in record)
        budget /= cores
        batch = int(min(batch_size, -(-n_samples // cores), max(1, budget / 2 // max(cached_per_sample, 1))))
        room = budget - batch * cached_per_sample
        for group in groups:
            group.replicas, group.samples = _pass_size(trace.pass_bytes(group.cut), batch, len(group.points), room)
        clean_samples = _pass_size(trace.pass_bytes(Cut((), ())), batch, 1, room)[1]
        return cls(batch, clean_points, groups, record, clean_samples)


class Tally:
    """Misclassified samples per curve and grid point, summed over the sample batches from worker threads;
    ``on_curve()`` as each curve's last point of its last batch is added."""

    def __init__(self, curves: list[Curve], n_batches: int, on_curve):
        self.errors = [np.zeros(len(c.grid), dtype=np.int64) for c in curves]
        self.left = [len(c.grid) * n_batches for c in curves]
        self.on_curve = on_curve
        self.lock = threading.Lock()

    def add(self, points: list[Point], wrong) -> None:
        finished = 0
        with self.lock:
            for (c, g), w in zip(points, wrong):
                self.errors[c][g] += int(w)
                self.left[c] -= 1
                finished += self.left[c] == 0
        for _ in range(finished if self.on_curve is not None else 0):
            self.on_curve()


def _count_errors(model, network, layers, trace: Trace, x, y, curves: list[Curve], fills, cores: int,
                  batch_size: int, chunk_budget_mb: float, on_curve) -> list[np.ndarray]:
    """Misclassified test samples per curve and grid point: sample batches on worker threads."""
    plan = Plan.of(trace, layers, curves, len(y), batch_size, cores, chunk_budget_mb * 2**20)
    batch = plan.batch
    starts = list(range(0, len(y), batch))
    tally, state = Tally(curves, len(starts), on_curve), PassState()

    def work(_, start: int) -> None:
        with torch.no_grad():
            _batch_errors(model, trace, layers, curves, fills, plan, x[start : start + batch],
                          y[start : start + batch], state, tally)

    with _installed(network, layers, plan.record | {p for g in plan.groups for p in g.cut.stand_ins}, state):
        run_items(work, starts, min(cores, len(starts)), lambda: None)
    return tally.errors


def _batch_errors(model, trace: Trace, layers, curves: list[Curve], fills, plan: Plan, xb, yb, state: PassState,
                  tally: Tally) -> None:
    """Every grid point on one sample batch: its clean pass, then each group's passes from its cut."""
    wrong = _clean_errors(model, plan.record, xb, yb, plan.clean_samples, state)
    tally.add(plan.clean_points, [wrong] * len(plan.clean_points))
    for group in plan.groups:
        for first in range(0, len(group.points), group.replicas):
            points = group.points[first : first + group.replicas]
            masks = _pass_masks(points, curves, layers, fills, xb.device)
            wrong = np.zeros(len(points), dtype=np.int64)
            for window in range(0, len(yb), group.samples):
                rows = slice(window, window + group.samples)
                wrong += _pass_errors(model, trace, group, masks, len(points), xb[rows], yb[rows], rows, state)
            tally.add(points, wrong)
    state.clean()


def _clean_errors(model, record: frozenset[str], xb, yb, samples: int, state: PassState) -> int:
    """Misclassified samples of the batch without ablation, in passes of ``samples``; leaves the outputs of the
    ``record`` modules for the whole batch in ``state.cache``."""
    wrong, caches = 0, []
    for window in range(0, len(yb), samples):
        state.clean(record)
        wrong += int((model(xb[window : window + samples]).argmax(-1) != yb[window : window + samples]).sum())
        missing = record.difference(state.cache)
        if missing:
            raise ablation_error(f"module {sorted(missing)[0]!r} did not run in a clean pass but did when traced",
                                 "ablate networks whose control flow does not depend on the data")
        caches.append(state.cache)
    state.clean()
    state.cache = {path: _concatenated([cache[path] for cache in caches]) for path in record}
    return wrong


def _concatenated(outputs: list):
    """Outputs of consecutive sample windows (as ``_batch_major`` accepts) joined along dim 0."""
    if isinstance(outputs[0], torch.Tensor):
        return torch.cat(outputs) if len(outputs) > 1 else outputs[0]
    return type(outputs[0])(None if items[0] is None else torch.cat(items) for items in zip(*outputs))


def _pass_errors(model, trace: Trace, group: Group, masks: dict, replicas: int, xs, ys, window: slice,
                 state: PassState) -> np.ndarray:
    """Misclassified samples ``xs`` (cached rows ``window``) at each of ``replicas`` grid points, in one pass."""
    n = len(xs)
    stand_ins = {p: torch.zeros((), dtype=trace.calls[p].dtype, device=xs.device)
                 .expand(replicas * n, *trace.calls[p].shape) for p in group.cut.stand_ins}
    state.ablated(group, stand_ins, window, replicas, masks)
    logits = model(xs.repeat(replicas, *[1] * (xs.dim() - 1)))
    return (logits.reshape(replicas, n, -1).argmax(-1) != ys).sum(1).numpy(force=True)
