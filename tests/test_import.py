"""Checkpoints as people save them: every form imports to the run of its public-format equivalent;
hostile, ambiguous and inconsistent files are refused with their reasons and never stop the inbox."""
import hashlib
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import save as save_safetensors
from safetensors.torch import load as load_safetensors
from safetensors.torch import load_file, save_file
from torch import nn

from flows import api, inbox_stage, stages
from pipeline.convert import convert_state_dict
from pipeline.errors import NeuronInfoError
from pipeline.spec import NetworkSpec
from store.inbox import pending_files
from store.paths import open_warehouse
from store.sandbox import query

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "flows.cli"]
SIZES = (24, 12)


def sequential(batch_norm: bool, seed: int = 3) -> nn.Sequential:
    """A 64-24-12-4 network as people write it, with random weights (and random running statistics)."""
    torch.manual_seed(seed)
    layers = []
    for a, b in zip((64, *SIZES), SIZES):
        layers += [nn.Linear(a, b)] + ([nn.BatchNorm1d(b)] if batch_norm else []) + [nn.ReLU(), nn.Dropout(0.1)]
    net = nn.Sequential(*layers, nn.Linear(SIZES[-1], 4))
    for m in net:
        if isinstance(m, nn.BatchNorm1d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.1, 0.1)
    return net.eval()


def public_bytes(net: nn.Sequential, batch_norm: bool) -> bytes:
    """The equivalent checkpoint in the public format, written here by name (linear.{i}, bn.{i})."""
    linears = [m for m in net if isinstance(m, nn.Linear)]
    norms = [m for m in net if isinstance(m, nn.BatchNorm1d)]
    tensors = {}
    for i, lin in enumerate(linears):
        tensors[f"linear.{i}.weight"], tensors[f"linear.{i}.bias"] = lin.weight, lin.bias
    for i, bn in enumerate(norms):
        for p in ("weight", "bias", "running_mean", "running_var"):
            tensors[f"bn.{i}.{p}"] = getattr(bn, p)
    spec = NetworkSpec(dataset="synthetic-4", input_dim=64, n_classes=4, hidden_sizes=SIZES, activation="relu",
                       regularizer="dropout_bn" if batch_norm else "none", n_val=1000, inputs="unit")
    return save_safetensors({k: v.detach().float().contiguous() for k, v in tensors.items()}, metadata={"spec": spec.to_json()})


def run_id_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def fc_dict(net: nn.Sequential) -> dict:
    linears = [m for m in net if isinstance(m, nn.Linear)]
    return {f"fc{i + 1}.{p}": getattr(lin, p).detach() for i, lin in enumerate(linears) for p in ("weight", "bias")}


GIVEN = {"dataset": "synthetic-4", "activation": "relu"}


def write_form(folder: Path, form: str) -> tuple[Path, dict, bool]:
    """(file, spec options the caller gives, batch norm?) for each form people save."""
    folder.mkdir(parents=True, exist_ok=True)
    if form == "sequential.pt":
        torch.save(sequential(False).state_dict(), folder / "net.pt")
        return folder / "net.pt", GIVEN, False
    if form == "sequential_bn.pth":
        torch.save(sequential(True).state_dict(), folder / "net.pth")
        return folder / "net.pth", GIVEN, True
    if form == "fc.pt":
        torch.save(fc_dict(sequential(False)), folder / "fc.pt")
        return folder / "fc.pt", GIVEN, False
    if form == "sidecar.safetensors":  # no metadata: the spec comes from <stem>.json
        save_file({k: v.contiguous() for k, v in sequential(False).state_dict().items()}, folder / "net.safetensors")
        (folder / "net.json").write_text(json.dumps(GIVEN))
        return folder / "net.safetensors", {}, False
    if form == "partial_metadata.safetensors":  # public names, a spec in the metadata saying only what shapes cannot
        tensors = load_safetensors(public_bytes(sequential(False), False))
        (folder / "partial.safetensors").write_bytes(save_safetensors(tensors, metadata={"spec": json.dumps(GIVEN)}))
        return folder / "partial.safetensors", {}, False
    if form == "wrapped.pt":  # a training script's checkpoint dict
        torch.save({"state_dict": sequential(False).state_dict(), "epoch": 7, "best_acc": 0.9}, folder / "ckpt.pt")
        return folder / "ckpt.pt", GIVEN, False
    raise AssertionError(form)


FORMS = ["sequential.pt", "sequential_bn.pth", "fc.pt", "sidecar.safetensors", "wrapped.pt", "partial_metadata.safetensors"]


@pytest.fixture(scope="module")
def references(tmp_path_factory):
    """The public-format equivalents, imported and measured: {batch_norm: (warehouse, run_id, bytes)}."""
    out = {}
    for bn in (False, True):
        wh = open_warehouse(tmp_path_factory.mktemp(f"reference_bn{bn}"))
        data = public_bytes(sequential(bn), bn)
        path = tmp_path_factory.mktemp("public") / "public.safetensors"
        path.write_bytes(data)
        run_id = stages.import_checkpoint(wh, path)
        assert run_id == run_id_of(data)
        stages.capture_run(wh, run_id, bits=(1,))
        stages.measure_run(wh, run_id)
        out[bn] = (wh, run_id, data)
    return out


def table(wh, sql: str) -> list[dict]:
    return query(wh, sql).to_pylist()


@pytest.mark.parametrize("form", FORMS)
def test_each_form_imports_to_the_run_of_its_public_equivalent(form, references, tmp_path):
    path, given, bn = write_form(tmp_path / "files", form)
    ref_wh, ref_id, ref_bytes = references[bn]
    wh = open_warehouse(tmp_path / "wh")
    run_id = api.import_checkpoint(wh.root, path, **given)
    assert run_id == ref_id and wh.checkpoint(run_id).read_bytes() == ref_bytes
    stages.capture_run(wh, run_id, bits=(1,))
    stages.measure_run(wh, run_id)
    sql = "SELECT test_error, val_error FROM runs"
    assert table(wh, sql) == table(ref_wh, sql)
    sql = "SELECT layer, neuron, bits, entropy, mutual_info, kl_selectivity, labeled_mi FROM neuron_stats ORDER BY layer, neuron, bits"
    ours, theirs = table(wh, sql), table(ref_wh, sql)
    assert len(ours) == len(theirs) == sum(SIZES)
    for a, b in zip(ours, theirs):  # DuckDB's parallel sums may differ in the last bit
        assert a == pytest.approx(b, abs=1e-12)
    runs = table(wh, "SELECT origin, seed, epochs, lr, group_name, regularizer FROM runs")
    assert runs == [{"origin": "imported", "seed": None, "epochs": None, "lr": None, "group_name": f"imported-{run_id}",
                     "regularizer": "dropout_bn" if bn else "none"}]
    imports = table(wh, "SELECT original_name, original_sha256, form, unstated FROM imports")
    assert imports == [{"original_name": path.name, "original_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                        "form": {"sequential.pt": "torch/sequential", "sequential_bn.pth": "torch/sequential",
                                 "fc.pt": "torch/fc", "sidecar.safetensors": "safetensors/sequential",
                                 "wrapped.pt": "torch/sequential", "partial_metadata.safetensors": "safetensors/public"}[form],
                        "unstated": ["seed", "epochs", "lr"]}]


def test_imported_runs_are_not_the_training_cache(tmp_path):
    """An imported network whose spec equals a training spec is never returned as that training's result."""
    from store.runs import run_id_for_spec

    wh = open_warehouse(tmp_path / "wh")
    data = public_bytes(sequential(False), False)
    (tmp_path / "p.safetensors").write_bytes(data)
    stages.import_checkpoint(wh, tmp_path / "p.safetensors")
    spec = NetworkSpec(dataset="synthetic-4", input_dim=64, n_classes=4, hidden_sizes=SIZES, n_val=1000)
    assert run_id_for_spec(wh, spec) is None


def test_layer_order_is_numeric_and_post_activation_norm_is_folded():
    widths = [5 + i for i in range(12)]
    state = {}
    for i, (a, b) in enumerate(zip(widths, widths[1:])):
        state[f"fc{i + 1}.weight"], state[f"fc{i + 1}.bias"] = torch.randn(b, a), torch.randn(b)
    assert convert_state_dict(state).hidden_sizes == tuple(widths[1:-1])  # fc10, fc11 after fc9
    state["out.weight"], state["out.bias"] = torch.randn(3, widths[-1]), torch.randn(3)  # an output layer named out
    assert convert_state_dict(state).hidden_sizes == tuple(widths[1:])

    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.BatchNorm1d(5), nn.Linear(5, 3)).eval()
    net[2].running_mean.uniform_(-1, 1)
    net[2].running_var.uniform_(0.5, 2)
    converted = convert_state_dict(net.state_dict())
    assert not converted.batch_norm and converted.hidden_sizes == (5,)
    x = torch.randn(8, 6)
    t = converted.tensors
    ours = torch.relu(x @ t["linear.0.weight"].T + t["linear.0.bias"]) @ t["linear.1.weight"].T + t["linear.1.bias"]
    torch.testing.assert_close(ours, net(x).detach())


def test_modulelist_with_an_output_layer_and_a_dataparallel_prefix():
    net = sequential(True)
    linears = [m for m in net if isinstance(m, nn.Linear)]
    norms = [m for m in net if isinstance(m, nn.BatchNorm1d)]
    state = {f"module.hidden.{2 * i}.{p}": getattr(lin, p) for i, lin in enumerate(linears[:-1]) for p in ("weight", "bias")}
    state |= {f"module.hidden.{2 * i + 1}.{p}": getattr(bn, p) for i, bn in enumerate(norms)
              for p in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")}
    state |= {f"module.out.{p}": getattr(linears[-1], p) for p in ("weight", "bias")}
    converted = convert_state_dict(state)
    assert (converted.hidden_sizes, converted.batch_norm, converted.naming) == (SIZES, True, "modulelist")
    torch.testing.assert_close(converted.tensors["bn.1.running_var"], norms[1].running_var)
    torch.testing.assert_close(converted.tensors["linear.2.weight"], linears[-1].weight.detach())


def test_connect_is_sandboxed(references, tmp_path):
    wh = references[False][0]
    con = api.connect(wh.root)
    assert con.sql("SELECT count(*) FROM imports").fetchall() == [(1,)]
    for hostile in ("SELECT * FROM read_text('/etc/hostname')", f"COPY (SELECT 1) TO '{tmp_path / 'x.csv'}'"):
        with pytest.raises(Exception, match="[Pp]ermission|disabled|not allowed"):
            con.sql(hostile)
    assert not (tmp_path / "x.csv").exists()


BAD = {  # name: (state_dict, a word of the reason)
    "ambiguous": ({"fc1.weight": torch.zeros(4, 64), "fc1.bias": torch.zeros(4), "layers.0.weight": torch.zeros(4, 4),
                   "layers.0.bias": torch.zeros(4)}, "cannot tell the layer order"),
    "inconsistent": ({"0.weight": torch.zeros(24, 64), "0.bias": torch.zeros(24), "2.weight": torch.zeros(4, 23),
                      "2.bias": torch.zeros(4)}, "do not chain"),
    "conv": ({"0.weight": torch.zeros(8, 1, 3, 3), "0.bias": torch.zeros(8)}, "neither a Linear"),
    "half_bn": ({"0.weight": torch.zeros(8, 64), "0.bias": torch.zeros(8), "1.weight": torch.ones(8), "1.bias": torch.zeros(8),
                 "1.running_mean": torch.zeros(8), "1.running_var": torch.ones(8), "3.weight": torch.zeros(6, 8),
                 "3.bias": torch.zeros(6), "5.weight": torch.zeros(4, 6), "5.bias": torch.zeros(4)}, "not all"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_ambiguous_and_inconsistent_files_are_refused_with_what_was_found(name, tmp_path):
    state, word = BAD[name]
    torch.save(state, tmp_path / f"{name}.pt")
    with pytest.raises(NeuronInfoError, match=word) as error:
        api.import_checkpoint(tmp_path / "wh", tmp_path / f"{name}.pt", **GIVEN)
    assert "\n" not in str(error.value)


class Payload:
    """A pickle that runs a shell command when unpickled."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def hostile_files(folder: Path) -> list[Path]:
    marker = folder / "MARKER"
    (folder / "raw.pt").write_bytes(pickle.dumps({"0.weight": Payload(marker)}))
    torch.save({"state_dict": Payload(marker)}, folder / "zipped.pth")  # torch.save's zip format
    return [folder / "raw.pt", folder / "zipped.pth"]


def test_a_code_executing_pickle_is_refused_without_running(tmp_path):
    for path in hostile_files(tmp_path):
        with pytest.raises(NeuronInfoError, match="weights_only=True"):
            api.import_checkpoint(tmp_path / "wh", path, **GIVEN)
    assert not (tmp_path / "MARKER").exists()


def test_inbox_takes_every_form_rejects_bad_ones_and_goes_on(tmp_path, references):
    wh = open_warehouse(tmp_path / "wh")
    inbox = wh.inbox
    batch = inbox / "team-a"  # a sub-folder: its spec.json applies to each file in it
    batch.mkdir(parents=True)
    torch.save(sequential(False).state_dict(), batch / "good.pt")
    (batch / "spec.json").write_text(json.dumps(GIVEN))
    torch.save(BAD["ambiguous"][0], batch / "ambiguous.pt")
    torch.save(BAD["inconsistent"][0], inbox / "inconsistent.pt")
    (inbox / "inconsistent.json").write_text(json.dumps(GIVEN))
    hostile_files(inbox)
    torch.save(sequential(False).state_dict(), inbox / "no_spec.pt")  # nothing says dataset or activation
    outcomes = {o.file: o for o in (inbox_stage.analyse_inbox_file(wh, f, bits=(1,), random_repeats=1, steps=2)
                                    for f in pending_files(inbox))}
    assert {n: o.status for n, o in outcomes.items()} == {
        "good.pt": "analysed", "ambiguous.pt": "rejected", "inconsistent.pt": "rejected", "raw.pt": "rejected",
        "zipped.pth": "rejected", "no_spec.pt": "rejected"}
    assert outcomes["good.pt"].run_id == references[False][1]
    assert not (inbox / "MARKER").exists()
    assert "cannot tell the layer order" in (batch / "rejected" / "ambiguous.pt.reason.txt").read_text()
    assert "do not chain" in (inbox / "rejected" / "inconsistent.pt.reason.txt").read_text()
    assert (inbox / "rejected" / "inconsistent.json").exists()  # the sidecar travelled with it
    assert "dataset and activation" in (inbox / "rejected" / "no_spec.pt.reason.txt").read_text()
    assert sorted(p.name for p in (batch / "done").iterdir()) == ["good.pt"]
    assert table(wh, "SELECT run_id, origin FROM runs") == [{"run_id": references[False][1], "origin": "imported"}]
    assert table(wh, "SELECT spec_source FROM imports") == [{"spec_source": "folder"}]


def run_cli(*args, env=None):
    out = subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=600, cwd=ROOT, env=env)
    return out.returncode, out.stdout, out.stderr


def test_cli_import_and_export_load_into_a_plain_sequential(tmp_path, references):
    """import prints the run_id; export writes a state_dict that nn.Sequential of the documented layers loads,
    computing the same outputs (batch norm folded)."""
    path, given, _ = write_form(tmp_path, "sequential_bn.pth")
    code, out, err = run_cli("import", str(path), "--dataset", "synthetic-4", "--activation", "relu", "--warehouse", str(tmp_path / "wh"))
    assert code == 0, err
    run_id = out.strip().splitlines()[-1]
    assert run_id == references[True][1]
    assert f"import: registered as run {run_id} (" in err  # says what it did
    for fmt in ("torch", "safetensors"):
        target = tmp_path / f"export.{fmt}"
        code, out, err = run_cli("export", run_id, "--to", str(target), "--format", fmt, "--warehouse", str(tmp_path / "wh"))
        assert code == 0, err
        state = torch.load(target, weights_only=True) if fmt == "torch" else load_file(target)
        plain = nn.Sequential(nn.Linear(64, 24), nn.ReLU(), nn.Linear(24, 12), nn.ReLU(), nn.Linear(12, 4))
        plain.load_state_dict(state)
        x = torch.rand(32, 64)
        torch.testing.assert_close(plain(x), sequential(True)(x), rtol=1e-4, atol=1e-5)
    code, out, err = run_cli("import", str(path), "--warehouse", str(tmp_path / "wh"))
    assert code == 2 and "dataset and activation" in err and len(err.strip().splitlines()) == 1


def test_notebook_example_runs_with_the_python_api_alone(tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / "tests" / "notebook_example.py"), str(tmp_path)], capture_output=True,
                         text=True, timeout=900, cwd=ROOT, env=os.environ | {"NEURONINFO_THREADS": "1", "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stdout + out.stderr
    assert "round trip: same test error" in out.stdout


def test_reanalyze_flow_passes_a_sub_folder_spec_and_repair_keeps_an_import_imported(tmp_path, references, prefect_server):
    """Through the Prefect flow (CLI reanalyze): a .pt in a sub-folder with spec.json is analysed; a damaged
    runs row of that imported run is rebuilt by verify --repair with origin and NULLs intact."""
    wh = open_warehouse(tmp_path / "wh")
    batch = wh.inbox / "from-colleague"
    batch.mkdir(parents=True)
    torch.save(sequential(False).state_dict(), batch / "net.pt")
    (batch / "spec.json").write_text(json.dumps(GIVEN))
    code, out, err = run_cli("reanalyze", "--warehouse", str(wh.root), "--bits", "1", "--random-repeats", "1", "--steps", "2",
                             env=dict(os.environ, **prefect_server))
    assert code == 0 and "1 analysed, 0 rejected" in out, out + err
    run_id = references[False][1]
    assert (batch / "done" / "net.pt").exists() and (batch / "spec.json").exists()
    part = wh.partition("runs", run_id) / "data.parquet"
    part.write_bytes(part.read_bytes()[:-20])  # truncated
    code, out, err = run_cli("verify", "--repair", "--warehouse", str(wh.root))
    assert code == 0, out + err
    assert table(wh, "SELECT run_id, origin, seed, epochs, group_name FROM runs") == [
        {"run_id": run_id, "origin": "imported", "seed": None, "epochs": None, "group_name": f"imported-{run_id}"}]
