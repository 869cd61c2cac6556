"""Quantizers Q: fit thresholds on a layer's validation outputs, then map any output T to a bin.

code = number of thresholds t with T > t  (``numpy.digitize(T, thresholds, right=True)``), so a ReLU
output of exactly 0 is bin 0. Thresholds are per layer and stored, so Q can be re-applied to new data.

- ``uniform`` (default): sigmoid — 2^b equal bins on [0, 1]; ReLU — bin 0 is T <= 0 and the rest
  split (0, max over the layer's validation outputs] into 2^b - 1 equal bins. At b = 1 this is the
  paper's default: threshold 0 for ReLU, 0.5 for sigmoid.
- ``quantile``: equal-mass bins of the layer's pooled validation outputs (ties can leave bins empty).
- ``unit_quantile``: equal-mass bins of each unit's own validation outputs, thresholds (units, 2^b - 1). The
  choice for reduced units (a conv channel's spatial mean, a transformer neuron's token mean): such a mean is
  almost never exactly 0, so the ReLU threshold at 0 would make nearly every unit constant, and units differ in
  scale by orders of magnitude, so one threshold per layer would make the large ones constant too. Per-unit
  equal mass keeps every unit's entropy near b bits unless its values tie (a channel dead on most images):
  mutual information, not entropy, then tells units apart (docs/measures.md, "Units of any network").
"""
from __future__ import annotations

import numpy as np

from pipeline.errors import NeuronInfoError

METHODS = ("uniform", "quantile", "unit_quantile")
MAX_BITS = 8


def check_bits(bits: int, method: str = "uniform") -> None:
    if method not in METHODS:
        raise NeuronInfoError(f"unknown quantizer method {method!r}; use one of {', '.join(METHODS)}")
    if not isinstance(bits, (int, np.integer)) or not 1 <= bits <= MAX_BITS:
        raise NeuronInfoError(f"bits = {bits!r} is out of range; use 1..{MAX_BITS} (e.g. --bits 1,2,3)")


def fit_thresholds(outputs: np.ndarray, bits: int, activation: str, method: str = "uniform") -> np.ndarray:
    """The 2^bits - 1 increasing thresholds (float64) for one layer's validation outputs (N, M); for
    ``unit_quantile`` one row of them per unit, (M, 2^bits - 1)."""
    check_bits(bits, method)
    n_bins = 2**bits
    if method == "unit_quantile":
        return np.quantile(outputs.astype(np.float64, copy=False), np.arange(1, n_bins) / n_bins, axis=0).T.copy()
    if method == "quantile":
        return np.quantile(outputs.astype(np.float64, copy=False), np.arange(1, n_bins) / n_bins)
    if activation == "sigmoid":
        return np.arange(1, n_bins) / n_bins
    top = float(outputs.max()) if outputs.size else 0.0
    return np.concatenate([[0.0], max(top, 0.0) * np.arange(1, n_bins - 1) / (n_bins - 1)])


def fit_quantizers(outputs: dict[int, np.ndarray], bits: list[int],
                   quantizers: dict[int, tuple[str, str]]) -> dict[tuple[int, int], np.ndarray]:
    """The thresholds of every (layer, bits) from each layer's validation outputs ``{layer: (N, M)}`` and its
    quantizer ``{layer: (method, activation)}``."""
    return {(layer, b): fit_thresholds(values, b, quantizers[layer][1], quantizers[layer][0])
            for layer, values in outputs.items() for b in bits}


def apply_thresholds(outputs: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Bin codes (uint8, same shape as ``outputs``): how many thresholds each value exceeds (per-unit
    thresholds, (M, n), apply column by column)."""
    if thresholds.ndim == 2:
        codes = np.zeros(outputs.shape, dtype=np.uint8)
        for t in thresholds.T:  # one threshold per unit: compared row-wise, in float64 like digitize
            codes += outputs > t.astype(np.float64)
        return codes
    if len(thresholds) > 31:
        return np.digitize(outputs, thresholds, right=True).astype(np.uint8)
    codes = np.zeros(outputs.shape, dtype=np.uint8)
    for t in thresholds:  # a few vectorised comparisons beat digitize's binary search by ~8x
        codes += outputs > np.float64(t)  # compared in float64, exactly like digitize
    return codes
