"""--device: pipeline.device.resolve_device's checks, and cpu through train, capture and ablate from the CLI."""

import pytest
import torch

from flows.cli import main
from pipeline.device import resolve_device
from pipeline.errors import NeuronInfoError
from store.paths import open_warehouse
from store.sandbox import query


def test_cpu_and_spellings():
    assert resolve_device("cpu") == resolve_device(None) == resolve_device(" CPU ") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")


@pytest.mark.parametrize("name, words", [("tpu", "unknown device 'tpu'; use one of cpu, cuda, mps"),
                                         ("", "unknown device ''"), ("cuda:x", "unknown device 'cuda:x'")])
def test_unknown_device_is_one_line(name, words):
    with pytest.raises(NeuronInfoError, match=words) as error:
        resolve_device(name)
    assert "\n" not in str(error.value)


def test_cuda_and_mps_as_torch_reports_them(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("cuda") == torch.device("cuda", 0) and resolve_device("cuda:1") == torch.device("cuda", 1)
    with pytest.raises(NeuronInfoError, match=r"torch sees 2 CUDA GPU\(s\), numbered 0..1; use --device cuda:0"):
        resolve_device("cuda:2")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(NeuronInfoError, match="sees no CUDA GPU here; use --device cpu"):
        resolve_device("cuda")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert resolve_device("mps") == torch.device("mps")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(NeuronInfoError, match="no usable MPS .*; use --device cpu"):
        resolve_device("mps")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
@pytest.mark.parametrize("verb", [["train", "--dataset", "synthetic-4"], ["capture", "0123456789abcdef"],
                                  ["ablate", "0123456789abcdef"], ["train-and-measure", "--dataset", "synthetic-4"]])
def test_cli_missing_device_is_one_line_and_exit_2(tmp_path, capsys, verb):
    assert main([*verb, "--device", "cuda", "--warehouse", str(tmp_path / "wh")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "device 'cuda'" in err and "use --device cpu" in err


def test_cli_device_cpu_end_to_end(tmp_path, capsys):
    wh = str(tmp_path / "wh")
    common = ["--warehouse", wh]
    assert main(["train", "--dataset", "synthetic-4", "--hidden", "16,8", "--epochs", "1", "--n-val", "500",
                 "--device", "cpu", *common]) == 0
    run_id = capsys.readouterr().out.strip().splitlines()[-1]
    assert main(["capture", run_id, "--bits", "1", "--device", "cpu", *common]) == 0
    assert main(["measure", run_id, *common]) == 0
    assert main(["ablate", run_id, "--steps", "4", "--random-repeats", "1", "--device", "cpu", *common]) == 0
    warehouse = open_warehouse(wh)
    spec = query(warehouse, f"SELECT spec FROM runs WHERE run_id = '{run_id}'").to_pylist()[0]["spec"]
    assert "device" not in spec  # how a run was computed is not what it is
    curves = query(warehouse, f"SELECT count(*) AS n, max(test_error) AS worst FROM ablation_curves WHERE run_id = '{run_id}'").to_pylist()[0]
    assert curves["n"] > 0 and 0 <= curves["worst"] <= 1
