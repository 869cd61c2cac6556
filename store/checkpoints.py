"""Checkpoints: safetensors files with the spec as JSON metadata; run_id = SHA-256 of the bytes.

Loading never unpickles anything: safetensors is a JSON header plus raw tensor bytes.
"""
from __future__ import annotations

import hashlib
import os

import torch
from torch import nn
from safetensors import SafetensorError
from safetensors.torch import load as load_bytes
from safetensors.torch import save as save_bytes

from pipeline.errors import NeuronInfoError
from pipeline.architectures import checkpoint_shapes, empty
from pipeline.spec import NetworkSpec
from store.atomic import write_bytes
from store.integrity import read_record, record
from store.paths import Location, Warehouse, exists, location, name_of, read_bytes


def run_id_of(data: bytes) -> str:
    """First 16 hex digits of the SHA-256 of a checkpoint's bytes."""
    return hashlib.sha256(data).hexdigest()[:16]


def checkpoint_bytes(model: nn.Module) -> bytes:
    return save_bytes(model.checkpoint_tensors(), metadata={"spec": model.spec.to_json()})


def save_checkpoint(wh: Warehouse, model: nn.Module) -> str:
    """Write the model to ``checkpoints/<run_id>.safetensors`` atomically; return its run_id."""
    data = checkpoint_bytes(model)
    run_id = run_id_of(data)
    store_checkpoint(wh, run_id, data)
    return run_id


def store_checkpoint(wh: Warehouse, run_id: str, data: bytes) -> None:
    """Write a checkpoint's bytes to ``checkpoints/<run_id>.safetensors`` (once) with its integrity record."""
    path = wh.checkpoint(run_id)
    if not exists(path) or read_record(path) is None:
        write_bytes(path, data)
        record(path, data)


def checkpoint_file(path: Location | os.PathLike) -> bytes:
    """The bytes of a checkpoint file (a local path or an fsspec URL); a one-line error when there is none."""
    try:
        return read_bytes(location(path))
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise NeuronInfoError(f"checkpoint {path} does not exist; train a network first or give the right path") from None


def read_checkpoint(path: Location | os.PathLike) -> tuple[str, nn.Module]:
    """Load and validate a checkpoint file (a local path or an fsspec URL); return (run_id, model in eval mode)."""
    return parse_checkpoint(name_of(location(path)), checkpoint_file(path))


def parse_checkpoint(name: str, data: bytes) -> tuple[str, nn.Module]:
    """Validate the bytes of a public-format checkpoint called ``name``; return (run_id, model in eval mode)."""
    try:
        tensors = load_bytes(data)
        metadata = header_metadata(data)
    except (SafetensorError, ValueError, RuntimeError, UnicodeDecodeError, OverflowError) as e:
        if data[:1] == b"\x80" or data[:2] == b"PK":  # pickle protocol 2+ or a torch.save zip
            raise NeuronInfoError(
                f"{name} looks like a pickle/torch.save file, which is never loaded; save weights with safetensors in the public format"
            ) from None
        raise NeuronInfoError(f"{name} is not a safetensors checkpoint ({str(e).splitlines()[0]}); write it with safetensors") from None
    if "spec" not in metadata:
        raise NeuronInfoError(f"{name} has no 'spec' in its safetensors metadata; add the spec JSON (see docs/warehouse.md, section 'Checkpoint format')")
    try:
        spec = NetworkSpec.from_json(metadata["spec"])
    except NeuronInfoError as e:
        raise NeuronInfoError(f"{name}: {e}") from None
    if spec.inputs == "standardized" and spec.input_mean is None:  # a trained network knows its input scaling
        raise NeuronInfoError(f"{name}: its spec says inputs 'standardized' but gives no input_mean / input_std; "
                              "add them (one value per channel) or say inputs 'unit' for [0, 1] inputs")
    expected = checkpoint_shapes(spec)  # checked before anything is allocated: memory follows the file, not the spec
    missing = sorted(set(expected) - set(tensors))
    if missing:
        raise NeuronInfoError(f"{name} lacks tensors {', '.join(missing[:4])}; it does not match its spec {spec.name}")
    for key, shape in expected.items():
        if tuple(tensors[key].shape) != shape:
            raise NeuronInfoError(
                f"{name}: tensor {key} has shape {tuple(tensors[key].shape)}, spec {spec.name} needs {shape}; fix the spec or the weights"
            )
        if not torch.isfinite(tensors[key]).all():
            raise NeuronInfoError(f"{name}: tensor {key} holds NaN or inf; the network diverged, retrain it")
    model = empty(spec)
    return run_id_of(data), model.load_checkpoint_tensors(
        {k: tensors[k].float() if tensors[k].is_floating_point() else tensors[k] for k in expected})


def load_run(wh: Warehouse, run_id: str) -> nn.Module:
    """The model of a run already in the warehouse."""
    path = wh.checkpoint(run_id)
    if not exists(path):
        raise NeuronInfoError(f"unknown run_id {run_id!r}: no {path}; list runs with: neuroninfo sql \"SELECT run_id, name FROM runs\"")
    return read_checkpoint(path)[1]


def header_metadata(data: bytes) -> dict:
    """The ``__metadata__`` of a safetensors header (ValueError when the header is malformed)."""
    import json
    import struct

    if len(data) < 8:
        raise ValueError("file too short")
    (header_len,) = struct.unpack("<Q", data[:8])
    if header_len > len(data) - 8:
        raise ValueError("header length past end of file")
    header = json.loads(data[8 : 8 + header_len].decode("utf-8"))
    return header.get("__metadata__", {}) or {}
