"""Datasets: MNIST, Fashion-MNIST and CIFAR-10 from their official files, and a seeded synthetic set.

Every split holds float32 inputs in [0, 1] flattened to (N, D) (CIFAR channel-major: C, H, W) and
int64 labels 0..K-1. The official training set is split by `seed` into train and validation; the
official test set is the test split.

Files are looked for in `data_dir`, then $NEURONINFO_DATA, then (Fashion-MNIST only) the Debian
package's /usr/share/datasets/fashion-mnist, then ~/.cache/neuroninfo; in each, both the bare official
file names (IDX gzipped or not) and torchvision's layout (MNIST/raw, FashionMNIST/raw,
cifar-10-batches-py) are accepted. If nothing is found, torchvision downloads the files into the
first of `data_dir`, $NEURONINFO_DATA, ~/.cache/neuroninfo (after a 5 s probe of the server), unless
NEURONINFO_OFFLINE=1 (then no download is attempted).
"""

import codecs
import contextlib
import gzip
import io
import math
import os
import pickle
import re
import socket
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import torch
from numpy._core.multiarray import _reconstruct
from numpy._core.numeric import _frombuffer

from pipeline import npz_data
from pipeline.errors import NeuronInfoError

DATASETS = ("mnist", "fashion-mnist", "cifar10", "synthetic")  # plus "synthetic-K", 2 <= K <= 10
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")  # apt-get install dataset-fashion-mnist
CACHE_DIR = Path.home() / ".cache" / "neuroninfo"
SYNTHETIC_SEED = 1804_06679  # fixed, so the synthetic data are the same in every run
PROBE_TIMEOUT = 5  # seconds: how soon a machine without network is told so

IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
CIFAR_FILES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch")
TORCHVISION_FOLDERS = {"mnist": "MNIST/raw", "fashion-mnist": "FashionMNIST/raw", "cifar10": "cifar-10-batches-py"}
_TORCHVISION = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST", "cifar10": "CIFAR10"}
_SHAPES = {"mnist": (784, 10), "fashion-mnist": (784, 10), "cifar10": (3072, 10)}
_SYNTHETIC = {"synthetic": 10} | {f"synthetic-{k}": k for k in range(2, 11)}
_TRAIN_SIZES = {"mnist": 60_000, "fashion-mnist": 60_000, "cifar10": 50_000} | {name: 6_000 for name in _SYNTHETIC}
DEFAULT_N_VAL = 10_000


@dataclass(frozen=True)
class Split:
    x: torch.Tensor  # float32 (N, D) in [0, 1]
    y: torch.Tensor  # int64 (N,), labels 0..K-1


@dataclass(frozen=True)
class Dataset:
    name: str
    n_classes: int
    input_dim: int
    train: Split
    val: Split
    test: Split


def dataset_shape(name: str) -> tuple[int, int]:
    """(input_dim, n_classes) of a dataset, without loading it (an npz: dataset is read and checked)."""
    if npz_data.is_npz(name):
        return npz_data.shape(name)[:2]
    if name in _SHAPES:
        return _SHAPES[name]
    if name in _SYNTHETIC:
        return 64, _SYNTHETIC[name]
    raise _error(f"unknown dataset {name!r}: choose one of {', '.join(DATASETS)}, synthetic-K (2 <= K <= 10) or npz:PATH")


def input_channels(name: str) -> int:
    """Channels of ``name``'s channel-major inputs: 3 for CIFAR-10, 1 for the grey-scale and other sets."""
    return 3 if name == "cifar10" else 1


def image_shape(name: str, input_dim: int | None = None) -> tuple[int, int, int]:
    """(channels, height, width) of ``name``'s images: channel-major and square (a grey npz: dataset of
    784 values is 1x28x28, of 3072 with 3 channels' stats 3x32x32)."""
    input_dim = input_dim or dataset_shape(name)[0]
    channels = input_channels(name) if input_dim % 3 or name == "cifar10" or not npz_data.is_npz(name) else (
        3 if math.isqrt(input_dim // 3) ** 2 * 3 == input_dim and math.isqrt(input_dim) ** 2 != input_dim else 1)
    side = math.isqrt(input_dim // channels)
    if side * side * channels != input_dim:
        raise _error(f"{name}'s {input_dim} input values are not square images; train an mlp (--arch mlp)")
    return channels, side, side


def default_n_val(name: str) -> int:
    """Validation samples split off ``name``'s training set by default: 10,000, or a sixth of a smaller set."""
    dataset_shape(name)  # a one-line error for an unknown name
    return min(DEFAULT_N_VAL, _train_size(name) // 6)


def _train_size(name: str) -> int:
    return npz_data.shape(name)[2] if npz_data.is_npz(name) else _TRAIN_SIZES[name]


def check_available(name: str, data_dir: str | Path | None = None, n_val: int | None = None) -> None:
    """A one-line error unless ``name``'s files can be found (or downloaded) and ``n_val`` fits its
    training set: before any work begins."""
    dataset_shape(name)
    n = _train_size(name)
    if n_val is not None and not 0 < n_val < n:
        raise _error(f"{name}: n_val={n_val} is out of range: the training set has {n} samples, so 1 <= n_val <= {n - 1}")
    if name not in _SYNTHETIC and not npz_data.is_npz(name):
        _find_files(name, data_dir)


def load_dataset(name: str, data_dir: str | Path | None = None, seed: int = 0, n_val: int = 10_000) -> Dataset:
    """Load `name`, split its official training set by `seed` into train and `n_val` validation samples."""
    input_dim, n_classes = dataset_shape(name)
    if name in _SYNTHETIC:
        (x, y), (x_test, y_test) = _synthetic(n_classes)
    elif npz_data.is_npz(name):
        (x, y), (x_test, y_test) = npz_data.arrays(name)
    elif name == "cifar10":
        (x, y), (x_test, y_test) = _load_cifar(_find_files(name, data_dir))
    else:
        (x, y), (x_test, y_test) = _load_idx(_find_files(name, data_dir))
    n = len(y)
    if not 0 < n_val < n:
        raise _error(f"{name}: n_val={n_val} is out of range: the training set has {n} samples, "
                     f"so 1 <= n_val <= {n - 1}")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).numpy()
    val, train = np.sort(perm[:n_val]), np.sort(perm[n_val:])
    splits = _split(x[train], y[train]), _split(x[val], y[val]), _split(x_test, y_test)
    return Dataset(name, n_classes, input_dim, *splits)


def _split(x: np.ndarray, y: np.ndarray) -> Split:
    """Numpy arrays -> Split; uint8 images become float32 / 255 (one float copy)."""
    xt = torch.tensor(x, dtype=torch.float32)
    return Split(xt.div_(255) if x.dtype == np.uint8 else xt, torch.tensor(y, dtype=torch.int64))


def _error(message: str) -> NeuronInfoError:
    return NeuronInfoError(" ".join(message.split()))  # always one line


# ---------------------------------------------------------------------------------------------------
# finding (or downloading) the official files

def _find_files(name: str, data_dir: str | Path | None) -> dict[str, Path]:
    """Official file name -> path, from the first folder that holds all of them."""
    names = CIFAR_FILES if name == "cifar10" else IDX_FILES
    env = os.environ.get("NEURONINFO_DATA")
    roots = [Path(d).expanduser() for d in (data_dir, env) if d]
    roots += [DEBIAN_FASHION_MNIST] if name == "fashion-mnist" else []
    roots += [CACHE_DIR]
    for root in roots:
        for folder in (root, root / TORCHVISION_FOLDERS[name]):
            if files := _files_in(folder, names):
                return files
    download_root = Path(data_dir or env or CACHE_DIR).expanduser()
    why = _download(name, download_root)
    if why is None and (files := _files_in(download_root / TORCHVISION_FOLDERS[name], names)):
        return files
    apt = "apt-get install dataset-fashion-mnist, or " if name == "fashion-mnist" else ""
    raise _error(
        f"{name}: official files not found in {', '.join(map(_shown, roots))} (nor their {TORCHVISION_FOLDERS[name]}/) "
        f"and {why or 'the download left no files'}; fix: {apt}pass --data-dir DIR holding {names[0]} and the "
        f"{len(names) - 1} other official files, or go online"
    )


def _shown(path: Path) -> str:
    """``path`` as the README names it (``~`` for the home folder)."""
    home = str(Path.home())
    return "~" + str(path)[len(home):] if str(path).startswith(home + os.sep) else str(path)


def _reason(error: Exception) -> str:
    """An exception's text in one short line: its headings ('Error downloading X:', 'Tried URL, got:'),
    URLs and repeated lines left out."""
    lines = [line.strip() for line in str(error).splitlines()]
    lines = [re.sub(r"\s*\S+://\S+", "", line).strip(" ,") for line in lines if line and not line.endswith(":")]
    kept = list(dict.fromkeys(line for line in lines if line))
    text = "; ".join(kept) or type(error).__name__
    return text if len(text) <= 160 else text[:157] + "..."


def _files_in(folder: Path, names: tuple[str, ...]) -> dict[str, Path] | None:
    """All of `names` in `folder` (each plain or .gz), or None."""
    paths = {n: next((p for p in (folder / n, folder / f"{n}.gz") if p.is_file()), None) for n in names}
    return paths if all(paths.values()) else None


def _download(name: str, root: Path) -> str | None:
    """Download with torchvision into `root`; None on success, else why not."""
    if os.environ.get("NEURONINFO_OFFLINE", "") not in ("", "0"):
        return "no download was tried (NEURONINFO_OFFLINE is set)"
    import torchvision.datasets

    downloader = getattr(torchvision.datasets, _TORCHVISION[name])
    why = _unreachable([*getattr(downloader, "mirrors", ()), getattr(downloader, "url", None)])
    if why:
        return f"the download was not tried ({why})"
    try:
        with contextlib.redirect_stdout(sys.stderr):  # stdout's last line belongs to the CLI
            downloader(root=str(root), download=True)
        return None
    except Exception as e:
        return f"the download failed ({_reason(e)})"


def _unreachable(urls: list) -> str | None:
    """Why none of the servers of ``urls`` accepts a connection within PROBE_TIMEOUT (a socket of its own,
    so no process-wide timeout is set), or None when one does (or there is no URL to probe)."""
    why = None
    for url in map(urlsplit, filter(None, urls)):
        try:
            socket.create_connection((url.hostname, url.port or (443 if url.scheme == "https" else 80)), PROBE_TIMEOUT).close()
            return None
        except OSError as e:
            why = f"{url.hostname} unreachable: {type(e).__name__}: {e}"
    return why


def _read_bytes(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path) as f:
                return f.read()
        return path.read_bytes()
    except (OSError, EOFError, zlib.error) as e:
        gz = " gzip" if path.suffix == ".gz" else ""
        raise _error(f"{path}: unreadable{gz} file ({type(e).__name__}: {e})") from None


# ---------------------------------------------------------------------------------------------------
# MNIST / Fashion-MNIST: IDX files

def _load_idx(files: dict[str, Path]):
    """((x_train, y_train), (x_test, y_test)) as uint8 (N, 784) images and int64 labels."""
    out = []
    for prefix in ("train", "t10k"):
        images, labels = files[f"{prefix}-images-idx3-ubyte"], files[f"{prefix}-labels-idx1-ubyte"]
        x = _read_idx(images, 0x00000803, (28, 28))
        y = _read_idx(labels, 0x00000801, ())
        if len(x) != len(y):
            raise _error(f"{labels}: {len(y)} labels but {images.name} holds {len(x)} images")
        out.append((x.reshape(len(x), -1), _checked_labels(labels, y, 10)))
    return out


def _read_idx(path: Path, magic: int, item_shape: tuple[int, ...]) -> np.ndarray:
    """One IDX file (big-endian header: magic, then one uint32 per dimension) as a uint8 array."""
    raw = _read_bytes(path)
    kind = "images" if magic == 0x00000803 else "labels"
    if len(raw) < 4 or int.from_bytes(raw[:4], "big") != magic:
        raise _error(f"{path}: bad magic number 0x{raw[:4].hex()}, expected {magic:#010x} (IDX {kind})")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise _error(f"{path}: truncated header ({len(raw)} bytes)")
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    if dims[1:] != item_shape:
        raise _error(f"{path}: {kind} of shape {dims[1:]}, expected {item_shape}")
    if len(raw) != (size := header + math.prod(dims)):
        raise _error(f"{path}: size mismatch: {len(raw)} bytes, the header promises {size} (truncated or corrupt)")
    return np.frombuffer(raw, np.uint8, offset=header).reshape(dims)


def _checked_labels(path: Path, y: np.ndarray, n_classes: int) -> np.ndarray:
    y = y.astype(np.int64)
    if len(y) and (y.min() < 0 or y.max() >= n_classes):
        raise _error(f"{path}: labels out of range {y.min()}..{y.max()}, expected 0..{n_classes - 1}")
    return y


# ---------------------------------------------------------------------------------------------------
# CIFAR-10: pickled batches (the official format), read with a restricted unpickler

_PICKLE_GLOBALS = {
    ("builtins", "dict"): dict, ("builtins", "list"): list, ("builtins", "bytes"): bytes,
    ("builtins", "str"): str, ("builtins", "int"): int,
    ("_codecs", "encode"): codecs.encode,  # bytes in pickle protocols < 3
    ("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype,
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct, ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy.core.numeric", "_frombuffer"): _frombuffer, ("numpy._core.numeric", "_frombuffer"): _frombuffer,
}


class _DataUnpickler(pickle.Unpickler):
    """Unpickles plain data and numpy arrays only; any other global is refused."""

    def __init__(self, data: bytes, path: Path):
        super().__init__(io.BytesIO(data), encoding="bytes")
        self.path = path

    def find_class(self, module, name):
        if (module, name) not in _PICKLE_GLOBALS:
            raise _error(f"{self.path}: refusing to unpickle forbidden global {module}.{name} "
                         "(only plain data and numpy arrays are allowed)")
        return _PICKLE_GLOBALS[module, name]


def _load_cifar(files: dict[str, Path]):
    """((x_train, y_train), (x_test, y_test)) as uint8 (N, 3072) images and int64 labels."""
    batches = [_read_cifar_batch(files[n]) for n in CIFAR_FILES[:5]]
    train = np.concatenate([x for x, _ in batches]), np.concatenate([y for _, y in batches])
    return train, _read_cifar_batch(files["test_batch"])


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    data = _read_bytes(path)
    try:
        batch = _DataUnpickler(data, path).load()
        x, y = np.asarray(batch[b"data"]), np.asarray(batch[b"labels"], dtype=np.int64)
    except NeuronInfoError:
        raise
    except Exception as e:
        raise _error(f"{path}: not a CIFAR-10 batch ({type(e).__name__}: {e})") from None
    if x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != 3072 or y.shape != (len(x),):
        raise _error(f"{path}: expected uint8 data of shape (N, 3072) and N labels, "
                     f"got {x.dtype} {x.shape} and {y.shape} labels")
    return x, _checked_labels(path, y, 10)


# ---------------------------------------------------------------------------------------------------
# synthetic: 8x8 class prototypes plus noise

def _synthetic(n_classes: int, n_train: int = 6000, n_test: int = 1000):
    """Each class a random binary 8x8 pattern; samples add Gaussian noise (sd 0.8), clipped to [0, 1]."""
    rng = np.random.default_rng([SYNTHETIC_SEED, n_classes])
    prototypes = (rng.random((n_classes, 64)) < 0.5).astype(np.float32)

    def sample(n):
        y = rng.permutation(np.arange(n) % n_classes)
        x = np.clip(prototypes[y] + rng.normal(0.0, 0.8, (n, 64)), 0.0, 1.0).astype(np.float32)
        return x, y.astype(np.int64)

    return sample(n_train), sample(n_test)
