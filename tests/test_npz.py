"""A user's own data: --dataset npz:PATH trains, captures and measures like the official sets; a bad
file is one line and exit 2."""
import numpy as np
import pytest

from flows.cli import main
from store.paths import open_warehouse
from store.sandbox import query


def blobs(n, rng, k=4):
    """Class prototypes plus noise, as uint8 8x8 images."""
    prototypes = rng.integers(0, 256, (k, 8, 8))
    y = rng.integers(0, k, n)
    x = np.clip(prototypes[y] + rng.normal(0, 40, (n, 8, 8)), 0, 255).astype(np.uint8)
    return x, y.astype(np.int64)


@pytest.fixture
def npz_file(tmp_path):
    rng = np.random.default_rng(0)
    (x, y), (xt, yt) = blobs(600, rng), blobs(200, rng)
    path = tmp_path / "mine.npz"
    np.savez(path, x_train=x, y_train=y, x_test=xt, y_test=yt)
    return path


def test_train_capture_measure_on_an_npz(tmp_path, npz_file, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a relative path is stored as the file's absolute path
    wh = str(tmp_path / "wh")
    assert main(["train", "--dataset", "npz:mine.npz", "--hidden", "16,8", "--epochs", "20", "--warehouse", wh]) == 0
    run_id = capsys.readouterr().out.strip().splitlines()[-1]
    assert main(["capture", run_id, "--bits", "1", "--warehouse", wh]) == 0
    assert main(["measure", run_id, "--warehouse", wh]) == 0
    [run] = query(open_warehouse(wh), "SELECT dataset, input_dim, n_classes, n_train, n_val, n_test, test_error FROM runs").to_pylist()
    assert run["dataset"] == f"npz:{npz_file}" and (run["input_dim"], run["n_classes"]) == (64, 4)
    assert (run["n_train"], run["n_val"], run["n_test"]) == (500, 100, 200)  # a sixth of 600 for validation
    assert run["test_error"] < 0.5  # chance is 0.75: the net learns the prototypes
    stats = query(open_warehouse(wh), "SELECT count(*) AS n FROM neuron_stats").to_pylist()
    assert stats == [{"n": 16 + 8}]


BAD = [  # (arrays to save, or raw bytes; a word of the one-line message)
    (dict(x_train=np.zeros((10, 4)), y_train=np.arange(10) % 2, x_test=np.zeros((5, 4))), "lacks y_test"),
    (dict(x_train=np.zeros((10, 4)), y_train=np.arange(10) % 2 - 1, x_test=np.zeros((5, 4)), y_test=np.zeros(5, int)),
     "labels must be 0..K-1"),
    (dict(x_train=np.zeros((10, 4)), y_train=np.arange(10) % 2, x_test=np.zeros((5, 3)), y_test=np.zeros(5, int)),
     "4 features but x_test 3"),
    (dict(x_train=np.array([object()] * 10), y_train=np.arange(10) % 2, x_test=np.zeros((5, 4)), y_test=np.zeros(5, int)),
     "cannot be read as .npz"),
    (dict(x_train=np.full((10, 4), np.nan), y_train=np.arange(10) % 2, x_test=np.zeros((5, 4)), y_test=np.zeros(5, int)),
     "NaN"),
    (b"not a zip file at all", "cannot be read as .npz"),
]


@pytest.mark.parametrize("content, word", BAD, ids=[w for _, w in BAD])
def test_a_bad_npz_is_one_line(tmp_path, capsys, content, word):
    path = tmp_path / "bad.npz"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        np.savez(path, **content)
    assert main(["train", "--dataset", f"npz:{path}", "--warehouse", str(tmp_path / "wh")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and word in err, err
