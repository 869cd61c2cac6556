"""A new user's first hour: defaults that work, mistakes caught before any work starts (one line, exit
2), progress while long steps run, names that identify a configuration, stale results recomputed,
and the README's runnable walkthrough run as written."""
import os
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from flows.cli import main
from flows.stages import capture_run, measure_run, train_run
from pipeline.errors import NeuronInfoError
from pipeline.spec import preset_spec
from store.paths import open_warehouse
from store.sandbox import query
from store.tables import partition_params

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "flows.cli"]


def run_cli(*args, env=None, timeout=600):
    out = subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)
    return out.returncode, out.stdout, out.stderr


def test_default_train_on_synthetic_works_and_says_how_it_split(tmp_path):
    code, out, err = run_cli("train", "--dataset", "synthetic", "--epochs", "1", "--warehouse", str(tmp_path))
    assert code == 0, err
    assert "validation split of 1000 samples" in err  # says so
    run_id = out.strip().splitlines()[-1]
    rows = query(open_warehouse(tmp_path), f"SELECT n_train, n_val, regularizer, name, provenance FROM runs WHERE run_id = '{run_id}'").to_pylist()
    assert rows[0]["n_val"] == 1000 and rows[0]["n_train"] == 5000  # a sixth of the 6,000 training samples
    assert rows[0]["regularizer"] == "dropout"  # the same default as train-and-measure
    assert rows[0]["name"] == "synthetic-32x16-relu-dropout-e1-s0"  # 1 epoch where the preset trains 5
    assert '"torch": "2.14.1"' in rows[0]["provenance"]


GRID_MISTAKES = [  # train-and-measure arguments, a word of the one-line message: all caught before a server starts
    (["--dataset", "nosuch"], "unknown dataset"),
    (["--dataset", "synthetic-4", "--activations", "tanh"], "unknown activation"),
    (["--dataset", "synthetic-4", "--regularizers", "dropout,batchnorm"], "unknown regularizer"),
    (["--dataset", "synthetic-4", "--bits", "1,12"], "bits = 12"),
    (["--dataset", "synthetic-4", "--strategies", "zero,half"], "unknown strategy"),
    (["--dataset", "synthetic-4", "--preset", "imagenet"], "unknown preset"),
    (["--dataset", "synthetic-4", "--hidden", "16,0"], "width <= 0"),
    (["--dataset", "synthetic-4", "--n-val", "6000"], "n_val"),
    (["--dataset", "synthetic-4", "--epochs", "x"], "invalid int"),
    (["--dataset", "synthetic-4", "--epochs", "0"], "epochs = 0 trains nothing"),
    (["--dataset", "cifar10", "--data-dir", "/nonexistent"], "official files not found"),
]


@pytest.mark.parametrize("argv, word", GRID_MISTAKES, ids=[" ".join(a) for a, _ in GRID_MISTAKES])
def test_grid_mistakes_are_one_line_before_any_server(tmp_path, capsys, argv, word, monkeypatch):
    monkeypatch.setenv("NEURONINFO_OFFLINE", "1")
    import flows.serve_local

    monkeypatch.setattr(flows.serve_local, "start_server", lambda *a, **k: pytest.fail("a server started"))
    try:
        code = main(["train-and-measure", *argv, "--warehouse", str(tmp_path / "wh")])
    except SystemExit as e:
        code = e.code
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and word in err, err


def test_train_with_no_epochs_is_refused_and_registers_nothing(tmp_path, capsys, tiny_spec):
    code = main(["train", "--dataset", "synthetic-4", "--epochs", "0", "--warehouse", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "--epochs 1 or more" in err, err
    with pytest.raises(NeuronInfoError, match="trains nothing"):  # the Python entry too
        train_run(open_warehouse(tmp_path), replace(tiny_spec, epochs=0), progress=False)
    assert not list(tmp_path.rglob("*.safetensors"))


def test_train_says_it_reuses_a_trained_run(trained_run, tiny_spec, capsys):
    wh, run_id = trained_run
    assert train_run(wh, tiny_spec, progress=False) == run_id
    assert f"was trained before: run {run_id} reused" in capsys.readouterr().err


def test_names_and_groups_never_mix_configurations():
    base = preset_spec("fashion-mnist", 784, 10, regularizer="dropout")
    variants = [base, replace(base, epochs=5), replace(base, lr=1e-3), replace(base, dropout=0.5), replace(base, n_val=5000),
                replace(base, epochs=5, seed=1)]
    names = [v.name for v in variants]
    assert names[0] == "fashion-mnist-300x100-relu-dropout-s0"
    assert names[1] == "fashion-mnist-300x100-relu-dropout-e5-s0"
    assert len({v.group for v in variants}) == 5  # the seed alone shares a group
    assert variants[1].group == variants[5].group


def test_capture_and_measure_print_progress_lines_when_not_a_terminal(tmp_path, tiny_spec):
    wh = open_warehouse(tmp_path)
    run_id = train_run(wh, tiny_spec, progress=False)
    code, out, err = run_cli("capture", run_id, "--bits", "1", "--warehouse", str(tmp_path))
    # outputs of val and test, the training means, the codes
    assert code == 0 and re.search(rf"capture {run_id}: 4/4 steps in [\d.]+ s", err), err
    code, out, err = run_cli("measure", run_id, "--warehouse", str(tmp_path))
    assert code == 0 and re.search(rf"measure {run_id}: 2/2 layers in [\d.]+ s", err), err
    assert out.strip().splitlines() == [run_id]  # standard output keeps only the result
    code, out, err = run_cli("ablate", run_id, "--steps", "4", "--random-repeats", "1", "--measures", "entropy",
                             "--warehouse", str(tmp_path))
    # entropy at 1 bit: low/high first x (network + 2 layers), plus 3 random orderings; x 2 strategies
    assert code == 0 and re.search(rf"ablate {run_id}: 18/18 curves in [\d.]+ s", err), err


def test_a_changed_quantizer_makes_measures_stale_and_they_are_recomputed(tmp_path, tiny_spec, capsys):
    wh = open_warehouse(tmp_path)
    run_id = train_run(wh, replace(tiny_spec, seed=11), progress=False)
    capture_run(wh, run_id, bits=(2,), method="uniform")
    measure_run(wh, run_id)
    uniform = query(wh, f"SELECT neuron, entropy FROM neuron_stats WHERE run_id = '{run_id}' AND layer = 1 ORDER BY neuron").to_pylist()
    capture_run(wh, run_id, bits=(2,), method="quantile")
    capsys.readouterr()
    measure_run(wh, run_id)  # the flow's call: skips only when nothing it depends on changed
    assert "quantizers changed" in capsys.readouterr().err
    quantile = query(wh, f"SELECT neuron, entropy FROM neuron_stats WHERE run_id = '{run_id}' AND layer = 1 ORDER BY neuron").to_pylist()
    assert quantile != uniform
    # 2-bit quantile bins are equal-mass: the layer's pooled outputs spread over 4 codes, entropy near 2 bits on average
    assert sum(r["entropy"] for r in quantile) / len(quantile) > sum(r["entropy"] for r in uniform) / len(uniform)
    recorded = partition_params(wh, "neuron_stats", run_id)
    measure_run(wh, run_id)  # now current: skipped
    assert partition_params(wh, "neuron_stats", run_id) == recorded and "changed" not in capsys.readouterr().err


def runnable_blocks() -> list[str]:
    return re.findall(r"<!-- runnable -->\n```sh\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)


def test_readme_has_runnable_blocks():
    """One runnable block, README's step by step: every verb of one run, in the order they run, each once."""
    blocks = runnable_blocks()
    assert len(blocks) == 1
    assert blocks[0].startswith(". .venv/bin/activate\n")
    verbs = re.findall(r"^(?:RUN=\$\()?neuroninfo ([a-z-]+)", blocks[0], flags=re.M)
    assert verbs == ["train", "capture", "measure", "estimate", "ablate", "report", "sql", "verify"]


@pytest.mark.slow
@pytest.mark.parametrize("block", runnable_blocks())
def test_readme_runnable_block_runs_as_written(tmp_path, block):
    small = block.replace("--dataset fashion-mnist", "--dataset synthetic-4").replace("--epochs 5", "--epochs 1")
    env = dict(os.environ, NEURONINFO_WAREHOUSE=str(tmp_path / "wh"), NEURONINFO_THREADS=os.environ.get("NEURONINFO_THREADS", "2"))
    out = subprocess.run(["bash", "-euo", "pipefail", "-c", small], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert "0 problem(s) found" in out.stdout


def test_readme_names_every_public_view():
    from store.views import public_views

    readme = (ROOT / "README.md").read_text()
    assert [view for view in public_views() if f"`{view}`" not in readme] == []


def test_readme_says_what_to_expect_of_the_install_and_the_suite():
    """The suite's time and its browser test; the venv's size and a CPU-only install with the project's own pins."""
    readme = (ROOT / "README.md").read_text()
    assert re.search(r"`make test` runs the suite .* about \d+.\d+ minutes", readme, flags=re.S) and "/usr/bin/chromium" in readme
    pins = re.findall(r'"(torch(?:vision)?==[0-9.]+)"', (ROOT / "pyproject.toml").read_text())
    cpu = re.search(r"pip install (.*) --index-url https://download.pytorch.org/whl/cpu", readme)
    assert len(pins) == 2 and cpu and cpu.group(1).split() == pins, (pins, cpu)


def test_docs_links_stay_inside_the_repository():
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = page.read_text()
        assert "../shared" not in text and "DESIGN.md" not in text, page.name
        for target in re.findall(r"\]\(([^)]+)\)", text):
            assert "://" not in target, (page.name, target)
            assert (page.parent / target.split("#")[0]).exists(), (page.name, target)


def test_no_tracked_file_cites_a_document_outside_the_repository():
    """Users have the repository only: no tracked file outside tests/ mentions DESIGN or ../shared."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True)
    if listed.returncode != 0:
        pytest.skip("not a git checkout")
    files = [f for f in listed.stdout.decode().split("\0") if f and not f.startswith("tests/") and (ROOT / f).is_file()]
    assert len(files) > 100  # the listing worked
    citing = [f for f in files if re.search(rb"DESIGN|\.\./shared", (ROOT / f).read_bytes())]
    assert citing == [], f"cite the repository's docs instead (docs/...): {citing}"
