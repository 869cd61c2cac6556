"""The incremental ablation kernel: errors of one ordering x one strategy x one chunk of samples, every grid k.

Evaluation is in eval mode (batch norm is an affine map, folded into the Linear before it; dropout
is the identity). The clean outputs and pre-activations of every layer are computed once
(``CleanPass``). Then the grid points of an ordering are walked in blocks, carrying the state of
the previous grid point:

* The lowest layer that an ordering touches is never recomputed, nor anything below it: ablating
  neuron j of that layer moves the next pre-activation by ``(fill_j - h_j) * weight[:, j]`` (a rank-1
  update; ``fill_j`` = 0 or the mean), so the pre-activation after k ablations is a running sum.
* Above it a layer is recomputed (one matrix product per grid point, or one for the whole block)
  only where its input changed. In network scope a step that ablates a neuron of layer m leaves
  every layer <= m as it was, so it is again a rank-1 update of layer m+1's pre-activation.
* Tensors are feature-major, (width, samples): a neuron is a contiguous row, and the narrow output
  layer is a fast (K x M) @ (M x samples) product; the error count avoids ``argmax``.

The results equal a naive full forward pass per k with the neuron outputs overwritten, up to
floating-point rounding (the summation order differs): predicted labels can differ only where two
logits agree to rounding precision. Exact ties are reproduced (argmax takes the first maximum; a
sample whose inputs to a layer are all zero gets exactly that layer's bias, as in the naive pass).
"""
from __future__ import annotations

import numpy as np
import torch

from pipeline.fold import folded_linears


class FoldedNet:
    """Eval-mode weights of linear i with batch norm folded in: ``weight[i]`` (out x in), its transpose
    ``weight_t[i]`` (in x out, contiguous: row j is what neuron j feeds forward) and ``bias[i]``, on ``device``."""

    def __init__(self, model, device: torch.device | str = "cpu"):
        spec = model.spec
        self.sizes = [int(m) for m in spec.hidden_sizes]
        self.n_hidden = len(self.sizes)
        self.n_classes = int(spec.n_classes)
        self.input_dim = int(spec.input_dim)
        self.relu = spec.activation == "relu"
        first = model.linear[0].weight
        self.device = torch.device(device)
        self.dtype = first.dtype if first.dtype in (torch.float32, torch.float64) else torch.float32
        self.weight, self.weight_t, self.bias = [], [], []
        for weight, bias in folded_linears(model, self.device, self.dtype):
            self.weight.append(weight.contiguous())
            self.weight_t.append(weight.t().contiguous())
            self.bias.append(bias.contiguous())

    def activate_(self, pre: torch.Tensor) -> torch.Tensor:
        return pre.relu_() if self.relu else pre.sigmoid_()

    def width(self, layer: int) -> int:
        """Width of hidden layer ``layer`` (1-based); layer n_hidden + 1 is the logits."""
        return self.sizes[layer - 1] if layer <= self.n_hidden else self.n_classes


class CleanPass:
    """Clean hidden outputs ``hidden[l]`` and pre-activations ``pre[l]`` (l = 1..L; ``pre[L+1]`` is the
    logits), feature-major: (width, N)."""

    def __init__(self, net: FoldedNet, x: torch.Tensor, batch: int = 8192):
        hidden = {l: [] for l in range(1, net.n_hidden + 1)}
        pre = {l: [] for l in range(1, net.n_hidden + 2)}
        for start in range(0, len(x), batch):
            h = x[start : start + batch].t()
            for i in range(net.n_hidden + 1):
                z = torch.addmm(net.bias[i][:, None], net.weight[i], h)
                pre[i + 1].append(z)
                if i < net.n_hidden:
                    h = net.activate_(z.clone())
                    hidden[i + 1].append(h)
        self.hidden = {l: torch.cat(v, 1) for l, v in hidden.items()}
        self.pre = {l: torch.cat(v, 1) for l, v in pre.items()}


class Plan:
    """Per ordering (rows of (layer, neuron)) and grid: where each layer's steps are, and what changes."""

    def __init__(self, net: FoldedNet, rows: np.ndarray, grid: np.ndarray):
        layers, neurons = rows[:, 0], rows[:, 1]
        n = len(rows)
        self.lowest = lowest = int(layers.min())  # nothing below it (nor it) is ever recomputed
        self.grid = grid
        layer_range = range(lowest, net.n_hidden + 1)
        self.steps_in = {m: np.flatnonzero(layers == m) for m in layer_range}  # step positions of layer m
        self.neurons_in = {m: neurons[self.steps_in[m]] for m in layer_range}  # its neurons, in that order
        self.neuron_list = {m: v.tolist() for m, v in self.neurons_in.items()}
        # step_of[m][j] = position of neuron (m, j) in the ordering (n if never ablated)
        self.step_of = {}
        for m in range(lowest + 1, net.n_hidden + 1):
            step = np.full(net.width(m), n, dtype=np.int64)
            step[self.neurons_in[m]] = self.steps_in[m]
            self.step_of[m] = step
        # steps_below[m][k] = how many of the first k steps are in layers < m
        self.steps_below = {m: np.concatenate([[0], np.cumsum(layers < m)]) for m in range(lowest + 1, net.n_hidden + 1)}


class Workspace:
    """One worker's reused buffers: per layer m, room for (block, width of layer m+1, samples)."""

    def __init__(self, net: FoldedNet, lowest: int, block: int, n_samples: int, dtype):
        self.block = block
        layers = range(lowest, net.n_hidden + 1)
        self._pre = {m: torch.empty(block * n_samples * net.width(m + 1), dtype=dtype, device=net.device) for m in layers}
        self._carry = {m: torch.empty(n_samples * net.width(m + 1), dtype=dtype, device=net.device) for m in layers}

    def pre(self, m: int, n_points: int, width: int, n_samples: int) -> torch.Tensor:
        """Pre-activations of layer m+1 for a block of grid points: (n_points, width, n_samples)."""
        return self._pre[m][: n_points * n_samples * width].view(n_points, width, n_samples)

    def carry(self, m: int, width: int, n_samples: int) -> torch.Tensor:
        """Layer m+1's pre-activations at the last grid point of the previous block."""
        return self._carry[m][: n_samples * width].view(width, n_samples)


class LabelMasks:
    """Additive masks over (class, sample): 0 where kept, -inf elsewhere, so a max over classes of
    ``logits + mask`` is the label's logit (``at_label``) or the largest logit of a class before it."""

    def __init__(self, labels: torch.Tensor, n_classes: int, dtype):
        classes = torch.arange(n_classes, device=labels.device)[:, None]
        self.at_label = torch.where(classes == labels[None, :], 0.0, float("-inf")).to(dtype)
        self.before_label = torch.where(classes < labels[None, :], 0.0, float("-inf")).to(dtype)


def count_wrong(logits: torch.Tensor, masks: LabelMasks) -> torch.Tensor:
    """Per block row, samples whose argmax over classes (the first maximum) is not the label.

    logits (n_points, K, samples). A sample is wrong when some class beats its label, or ties with it
    and comes first (argmax takes the first maximum). Faster than argmax over dim 1."""
    top = logits.amax(1)
    at_label = (logits + masks.at_label).amax(1)
    top_before_label = (logits + masks.before_label).amax(1)
    return ((at_label < top) | (top_before_label == top)).sum(1)


def chunk_errors(net: FoldedNet, clean: CleanPass, labels: torch.Tensor, plan: Plan,
                 fill: dict[int, torch.Tensor] | None, ws: Workspace, first: int, n_samples: int) -> np.ndarray:
    """Misclassified samples first..first+n_samples-1 after ablating the first k steps, for every grid k.

    ``fill[l]`` holds the value each neuron of layer l is set to (None: zero). The grid is walked from
    k = n down to 0, restoring neurons: a running sum then only ever adds contributions, so a sample
    whose remaining inputs are all zero keeps exactly the bias (as in the naive pass) rather than the
    rounding residue of subtracting them."""
    n_hidden, lowest = net.n_hidden, plan.lowest
    grid = plan.grid[::-1]
    samples = slice(first, first + n_samples)
    lowest_clean = clean.hidden[lowest][:, samples]
    # change of the lowest layer's outputs when a neuron is restored, (width, samples)
    restore_delta = lowest_clean if fill is None else lowest_clean - fill[lowest][:, None]
    masks = LabelMasks(labels[samples], net.n_classes, net.dtype)
    errors = np.zeros(len(grid), dtype=np.int64)
    for start in range(0, len(grid), ws.block):
        ks = grid[start : start + ws.block]  # grid points of this block, descending
        n_points = len(ks)
        # point b follows point previous_k[b] > ks[b]: the steps ks[b]..previous_k[b]-1 are restored
        previous_k = np.concatenate([[grid[start - 1] if start > 0 else ks[0]], ks[:-1]])
        outputs = None  # outputs of layer m at each point of the block, (n_points, width m, samples)
        for m in range(lowest, n_hidden + 1):
            width = net.width(m + 1)
            pre, carry = ws.pre(m, n_points, width, n_samples), ws.carry(m, width, n_samples)
            weight, weight_t, bias = net.weight[m], net.weight_t[m], net.bias[m][:, None]
            # layer-m steps restored between point b-1 and point b: steps_in[m][first_restored[b]:end_restored[b]]
            first_restored = np.searchsorted(plan.steps_in[m], ks).tolist()
            end_restored = np.searchsorted(plan.steps_in[m], previous_k).tolist()
            if m == lowest:  # the input of the lowest layer never changes: only its own outputs do
                recompute = np.zeros(n_points, dtype=bool)
            else:  # the input of layer m changed since the previous point
                recompute = plan.steps_below[m][previous_k] > plan.steps_below[m][ks]
            if start == 0:  # the first point, k = n: from scratch
                recompute[0] = True
            if m == lowest and recompute[0]:
                h = lowest_clean.clone()
                h[torch.from_numpy(plan.neurons_in[m])] = 0.0 if fill is None else fill[m][plan.neurons_in[m], None]
                torch.addmm(bias, weight, h, out=pre[0])
            elif m > lowest and first_restored[0] > 0:  # network scope: overwrite the ablated outputs of layer m
                point, neuron = np.nonzero((plan.step_of[m][None, :] < ks[:, None]) & recompute[:, None])
                if len(point):
                    neuron = torch.from_numpy(neuron)
                    outputs[torch.from_numpy(point), neuron] = 0.0 if fill is None else fill[m][neuron, None]
            if m > lowest and recompute.all():
                torch.matmul(weight, outputs, out=pre)
                pre.add_(bias)
            else:
                neurons = plan.neuron_list[m]
                for b in range(n_points):
                    if recompute[b]:
                        if m > lowest:
                            torch.addmm(bias, weight, outputs[b], out=pre[b])
                        continue
                    # only layer-m outputs changed since the previous point: a rank-c update
                    previous = carry if b == 0 else pre[b - 1]
                    n_restored = end_restored[b] - first_restored[b]
                    if n_restored == 1:
                        j = neurons[first_restored[b]]
                        if m == lowest:
                            delta = restore_delta[j : j + 1]
                        else:
                            delta = outputs[b][j : j + 1] - (fill[m][j] if fill is not None else 0.0)
                        torch.addcmul(previous, weight_t[j][:, None], delta, out=pre[b])
                    elif n_restored == 0:
                        pre[b].copy_(previous)
                    else:
                        restored = torch.from_numpy(plan.neurons_in[m][first_restored[b] : end_restored[b]])
                        if m == lowest:
                            delta = restore_delta[restored]
                        else:
                            delta = outputs[b][restored] - (fill[m][restored, None] if fill is not None else 0.0)
                        torch.addmm(previous, weight_t[restored].t(), delta, out=pre[b])
            carry.copy_(pre[n_points - 1])
            if m < n_hidden:
                outputs = net.activate_(pre)
            else:
                errors[start : start + n_points] = count_wrong(pre, masks).cpu().numpy()
    return errors[::-1].copy()
