"""The activation store: codes vs raw, raw vs a direct forward pass, layout, crash safety, bad input."""
from dataclasses import replace

import numpy as np
import pytest
import torch
import zarr

from flows import stages
from flows.cli import main
from pipeline.data import load_dataset
from pipeline.errors import NeuronInfoError
from pipeline.quantize import apply_thresholds, fit_thresholds
from store import activations as act
from store import zarr_format as zf
from store.sandbox import query
from store.checkpoints import load_run, save_checkpoint
from store.paths import open_warehouse


def direct_hidden_outputs(model, x):
    """Independent forward pass: Linear -> (BatchNorm) -> activation, layer by layer."""
    outputs, h = [], x
    with torch.no_grad():
        for i in range(model.n_hidden):
            z = h @ model.linear[i].weight.T + model.linear[i].bias
            if model.bn is not None:
                bn = model.bn[i]
                z = (z - bn.running_mean) / torch.sqrt(bn.running_var + bn.eps) * bn.weight + bn.bias
            h = torch.relu(z) if model.spec.activation == "relu" else torch.sigmoid(z)
            outputs.append(h.numpy())
    return outputs


def test_raw_equals_forward_pass_and_codes_equal_quantizer(trained_run):
    wh, run_id = trained_run
    store = act.open_activations(wh, run_id)
    model = load_run(wh, run_id)
    data = load_dataset(model.spec.dataset, seed=model.spec.seed, n_val=model.spec.n_val)  # [0, 1] inputs
    mean, std = np.asarray(model.spec.input_mean), np.asarray(model.spec.input_std)  # one channel
    data = replace(data, **{split: replace(getattr(data, split), x=(getattr(data, split).x - float(mean[0])) / float(std[0]))
                            for split in ("train", "val", "test")})
    assert store.splits == ["val", "test"] and store.bits == [1, 2, 3] and store.layer_sizes == [24, 12]
    # the quantizers, fitted here on validation outputs computed here (not read back from the store)
    val_outputs = direct_hidden_outputs(model, data.val.x)
    fitted = {(layer, bits): fit_thresholds(outputs, bits, model.spec.activation)
              for layer, outputs in enumerate(val_outputs, start=1) for bits in (1, 2, 3)}
    for split in ("val", "test"):
        x, y = getattr(data, split).x, getattr(data, split).y
        np.testing.assert_array_equal(store.labels(split), y.numpy())
        for layer, expected in enumerate(direct_hidden_outputs(model, x), start=1):
            raw = store.raw(split, layer)
            np.testing.assert_allclose(raw, expected, atol=1e-6)
            for bits in (1, 2, 3):
                thresholds = fitted[(layer, bits)]
                np.testing.assert_allclose(store.thresholds(layer, bits), thresholds, rtol=1e-6, atol=0)
                codes = store.codes(split, layer, bits)
                reference = np.digitize(raw, thresholds, right=True)  # docs/measures.md: number of thresholds below T
                np.testing.assert_array_equal(codes, reference)
                assert codes.max() < 2**bits
                if bits > 1:
                    assert len(np.unique(codes)) > 2  # several bins used: a wrong max would move codes
    train_means = direct_hidden_outputs(model, data.train.x)
    for layer, expected in enumerate(train_means, start=1):
        np.testing.assert_allclose(store.train_mean(layer), expected.mean(0, dtype=np.float64), rtol=1e-5, atol=1e-7)


def test_layout_chunks_and_attributes(trained_run):
    wh, run_id = trained_run
    root = zarr.open_group(wh.activations(run_id), mode="r")
    assert root.attrs["complete"] is True and root.attrs["run_id"] == run_id
    raw, codes = root["val/layer1/raw"], root["val/layer1/codes_b2"]
    assert (raw.shape, raw.dtype, codes.dtype) == ((1000, 24), np.dtype("float32"), np.dtype("uint8"))
    assert raw.chunks == (1000, 24) and root["test/layer2/raw"].chunks == (1000, 12)
    assert raw.metadata.dimension_names == ("sample", "neuron")
    assert [type(c).__name__ for c in raw.compressors] == ["BloscCodec", "Crc32cCodec"]
    attrs = dict(codes.attrs)
    assert (attrs["split"], attrs["layer"], attrs["bits"], attrs["method"]) == ("val", 1, 2, "uniform")
    assert len(attrs["thresholds"]) == 3
    rows = query(wh, f"SELECT layer, bits, thresholds FROM quantizers WHERE run_id = '{run_id}' ORDER BY layer, bits").to_pylist()
    assert [(r["layer"], r["bits"], len(r["thresholds"])) for r in rows] == [(1, 1, 1), (1, 2, 3), (1, 3, 7), (2, 1, 1), (2, 2, 3), (2, 3, 7)]


def test_quantizer_definitions():
    relu = np.array([[0.0, 0.5], [1.5, 3.0], [3.0, 1e-9]], dtype=np.float32)
    assert fit_thresholds(relu, 1, "relu").tolist() == [0.0]
    np.testing.assert_allclose(fit_thresholds(relu, 2, "relu"), [0.0, 1.0, 2.0])  # (0, 3] in three equal bins
    assert apply_thresholds(relu, fit_thresholds(relu, 2, "relu")).tolist() == [[0, 1], [2, 3], [3, 1]]
    np.testing.assert_allclose(fit_thresholds(relu, 2, "sigmoid"), [0.25, 0.5, 0.75])
    assert fit_thresholds(relu, 1, "sigmoid").tolist() == [0.5]
    quantile = fit_thresholds(np.arange(1, 9, dtype=np.float32).reshape(4, 2), 2, "relu", "quantile")
    assert apply_thresholds(np.arange(1, 9, dtype=np.float32), quantile).tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    for bits, method, fragment in [(0, "uniform", "out of range"), (9, "uniform", "out of range"), (2, "kmeans", "unknown quantizer")]:
        with pytest.raises(NeuronInfoError, match=fragment):
            fit_thresholds(relu, bits, "relu", method)


@pytest.mark.parametrize("bits", [1, 3, 5, 6, 7, 8])  # 6-8: more than 31 thresholds, numpy.digitize's branch
@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
def test_codes_count_the_thresholds_below_t_also_on_a_threshold(bits, activation):
    """code = number of thresholds t with T > t: a value exactly on a threshold stays in the bin below."""
    n_bins = 2**bits
    if activation == "relu":  # max n_bins - 1: thresholds 0, 1, ..., n_bins - 2 (exact in float32)
        grid = np.arange(-2, 2 * n_bins - 1, dtype=np.float32) / 2  # -1, -0.5, ..., n_bins - 1
        expected_thresholds = np.arange(0, n_bins - 1, dtype=np.float64)
    else:  # thresholds k / n_bins, exact in float32
        grid = np.arange(-2, 2 * n_bins + 3, dtype=np.float32) / (2 * n_bins)
        expected_thresholds = np.arange(1, n_bins) / n_bins
    thresholds = fit_thresholds(grid.reshape(-1, 1), bits, activation)
    np.testing.assert_array_equal(thresholds, expected_thresholds)
    assert np.isin(expected_thresholds, grid).all()  # every threshold is itself one of the values
    outputs = np.random.default_rng(bits).permutation(grid).reshape(-1, 2 if len(grid) % 2 == 0 else 1)
    codes = apply_thresholds(outputs, thresholds)
    assert codes.dtype == np.uint8 and codes.shape == outputs.shape
    reference = np.array([[sum(1 for t in expected_thresholds if v > t) for v in row] for row in outputs.tolist()])
    np.testing.assert_array_equal(codes, reference)
    on = np.isin(outputs, expected_thresholds)
    np.testing.assert_array_equal(codes[on], np.searchsorted(expected_thresholds, outputs[on]))  # t_i -> bin i
    assert codes.max() == n_bins - 1 and codes.min() == 0


def test_adding_bits_keeps_the_rest(tmp_path, trained_run):
    src_wh, run_id = trained_run
    wh = open_warehouse(tmp_path)
    save_checkpoint(wh, load_run(src_wh, run_id))
    stages.capture_run(wh, run_id, bits=(1,))
    raw_chunk = next(p for p in (wh.activations(run_id) / "val" / "layer1" / "raw").rglob("*") if p.is_file() and p.name != "zarr.json")
    before = raw_chunk.stat().st_mtime_ns
    stages.capture_run(wh, run_id, bits=(1, 4))
    store = act.open_activations(wh, run_id)
    assert store.bits == [1, 4] and raw_chunk.stat().st_mtime_ns == before
    assert store.codes("test", 2, 4).max() < 16
    with pytest.raises(NeuronInfoError, match="no 2-bit codes"):
        store.codes("val", 1, 2)


def test_crash_mid_capture_leaves_nothing_and_rerun_succeeds(tmp_path, trained_run, monkeypatch):
    src_wh, run_id = trained_run
    wh = open_warehouse(tmp_path)
    save_checkpoint(wh, load_run(src_wh, run_id))
    real_put_chunk, written = zf.put_chunk, []

    def crash_in_the_second_layers_codes(arr, coords, block, transform):  # a writer thread dies mid-store
        if arr.path.endswith("layer2/codes_b2"):
            raise RuntimeError("injected crash")
        real_put_chunk(arr, coords, block, transform)
        written.append(arr.path)

    monkeypatch.setattr(zf, "put_chunk", crash_in_the_second_layers_codes)
    with pytest.raises(RuntimeError, match="injected crash"):
        stages.capture_run(wh, run_id)
    assert "val/layer1/codes_b3" in written  # it died after writing chunks, not before
    assert not wh.activations(run_id).exists()
    assert not list(wh.activations(run_id).parent.iterdir())  # no temporary left behind either
    with pytest.raises(NeuronInfoError, match="no complete activation store"):
        act.open_activations(wh, run_id)
    monkeypatch.setattr(zf, "put_chunk", real_put_chunk)
    stages.capture_run(wh, run_id)
    assert act.open_activations(wh, run_id).bits == [1, 2, 3]


def test_bad_inputs(tmp_path, trained_run, capsys, monkeypatch):
    wh, run_id = trained_run
    assert main(["capture", "0123456789abcdef", "--warehouse", str(wh.root)]) == 2
    assert "unknown run_id '0123456789abcdef'" in capsys.readouterr().err
    assert main(["capture", run_id, "--bits", "0", "--warehouse", str(wh.root)]) == 2
    assert "out of range" in capsys.readouterr().err

    # a checkpoint whose spec does not match its dataset's input size
    from dataclasses import replace
    from pipeline.model import MLP
    model = load_run(wh, run_id)
    wrong = MLP(replace(model.spec, input_dim=50))
    other = open_warehouse(tmp_path / "wrong")
    wrong_id = save_checkpoint(other, wrong)
    with pytest.raises(NeuronInfoError, match="takes 50 inputs .* has 64") as info:
        stages.capture_run(other, wrong_id)
    assert "\n" not in str(info.value)

    # NaN/inf outputs: report the layer and the count, publish nothing
    broken = open_warehouse(tmp_path / "broken")
    nan_model = load_run(wh, run_id)
    with torch.no_grad():
        nan_model.linear[1].weight[0, :] = float("inf")
    broken_id = save_checkpoint(broken, nan_model)
    monkeypatch.setattr(stages, "load_run", lambda _wh, _id: nan_model)  # the loader itself rejects inf weights
    with pytest.raises(NeuronInfoError, match=r"layer 2 has \d+ NaN/inf outputs on split val"):
        stages.capture_run(broken, broken_id)
    assert not broken.activations(broken_id).exists()
