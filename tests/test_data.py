"""pipeline.data: official-format files written to tmp_path, the synthetic set, the Debian Fashion-MNIST, bad input."""

import gzip
import os
import pickle
import socket
from pathlib import Path

import numpy as np
import pytest
import torch

import pipeline.data as data
from pipeline.data import DATASETS, dataset_shape, load_dataset
from pipeline.errors import NeuronInfoError

N_TRAIN, N_TEST = 50, 20


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    """No downloads, no $NEURONINFO_DATA, and an empty cache folder."""
    monkeypatch.setenv("NEURONINFO_OFFLINE", "1")
    monkeypatch.delenv("NEURONINFO_DATA", raising=False)
    monkeypatch.setattr(data, "CACHE_DIR", tmp_path / "cache")


def images(n, d):
    """n random uint8 images of d pixels; image i carries its index in pixels 0 and 1."""
    x = np.random.default_rng(n).integers(0, 256, (n, d), dtype=np.uint8)
    x[:, 0], x[:, 1] = np.arange(n) % 256, np.arange(n) // 256
    return x


def sample_ids(split):
    pixels = (split.x[:, :2] * 255).round().long()
    return pixels[:, 0] + 256 * pixels[:, 1]


def idx_bytes(arr, magic):
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in arr.shape)
    return header + arr.astype(np.uint8).tobytes()


def write_idx_dir(folder, gz=False, n_train=N_TRAIN, n_test=N_TEST, **overrides):
    """The four official IDX files in `folder`; `overrides` maps a file name to the bytes to write instead."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        files[f"{prefix}-images-idx3-ubyte"] = idx_bytes(images(n, 784).reshape(n, 28, 28), 0x803)
        files[f"{prefix}-labels-idx1-ubyte"] = idx_bytes(np.arange(n) % 10, 0x801)
    files.update(overrides)
    for name, raw in files.items():
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(raw))
        else:
            (folder / name).write_bytes(raw)
    return folder


def write_cifar_dir(folder, protocol=pickle.DEFAULT_PROTOCOL, n=10, test_batch=None):
    folder.mkdir(parents=True, exist_ok=True)
    x = images(6 * n, 3072)
    for i, name in enumerate(data.CIFAR_FILES):
        batch = {b"batch_label": b"batch", b"data": x[i * n : (i + 1) * n], b"labels": [j % 10 for j in range(n)]}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=protocol))
    if test_batch is not None:
        (folder / "test_batch").write_bytes(test_batch)
    return folder, x


def error_message(fn, *args, **kwargs):
    with pytest.raises(NeuronInfoError) as info:
        fn(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message and message.strip() == message
    return message


def check_dataset(ds, name, n_train, n_val, n_test, input_dim=784, n_classes=10):
    assert (ds.name, ds.input_dim, ds.n_classes) == (name, input_dim, n_classes)
    for split, n in ((ds.train, n_train), (ds.val, n_val), (ds.test, n_test)):
        assert split.x.shape == (n, input_dim) and split.x.dtype == torch.float32
        assert split.y.shape == (n,) and split.y.dtype == torch.int64
        assert 0 <= split.x.min() and split.x.max() <= 1
        assert 0 <= split.y.min() and split.y.max() < n_classes


# --- loading official-format files ------------------------------------------------------------------

@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("torchvision_layout", [False, True])
def test_idx_files_load(tmp_path, name, gz, torchvision_layout):
    sub = data.TORCHVISION_FOLDERS[name] if torchvision_layout else "."
    write_idx_dir(tmp_path / "d" / sub, gz=gz)
    ds = load_dataset(name, tmp_path / "d", n_val=10)
    check_dataset(ds, name, N_TRAIN - 10, 10, N_TEST)
    assert torch.equal(ds.test.x, torch.tensor(images(N_TEST, 784), dtype=torch.float32) / 255)
    assert torch.equal(ds.test.y, torch.arange(N_TEST) % 10)
    ids = sample_ids(ds.train)
    assert torch.equal(ds.train.y, ids % 10)  # each image keeps its own label


def test_data_dir_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("NEURONINFO_DATA", str(write_idx_dir(tmp_path / "env")))
    check_dataset(load_dataset("mnist", n_val=5), "mnist", N_TRAIN - 5, 5, N_TEST)


def test_split_is_seeded_disjoint_and_complete(tmp_path):
    folder = write_idx_dir(tmp_path, gz=True)
    a, b, c = (load_dataset("mnist", folder, seed=s, n_val=15) for s in (0, 0, 1))
    assert torch.equal(a.train.x, b.train.x) and torch.equal(a.val.y, b.val.y)
    train, val = sample_ids(a.train), sample_ids(a.val)
    assert not set(train.tolist()) & set(val.tolist())
    assert sorted(train.tolist() + val.tolist()) == list(range(N_TRAIN))
    assert not torch.equal(val, sample_ids(c.val))
    assert torch.equal(a.test.x, c.test.x)


@pytest.mark.parametrize("protocol", [2, 4, 5])
@pytest.mark.parametrize("sub", [".", "cifar-10-batches-py"])
def test_cifar_batches_load(tmp_path, protocol, sub):
    _, x = write_cifar_dir(tmp_path / sub, protocol=protocol)
    ds = load_dataset("cifar10", tmp_path, n_val=10)
    check_dataset(ds, "cifar10", 40, 10, 10, input_dim=3072)
    assert torch.equal(ds.test.x, torch.tensor(x[50:], dtype=torch.float32) / 255)  # rows kept channel-major
    assert sorted(sample_ids(ds.train).tolist() + sample_ids(ds.val).tolist()) == list(range(50))


def test_cifar_folder_itself_as_data_dir(tmp_path):
    folder, _ = write_cifar_dir(tmp_path / "cifar-10-batches-py")
    assert load_dataset("cifar10", folder, n_val=1).test.x.shape == (10, 3072)


def test_synthetic_is_fixed_learnable_shape():
    a, b = load_dataset("synthetic", seed=0, n_val=1000), load_dataset("synthetic", seed=1, n_val=1000)
    check_dataset(a, "synthetic", 5000, 1000, 1000, input_dim=64)
    assert torch.equal(a.test.x, b.test.x) and not torch.equal(a.val.x, b.val.x)
    assert set(a.train.y.tolist()) == set(range(10))
    # nearest class mean is far below chance error: the classes are learnable
    means = torch.stack([a.train.x[a.train.y == k].mean(0) for k in range(10)])
    assert (torch.cdist(a.test.x, means).argmin(1) != a.test.y).float().mean() < 0.2
    three = load_dataset("synthetic-3", n_val=1000)
    check_dataset(three, "synthetic-3", 5000, 1000, 1000, input_dim=64, n_classes=3)


def test_dataset_shape():
    assert [dataset_shape(n) for n in DATASETS] == [(784, 10), (784, 10), (3072, 10), (64, 10)]
    assert dataset_shape("synthetic-2") == (64, 2) and dataset_shape("synthetic-10") == (64, 10)
    for bad in ("imagenet", "synthetic-1", "synthetic-11", "synthetic-x", "MNIST"):
        assert "unknown dataset" in error_message(dataset_shape, bad)


@pytest.mark.skipif(not data.DEBIAN_FASHION_MNIST.is_dir(), reason="Debian package dataset-fashion-mnist not installed")
def test_debian_fashion_mnist():
    ds = load_dataset("fashion-mnist")
    check_dataset(ds, "fashion-mnist", 50_000, 10_000, 10_000)
    assert len(ds.train.y) + len(ds.val.y) == 60_000
    for split in (ds.train, ds.val, ds.test):
        assert set(split.y.tolist()) == set(range(10))


# --- bad input: one-line NeuronInfoError ---------------------------------------------------------------

def test_unknown_dataset():
    assert "unknown dataset 'svhn'" in error_message(load_dataset, "svhn")


def test_missing_files_offline(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "DEBIAN_FASHION_MNIST", tmp_path / "no-debian")
    message = error_message(load_dataset, "fashion-mnist", tmp_path / "empty")
    for fragment in ("fashion-mnist", "not found", str(tmp_path / "empty"), "no-debian",
                     "NEURONINFO_OFFLINE", "apt-get install dataset-fashion-mnist", "--data-dir", "go online"):
        assert fragment in message
    assert "apt-get" not in error_message(load_dataset, "cifar10", tmp_path / "empty")


def test_failed_download_is_one_short_line_naming_folders_the_readme_names(monkeypatch, tmp_path):
    """torchvision's error (a heading, then each mirror's URL and its error) comes down to the error itself."""
    def no_network(root, download):
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz:\n"
                           "Tried https://ossci-datasets.s3.amazonaws.com/mnist/, got:\n<urlopen error [Errno -3] name or service not known>\n"
                           "Tried http://yann.lecun.com/exdb/mnist/, got:\n<urlopen error [Errno -3] name or service not known>\n")

    monkeypatch.delenv("NEURONINFO_OFFLINE")
    monkeypatch.delenv("NEURONINFO_DATA", raising=False)
    monkeypatch.setattr("torchvision.datasets.MNIST", no_network)
    monkeypatch.setattr(data, "_unreachable", lambda urls: None)  # the probe passes: the download runs and fails
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(data, "CACHE_DIR", tmp_path / ".cache" / "neuroninfo")  # the default, in a scratch home
    message = error_message(load_dataset, "mnist")
    assert "download failed (<urlopen error [Errno -3] name or service not known>)" in message
    assert "://" not in message and "RuntimeError" not in message and len(message) < 300, (len(message), message)
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert "not found in ~/.cache/neuroninfo " in message and "~/.cache/neuroninfo" in readme



def test_download_sets_no_process_wide_socket_timeout(tmp_path, monkeypatch):
    """Other threads (task runners) keep their socket timeout while a download runs; the server is
    probed with a socket of its own."""
    seen = []
    server = socket.create_server(("127.0.0.1", 0))  # listening: the probe connects

    class Downloader:
        mirrors = [f"http://127.0.0.1:{server.getsockname()[1]}/mnist/"]

        def __init__(self, root, download):
            seen.append(socket.getdefaulttimeout())
            raise RuntimeError("stop here")

    monkeypatch.delenv("NEURONINFO_OFFLINE")
    monkeypatch.setattr("torchvision.datasets.MNIST", Downloader)
    with server:
        assert "stop here" in error_message(load_dataset, "mnist", tmp_path)
    assert seen == [None]


def test_unreachable_server_is_found_by_the_probe(tmp_path, monkeypatch):
    called = []

    class Downloader:
        mirrors = [f"http://127.0.0.1:{free_port()}/mnist/"]  # nothing listens: refused at once

        def __init__(self, root, download):
            called.append(root)

    monkeypatch.delenv("NEURONINFO_OFFLINE")
    monkeypatch.setattr("torchvision.datasets.MNIST", Downloader)
    message = error_message(load_dataset, "mnist", tmp_path)
    assert "was not tried (127.0.0.1 unreachable" in message and "go online" in message
    assert called == [] and socket.getdefaulttimeout() is None


def free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as s:
        return s.getsockname()[1]

IMAGES, LABELS = "train-images-idx3-ubyte", "train-labels-idx1-ubyte"
GOOD_IMAGES = idx_bytes(images(N_TRAIN, 784).reshape(N_TRAIN, 28, 28), 0x803)


@pytest.mark.parametrize("gz, overrides, fragment", [
    (False, {IMAGES: GOOD_IMAGES[:-100]}, "size mismatch"),
    (True, {IMAGES: GOOD_IMAGES[:10]}, "truncated header"),
    (False, {IMAGES: b"\x00\x00\x08\x01" + GOOD_IMAGES[4:]}, "bad magic number"),
    (False, {LABELS: b""}, "bad magic number"),
    (False, {IMAGES: idx_bytes(np.zeros((N_TRAIN, 32, 32)), 0x803)}, "expected (28, 28)"),
    (False, {LABELS: idx_bytes(np.arange(N_TRAIN - 1) % 10, 0x801)}, "49 labels but"),
    (False, {LABELS: idx_bytes(np.arange(N_TRAIN), 0x801)}, "labels out of range"),
])
def test_corrupt_idx(tmp_path, gz, overrides, fragment):
    write_idx_dir(tmp_path, gz=gz, **overrides)
    message = error_message(load_dataset, "mnist", tmp_path, n_val=5)
    assert fragment in message and str(tmp_path) in message


@pytest.mark.parametrize("raw", [b"this is not gzip", gzip.compress(GOOD_IMAGES)[:-50]])
def test_bad_gzip(tmp_path, raw):
    write_idx_dir(tmp_path, gz=True)
    (tmp_path / f"{IMAGES}.gz").write_bytes(raw)
    message = error_message(load_dataset, "fashion-mnist", tmp_path, n_val=5)
    assert f"{IMAGES}.gz: unreadable gzip file" in message


class Exploit:
    def __reduce__(self):
        return os.system, ("touch pwned",)


def test_pickle_with_forbidden_global_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_cifar_dir(tmp_path, test_batch=pickle.dumps({b"data": Exploit(), b"labels": []}))
    message = error_message(load_dataset, "cifar10", tmp_path, n_val=5)
    assert "test_batch: refusing to unpickle forbidden global" in message and "system" in message
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("raw, fragment", [
    (b"garbage", "not a CIFAR-10 batch"),
    (pickle.dumps({b"data": np.zeros((3, 3072), np.float32), b"labels": [0, 1, 2]}), "expected uint8 data"),
    (pickle.dumps({b"data": np.zeros((3, 3072), np.uint8), b"labels": [0, 1, 12]}), "labels out of range"),
])
def test_corrupt_cifar(tmp_path, raw, fragment):
    write_cifar_dir(tmp_path, test_batch=raw)
    assert fragment in error_message(load_dataset, "cifar10", tmp_path, n_val=5)


@pytest.mark.parametrize("n_val", [0, -1, N_TRAIN, N_TRAIN + 1])
def test_n_val_out_of_range(tmp_path, n_val):
    write_idx_dir(tmp_path)
    assert f"n_val={n_val} is out of range" in error_message(load_dataset, "mnist", tmp_path, n_val=n_val)


def test_synthetic_default_n_val_is_too_large():
    assert "the training set has 6000 samples" in error_message(load_dataset, "synthetic")
