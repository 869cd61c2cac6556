"""Specs, training, checkpoints, the runs view and the CLI verbs train/sql."""
import json
import pickle
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from flows.cli import main
from flows.stages import train_run
from pipeline.errors import NeuronInfoError
from pipeline.model import MLP
from pipeline.spec import NetworkSpec, preset_spec
from store.sandbox import query
from pipeline.data import load_dataset
from pipeline.train import train
from store.checkpoints import checkpoint_bytes, read_checkpoint, run_id_of
from store.paths import open_warehouse


def one_line_error(fn, *fragments):
    with pytest.raises(NeuronInfoError) as info:
        fn()
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message
    return message


# --- spec -------------------------------------------------------------------

@pytest.mark.parametrize("change, fragment", [
    ({"activation": "tanh"}, "unknown activation 'tanh'"),
    ({"regularizer": "l1"}, "unknown regularizer 'l1'"),
    ({"hidden_sizes": (10, -3)}, "width <= 0"),
    ({"hidden_sizes": ()}, "no hidden layers"),
    ({"regularizer": "dropout", "dropout": 1.0}, "dropout must be in [0, 1)"),
    ({"regularizer": "dropout", "dropout": -0.1}, "dropout must be in [0, 1)"),
    ({"weight_decay": 1e-4}, "use regularizer l2"),
    ({"n_classes": 1}, "at least 2 classes"),
    ({"epochs": -1}, "epochs must be a positive integer"),
    ({"lr": 0.0}, "learning rate must be > 0"),
])
def test_spec_validation(change, fragment):
    base = dict(dataset="synthetic", input_dim=64, n_classes=10, hidden_sizes=(8,))
    one_line_error(lambda: NetworkSpec(**(base | change)), "invalid network spec", fragment)


def test_presets_apply_regularizer_settings():
    dropout = preset_spec("fashion-mnist", 784, 10, regularizer="dropout")
    assert (dropout.hidden_sizes, dropout.epochs, dropout.dropout, dropout.weight_decay) == ((300, 100), 15, 0.2, 0.0)
    l2 = preset_spec("cifar10", 3072, 10, regularizer="l2")
    assert (l2.hidden_sizes, l2.dropout, l2.weight_decay) == ((1024, 512, 512, 512), 0.0, 1e-4)
    assert preset_spec("mnist", 784, 10, epochs=3).epochs == 3
    assert NetworkSpec.from_json(dropout.to_json()) == dropout
    one_line_error(lambda: NetworkSpec.from_json('{"dataset": "mnist"}'), "missing", "hidden_sizes")
    one_line_error(lambda: NetworkSpec.from_json("{nope"), "not valid JSON")


# --- training ---------------------------------------------------------------

def test_training_learns_and_is_deterministic(tmp_path, tiny_spec, monkeypatch):
    from flows.run_data import data_of, resolve_inputs

    monkeypatch.setenv("NEURONINFO_THREADS", "1")  # the same bytes need the same thread count
    spec = resolve_inputs(tiny_spec, None)  # what train_run trains: the training split's channel stats added
    data = data_of(spec, None)
    first_bytes = checkpoint_bytes(train(spec, data, progress=False))
    again_bytes = checkpoint_bytes(train(spec, data, progress=False))
    assert run_id_of(first_bytes) == run_id_of(again_bytes) and first_bytes == again_bytes

    wh = open_warehouse(tmp_path)
    first = train_run(wh, tiny_spec, progress=False)
    assert first == run_id_of(first_bytes)
    assert train_run(wh, tiny_spec, progress=False) == first  # the warehouse remembers: not retrained
    other = train_run(wh, replace(tiny_spec, seed=1), progress=False)
    assert other != first
    rows = query(wh, "SELECT run_id, val_error, test_error, n_train, n_val, n_test, hidden_sizes, activation FROM runs ORDER BY run_id").to_pylist()
    assert sorted(r["run_id"] for r in rows) == sorted({first, other})  # retraining added no row
    for r in rows:
        assert r["val_error"] < 0.25 and r["test_error"] < 0.25  # chance is 0.75 for 4 classes
        assert (r["n_train"], r["n_val"], r["n_test"], r["hidden_sizes"], r["activation"]) == (5000, 1000, 1000, [24, 12], "relu")


def test_batchnorm_sigmoid_net_trains(tmp_path):
    spec = NetworkSpec(dataset="synthetic-3", input_dim=64, n_classes=3, hidden_sizes=(16,), activation="sigmoid",
                       regularizer="dropout_bn", dropout=0.1, epochs=3, n_val=1000, lr=1e-3)
    wh = open_warehouse(tmp_path)
    run_id = train_run(wh, spec, progress=False)
    _, model = read_checkpoint(wh.checkpoint(run_id))
    assert model.bn is not None and replace(model.spec, input_mean=None, input_std=None) == spec
    assert len(model.spec.input_mean) == 1  # standardized by the training split's stats
    [row] = query(wh, "SELECT test_error FROM runs").to_pylist()
    assert row["test_error"] < 0.3


# --- checkpoints ------------------------------------------------------------

def test_checkpoint_round_trip(trained_run):
    wh, run_id = trained_run
    loaded_id, model = read_checkpoint(wh.checkpoint(run_id))
    assert loaded_id == run_id
    x = torch.rand(5, model.spec.input_dim)
    assert torch.isfinite(model(x)).all()


def _write(path, tensors, spec_json):
    save_file(tensors, str(path), metadata=None if spec_json is None else {"spec": spec_json})
    return path


def test_bad_checkpoints(tmp_path, tiny_spec):
    good = MLP(tiny_spec).checkpoint_tensors()
    spec_json = replace(tiny_spec, input_mean=(0.5,), input_std=(0.3,)).to_json()  # a trained spec has its input stats
    unresolved = read_checkpoint  # a standardized spec without stats is refused (below)
    one_line_error(lambda: read_checkpoint(tmp_path / "absent.safetensors"), "does not exist")
    pickled = tmp_path / "weights.pt"
    torch.save(good, pickled)
    one_line_error(lambda: read_checkpoint(pickled), "pickle", "never loaded")
    raw_pickle = tmp_path / "evil.safetensors"
    raw_pickle.write_bytes(pickle.dumps({"a": 1}))
    one_line_error(lambda: read_checkpoint(raw_pickle), "never loaded")
    noise = tmp_path / "noise.safetensors"
    noise.write_bytes(np.random.default_rng(0).bytes(4096))
    one_line_error(lambda: read_checkpoint(noise), "not a safetensors checkpoint")
    one_line_error(lambda: read_checkpoint(_write(tmp_path / "nospec.safetensors", good, None)), "no 'spec'")
    one_line_error(lambda: read_checkpoint(_write(tmp_path / "badspec.safetensors", good, "{oops")), "not valid JSON")
    missing = {k: v for k, v in good.items() if k != "linear.1.bias"}
    one_line_error(lambda: read_checkpoint(_write(tmp_path / "missing.safetensors", missing, spec_json)), "lacks tensors linear.1.bias")
    one_line_error(lambda: unresolved(_write(tmp_path / "nostats.safetensors", good, tiny_spec.to_json())),
                   "inputs 'standardized' but gives no input_mean")
    wrong = dict(good, **{"linear.0.weight": torch.zeros(3, 3)})
    one_line_error(lambda: read_checkpoint(_write(tmp_path / "shape.safetensors", wrong, spec_json)), "linear.0.weight", "shape (3, 3)")
    nan = dict(good, **{"linear.0.bias": torch.full_like(good["linear.0.bias"], float("nan"))})
    one_line_error(lambda: read_checkpoint(_write(tmp_path / "nan.safetensors", nan, spec_json)), "NaN")


# --- CLI --------------------------------------------------------------------

def test_cli_sql_formats_and_read_only(trained_run, capsys):
    wh, run_id = trained_run
    assert main(["sql", "SELECT run_id, hidden_sizes FROM runs", "--warehouse", str(wh.root), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == [{"run_id": run_id, "hidden_sizes": [24, 12]}]
    assert main(["sql", "SELECT count(*) AS n FROM runs", "--warehouse", str(wh.root), "--format", "csv"]) == 0
    assert capsys.readouterr().out.split() == ['"n"', "1"]
    for statement in ("DROP VIEW runs", "CREATE TABLE t (a INT)", "COPY (SELECT 1) TO 'x.csv'", "INSERT INTO t VALUES (1)"):
        assert main(["sql", statement, "--warehouse", str(wh.root)]) == 2
        err = capsys.readouterr().err.strip()
        assert "read-only" in err and "\n" not in err
    assert main(["sql", "SELEC nonsense", "--warehouse", str(wh.root)]) == 2
    assert "does not parse" in capsys.readouterr().err


@pytest.mark.parametrize("sql, hints", [
    ("SELECT * FROM neuron_stat", ['Did you mean "neuron_stats"?']),
    ("SELECT mutual_inf FROM neuron_stats", ['"mutual_inf" not found', "Candidate bindings:", '"mutual_info"']),
])
def test_cli_sql_errors_keep_duckdbs_suggestions_on_one_line(trained_run, capsys, sql, hints):
    wh, _ = trained_run
    assert main(["sql", sql, "--warehouse", str(wh.root)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and all(hint in err for hint in hints), err


def test_cli_train_bad_input_is_one_line(tmp_path):
    for args, fragment in [
        (["--dataset", "imagenet"], "unknown dataset"),
        (["--dataset", "synthetic", "--activation", "tanh"], "unknown activation"),
        (["--dataset", "synthetic", "--hidden", "10,0"], "width <= 0"),
    ]:
        run = subprocess.run([sys.executable, "-m", "flows.cli", "train", *args, "--warehouse", str(tmp_path)],
                             capture_output=True, text=True)
        assert run.returncode == 2, run.stderr
        assert fragment in run.stderr and len(run.stderr.strip().splitlines()) == 1, run.stderr


@pytest.mark.slow
@pytest.mark.skipif(not __import__("pathlib").Path("/usr/share/datasets/fashion-mnist").exists(),
                    reason="needs Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist)")
def test_fashion_mnist_one_epoch_below_20_percent(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "flows.cli", "train", "--dataset", "fashion-mnist", "--hidden", "300,100",
         "--epochs", "1", "--warehouse", str(tmp_path)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    run_id = run.stdout.strip().splitlines()[-1]
    [row] = query(open_warehouse(tmp_path), f"SELECT test_error, n_train, n_val, n_test FROM runs WHERE run_id = '{run_id}'").to_pylist()
    assert (row["n_train"], row["n_val"], row["n_test"]) == (50_000, 10_000, 10_000)
    assert row["test_error"] < 0.20


def test_cli_refuses_malformed_run_ids(capsys):
    for argv in (["capture", "../../etc"], ["measure", "1234"], ["ablate", "x'; DROP VIEW runs; --"], ["report", "--run", "ABCDEF0123456789"]):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 2
        assert "is not a run_id (16 hex digits)" in capsys.readouterr().err
