"""Input standardization: the training split's per-channel statistics go into the spec, and every
consumer (training, capture, ablation, export) applies the same transform. MNIST and CIFAR-10 are
checked on small files in their official formats; numbers are compared with numpy."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from flows import run_data, stages
from pipeline import data
from pipeline.convert import sequential_modules, sequential_state_dict
from pipeline.errors import NeuronInfoError
from pipeline.spec import NetworkSpec, preset_spec
from pipeline.standardize import channel_stats, standardize
from store import activations as act
from store.checkpoints import load_run
from store.paths import open_warehouse
from test_data import write_cifar_dir, write_idx_dir


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    monkeypatch.setenv("NEURONINFO_OFFLINE", "1")
    monkeypatch.delenv("NEURONINFO_DATA", raising=False)
    monkeypatch.setattr(data, "CACHE_DIR", tmp_path / "cache")
    run_data.dataset_for.cache_clear()
    yield
    run_data.dataset_for.cache_clear()


def numpy_stats(x: np.ndarray, channels: int):
    per_channel = x.reshape(len(x), channels, -1).astype(np.float64)
    return per_channel.mean(axis=(0, 2)), per_channel.std(axis=(0, 2))


def test_channel_stats_match_numpy_on_channel_major_inputs():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(0, s, (50, 16)) for s in (0.2, 0.6, 1.0)], axis=1).astype(np.float32)
    mean, std = channel_stats(torch.from_numpy(x), 3)
    want_mean, want_std = numpy_stats(x, 3)
    np.testing.assert_allclose(mean, want_mean, rtol=1e-6)
    np.testing.assert_allclose(std, want_std, rtol=1e-6)
    z = standardize(torch.from_numpy(x), mean, std).numpy()
    np.testing.assert_allclose(z, (x - np.repeat(want_mean, 16)) / np.repeat(want_std, 16), rtol=1e-5, atol=1e-5)
    assert standardize(torch.from_numpy(x), None, None).numpy() is not None  # no stats: the inputs as they are
    assert torch.equal(standardize(torch.from_numpy(x), None, None), torch.from_numpy(x))


@pytest.mark.parametrize("dataset, channels", [("mnist", 1), ("cifar10", 3)])
def test_official_format_files_train_standardized_and_capture_applies_the_same_transform(tmp_path, dataset, channels):
    if dataset == "mnist":
        write_idx_dir(tmp_path / "data", n_train=60, n_test=20)
    else:
        write_cifar_dir(tmp_path / "data", n=12)
    wh = open_warehouse(tmp_path / "wh")
    input_dim, n_classes = data.dataset_shape(dataset)
    spec = preset_spec(dataset, input_dim, n_classes, hidden_sizes=(8, 4), epochs=1, n_val=10, batch_size=16)
    run_id = stages.train_run(wh, spec, tmp_path / "data", progress=False)
    model = load_run(wh, run_id)
    raw = data.load_dataset(dataset, tmp_path / "data", seed=0, n_val=10)  # [0, 1] inputs
    want_mean, want_std = numpy_stats(raw.train.x.numpy(), channels)
    assert len(model.spec.input_mean) == channels
    np.testing.assert_allclose(model.spec.input_mean, want_mean, rtol=1e-6)
    np.testing.assert_allclose(model.spec.input_std, want_std, rtol=1e-6)
    assert json.loads(model.spec.to_json())["input_mean"] == list(model.spec.input_mean)

    stages.capture_run(wh, run_id, (1,), data_dir=tmp_path / "data")
    stored = act.open_activations(wh, run_id).raw("val", 1)
    x = (raw.val.x.numpy().reshape(10, channels, -1) - want_mean[:, None]) / want_std[:, None]
    w, b = model.linear[0].weight.detach().numpy(), model.linear[0].bias.detach().numpy()
    np.testing.assert_allclose(stored, np.maximum(x.reshape(10, -1) @ w.T + b, 0), rtol=1e-4, atol=1e-4)

    again = stages.train_run(wh, spec, tmp_path / "data", progress=False)  # the stats are filled before the lookup
    assert again == run_id


def test_unit_inputs_keep_the_old_spec_and_name(tmp_path):
    wh = open_warehouse(tmp_path / "wh")
    spec = preset_spec("synthetic", 64, 10, hidden_sizes=(8,), epochs=1, inputs="unit")
    assert spec.name.endswith("-unit-s0") and spec.group == preset_spec("synthetic", 64, 10, hidden_sizes=(8,), epochs=1).group + "-unit"
    run_id = stages.train_run(wh, spec, progress=False)
    model = load_run(wh, run_id)
    assert model.spec == spec and "inputs" not in json.loads(model.spec.to_json())
    captured = run_data.data_of(model.spec, None).val.x
    assert torch.equal(captured, data.load_dataset("synthetic", seed=0, n_val=spec.n_val).val.x)
    standardized = stages.train_run(wh, preset_spec("synthetic", 64, 10, hidden_sizes=(8,), epochs=1), progress=False)
    assert load_run(wh, standardized).spec.name == spec.name.replace("-unit", "")  # the name is fixed before training


def test_exported_sequential_takes_raw_inputs_with_the_standardization_folded_in():
    torch.manual_seed(0)
    spec = NetworkSpec("cifar10", 3072, 10, (16, 8), input_mean=(0.49, 0.48, 0.45), input_std=(0.25, 0.24, 0.26))
    from pipeline.model import MLP

    model = MLP(spec).eval()
    x = torch.rand(32, 3072)
    seq = sequential_modules(spec)
    seq.load_state_dict(sequential_state_dict(model))
    with torch.no_grad():
        torch.testing.assert_close(seq(x), model(standardize(x, spec.input_mean, spec.input_std)), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("fields, message", [
    (dict(inputs="z-score"), "unknown input scaling 'z-score'"),
    (dict(inputs="unit", input_mean=(0.5,), input_std=(0.2,)), "with inputs 'unit'"),
    (dict(input_mean=(0.5,)), "input_mean without input_std"),
    (dict(input_mean=(0.5, 0.5), input_std=(0.2,)), "2 input_mean values but 1 input_std"),
    (dict(input_mean=(0.5, 0.5, 0.5), input_std=(1, 1, 1)), "3 channels do not divide input_dim 784"),
    (dict(input_mean=(0.5,), input_std=(0.0,)), "std must be > 0"),
    (dict(input_mean=(float("nan"),), input_std=(1.0,)), "finite numbers"),
])
def test_bad_input_stats_are_one_line_errors(fields, message):
    with pytest.raises(NeuronInfoError, match=message) as error:
        NetworkSpec("fashion-mnist", 784, 10, (8,), **fields)
    assert "\n" not in str(error.value)


def test_a_spec_written_before_the_stats_existed_reads_as_unit_inputs_and_writes_back_identically():
    old = ('{"activation": "relu", "batch_size": 64, "dataset": "fashion-mnist", "dropout": 0.0, "epochs": 15, '
           '"hidden_sizes": [300, 100], "input_dim": 784, "lr": 0.0001, "momentum": 0.9, "n_classes": 10, '
           '"n_val": 10000, "regularizer": "none", "seed": 0, "weight_decay": 0.0}')
    spec = NetworkSpec.from_json(old)
    assert spec.inputs == "unit" and spec.input_mean is None and spec.to_json() == old
    with_stats = json.loads(old) | {"input_mean": [0.3], "input_std": [0.4]}  # a first-cut spec: stats, no "inputs"
    assert NetworkSpec.from_json(json.dumps(with_stats)).inputs == "standardized"


def test_the_apis_data_and_every_model_it_hands_out_take_the_same_inputs(trained_run, tmp_path):
    """load_data's x fed to load_model and to layers() with the exported state_dict gives the run's logits
    (the checkpoint's network on (x - mean) / std, computed here by hand from the [0, 1] dataset)."""
    from flows import api

    wh, run_id = trained_run
    network = load_run(wh, run_id)
    spec = network.spec
    assert spec.input_mean is not None  # a standardized run: the case where the inputs could differ
    pixels = data.load_dataset(spec.dataset, seed=spec.seed, n_val=spec.n_val).test.x
    mean, std = torch.tensor(spec.input_mean), torch.tensor(spec.input_std)  # one grey channel
    with torch.no_grad():
        want = network((pixels - mean) / std)
        x = api.load_data(wh.root, run_id).test.x
        assert torch.equal(x, pixels)
        torch.testing.assert_close(api.load_model(wh.root, run_id)(x), want)
        seq = api.layers(wh.root, run_id)
        seq.load_state_dict(torch.load(api.export_model(wh.root, run_id, tmp_path / "plain.pt", format="torch")))
        torch.testing.assert_close(seq(x), want, rtol=1e-4, atol=1e-4)
