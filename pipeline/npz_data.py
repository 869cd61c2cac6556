"""A user's own dataset: ``npz:PATH``, an .npz file holding x_train, y_train, x_test, y_test.

Images (N, H, W[, C]) are flattened; uint8 inputs are scaled to [0, 1] like the official sets, float
inputs are used as they are. Labels are integers 0..K-1 (K = the largest label + 1, at least 2). Every
mistake is a one-line error naming the file and what to fix; nothing is ever unpickled.
"""
from __future__ import annotations

import os
from functools import lru_cache

import numpy as np

from pipeline.errors import NeuronInfoError
from pipeline.options import MAX_CLASSES

PREFIX = "npz:"
KEYS = ("x_train", "y_train", "x_test", "y_test")


def is_npz(name: str) -> bool:
    return isinstance(name, str) and name.startswith(PREFIX)


def canonical(name: str) -> str:
    """``npz:`` + the file's absolute path (so a spec names the same file from any folder)."""
    return PREFIX + os.path.abspath(os.path.expanduser(name[len(PREFIX):])) if is_npz(name) else name


def confine(name: str, folder: str | os.PathLike | None) -> None:
    """Refuse an ``npz:`` dataset outside ``folder`` (any, when there is no folder): what a file dropped by someone
    else (the inbox) may name. Decided on the path's text alone, before anything looks at the file system, so a
    refusal says nothing about whether the path exists; ``..`` is resolved first."""
    if not is_npz(name):
        return
    path = os.path.normpath(os.path.abspath(name[len(PREFIX):]))
    root = os.path.normpath(os.path.abspath(folder)) if folder else None
    if root is None or os.path.commonpath([root, path]) != root:
        where = f"inside the data folder {root}" if root else "inside the data folder, and none was given (--data-dir DIR)"
        raise NeuronInfoError(f"dataset {name}: a dropped file may name an npz: dataset only {where}; "
                              "put the .npz there and name it npz:<data folder>/<file>.npz")


def shape(name: str) -> tuple[int, int, int]:
    """(input_dim, n_classes, n_train) of an npz dataset."""
    (x, y), _ = arrays(name)
    return x.shape[1], int(y.max()) + 1, len(y)


@lru_cache(maxsize=2)
def arrays(name: str) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """((x_train, y_train), (x_test, y_test)) with x flattened to (N, D), y as int64; checked."""
    path = name[len(PREFIX):]

    def bad(what: str, fix: str):
        raise NeuronInfoError(f"dataset {name}: {what}; {fix}")

    if not os.path.isfile(path):
        bad("no such file", "give --dataset npz:PATH of an .npz with x_train, y_train, x_test, y_test")
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in KEYS if k not in data.files]
            if missing:
                bad(f"lacks {', '.join(missing)} (it has {', '.join(data.files) or 'nothing'})",
                    "save it with numpy.savez(path, x_train=..., y_train=..., x_test=..., y_test=...)")
            loaded = {k: data[k] for k in KEYS}
    except NeuronInfoError:
        raise
    except Exception as e:  # noqa: BLE001 - empty, not a zip, truncated, object arrays (pickles are refused): all unreadable
        text = (str(e).strip().splitlines() or [type(e).__name__])[0]
        bad(f"cannot be read as .npz ({text})", "write plain numeric arrays with numpy.savez")
    out = []
    for split in ("train", "test"):
        x, y = loaded[f"x_{split}"], loaded[f"y_{split}"]
        if x.ndim < 2 or len(x) != len(y) or y.ndim != 1:
            bad(f"x_{split} {x.shape} and y_{split} {y.shape} do not match", "give x as (N, ...) and y as (N,) labels")
        if not (np.issubdtype(x.dtype, np.number) and np.issubdtype(y.dtype, np.integer)):
            bad(f"x_{split} is {x.dtype}, y_{split} is {y.dtype}", "use numeric inputs and integer labels")
        x = x.reshape(len(x), -1)
        if not np.isfinite(x).all():
            bad(f"x_{split} holds NaN or inf", "clean the inputs")
        out.append((x, y.astype(np.int64)))
    (x, y), (x_test, y_test) = out
    if x.shape[1] != x_test.shape[1]:
        bad(f"x_train has {x.shape[1]} features but x_test {x_test.shape[1]}", "give both splits the same input shape")
    if len(y) < 2 or y.min() < 0 or y.max() < 1 or y_test.min() < 0 or y_test.max() > y.max():
        bad("labels must be 0..K-1 with K >= 2 (test labels among the training ones)", "relabel the classes as 0..K-1")
    if y.max() >= MAX_CLASSES or len(np.unique(y)) != y.max() + 1:  # before anything allocates per class
        bad(f"the training labels are {len(np.unique(y))} distinct values up to {y.max()}",
            f"relabel the classes as 0..K-1, each one present, K <= {MAX_CLASSES}")
    return (x, y), (x_test, y_test)
