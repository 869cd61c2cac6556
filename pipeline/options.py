"""The analysis defaults, written once: the CLI, the Python API, the flows, the paper grid and repair read them.

``AnalysisOptions`` holds what a run's analysis takes after training (capture, measure, pairs, ablate);
``SweepOptions`` what a pruning sweep takes. The other module constants are choices the verbs offer.
"""
from __future__ import annotations

from dataclasses import dataclass

STRATEGIES = ("zero", "mean")  # ablate (or prune) a neuron to 0, or to its training-set mean
SCOPES = ("layer", "network")  # rank neurons within one hidden layer, or over all hidden neurons together
ORDERINGS = ("low_first", "high_first", "random")
PAPER_DATASETS = ("mnist", "fashion-mnist", "cifar10")
SQL_TIMEOUT_S = 300.0  # neuroninfo sql stops a query after this long
SERVE_CRON = "*/15 * * * *"  # the schedule of reanalyze-checkpoints/scheduled
# Bounds checked before anything is allocated (a value beyond one is a one-line error, exit 2):
MAX_RANDOM_REPEATS = 1000  # random orderings per scope one ablation evaluates
MAX_PARAMETERS = 200_000_000  # weights and biases of a network trained here (800 MB of float32)
INTERVALS = ("analytic", "bootstrap")  # how measure_estimates' intervals are made
MAX_CLASSES = 256  # classes of a dataset: labels are stored as uint8 in the activation store


@dataclass(frozen=True)
class AnalysisOptions:
    """What a run's analysis is made with, unless the user says otherwise."""

    bits: tuple[int, ...] = (1, 2, 3)  # quantizer resolutions captured and measured
    method: str = "uniform"  # quantizer for bits > 1: uniform | quantile
    pair_bits: tuple[int, ...] = (1,)  # pairs within layers at these bits (those captured), before ablation
    strategies: tuple[str, ...] = STRATEGIES
    random_repeats: int = 5  # random orderings per scope (seeds 0..R-1)
    steps: int | None = None  # k-grid of the curves; None: the network's default (every k; a grid for the cifar10 preset)
    scopes: tuple[str, ...] = SCOPES  # ablation curves ranked within each layer, over the whole network, or both


@dataclass(frozen=True)
class SweepOptions:
    """What ``prune-sweep`` is made with, unless the user says otherwise."""

    bits: int = 1  # quantizer bits of the per-bits criteria
    keeps: tuple[float, ...] = (0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1)  # kept fractions of the hidden neurons
    scope: str = "network"
    strategy: str = "mean"
    finetune_epochs: tuple[int, ...] = (0, 1)


ANALYSIS = AnalysisOptions()
SWEEP = SweepOptions()


@dataclass(frozen=True)
class EstimateSpec:
    """How measure_estimates is computed."""

    intervals: str = "analytic"  # analytic (delta method) | bootstrap (multinomial resamples of each table)
    resamples: int = 200  # B, bootstrap resamples per table
    shuffles: int = 20  # label permutations behind the shuffle estimator
    permutations: int = 200  # permutations behind the p-value of a small-sample table (p >= 1/201)
    level: float = 0.95  # interval coverage

    def __post_init__(self):
        if self.intervals not in INTERVALS:
            raise ValueError(f"intervals must be one of {INTERVALS}, got {self.intervals!r}")
        for name in ("resamples", "shuffles", "permutations"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0 < self.level < 1:
            raise ValueError(f"level must lie in (0, 1), got {self.level}")
