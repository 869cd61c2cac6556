"""What `neuroninfo paper` runs: the paper's grid per available dataset (no Prefect here).

The grid is activation {relu, sigmoid} x regularizer {none, l2, dropout, dropout_bn} x seeds with each
dataset's preset sizes and epochs, for each architecture of ``archs`` (default the study's mlp; cnn and vit
opt in: a vit's activation is its own GELU, so it has the regularizers only); a dataset whose files are
missing is skipped with one line saying where to put them. ``quick`` trains 2 epochs, one seed, and
ablates on a 20-step k-grid.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from pipeline.data import CACHE_DIR, TORCHVISION_FOLDERS, check_available, dataset_shape
from pipeline.errors import NeuronInfoError
from pipeline.options import ANALYSIS
from pipeline.spec import ACTIVATIONS, BUILTIN, REGULARIZERS, NetworkSpec, preset_spec

PAPER_ARCHS = ("mlp", "cnn", "vit")  # what --archs takes; the default grid is the study's: mlp

QUICK_EPOCHS = 2
QUICK_STEPS = 20  # k-grid points per curve with --quick


@dataclass(frozen=True)
class PaperPlan:
    specs: list[NetworkSpec]
    skipped: list[str]  # one line per dataset left out, saying where its files go
    quick: bool
    bits: tuple[int, ...] = ANALYSIS.bits
    strategies: tuple[str, ...] = ANALYSIS.strategies
    random_repeats: int = ANALYSIS.random_repeats

    @property
    def steps(self) -> int | None:
        """The k-grid of the curves: each network's default (None: every k, the cifar10 preset's own grid), or 20 points quick."""
        return QUICK_STEPS if self.quick else None


def paper_plan(datasets: list[str], seeds: list[int], quick: bool = False, data_dir: str | None = None,
               archs: tuple[str, ...] = ("mlp",)) -> PaperPlan:
    """The networks of the paper's grid on every dataset of ``datasets`` whose files are found, per architecture."""
    unknown = [a for a in archs if a not in PAPER_ARCHS]
    if unknown or not archs:
        raise NeuronInfoError(f"--archs {','.join(archs)}: the paper grid takes {', '.join(PAPER_ARCHS)}")
    for dataset in datasets:
        dataset_shape(dataset)  # a one-line error for an unknown name (synthetic sets serve tests)
    if not datasets or not seeds:
        raise NeuronInfoError("the paper grid needs at least one dataset and one seed, e.g. --datasets fashion-mnist --seeds 0")
    seeds = list(dict.fromkeys(seeds))[:1] if quick else list(dict.fromkeys(seeds))
    specs, skipped = [], []
    for dataset in dict.fromkeys(datasets):
        try:
            check_available(dataset, data_dir)
        except NeuronInfoError:
            skipped.append(missing_line(dataset, data_dir))
            continue
        input_dim, n_classes = dataset_shape(dataset)
        specs += [preset_spec(dataset, input_dim, n_classes, activation=a, regularizer=r, seed=s,
                              epochs=QUICK_EPOCHS if quick else None, arch=arch)
                  for arch in dict.fromkeys(archs) for a in (ACTIVATIONS if arch != "vit" else (BUILTIN,))
                  for r in REGULARIZERS for s in seeds]
    if not specs:
        raise NeuronInfoError(f"no dataset of {', '.join(datasets)} is available: " + " ".join(skipped))
    return PaperPlan(specs, skipped, quick)


def missing_line(dataset: str, data_dir: str | None) -> str:
    """One line: the dataset is skipped, and where its files go."""
    root = data_dir or os.environ.get("NEURONINFO_DATA") or CACHE_DIR
    if dataset == "fashion-mnist":
        return f"fashion-mnist skipped: files not found; apt-get install dataset-fashion-mnist, or put them in {root}/{TORCHVISION_FOLDERS[dataset]}"
    return (f"{dataset} skipped: files not found (they cannot be downloaded here); put the official files in "
            f"{root}/{TORCHVISION_FOLDERS[dataset]} (torchvision's layout) and rerun")


def grid_progress(done: int, total: int, elapsed_s: float) -> str:
    """``networks done / total`` with an ETA from the mean time per network so far."""
    eta = elapsed_s / done * (total - done) if done else float("nan")
    return f"paper: {done}/{total} networks done, {elapsed_s / 60:.1f} min so far, ETA {eta / 60:.1f} min"
