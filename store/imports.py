"""Importing checkpoints as people save them, safely, and exporting runs as plain ``nn.Sequential`` weights.

Forms read: safetensors with the public spec metadata (stored as it is); safetensors without it, or
with other layer names; PyTorch ``.pt``/``.pth`` files, only through ``torch.load(weights_only=True)``
(never a full unpickle), holding a state_dict or a dict with one under ``state_dict``,
``model_state_dict``, ``model`` or ``net``. Anything but the public form is converted once
(``pipeline.convert``) into the public safetensors bytes, so its run_id is the converted checkpoint's.

Where the spec comes from (earlier wins, key by key): the file's ``spec`` metadata; a sidecar
``<file>.json`` or ``<file-stem>.json`` beside it; an inbox sub-folder's ``spec.json``; the caller's
options (CLI flags). Provenance (original name, SHA-256, size, form) goes to the ``imports`` table.
"""
from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone

import pyarrow as pa
import torch

from pipeline.architectures import BUILTIN, arch_family, checkpoint_shapes, empty
from pipeline.convert import convert_state_dict, sequential_layers, sequential_state_dict, spec_for
from pipeline.errors import NeuronInfoError
from pipeline.model import LINEAR, MLP, NORM
from pipeline.npz_data import confine
from pipeline.spec import NetworkSpec, arch_shape
from store.atomic import write_bytes
from store.checkpoints import checkpoint_bytes, checkpoint_file, header_metadata, load_run, parse_checkpoint, run_id_of
from store.integrity import sha256_hex
from store.paths import Location, Warehouse, exists, join, location, name_of, parent_of, read_bytes

STATE_DICT_KEYS = ("state_dict", "model_state_dict", "model", "net")
TORCH_SUFFIXES = (".pt", ".pth")
UNSTATED = ("seed", "epochs", "lr")
PUBLIC_SPEC_KEYS = {"dataset", "input_dim", "n_classes", "hidden_sizes"}  # a spec the public form needs  # hyper-parameters a file may not tell: NULL in `runs` unless stated


@dataclass(frozen=True)
class Imported:
    """A checkpoint read from outside, in the public format."""

    run_id: str
    model: torch.nn.Module
    data: bytes  # the public-format checkpoint bytes stored in the warehouse
    original_name: str
    original_sha256: str
    original_bytes: int
    form: str  # e.g. 'public', 'safetensors/fc', 'torch/sequential'
    spec_source: str  # 'metadata' | 'sidecar' | 'folder' | 'options', joined by '+' when several said something
    unstated: tuple[str, ...] = field(default=())  # of UNSTATED: what no source said
    trajectory: tuple[str, int, int | None] | None = None  # (training, epoch, step) a sidecar or the metadata names


def sidecars_beside(path: Location) -> tuple[Location, ...]:
    """``<file>.json`` and ``<file-stem>.json`` next to ``path`` (those that exist)."""
    name = name_of(path)
    stem = name.rsplit(".", 1)[0]
    candidates = [join(parent_of(path), f"{name}.json")]
    if stem != name:
        candidates.append(join(parent_of(path), f"{stem}.json"))
    return tuple(c for c in candidates if exists(c))


def read_import(
    path: Location,
    options: dict | None = None,
    sidecars: tuple[Location, ...] | None = None,
    folder_spec: Location | None = None,
    untrusted: bool = False,
    data_dir: str | os.PathLike | None = None,
) -> Imported:
    """Read any supported checkpoint form; ``sidecars`` default to those beside the file. An ``untrusted`` file
    (dropped into the inbox by anyone) may name an ``npz:`` dataset only inside ``data_dir``
    (``pipeline.npz_data.confine``), checked before anything reads it."""
    path = location(path)
    data = checkpoint_file(path)
    name = name_of(path)
    provenance = {"original_name": name, "original_sha256": sha256_hex(data), "original_bytes": len(data)}
    if name.lower().endswith(TORCH_SUFFIXES) or data[:2] == b"PK" or data[:1] == b"\x80":
        state, metadata, container = _torch_state_dict(name, data), {}, "torch"
    else:
        state, metadata, container = _safetensors(name, data), header_metadata(data), "safetensors"
    in_metadata = _spec_json(name, metadata["spec"]) if "spec" in metadata else {}
    if "trajectory" in metadata:
        in_metadata["trajectory"] = _spec_json(name, metadata["trajectory"])
    sidecar_specs = [_spec_file(s) for s in (sidecars_beside(path) if sidecars is None else sidecars)]
    folder = _spec_file(folder_spec) if folder_spec is not None else {}
    point = trajectory_point(name, [in_metadata, *sidecar_specs, folder, options or {}])
    if untrusted and isinstance(in_metadata.get("dataset"), str):
        confine(in_metadata["dataset"], data_dir)
    if untrusted:
        refuse_code(name, in_metadata)
    if in_metadata.get("arch", "mlp") != "mlp" and {"dataset", "input_dim", "n_classes"} <= in_metadata.keys():
        run_id, model = parse_checkpoint(name, data)  # a network of another architecture in the public form
        return Imported(run_id, model, data, form="public", spec_source="metadata",
                        unstated=tuple(k for k in UNSTATED if k not in in_metadata), trajectory=point, **provenance)
    if PUBLIC_SPEC_KEYS <= in_metadata.keys() and all(k.startswith((f"{LINEAR}.", f"{NORM}.")) for k in state):
        run_id, model = parse_checkpoint(name, data)  # the public form: stored as it is
        return Imported(run_id, model, data, form="public", spec_source="metadata",
                        unstated=tuple(k for k in UNSTATED if k not in in_metadata), trajectory=point, **provenance)
    sources = [("metadata", in_metadata)]  # a partial spec (e.g. only dataset and activation) is one source
    sources += [("sidecar", said) for said in sidecar_specs]
    sources += [("folder", folder)]
    sources += [("options", {k: v for k, v in (options or {}).items() if v is not None})]
    given: dict = {}
    for _, said in reversed(sources):
        given.update(said)
    if untrusted and isinstance(given.get("dataset"), str):
        confine(given["dataset"], data_dir)
    if untrusted:
        refuse_code(name, given)
    spec_source = "+".join(s for s, said in sources if said) or "none"
    unstated = tuple(k for k in UNSTATED if k not in given)
    if given.get("arch", "mlp") != "mlp":  # a state_dict of another architecture, under its own names
        model = _arch_model(name, state, given)
        public = checkpoint_bytes(model)
        return Imported(run_id_of(public), model, public, form=f"{container}/{arch_family(model.spec.arch)}",
                        spec_source=spec_source, unstated=unstated, trajectory=point, **provenance)
    try:
        converted = convert_state_dict(state)
        spec = spec_for(converted, given)
    except NeuronInfoError as e:
        raise NeuronInfoError(f"{name}: {e}") from None
    model = MLP.empty(spec).load_checkpoint_tensors(converted.tensors)
    public = checkpoint_bytes(model)
    return Imported(run_id_of(public), model, public, form=f"{container}/{converted.naming}",
                    spec_source=spec_source, unstated=unstated, trajectory=point, **provenance)


def refuse_code(name: str, said: dict) -> None:
    """A dropped file (the inbox) may name a built-in or torchvision architecture, never a module of code."""
    arch = said.get("arch", "mlp")
    if not isinstance(arch, str) or (arch not in BUILTIN and not arch.startswith("torchvision:")):
        raise NeuronInfoError(f"{name}: its spec names the architecture {arch!r}, code the inbox never imports; the "
                              "inbox takes mlp, cnn, vit and torchvision:NAME: import it yourself with "
                              "`neuroninfo import FILE --arch package.module:Class`")


def _arch_model(name: str, state: dict[str, torch.Tensor], given: dict) -> torch.nn.Module:
    """The model of a state_dict saved by a network of ``given['arch']`` (its own tensor names), its spec made
    from what the sources said and the dataset's image shape; names and shapes checked before loading."""
    from pipeline.data import dataset_shape, default_n_val

    if not given.get("dataset"):
        raise NeuronInfoError(f"{name}: the file does not say its dataset; give --dataset (or a sidecar with it)")
    try:
        input_dim, n_classes = dataset_shape(given["dataset"])
        input_dim, n_classes = int(given.get("input_dim", input_dim)), int(given.get("n_classes", n_classes))
        kwargs = given.get("arch_kwargs") or {}
        kwargs = json.loads(kwargs) if isinstance(kwargs, str) else kwargs
        shape = arch_shape(given["arch"], given["dataset"], input_dim, kwargs)
        known = {f.name for f in fields(NetworkSpec)} - {"input_mean", "input_std"} - set(shape)
        values = {k: v for k, v in given.items() if k in known and v is not None}
        values.update(shape, input_dim=input_dim, n_classes=n_classes)
        values.setdefault("activation", "builtin" if values["arch"] not in ("cnn",) else "relu")
        values.setdefault("inputs", "unit" if given.get("input_mean") is None else "standardized")
        values.setdefault("n_val", default_n_val(values["dataset"]))
        if given.get("input_mean") is not None:
            values.update(input_mean=given["input_mean"], input_std=given.get("input_std"))
        spec = NetworkSpec(**values)
    except (TypeError, ValueError, OverflowError) as e:
        raise NeuronInfoError(f"{name}: spec has a field of the wrong type or range ({str(e).splitlines()[0]}); fix it") from None
    except NeuronInfoError as e:
        raise NeuronInfoError(f"{name}: {e}") from None
    expected = checkpoint_shapes(spec)
    missing, extra = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    if missing or extra:
        raise NeuronInfoError(f"{name}: its tensors do not match {spec.arch} ({'lacks ' + ', '.join(missing[:3]) if missing else ''}"
                              f"{'; ' if missing and extra else ''}{'has extra ' + ', '.join(extra[:3]) if extra else ''}); "
                              "check --arch and --arch-kwargs")
    for key, shape in expected.items():
        if tuple(state[key].shape) != shape:
            raise NeuronInfoError(f"{name}: tensor {key} has shape {tuple(state[key].shape)}, {spec.arch} needs {shape}; "
                                  "check --arch-kwargs and the dataset")
    tensors = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    return empty(spec).load_checkpoint_tensors(tensors)


def _safetensors(name: str, data: bytes) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load

    try:
        tensors = load(data)
        header_metadata(data)
    except (SafetensorError, ValueError, RuntimeError, UnicodeDecodeError, OverflowError) as e:
        raise NeuronInfoError(f"{name} is not a safetensors checkpoint ({str(e).splitlines()[0]}); write it with "
                              "safetensors, or save a state_dict with torch.save as .pt") from None
    return tensors


def _torch_state_dict(name: str, data: bytes) -> dict[str, torch.Tensor]:
    """The state_dict in a torch.save file, loaded with ``weights_only=True`` (a pickle that would run code
    is refused by torch's restricted unpickler before anything runs)."""
    try:
        loaded = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - whatever the restricted unpickler refuses, the file is refused
        text = (str(e).strip().splitlines() or [type(e).__name__])[0][:160]
        raise NeuronInfoError(f"{name}: torch.load(weights_only=True) refused it ({text}); only plain tensors load, a "
                              "pickle holding code is never run; save model.state_dict() with torch.save") from None
    if isinstance(loaded, dict) and loaded and all(isinstance(v, torch.Tensor) for v in loaded.values()):
        return dict(loaded)
    if isinstance(loaded, dict):
        for key in STATE_DICT_KEYS:
            inner = loaded.get(key)
            if isinstance(inner, dict) and inner and all(isinstance(v, torch.Tensor) for v in inner.values()):
                return dict(inner)
        found = ", ".join(map(str, list(loaded)[:8]))
        raise NeuronInfoError(f"{name} holds a dict with keys {found} but no state_dict under "
                              f"{', '.join(STATE_DICT_KEYS)}; save model.state_dict()")
    raise NeuronInfoError(f"{name} holds a {type(loaded).__name__}, not a state_dict; save model.state_dict()")


def trajectory_point(name: str, sources: list[dict]) -> tuple[str, int, int | None] | None:
    """The (training, epoch, step) the first source naming a ``trajectory`` gives (the key is taken out of
    every source: it is not part of the spec); a one-line error for a malformed one."""
    said = [source.pop("trajectory") for source in sources if "trajectory" in source]
    if not said:
        return None
    point = said[0]
    example = '"trajectory": {"training": "my-job", "epoch": 3, "step": 1500}'
    if not isinstance(point, dict):
        raise NeuronInfoError(f"{name}: trajectory must be a JSON object such as {example}")
    training, epoch, step = point.get("training"), point.get("epoch"), point.get("step")
    if not isinstance(training, str) or not training.strip() or len(training) > 200 or not training.isprintable():
        raise NeuronInfoError(f"{name}: trajectory.training must name the training (printable text, at most 200 "
                              f"characters), as in {example}")
    for key, value in (("epoch", epoch), ("step", step)):
        if (value is not None or key == "epoch") and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise NeuronInfoError(f"{name}: trajectory.{key} must be a whole number >= 0, got {value!r}, as in {example}")
    return training.strip(), epoch, step


def _spec_json(name: str, text: str) -> dict:
    try:
        value = json.loads(text)
    except (TypeError, ValueError) as e:
        raise NeuronInfoError(f"{name}: spec is not valid JSON ({e}); write it as a JSON object") from None
    if not isinstance(value, dict):
        raise NeuronInfoError(f"{name}: spec must be a JSON object such as {{\"dataset\": \"mnist\", \"activation\": \"relu\"}}")
    return value


def _spec_file(path: Location) -> dict:
    return _spec_json(name_of(path), read_bytes(path).decode("utf-8", errors="replace"))


# ----------------------------------------------------------------------------- the imports table

def record_import(wh: Warehouse, imported: Imported) -> None:
    """Add the file's provenance to the run's ``imports`` partition (one row per original file)."""
    from store.tables import write_partition

    rows = import_rows(wh, imported.run_id)
    if any(r["original_sha256"] == imported.original_sha256 for r in rows):
        return
    rows.append({"original_name": imported.original_name, "original_sha256": imported.original_sha256,
                 "original_bytes": imported.original_bytes, "form": imported.form, "spec_source": imported.spec_source,
                 "unstated": list(imported.unstated), "imported_at": datetime.now(timezone.utc)})
    write_partition(wh, "imports", imported.run_id, pa.Table.from_pylist(rows))


def import_rows(wh: Warehouse, run_id: str) -> list[dict]:
    """The run's rows of ``imports`` read from its file (empty when it was never imported)."""
    from store.tables import read_partition

    try:
        rows = read_partition(wh, "imports", run_id)
    except (NeuronInfoError, OSError, pa.ArrowInvalid):
        return []  # damaged: verify reports it; the new row replaces it
    return [] if rows is None else rows.to_pylist()


# ----------------------------------------------------------------------------- export

def export_run(wh: Warehouse, run_id: str, to: Location, fmt: str = "safetensors") -> Location:
    """Write the run as a plain ``nn.Sequential`` state_dict (``sequential_layers`` lists the layers); a network of
    another architecture as its own state_dict (``model.network``'s names: torchvision's for torchvision models),
    its spec in the safetensors metadata."""
    if fmt not in ("safetensors", "torch"):
        raise NeuronInfoError(f"unknown export format {fmt!r}; use safetensors or torch")
    model = load_run(wh, run_id)
    if isinstance(model, MLP):
        state, metadata = sequential_state_dict(model), {"layers": json.dumps(sequential_layers(model.spec))}
    else:  # another architecture: its network's own state_dict (it takes standardized inputs: the spec's stats)
        state, metadata = model.checkpoint_tensors(), {"spec": model.spec.to_json()}
    if fmt == "torch":
        buffer = io.BytesIO()
        torch.save(state, buffer)
        data = buffer.getvalue()
    else:
        from safetensors.torch import save

        data = save(state, metadata={**metadata, "neuroninfo_run_id": run_id})
    to = location(to)
    write_bytes(to, data)
    return to
