"""Coverage: neuroninfo's path through every classification network of torchvision, with random weights.

    python bench/coverage_torchvision.py [--only NAME,...] [--timeout 1200] [--results FILE] [--write-docs]
                                         [--docs-only]

For every builder of ``torchvision.models.list_models(module=torchvision.models)``, in a child process of its own
(one torch thread, a time limit and an address-space limit): ``get_model(name, weights=None, num_classes=10)``
seeded, at its smallest accepted input among SIZES (3 channels; a ViT's ``image_size`` and MaxViT's
``input_size`` are passed as the size tried), then ``coverage_checks.check_network`` on 32 random images in
batches of 8: the default unit layers and their captured units, 1-bit measures of every unit, and one ablation
point of the hooked engine against a plain masked forward (bench/coverage_checks.py says what each checks).

Results are merged into ``--results`` (JSON, one entry per model; ``--only`` reruns some). ``--write-docs``
writes docs/coverage.md from the results of every model (run without ``--only`` first); ``--docs-only`` writes it
from ``--results`` without running anything.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

SIZES = (32, 42, 64, 75, 96, 128, 160, 224, 299)  # input sides tried, smallest first (32: CIFAR-10's; 42: 3 patches of vit_h_14)
SIZE_KWARG = {"vit_": "image_size", "maxvit": "input_size"}  # builders whose input size is a constructor argument
MEMORY_LIMIT_GB = 14  # address space of a child (the machine has 24 GiB and other work on it)
MAX_PARAMS = 800e6  # larger models are skipped (counted on the meta device); torchvision's largest has ~645 M
DEFAULT_RESULTS = Path("/tmp/coverage_torchvision.json")
DOCS = ROOT / "docs" / "coverage.md"


def size_kwargs(name: str, size: int) -> dict:
    for prefix, kwarg in SIZE_KWARG.items():
        if name.startswith(prefix):
            return {kwarg: size if kwarg == "image_size" else (size, size)}
    return {}


def build(name: str, size: int):
    import torch
    import torchvision

    torch.manual_seed(0)
    return torchvision.models.get_model(name, weights=None, num_classes=10, **size_kwargs(name, size)).eval()


def smallest_input(name: str):
    """(network, size) at the first of SIZES that builds and runs a forward pass of 2 images, else raises the
    error at the largest size."""
    import torch

    error = None
    for size in SIZES:
        try:
            network = build(name, size)
            with torch.no_grad():
                network(torch.zeros(2, 3, size, size))
            return network, size
        except Exception as e:  # noqa: BLE001 - any failure means: try the next size
            error = e
    raise error


def check_one(name: str) -> dict:
    """The child's work: the row of one model."""
    import torch

    torch.set_num_threads(1)
    from coverage_checks import CheckFailed, check_network, random_batch

    start = time.perf_counter()
    row = {"model": name, "load": os.getloadavg()[0]}
    try:
        network, size = smallest_input(name)
    except Exception as e:  # noqa: BLE001
        return {**row, "status": "fail", "stage": "input", "reason": first_line(e), "seconds": time.perf_counter() - start}
    row.update(size=size, size_kwarg=next(iter(size_kwargs(name, size)), None),
               params=sum(p.numel() for p in network.parameters()))
    x, labels = random_batch((3, size, size))
    try:
        found = check_network(network, x, labels)
    except CheckFailed as e:
        row.update(status="fail", stage=e.stage, reason=first_line(e))
    except Exception as e:  # noqa: BLE001
        stage = next((s for s in ("check_units", "check_measures", "check_ablation")
                      if any(f.name == s for f in traceback.extract_tb(e.__traceback__))), "check_network")
        row.update(status="fail", stage=stage.removeprefix("check_"), reason=first_line(e))
    else:
        row.update(status="pass", layers=len(found.layers), units=found.units, kinds=found.kinds,
                   ablated=found.ablated, changed=found.engine_errors, woken=len(found.woken),
                   stages={k: round(v, 2) for k, v in found.seconds.items()})
    row["seconds"] = time.perf_counter() - start
    return row


def first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}"[:300]


def meta_params(name: str) -> int | None:
    """The builder's parameter count at its default input size, allocating nothing (the meta device); None if
    the builder cannot run there (RegNet's computes its widths with tensors)."""
    import torch
    import torchvision

    try:
        with torch.device("meta"):
            network = torchvision.models.get_model(name, weights=None, num_classes=10)
    except Exception:  # noqa: BLE001 - then the child's memory limit is the guard
        return None
    return sum(p.numel() for p in network.parameters())


def run_child(name: str, timeout: float) -> dict:
    """``check_one(name)`` in a child process with the time and memory limits."""
    def limit():
        cap = MEMORY_LIMIT_GB * 2**30
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    env = {**os.environ, "OMP_NUM_THREADS": "1", "NEURONINFO_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    start = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, __file__, "--child", name], capture_output=True, text=True,
                              timeout=timeout, env=env, preexec_fn=limit, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return {"model": name, "status": "fail", "stage": "timeout", "reason": f"over {timeout:.0f} s",
                "seconds": time.perf_counter() - start}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if lines:
        return json.loads(lines[-1])
    tail = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
    stage = "memory" if "memory" in tail.lower() or done.returncode in (-9, 137) else "crash"
    return {"model": name, "status": "fail", "stage": stage, "reason": tail[:300], "seconds": time.perf_counter() - start}


def classify(row: dict) -> str:
    """A failure's class for the summary."""
    return {"input": "no accepted input size", "units": "unit layers / capture", "measures": "measures",
            "ablation": "ablation", "timeout": "time limit", "memory": "memory", "crash": "crash",
            "skipped": "skipped (size)"}.get(row.get("stage"), row.get("stage", "?"))


def write_docs(rows: list[dict], names: list[str], path: Path) -> None:
    import torch
    import torchvision

    by_name = {r["model"]: r for r in rows}
    missing = [n for n in names if n not in by_name]
    if missing:
        raise SystemExit(f"no results for {', '.join(missing[:5])}...: run without --only first")
    table = [by_name[n] for n in names]
    passed = sum(r["status"] == "pass" for r in table)
    total = len(table)
    lines = [
        "# Coverage: every torchvision classifier through neuroninfo",
        "",
        "Generated by `python bench/coverage_torchvision.py --write-docs` (bench/coverage_checks.py holds the checks; "
        "tests/test_coverage_sample.py runs them on six architectures in the suite).",
        "",
        f"**{passed} / {total} pass ({100 * passed / total:.1f} %).** For comparison, Torch-Pruning reports 81 of 85 "
        "torchvision models (95.3 %); the goal here is at least 95 %.",
        "",
        f"Machine: {os.cpu_count()} cores ({platform.processor() or platform.machine()}), CPU only, one torch thread per "
        f"model, Python {platform.python_version()}, torch {torch.__version__}, torchvision {torchvision.__version__}. "
        f"Run {time.strftime('%Y-%m-%d')}{load_note(table)}.",
        "",
        "## What is checked, per model",
        "",
        "`torchvision.models.get_model(name, weights=None, num_classes=10)` with torch's seed 0, in eval mode, at its "
        f"smallest accepted input among {', '.join(map(str, SIZES))} pixels square (3 channels; a forward pass of two "
        "images decides). ViTs take the size as `image_size=` and MaxViT as `input_size=` (marked in the table): "
        "their positional embeddings and partitions are built for it. 32 standard-normal images, 10 random labels, "
        "batches of 8:",
        "",
        "1. **units**: the default unit layers (`pipeline.units.unit_layers`), read by hooks (`unit_outputs`): every "
        "layer has > 0 units, every captured value is finite;",
        "2. **measures**: each layer quantized at 1 bit by the quantizer `pipeline.network_units.quantizers` picks "
        "(per-unit equal-mass bins for channels and tokens, the study's threshold for neurons after a ReLU), "
        "`measure_layers` on all units: every measure finite and not null, 0 <= I(T;Y) <= H(T);",
        "3. **ablation**: one network-scope ordering of a quarter of the units of the first and of the last unit "
        "layer (spread over each), strategy zero, through `pipeline.hooked_ablation.hooked_ablation_curves`; its "
        "error count at the last k equals that of a plain forward pass with forward hooks doing "
        "`torch.where(mask, 0, out)` on the same modules (masks built in bench/coverage_checks.py, not by "
        "`UnitLayer.mask`). The labels of this check are the clean predictions, so the count is the number of "
        "predictions the ablation changed (column *changed*), and the engine's k = 0 count must be 0.",
        "",
        "Random networks make that last check vacuous unless care is taken: an untrained ResNet-50 puts all 32 "
        "images in one class, GoogLeNet's logits are equal to float32 precision, a ViT's head starts at zero (every "
        "logit 0) and ConvNeXt's layer scale at 1e-6 (each block adds a millionth to its input), so no ablation "
        "changes a prediction (at least 21 of the 80 models changed none with plain float32 logits and torchvision's "
        "initialisation). So (i) both sides classify by "
        "*standardized* logits, each class's logit minus its mean over the clean batch divided by its standard "
        "deviation there (fixed vectors: still a function of each image alone, as the engine requires), in float64, "
        "where rounding cannot flip a near-tie as float32 could after that rescaling; (ii) parameters initialised "
        "to silence a path are woken before any check: an all-zero parameter of two or more dimensions (ViT's "
        "head and class token) is redrawn from N(0, 0.02²), a constant parameter below 1e-3 (ConvNeXt's layer "
        "scales) is set to 1 (column *woken*: how many parameters). Checks 1 and 2 run in float32.",
        "",
        f"Each model runs in a child process limited to {MEMORY_LIMIT_GB} GiB of address space and the time limit; "
        "*time* is its wall time (build, input-size search and checks).",
        "",
        "## Results",
        "",
        "| model | result | input | params (M) | unit layers | units | kinds | ablated k | changed | woken | time (s) | reason |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in table:
        size = f"{r['size']}" + (f" (`{r['size_kwarg']}`)" if r.get("size_kwarg") else "") if r.get("size") else ""
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(r.get("kinds", {}).items()))
        params = f"{r['params'] / 1e6:.1f}" if r.get("params") else ""
        result = "pass" if r["status"] == "pass" else f"**{classify(r)}**"
        lines.append(f"| {r['model']} | {result} | {size} | {params} | {r.get('layers', '')} | {r.get('units', '')} | "
                     f"{kinds} | {r.get('ablated', '')} | {r.get('changed', '')} | {r.get('woken') or ''} | {r['seconds']:.1f} | "
                     f"{r.get('reason', '').replace('|', '/')} |")
    lines += ["", "## Where the time goes", "", time_note(table)]
    failed = [r for r in table if r["status"] != "pass"]
    lines += ["", "## Why the others fail", ""]
    if not failed:
        lines.append("None fails.")
    lines += [f"- **{r['model']}** ({classify(r)}): {r.get('reason', '')}" for r in failed]
    lines += ["", NOTES]
    path.write_text("\n".join(lines) + "\n")


def load_note(rows: list[dict]) -> str:
    loads = sorted(r["load"] for r in rows if "load" in r)
    if not loads:
        return ""
    return (f", with other jobs on the machine (1-minute load average {loads[0]:.1f} to {loads[-1]:.1f}, median "
            f"{loads[len(loads) // 2]:.1f}, as each model started: times are wall times under that load)")


def time_note(rows: list[dict]) -> str:
    timed = [r for r in rows if r.get("stages")]
    if not timed:
        return "No stage times recorded."
    totals = {stage: sum(r["stages"][stage] for r in timed) for stage in ("units", "measures", "ablation")}
    whole = sum(r["seconds"] for r in timed)
    slowest = max(timed, key=lambda r: r["seconds"])
    most_units = max(timed, key=lambda r: r.get("units", 0))
    per_unit = 1e3 * totals["measures"] / sum(r["units"] for r in timed)
    parts = ", ".join(f"{stage} {100 * t / whole:.0f} %" for stage, t in totals.items())
    return (f"{whole / 60:.0f} minutes for the {len(timed)} models that passed: {parts}; the rest is each child's "
            f"imports, building the network and finding its input size. The measures (every unit, layer by layer, as `neuroninfo measure` "
            f"does) take {per_unit:.2f} ms per unit on average: js_subset_separation tries every subset of the 10 "
            f"classes. {most_units['model']} ({most_units['units']:,} units in {most_units['layers']} layers) spends "
            f"{most_units['stages']['measures']:.0f} of its {most_units['seconds']:.0f} s there; the slowest, "
            f"{slowest['model']}, {slowest['stages']['measures']:.0f} s in measures and "
            f"{slowest['stages']['ablation']:.0f} s in the ablation check (float64) of its {slowest['seconds']:.0f} s.")


NOTES = """## What this run needed from neuroninfo

Without these two fixes of `pipeline/units.py`, 75 of 80 pass (GoogLeNet and Inception v3 have no unit layer,
the three Swin v2 fail the capture check):

- **GoogLeNet, Inception v3** (no unit layer): their conv blocks (`BasicConv2d`) end with `F.relu(x,
  inplace=True)`, a function, so the networks have no activation module and the default layers were empty.
  Now a module that returns an activation function's result (`F.relu`, `torch.sigmoid`, `x.relu_()`, ... seen by
  a `TorchFunctionMode` while the layers are traced; the innermost such module) counts as an activation module.
- **Swin v2 t/s/b** (capture shape (4, 512) for 32 images): the continuous position-bias MLP of every attention
  block (`attn.cpb_mlp`, Linear, ReLU, Linear) runs once per forward pass on a coordinate table that all samples
  share, so its ReLU was taken as a unit layer with one row per forward pass instead of one per sample. Now an
  output whose dim 0 is not the traced batch is not a unit layer (and naming one with `--layers` is refused with
  the reason).

## Limits seen here

- Input sizes: AlexNet needs 64 pixels (its 11x11 stride-4 stem and three max pools), Inception v3 75, MaxViT
  224 (its 7x7 partitions must tile every stage: 224/32 = 7); the ViTs take any size as `image_size` (a multiple
  of the patch: vit_h_14 at 42). Everything else runs at 32x32 (CIFAR-10's size).
- Nothing here trains: the checks are about plumbing (layers found, values finite, ablation equal to a masked
  forward), not about the information the units of a trained network carry."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated model names")
    parser.add_argument("--timeout", type=float, default=1200.0, help="seconds per model")
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
    parser.add_argument("--write-docs", action="store_true")
    parser.add_argument("--docs-only", action="store_true", help="write docs/coverage.md from --results, run nothing")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(check_one(args.child)), flush=True)
        return

    import torchvision

    names = torchvision.models.list_models(module=torchvision.models)
    chosen = [] if args.docs_only else args.only.split(",") if args.only else names
    results = {r["model"]: r for r in json.loads(args.results.read_text())} if args.results.exists() else {}
    for name in chosen:
        params = meta_params(name)
        if params is not None and params > MAX_PARAMS:
            row = {"model": name, "status": "fail", "stage": "skipped", "params": params, "seconds": 0.0,
                   "reason": f"{params / 1e6:.0f} M parameters > {MAX_PARAMS / 1e6:.0f} M"}
        else:
            row = run_child(name, args.timeout)
        results[name] = row
        args.results.write_text(json.dumps(list(results.values()), indent=1))
        print(f"{name:22s} {row['status']:4s} size={row.get('size', '-')!s:4s} layers={row.get('layers', '-')!s:4s} "
              f"units={row.get('units', '-')!s:7s} changed={row.get('changed', '-')!s:3s} {row['seconds']:7.1f}s "
              f"{row.get('reason', '')}", flush=True)
    passed = sum(results[n]["status"] == "pass" for n in chosen)
    print(f"{passed} / {len(chosen)} pass")
    if args.write_docs or args.docs_only:
        write_docs(list(results.values()), names, DOCS)
        print(f"wrote {DOCS}")


if __name__ == "__main__":
    main()
