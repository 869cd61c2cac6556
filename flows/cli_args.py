"""The CLI's argument types and shared options: comma lists, run_ids, positive numbers, --inputs, --device."""
from __future__ import annotations

import argparse
import json


def ints(text: str) -> tuple[int, ...]:
    """Comma-separated integers, duplicates dropped (order kept); an empty list is an error."""
    try:
        values = tuple(dict.fromkeys(int(v) for v in text.split(",") if v.strip()))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError(f"expected at least one integer, got {text!r}")
    return values


def epoch_list(text: str) -> tuple[int, ...] | str:
    """Comma-separated epochs, or 'log' (a logarithmic grid: pipeline.trajectory.log_epochs)."""
    return "log" if text.strip().lower() == "log" else ints(text)


def checkpoint_arguments(p, analysed: bool = False) -> None:
    """--checkpoint-epochs and --checkpoint-every (and, for a verb that analyses them, --full-epochs)."""
    p.add_argument("--checkpoint-epochs", type=epoch_list, help="also keep the network after these epochs, each a run of "
                   "its own linked in trajectory_points: e.g. 0,1,2,4,8 (0: as initialised) or log (0, 1, 2, 4, ... and "
                   "the last); docs/trajectories.md")
    p.add_argument("--checkpoint-every", type=int, help="also keep the network every N epochs from 0")
    if analysed:
        p.add_argument("--full-epochs", type=ints, help="kept epochs that also get pairs and ablation (default: 0 and the "
                       "powers of two); the others are measured only")


def floats(text: str) -> tuple[float, ...]:
    """Comma-separated numbers (one per input channel)."""
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError(f"expected at least one number, got {text!r}")
    return values


def run_id(text: str) -> str:
    """A run_id: 16 lowercase hex digits (so it is safe in paths and SQL)."""
    if len(text) != 16 or any(c not in "0123456789abcdef" for c in text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a run_id (16 hex digits); list them with: neuroninfo sql \"SELECT run_id, name FROM runs\"")
    return text


def words(text: str) -> tuple[str, ...]:
    """Comma-separated words, duplicates dropped (order kept); an empty list is an error."""
    values = tuple(dict.fromkeys(v.strip() for v in text.split(",") if v.strip()))
    if not values:
        raise argparse.ArgumentTypeError(f"expected at least one comma-separated value, got {text!r}")
    return values


def json_object(text: str) -> str:
    """A JSON object, kept as its text (``--storage-options``): checked here, whatever the warehouse."""
    try:
        value = json.loads(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"expected a JSON object such as '{{\"anon\": true}}', got {text!r} ({e})") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object such as '{{\"anon\": true}}', got {text!r}")
    return text


def positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def count(text: str) -> int:
    """A whole number of at least 1 (workers, threads)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return value


def arch_arguments(p) -> None:
    """--arch and --arch-kwargs: which network to train (pipeline/architectures.py)."""
    p.add_argument("--arch", default="mlp", help="mlp (default, the study's), cnn, vit, torchvision:NAME (e.g. "
                   "torchvision:resnet18, random weights) or package.module:Class (your own nn.Module)")
    p.add_argument("--arch-kwargs", type=json_object, help="JSON keyword arguments of the architecture's builder, "
                   "e.g. '{\"layers\": 2}' for vit")


def unit_arguments(p) -> None:
    """--layers and --reducer: which modules' outputs are units, and how a unit becomes one value per sample."""
    p.add_argument("--layers", type=words, help="comma-separated globs over module paths (default: every activation "
                   "after a conv/linear block; every transformer block's MLP activation), e.g. 'features.*'")
    p.add_argument("--reducer", choices=("mean", "max", "cls", "position"),
                   help="channels: mean (default) or max over space, position (every position a unit: small maps "
                        "only, positions of one image are not independent samples); tokens: mean (default) or cls")


def inputs_argument(p) -> None:
    p.add_argument("--inputs", choices=("standardized", "unit"), default="standardized",
                   help="standardized (default): per-channel mean/std of the training split, stored in the spec; "
                        "unit: the [0, 1] pixels as loaded")


DEVICE = dict(default="cpu", help="torch device for training, capture and ablation: cpu (default), cuda, cuda:N or mps "
              "(not part of a run's identity)")
